import BerthStorage
@testable import BerthServer
import Foundation
import XCTest

/// `retention`: the policies as configured, and every problem reported with its key.
final class RetentionConfigTests: XCTestCase {
    private func problems(_ yaml: String) -> [String] { configurationProblems(yaml) }

    /// A configuration with one policy whose body is `policy` (indented as a list entry's keys).
    private func policy(_ policy: String) -> String {
        "version: 0.1\nretention:\n  policies:\n    - " + policy.split(separator: "\n").joined(separator: "\n      ") + "\n"
    }

    func testTheDocumentedExample() throws {
        let yaml = """
            version: 0.1
            retention:
              interval: 24h
              dryrun: false
              policies:
                - repositories: ["team-a/**", "tools/*"]
                  keep:
                    newest: 10
                    tags: ["latest", "v*"]
                    semver: 5
                  delete:
                    olderthan: 720h
                    untaggedolderthan: 24h
                  allowempty: false
                - repositories: ["**"]
                  delete:
                    untaggedolderthan: 0
            """
        let loaded = try ConfigurationLoader.load(yaml: yaml, environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        let r = loaded.configuration.retention
        XCTAssertEqual(r.interval, .seconds(24 * 3600))
        XCTAssertFalse(r.dryRun)
        XCTAssertEqual(r.policies.policies, [
            RetentionPolicy(repositories: ["team-a/**", "tools/*"], keepNewest: 10, keepTags: ["latest", "v*"], keepSemver: 5,
                            deleteOlderThan: .seconds(720 * 3600), deleteUntaggedOlderThan: .seconds(24 * 3600)),
            RetentionPolicy(repositories: ["**"], deleteUntaggedOlderThan: .zero),
        ])
        let described = loaded.configuration.describe()
        XCTAssertTrue(described.contains("retention.interval: 24h"), "\(described)")
        XCTAssertTrue(described.contains(
            "retention.policies[0]: repositories: [team-a/**, tools/*], keep: {newest: 10, tags: [latest, v*], semver: 5}, delete: {olderthan: 720h, untaggedolderthan: 24h}"),
            "\(described)")
        XCTAssertTrue(described.contains("retention.policies[1]: repositories: [**], delete: {untaggedolderthan: 0s}"), "\(described)")
    }

    func testDefaultsAndShortForms() throws {
        let none = try ConfigurationLoader.load(yaml: "version: 0.1\n", environment: [:]).configuration
        XCTAssertEqual(none.retention, RetentionSettings())
        XCTAssertTrue(none.describe().contains("retention.policies: (none)"))

        // A single glob instead of a list, allowempty, dry run; interval 0 means never.
        let yaml = policy("repositories: scratch/**\nkeep: { tags: latest }\nallowempty: true")
            + "  interval: 0\n  dryrun: true\n"
        let loaded = try ConfigurationLoader.load(yaml: yaml, environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertNil(loaded.configuration.retention.interval)
        XCTAssertTrue(loaded.configuration.retention.dryRun)
        XCTAssertEqual(loaded.configuration.retention.policies.policies,
                       [RetentionPolicy(repositories: ["scratch/**"], keepTags: ["latest"], allowEmpty: true)])
        XCTAssertTrue(loaded.configuration.describe().contains { $0.hasPrefix("retention.interval: (not set") })

        // From the environment, as every key.
        let env = try ConfigurationLoader.load(yaml: policy("repositories: [\"**\"]\nkeep: { newest: 3 }"),
                                               environment: ["REGISTRY_RETENTION_INTERVAL": "1h"])
        XCTAssertEqual(env.configuration.retention.interval, .seconds(3600))
    }

    func testBadValuesAreErrorsNamingTheKey() {
        XCTAssertEqual(problems(policy("repositories: [\"Team-A/**\"]\nkeep: { newest: 1 }")),
                       [#"retention.policies[0].repositories: pattern "Team-A/**" contains "T"; repository names are lower-case letters, digits and . _ - /, and globs add only * and ?"#])
        XCTAssertEqual(problems(policy("repositories: [\"a//b\"]\nkeep: { newest: 1 }")),
                       [#"retention.policies[0].repositories: pattern "a//b" has an empty path component"#])
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\nkeep: { tags: [\"v1/*\"] }")).first?.hasPrefix(
            #"retention.policies[0].keep.tags: pattern "v1/*" contains "/""#), true)
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\nkeep: { newest: -1 }")),
                       ["retention.policies[0].keep.newest must be a whole number of tags, 0 or more, not -1"])
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\nkeep: { semver: ten }")),
                       ["retention.policies[0].keep.semver must be a whole number of tags, 0 or more, not ten"])
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\ndelete: { olderthan: 30d }")),
                       ["retention.policies[0].delete.olderthan 30d is not a duration like 720h, 90m or 0"])
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\ndelete: { untaggedolderthan: -1h }")),
                       ["retention.policies[0].delete.untaggedolderthan -1h is not a duration like 720h, 90m or 0"])
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\nkeep: { newest: 1 }\nallowempty: maybe")),
                       ["retention.policies[0].allowempty must be true or false, not maybe"])
        XCTAssertEqual(problems("version: 0.1\nretention:\n  interval: soon\n"),
                       ["retention.interval soon is not a duration like 168h, 30m or 10s"])
        XCTAssertEqual(problems("version: 0.1\nretention:\n  interval: 10ms\n"),
                       ["retention.interval must be at least 1s, or 0 for never"])
    }

    func testUnknownOrMissingKeysInAPolicyAreErrors() {
        // A misspelt keep rule would delete what it was meant to keep: an error, not a warning.
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\nkeep: { newst: 10 }")),
                       ["retention.policies[0].keep.newst is not one of newest, tags, semver"])
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\ndelete: { older: 1h }\nkeep: { newest: 1 }")),
                       ["retention.policies[0].delete.older is not one of olderthan, untaggedolderthan"])
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\nkeep: { newest: 1 }\nallow_empty: true")),
                       ["retention.policies[0].allow_empty is not one of repositories, keep, delete, allowempty"])
        XCTAssertEqual(problems(policy("keep: { newest: 1 }")).first?.hasPrefix("retention.policies[0].repositories is required"), true)
        XCTAssertEqual(problems(policy("repositories: [\"**\"]\nkeep: [newest]")),
                       ["retention.policies[0].keep must be a mapping of newest, tags, semver"])
        XCTAssertEqual(problems("version: 0.1\nretention:\n  policies: { repositories: all }\n").first?.hasPrefix(
            "retention.policies must be a list of policies"), true)
        XCTAssertEqual(problems("version: 0.1\nretention:\n  policies: [nope]\n"),
                       ["retention.policies[0] must be a mapping with repositories, keep, delete and allowempty"])
    }

    func testWarnings() throws {
        let idle = try ConfigurationLoader.load(yaml: policy("repositories: [\"**\"]"), environment: [:])
        XCTAssertEqual(idle.warnings, ["retention.policies[0] deletes nothing: give it keep rules, delete.olderthan or delete.untaggedolderthan"])
        let shadowed = try ConfigurationLoader.load(yaml: """
            version: 0.1
            retention:
              policies:
                - { repositories: ["**"], keep: { newest: 5 } }
                - { repositories: ["team/*"], keep: { newest: 50 } }
            """, environment: [:])
        XCTAssertEqual(shadowed.warnings, [#"retention.policies[0] governs every repository ("**"), so the policies after it never apply"#])
        let pointless = try ConfigurationLoader.load(yaml: "version: 0.1\nretention:\n  interval: 1h\n", environment: [:])
        XCTAssertEqual(pointless.warnings, ["retention.interval has no effect without retention.policies"])
    }
}
