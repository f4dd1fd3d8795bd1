import Foundation
import XCTest

/// `berth garbage-collect` as an operator runs it: a separate process over the storage of a
/// registry that keeps serving, after pushes with skopeo and a tag deleted over the API.
final class GarbageCollectCommandTests: IntegrationTestCase {
    func collect(_ root: URL, _ flags: [String], file: StaticString = #filePath, line: UInt = #line) async throws -> ProcessResult {
        // --pin-window 0s: the pushes a moment ago pinned everything they wrote.
        let arguments = ["garbage-collect"] + flags + ["--delete-untagged", "--grace-period", "0s", "--pin-window", "0s", "--root", root.path]
        let result = try await ProcessRunner.run(CommandLineTests.berth, arguments, timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(result.status, 0, "stdout: \(result.stdout)\nstderr: \(result.stderr)", file: file, line: line)
        // Neither output is a terminal here: plain lines, no progress bar redrawn in place.
        XCTAssertFalse(result.stdout.contains("\r") || result.stderr.contains("\r"), result.stdout + result.stderr)
        XCTAssertFalse(result.stderr.contains("\u{1B}["), result.stderr)
        return result
    }

    /// Every file under `root` with its size and modification time.
    func tree(_ root: URL) throws -> [String: String] {
        var entries: [String: String] = [:]
        let walker = FileManager.default.enumerator(atPath: root.path)
        while let path = walker?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: root.appendingPathComponent(path).path)
            entries[path] = "\(attributes[.size] ?? 0) \((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        }
        return entries
    }

    /// The `(\d+) manifests, (\d+) layer links and (\d+) blobs` of the summary line.
    func counts(_ summary: String) -> [Int] {
        guard let match = summary.firstMatch(of: /(\d+) manifests, (\d+) layer links and (\d+) blobs/) else { return [] }
        return [Int(match.1), Int(match.2), Int(match.3)].compactMap { $0 }
    }

    func testCollectWhileServingKeepsTaggedImagesWhole() async throws {
        let shared = (0..<2).map { Tar.archive(name: "shared\($0)/data.bin", contents: randomBytes(50_000)) }
        let kept = TestImage(layerTars: shared + [Tar.archive(name: "kept/data.bin", contents: randomBytes(40_000))])
        let doomed = TestImage(layerTars: shared + [Tar.archive(name: "doomed/data.bin", contents: randomBytes(60_000))])
        let index = TestIndex(images: [TestImage.random(architecture: "amd64", layerCount: 1, layerSize: 30_000),
                                       TestImage.random(architecture: "arm64", layerCount: 1, layerSize: 30_000)])
        let source = try temporaryDirectory("src")
        try OCILayout.write(source.appendingPathComponent("kept"), tag: "v", image: kept)
        try OCILayout.write(source.appendingPathComponent("doomed"), tag: "v", image: doomed)
        try OCILayout.write(source.appendingPathComponent("multi"), tag: "v", index: index)
        let root = try temporaryDirectory("root")
        let berth = try await startBerth(root: root)
        let base = berth.baseURL
        for (name, destination) in [("kept", "gc/app:kept"), ("doomed", "gc/app:doomed")] {
            try await Skopeo.copy("oci:\(source.appendingPathComponent(name).path):v", "docker://\(berth.host)/\(destination)")
        }
        try await Skopeo.copy("oci:\(source.appendingPathComponent("multi").path):v", "docker://\(berth.host)/gc/multi:latest", all: true)
        let untag = try await HTTP.request("DELETE", base.appendingPathComponent("v2/gc/app/manifests/doomed"))
        XCTAssertEqual(untag.status, 202, untag.text)

        // Dry run: the list of what would go, and not a file changed.
        let before = try tree(root)
        let dry = try await collect(root, ["--dry-run"])
        XCTAssertEqual(try tree(root), before, "a dry run changed the storage")
        let doomedOnly = [doomed.manifest.digest, doomed.config.digest, doomed.layers[2].digest]
        XCTAssertTrue(dry.stdout.contains("would remove manifest gc/app@\(doomed.manifest.digest)"), dry.stdout)
        for digest in doomedOnly {
            XCTAssertTrue(dry.stdout.contains("would remove blob \(digest)"), "\(digest) not listed:\n\(dry.stdout)")
        }
        let drySummary = dry.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(drySummary.hasPrefix("dry run: would remove 1 manifests, 2 layer links and 3 blobs"), drySummary)
        XCTAssertTrue(dry.stderr.contains("scanning repositories (2)\n") && dry.stderr.contains("scanning blobs ("), dry.stderr)

        // The real run removes exactly that, and says how much it reclaimed.
        let real = try await collect(root, [])
        let summary = real.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(summary.hasPrefix("removed 1 manifests, 2 layer links and 3 blobs ("), summary)
        XCTAssertEqual(counts(summary), counts(drySummary))
        XCTAssertFalse(summary.contains("(Zero"), "nothing reclaimed: \(summary)")
        XCTAssertTrue(summary.contains("reclaimed); scanned 2 repositories"), summary)
        for digest in doomedOnly {
            XCTAssertTrue(real.stdout.contains("removed blob \(digest)"), "\(digest) not listed:\n\(real.stdout)")
        }
        XCTAssertTrue(real.stdout.contains("removed layer link \(doomed.layers[2].digest) from gc/app"), real.stdout)

        // What is tagged pulls whole; what was only the untagged image's is gone.
        let pulled = try temporaryDirectory("pulled")
        try await Skopeo.copy("docker://\(berth.host)/gc/app:kept", "oci:\(pulled.appendingPathComponent("kept").path):v")
        try assertLayout(pulled.appendingPathComponent("kept"), tag: "v", holds: kept)
        try await Skopeo.copy("docker://\(berth.host)/gc/multi:latest", "oci:\(pulled.appendingPathComponent("multi").path):v", all: true)
        try assertLayout(pulled.appendingPathComponent("multi"), tag: "v", holds: index)
        for digest in doomedOnly.dropFirst() {
            let r = try await HTTP.request("GET", base.appendingPathComponent("v2/gc/app/blobs/\(digest)"))
            XCTAssertEqual(r.status, 404, "blob \(digest) of the removed image")
            XCTAssertEqual(r.errorCode, "BLOB_UNKNOWN", digest)
        }
        let manifest = try await HTTP.request("GET", base.appendingPathComponent("v2/gc/app/manifests/\(doomed.manifest.digest)"),
                                              headers: ["Accept": MediaTypes.manifest])
        XCTAssertEqual(manifest.status, 404, manifest.text)
        for layer in kept.layers.prefix(2) {
            let r = try await HTTP.request("HEAD", base.appendingPathComponent("v2/gc/app/blobs/\(layer.digest)"))
            XCTAssertEqual(r.status, 200, "shared layer \(layer.digest)")
        }

        // Nothing left to collect.
        let again = try await collect(root, ["--quiet"])
        XCTAssertEqual(again.stdout.split(separator: "\n").count, 1, again.stdout)
        XCTAssertEqual(counts(again.stdout), [0, 0, 0], again.stdout)
    }

    /// `berth du` as an operator runs it: two repositories sharing layers, a table and JSON whose
    /// figures are the bytes each repository's manifests reference, shared ones counted in both.
    func testDiskUsageReportsLogicalSharedAndReclaimableBytes() async throws {
        let shared = Tar.archive(name: "shared/data.bin", contents: randomBytes(50_000))
        let one = TestImage(layerTars: [shared, Tar.archive(name: "one/data.bin", contents: randomBytes(20_000))])
        let two = TestImage(layerTars: [shared])
        let root = try temporaryDirectory("du-root")
        let berth = try await startBerth(root: root)
        try await push([("du/one:v1", one), ("du/two:v1", two)], to: berth)

        let json = try await ProcessRunner.run(CommandLineTests.berth, ["du", "--json", "--root", root.path], timeout: .seconds(60))
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let repositories = try XCTUnwrap(report["repositories"] as? [[String: Any]])
        func bytes(_ image: TestImage) -> Int { image.manifest.bytes.count + image.blobs.reduce(0) { $0 + $1.bytes.count } }
        let byName = Dictionary(uniqueKeysWithValues: repositories.map { ($0["name"] as? String ?? "", $0) })
        XCTAssertEqual(byName["du/one"]?["logicalBytes"] as? Int, bytes(one), json.stdout)
        XCTAssertEqual(byName["du/two"]?["logicalBytes"] as? Int, bytes(two), json.stdout)
        let sharedLayer = one.layers[0].bytes.count  // the layer blob as stored (compressed)
        XCTAssertEqual(one.layers[0].digest, two.layers[0].digest)
        XCTAssertEqual(byName["du/one"]?["sharedBytes"] as? Int, sharedLayer, "the shared layer counts as shared in both")
        XCTAssertEqual(byName["du/two"]?["sharedBytes"] as? Int, sharedLayer)
        XCTAssertEqual(byName["du/one"]?["exclusiveBytes"] as? Int, bytes(one) - sharedLayer)
        XCTAssertEqual(report["reclaimableBytes"] as? Int, 0, "nothing is unreferenced yet")

        let table = try await ProcessRunner.run(CommandLineTests.berth, ["du", "du/one", "--root", root.path], timeout: .seconds(60))
        XCTAssertTrue(table.stdout.contains("REPOSITORY") && table.stdout.contains("du/one") && !table.stdout.contains("du/two"), table.stdout)
        let unknown = try await ProcessRunner.run(CommandLineTests.berth, ["du", "du/none", "--root", root.path],
                                                  timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("holds no manifests"), unknown.stderr)
    }
}
