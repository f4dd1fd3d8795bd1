@testable import BerthServer
import BerthStorage
import XCTest

/// `immutability` (and the other policies) in the configuration file.
final class PolicyConfigTests: XCTestCase {
    func testImmutabilityRulesLoad() throws {
        let loaded = try ConfigurationLoader.load(yaml: """
            version: 0.1
            immutability:
              - repositories: ["**"]
                tags: ["v*.*.*"]
              - repositories: ["prod/**"]
                tags: "*"
                except: [latest]
            """, environment: [:])
        XCTAssertEqual(loaded.configuration.immutability, TagImmutability(rules: [
            .init(repositories: ["**"], tags: ["v*.*.*"]),
            .init(repositories: ["prod/**"], tags: ["*"], except: ["latest"]),
        ]))
        XCTAssertTrue(loaded.configuration.describe().contains("immutability[1]: tags * of prod/** except latest"))
        XCTAssertEqual(loaded.warnings, [])
    }

    func testBadImmutabilityRulesNameTheKey() {
        let problems = configurationProblems("""
            version: 0.1
            immutability:
              - repositories: ["**"]
              - tags: ["v/1"]
                repositories: ["a"]
                exept: [latest]
              - "v*"
            """)
        XCTAssertTrue(problems.contains { $0.contains("immutability[0].tags is required") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("immutability[1].tags") && $0.contains("v/1") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("immutability[1].exept") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("immutability[2] must be a mapping") }, "\(problems)")
        XCTAssertTrue(configurationProblems("version: 0.1\nimmutability: yes\n").contains { $0.contains("immutability must be a list") })
    }

    func testQuotasLoadAndBadOnesNameTheKey() throws {
        let loaded = try ConfigurationLoader.load(yaml: """
            version: 0.1
            quotas:
              - repositories: ["team-a/**"]
                limit: 50GiB
              - repositories: "scratch/*"
                limit: 1000000
            """, environment: [:])
        XCTAssertEqual(loaded.configuration.quotas, StorageQuotas([
            .init(repositories: ["team-a/**"], limit: 50 << 30), .init(repositories: ["scratch/*"], limit: 1_000_000),
        ]))
        let problems = configurationProblems("""
            version: 0.1
            quotas:
              - repositories: ["a/**"]
                limit: lots
              - limit: 1GB
              - repositories: ["b"]
                limit: 1GB
                soft: true
            """)
        XCTAssertTrue(problems.contains { $0.contains("quotas[0].limit lots") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("quotas[1].repositories is required") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("quotas[2].soft") }, "\(problems)")
    }
}
