/// BerthFuzzing: fuzz targets for Berth's parsers and the small mutation engine that runs them
/// inside XCTest (`Tests/BerthFuzzTests`). The same targets are libFuzzer's entry points in
/// `berth-fuzz` (`scripts/fuzz`). Each target checks properties of what the parser returns,
/// against a second, independent reading of the grammar where there is one.

import Foundation

/// A property a parser broke: what was expected, for an input shown in the failure.
package struct FuzzFailure: Error, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// One parser under test.
package struct FuzzTarget: Sendable {
    package var name: String
    /// Tokens the mutator inserts (path words, digest prefixes, YAML syntax, huge numbers...).
    package var dictionary: [String]
    /// A structure-aware input: mostly valid, with deliberate damage.
    package var generate: @Sendable (inout FuzzRandom) -> [UInt8]
    /// Runs the parser on `input` and checks its answer. Returns a short label of the outcome
    /// (which kind of success or error); an input with a new label joins the corpus.
    package var check: @Sendable ([UInt8]) throws(FuzzFailure) -> String

    package init(name: String, dictionary: [String], generate: @escaping @Sendable (inout FuzzRandom) -> [UInt8],
                 check: @escaping @Sendable ([UInt8]) throws(FuzzFailure) -> String) {
        self.name = name
        self.dictionary = dictionary
        self.generate = generate
        self.check = check
    }

    /// Every target, by name.
    package static let all: [FuzzTarget] = [.route, .digest, .name, .range, .contentRange, .manifest, .config]

    package static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// SplitMix64: small, fast and fully determined by its seed, so a failure reproduces from the seed.
package struct FuzzRandom: RandomNumberGenerator {
    private var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    package mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next(upperBound: UInt64(n))) }
    package mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    package mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// The outcome of one run of one target.
package struct FuzzReport: CustomStringConvertible {
    package var target: String
    package var seed: UInt64
    package var executions = 0
    package var seconds = 0.0
    package var corpusSize = 0
    package var outcomes: Set<String> = []
    /// The slowest single input, in seconds (a hang shows here long before a timeout).
    package var slowest = 0.0
    package var failures: [(input: [UInt8], failure: FuzzFailure, execution: Int)] = []

    package var description: String {
        String(format: "fuzz %@: %d inputs in %.1f s, %d outcomes, corpus %d, slowest input %.0f ms, %d failures (seed %llu)",
               target, executions, seconds, outcomes.count, corpusSize, slowest * 1000, failures.count, seed)
    }
}

/// Runs a target for a time: each input is a fresh structured one or a mutation of the corpus
/// (seed files, then inputs that gave an outcome not seen before).
package struct FuzzRunner {
    package var seconds: Double
    package var seed: UInt64
    package var maxFailures = 5
    package var maxInputLength = 8192

    package init(seconds: Double, seed: UInt64) {
        self.seconds = seconds
        self.seed = seed
    }

    package func run(_ target: FuzzTarget, corpus seeds: [[UInt8]]) -> FuzzReport {
        var random = FuzzRandom(seed: seed)
        var report = FuzzReport(target: target.name, seed: seed)
        var corpus = seeds
        let mutator = Mutator(dictionary: target.dictionary.map { Array($0.utf8) }, maxLength: maxInputLength)
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .milliseconds(Int64(seconds * 1000))
        // Seeds first, each as it is; then generated and mutated inputs until the deadline.
        var pending = seeds
        while report.failures.count < maxFailures {
            let input: [UInt8]
            if let next = pending.popLast() {
                input = next
            } else {
                if report.executions % 64 == 0, clock.now >= deadline { break }
                if corpus.isEmpty || random.chance(15) {
                    input = target.generate(&random)
                } else {
                    input = mutator.mutate(random.pick(corpus), other: random.pick(corpus), &random)
                }
            }
            report.executions += 1
            let began = clock.now
            do {
                let outcome = try target.check(input)
                if report.outcomes.insert(outcome).inserted, corpus.count < 4096 { corpus.append(input) }
            } catch {
                report.failures.append((input, error, report.executions))
            }
            let elapsed = clock.now - began
            report.slowest = max(report.slowest, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
        let total = clock.now - start
        report.seconds = Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18
        report.corpusSize = corpus.count
        return report
    }
}

extension FuzzTarget {
    /// `input` as a Swift string literal, ready to paste into a regression test.
    package static func literal(_ input: [UInt8]) -> String {
        var out = "\""
        for scalar in String(decoding: input, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f || (scalar.value > 0x7f && !scalar.properties.isAlphabetic):
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
