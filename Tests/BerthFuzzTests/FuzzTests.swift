import BerthFuzzing
import Foundation
import XCTest

/// Every parser's fuzz target, each for BERTH_FUZZ_SECONDS (3 by default; `BERTH_FUZZ_SECONDS=120`
/// for a long local run) from a random seed, or BERTH_FUZZ_SEED to repeat a run. The seed corpus is
/// `Fuzz/corpus/<target>/`, shared with libFuzzer (scripts/fuzz). A failure prints the input as
/// a Swift literal, ready for a regression test next to the parser's other tests.
final class FuzzTests: XCTestCase {
    func testRoute() { fuzz(.route) }
    func testDigest() { fuzz(.digest) }
    func testNamesTagsReferences() { fuzz(.name) }
    func testRange() { fuzz(.range) }
    func testContentRange() { fuzz(.contentRange) }
    func testManifest() { fuzz(.manifest) }
    func testConfiguration() { fuzz(.config) }

    /// Every target has a test above and a seed corpus.
    func testEveryTargetHasACorpus() {
        XCTAssertEqual(Set(FuzzTarget.all.map(\.name)), ["route", "digest", "name", "range", "content-range", "manifest", "config"])
        for target in FuzzTarget.all { XCTAssertFalse(Self.corpus(target.name).isEmpty, "no files in Fuzz/corpus/\(target.name)") }
    }

    private func fuzz(_ target: FuzzTarget) {
        let environment = ProcessInfo.processInfo.environment
        let seconds = environment["BERTH_FUZZ_SECONDS"].flatMap(Double.init) ?? 3
        let seed = environment["BERTH_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        let corpus = Self.corpus(target.name)
        let report = FuzzRunner(seconds: seconds, seed: seed).run(target, corpus: corpus)
        print(report)
        for (input, failure, execution) in report.failures {
            XCTFail("""
                fuzz \(target.name): \(failure)
                  input #\(execution) of BERTH_FUZZ_SEED=\(seed): \(FuzzTarget.literal(input))
                  base64: \(Data(input).base64EncodedString())
                """)
        }
        XCTAssertGreaterThan(report.executions, corpus.count, "the run stopped at the seed corpus")
        XCTAssertLessThan(report.slowest, 10, "one \(target.name) input took \(report.slowest) s: a hang or a blow-up")
    }

    static func corpus(_ name: String) -> [[UInt8]] {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fuzz/corpus/\(name)").standardized
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.sorted().compactMap { FileManager.default.contents(atPath: directory.appendingPathComponent($0).path).map(Array.init) }
    }
}
