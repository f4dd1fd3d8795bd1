@testable import BerthServer
import BerthReplication
import XCTest

/// `replication`: rules and their interval.
final class ReplicationConfigTests: XCTestCase {
    func testRules() throws {
        let loaded = try ConfigurationLoader.load(yaml: """
            replication:
              interval: 5m
              rules:
                - name: backup
                  remoteurl: https://backup.example.com
                  username: berth
                  password: secret
                  repositories: ["team/**", "base/*"]
                  tags: ["v*", latest]
                  tagpattern: '^v[0-9.]+$|^latest$'
                  prefix: mirror
                  deletes: true
                - remoteurl: http://10.0.0.5:5000
            """, environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        let settings = try XCTUnwrap(loaded.configuration.replication)
        XCTAssertEqual(settings.interval, .seconds(300))
        let backup = settings.rules[0]
        XCTAssertEqual(backup.name, "backup")
        XCTAssertEqual(backup.repositories, ["team/**", "base/*"])
        XCTAssertEqual(backup.destinationPrefix, "mirror/")
        XCTAssertTrue(backup.deletes)
        XCTAssertTrue(backup.matches(repository: "team/a/b") && backup.matches(repository: "base/x") && !backup.matches(repository: "base/x/y"))
        XCTAssertTrue(backup.matches(tag: "v1.2") && backup.matches(tag: "latest"))
        XCTAssertFalse(backup.matches(tag: "v1-rc"), "the tag glob matches but the pattern does not")
        XCTAssertEqual(settings.rules[1].name, "rule2")
        XCTAssertEqual(settings.rules[1].repositories, ["**"])
        XCTAssertFalse(settings.rules[1].deletes)
    }

    func testMistakesAreNamed() {
        XCTAssertTrue(configurationProblems("replication:\n  rules:\n    - name: a\n").contains { $0.contains("remoteurl") })
        XCTAssertTrue(configurationProblems("replication:\n  rules:\n    - remoteurl: https://x\n      tagpattern: '(['\n")
            .contains { $0.contains("regular expression") })
        XCTAssertTrue(configurationProblems("replication:\n  rules:\n    - remoteurl: https://x\n      colour: red\n").contains { $0.contains("colour") })
        XCTAssertTrue(configurationProblems("replication:\n  rules:\n    - {name: a, remoteurl: 'https://x'}\n    - {name: a, remoteurl: 'https://y'}\n")
            .contains { $0.contains("own name") })
        XCTAssertTrue(configurationProblems("replication:\n  interval: 10ms\n  rules:\n    - remoteurl: https://x\n").contains { $0.contains("at least 1s") })
        XCTAssertTrue(configurationProblems("replication:\n  rules: yes\n").contains { $0.contains("must be a list") })
    }
}
