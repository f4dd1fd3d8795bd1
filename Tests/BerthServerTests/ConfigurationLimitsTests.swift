@testable import BerthServer
import XCTest

/// Values at the edges of what a configuration can hold: each case here trapped or hung the
/// loader until the config fuzz target (Tests/BerthFuzzTests) found it.
final class ConfigurationLimitsTests: XCTestCase {
    /// `Int64(seconds * 1000)` trapped on a duration past ~292 years, `inf` included.
    func testFuzzRegressionHugeDurationsAreRefusedNotTrapped() {
        for text in ["1e300", "inf", "infinity", "1e10", "99999999999h", "9999999999999999s", "1e300h"] {
            XCTAssertNil(GoDuration.parse(text), text)
        }
        XCTAssertEqual(GoDuration.parse("2500000h"), .seconds(2_500_000 * 3600))
        XCTAssertEqual(GoDuration.parse("9000000000"), .seconds(9_000_000_000))
        let problems = configurationProblems("http:\n  draintimeout: 1e300\n")
        XCTAssertEqual(problems, ["http.draintimeout 1e+300 is not a duration like 60s"])
        XCTAssertEqual(configurationProblems("storage:\n  gc:\n    interval: 99999999999h\n").count, 1)
    }

    /// `Int(burst)` trapped on 1e300 and inf; a rate is a finite number up to 1e15.
    func testFuzzRegressionHugeRateLimitNumbersAreRefused() {
        XCTAssertEqual(configurationProblems("http:\n  ratelimit:\n    burst: 1e300\n"),
                       ["http.ratelimit.burst must be a number from 0 to 1e15, not 1e+300"])
        XCTAssertEqual(configurationProblems("http:\n  ratelimit:\n    requestspersecond: .inf\n"),
                       ["http.ratelimit.requestspersecond must be a number from 0 to 1e15, not inf"])
        XCTAssertEqual(configurationProblems("http:\n  ratelimit:\n    bytespersecond: [1]\n"),
                       ["http.ratelimit.bytespersecond must be a number from 0 to 1e15, not a structure"])
        XCTAssertEqual(configurationProblems("http:\n  ratelimit:\n    requestspersecond: 10\n    burst: 1e15\n"), [])
    }

    /// Seven lines of nested aliases expand to 9^7 (4.8 million) strings: Yams builds each copy,
    /// which took minutes and gigabytes. The expansion is counted first and refused.
    func testFuzzRegressionAliasBombIsRefusedQuickly() {
        var yaml = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        for (level, previous) in zip("bcdefg", "abcdef") {
            yaml += "\(level): &\(level) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
        }
        let started = ContinuousClock.now
        let problems = configurationProblems(yaml)
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems.first?.contains("expands to more than 100000 values") ?? false, "\(problems)")
        // The same in one environment variable.
        let fromEnvironment = configurationProblems("", environment: ["REGISTRY_LOG_FIELDS": "{" + yaml.split(separator: "\n").joined(separator: ", ") + "}"])
        XCTAssertTrue(fromEnvironment.first?.hasPrefix("REGISTRY_LOG_FIELDS is not usable: it expands") ?? false, "\(fromEnvironment)")
    }

    /// Anchors and aliases of ordinary size still work, and are counted as their copies.
    func testAliasesWithinTheBoundLoad() throws {
        let yaml = "version: 0.1\nenabled: &on {enabled: true}\nstorage:\n  delete: *on\n"
        XCTAssertTrue(try ConfigurationLoader.load(yaml: yaml, environment: [:]).configuration.deleteEnabled)
        XCTAssertEqual(ConfigurationLoader.expandedNodeCount("a: &a [1, 2, 3]\nb: [*a, *a]\n", limit: 100), 1 + 1 + 4 + 1 + 1 + 4 + 4)
        XCTAssertNil(ConfigurationLoader.expandedNodeCount("a: [", limit: 100))
    }
}

extension ConfigurationLimitsTests {
    /// Yams force-unwraps a mapping key as a string and trapped on `? [a, b]`; such keys are
    /// refused with their place. Found by the config fuzz target.
    func testFuzzRegressionNonScalarMappingKeyIsAProblemNotATrap() {
        for yaml in ["? [a, b]\n: x\n", "log:\n  fields: {[a]: 1}\n", "http:\n  headers:\n    ? {a: 1}\n    : [x]\n"] {
            let problems = configurationProblems(yaml)
            XCTAssertEqual(problems.count, 1, yaml)
            XCTAssertTrue(problems.first?.contains("is a list or a mapping; keys must be single values") ?? false, "\(problems)")
        }
        XCTAssertEqual(configurationProblems("version: 0.1\nhttp:\n  addr: :5000\n"), [])
        let fromEnvironment = configurationProblems("", environment: ["REGISTRY_LOG_FIELDS": "{[a]: 1}"])
        XCTAssertTrue(fromEnvironment.first?.hasPrefix("REGISTRY_LOG_FIELDS is not usable: the mapping key at line 1") ?? false, "\(fromEnvironment)")
    }
}
