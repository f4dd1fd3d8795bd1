import BerthCore
import BerthStorage
import Foundation
import XCTest

/// Every retention rule and its edge cases, on snapshots built by hand (no storage).
final class RetentionPlannerTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_700_000_000)
    let hour: TimeInterval = 3600

    func digest(_ name: String) -> Digest { Digest.compute(Array(name.utf8)) }

    /// Tags whose names double as their manifests, pushed `hoursAgo` before `now`.
    func snapshot(_ tags: [(String, Double)], manifests: [RetentionSnapshot.ManifestState] = []) -> RetentionSnapshot {
        RetentionSnapshot(
            repository: "team/app",
            tags: tags.map { .init(name: $0.0, digest: digest($0.0), pushed: now.addingTimeInterval(-$0.1 * hour)) },
            manifests: manifests)
    }

    func deleted(_ s: RetentionSnapshot, _ policy: RetentionPolicy) -> [String] {
        RetentionPlanner.plan(s, policy: policy, policyIndex: 0, now: now).tags.map(\.tag)
    }

    // MARK: - keep.newest

    func testKeepNewestDeletesTheOlderTags() {
        let s = snapshot([("a", 5), ("b", 1), ("c", 3), ("d", 2)])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepNewest: 2, allowEmpty: false)), ["a", "c"])
        let plan = RetentionPlanner.plan(s, policy: .init(repositories: ["**"], keepNewest: 2), policyIndex: 3, now: now)
        XCTAssertEqual(plan.tags.map(\.rule), [.notKept, .notKept])
        XCTAssertEqual(plan.tags.first?.digest, digest("a"))
        XCTAssertEqual(plan.tags.first?.pushed, now.addingTimeInterval(-5 * hour))
        XCTAssertEqual(plan.policyIndex, 3)
        XCTAssertEqual(plan.warnings, [])
    }

    func testKeepNewestTiesAreBrokenByName() {
        // Pushed in the same second: the earlier name counts as newer, the same way in every run.
        let s = snapshot([("beta", 1), ("alpha", 1), ("gamma", 1), ("old", 9)])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepNewest: 2)), ["gamma", "old"])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepNewest: 1)), ["beta", "gamma", "old"])
    }

    func testKeepNewestLargerThanTheTagCountKeepsAll() {
        let s = snapshot([("a", 5), ("b", 1)])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepNewest: 2)), [])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepNewest: 100)), [])
    }

    func testKeepNewestZeroKeepsNothingAndNeedsAllowEmpty() {
        let s = snapshot([("a", 5), ("b", 1)])
        let refused = RetentionPlanner.plan(s, policy: .init(repositories: ["**"], keepNewest: 0), policyIndex: 0, now: now)
        XCTAssertEqual(refused.tags, [])
        XCTAssertEqual(refused.warnings.count, 1)
        XCTAssertTrue(refused.warnings[0].contains("all 2 tags of team/app"), refused.warnings[0])
        XCTAssertTrue(refused.warnings[0].contains("allowempty"), refused.warnings[0])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepNewest: 0, allowEmpty: true)), ["a", "b"])
    }

    func testARepositoryWithoutTagsHasNothingToDelete() {
        let plan = RetentionPlanner.plan(snapshot([]), policy: .init(repositories: ["**"], keepNewest: 0), policyIndex: 0, now: now)
        XCTAssertEqual(plan.tags, [])
        XCTAssertEqual(plan.warnings, [], "no tag to delete is not 'every tag'")
    }

    // MARK: - keep.tags

    func testKeepTagsByPattern() {
        let s = snapshot([("latest", 50), ("v1", 40), ("v2.0", 30), ("dev-123", 1), ("Vx", 1), ("stable", 2)])
        let policy = RetentionPolicy(repositories: ["**"], keepTags: ["latest", "v*", "st?ble"])
        XCTAssertEqual(deleted(s, policy), ["Vx", "dev-123"], "globs are case-sensitive, as tags are")
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepTags: ["nothing-matches"], allowEmpty: true)).count, 6)
    }

    func testKeepRulesCombineByUnion() {
        let s = snapshot([("latest", 90), ("1.0.0", 80), ("1.1.0", 70), ("2.0.0", 60), ("build-1", 2), ("build-2", 1)])
        let policy = RetentionPolicy(repositories: ["**"], keepNewest: 1, keepTags: ["latest"], keepSemver: 2)
        XCTAssertEqual(deleted(s, policy), ["1.0.0", "build-1"])
    }

    // MARK: - keep.semver

    func testKeepSemverKeepsTheHighestVersionsNotTheNewestPushes() {
        // 1.10.0 > 1.9.0 numerically; 1.2.3 pushed last is still the lowest.
        let s = snapshot([("1.9.0", 10), ("1.10.0", 20), ("v2.0.0", 30), ("1.2.3", 1)])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepSemver: 2)), ["1.2.3", "1.9.0"])
    }

    func testKeepSemverOrdersPrereleasesBySemverRules() {
        let s = snapshot([("1.0.0-alpha", 1), ("1.0.0-alpha.1", 1), ("1.0.0-alpha.beta", 1), ("1.0.0-beta", 1),
                          ("1.0.0-beta.2", 1), ("1.0.0-beta.11", 1), ("1.0.0-rc.1", 1), ("1.0.0", 1)])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepSemver: 3)),
                       ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2"])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepSemver: 1)).count, 7)
    }

    func testKeepSemverIgnoresTagsThatAreNotVersions() {
        // Not versions: they are neither kept by the rule nor counted in its N.
        let s = snapshot([("latest", 1), ("1.2", 1), ("01.2.3", 1), ("1.2.3.4", 1), ("3.0.0", 9), ("2.0.0", 9), ("1.0.0", 9)])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepSemver: 2)), ["01.2.3", "1.0.0", "1.2", "1.2.3.4", "latest"])
    }

    func testKeepSemverCountsATagTwiceAsOneVersion() {
        let s = snapshot([("v1.0.0", 1), ("1.0.0", 1), ("0.9.0", 1)])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepSemver: 1)), ["0.9.0"])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepSemver: 0, allowEmpty: true)).count, 3)
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepSemver: 5)), [])
    }

    // MARK: - delete.olderthan

    func testOlderThanAloneDeletesOnlyOldTagsAndTheBoundaryStays() {
        let s = snapshot([("exactly", 720), ("older", 720.001), ("newer", 719), ("ancient", 10_000)])
        let policy = RetentionPolicy(repositories: ["**"], deleteOlderThan: .seconds(720 * 3600))
        let plan = RetentionPlanner.plan(s, policy: policy, policyIndex: 0, now: now)
        XCTAssertEqual(plan.tags.map(\.tag), ["ancient", "older"])
        XCTAssertEqual(plan.tags.first?.rule, .olderThan(.seconds(720 * 3600)))
        XCTAssertEqual(plan.tags.first?.rule.description, "older than 720h")
    }

    func testOlderThanLimitsWhatTheKeepRulesLeave() {
        let s = snapshot([("latest", 1000), ("a", 1000), ("b", 10), ("c", 5)])
        let policy = RetentionPolicy(repositories: ["**"], keepTags: ["latest"], deleteOlderThan: .seconds(24 * 3600))
        let plan = RetentionPlanner.plan(s, policy: policy, policyIndex: 0, now: now)
        XCTAssertEqual(plan.tags.map(\.tag), ["a"], "latest is kept however old; b and c are young")
        XCTAssertEqual(plan.tags.first?.rule, .notKeptAndOlderThan(.seconds(24 * 3600)))
    }

    func testOlderThanDeletingEveryTagNeedsAllowEmpty() {
        let s = snapshot([("a", 100), ("b", 200)])
        let policy = RetentionPolicy(repositories: ["**"], deleteOlderThan: .seconds(3600))
        let refused = RetentionPlanner.plan(s, policy: policy, policyIndex: 2, now: now)
        XCTAssertEqual(refused.tags, [])
        XCTAssertEqual(refused.warnings.count, 1)
        XCTAssertTrue(refused.warnings[0].hasPrefix("policies[2] would delete all 2 tags"), refused.warnings[0])
        var allowed = policy
        allowed.allowEmpty = true
        XCTAssertEqual(deleted(s, allowed), ["a", "b"])
        // One young tag left: not every tag, so no allowempty needed.
        XCTAssertEqual(deleted(snapshot([("a", 100), ("b", 200), ("new", 0)]), policy), ["a", "b"])
    }

    func testAPolicyWithoutTagRulesDeletesNoTags() {
        let s = snapshot([("a", 10_000)])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"])), [])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], deleteUntaggedOlderThan: .zero, allowEmpty: true)), [])
        XCTAssertEqual(deleted(s, .init(repositories: ["**"], keepTags: [])), [], "an empty keep.tags is no rule")
    }

    // MARK: - Policy matching

    func testTheFirstMatchingPolicyApplies() {
        let policies = RetentionPolicies([
            .init(repositories: ["team-a/special"], keepNewest: 50),
            .init(repositories: ["team-a/**", "tools/*"], keepNewest: 10),
            .init(repositories: ["**"], keepNewest: 1),
        ])
        XCTAssertEqual(policies.policy(for: "team-a/special")?.index, 0)
        XCTAssertEqual(policies.policy(for: "team-a/x/y")?.index, 1)
        XCTAssertEqual(policies.policy(for: "tools/lint")?.index, 1)
        XCTAssertEqual(policies.policy(for: "tools/lint/sub")?.policy.keepNewest, 1, "* stays within one component")
        XCTAssertEqual(policies.policy(for: "other")?.index, 2)
        XCTAssertNil(RetentionPolicies([.init(repositories: ["team-a/**"], keepNewest: 1)]).policy(for: "team-b/app"),
                     "a repository no policy governs is left alone")
        XCTAssertNil(RetentionPolicies().policy(for: "anything"))
    }

    func testPatternProblems() {
        XCTAssertNil(RetentionPolicy.repositoryPatternProblem("team-a/**"))
        XCTAssertNil(RetentionPolicy.repositoryPatternProblem("tools/?ool_x.y"))
        XCTAssertNotNil(RetentionPolicy.repositoryPatternProblem(""))
        XCTAssertNotNil(RetentionPolicy.repositoryPatternProblem("Team-A/**"))
        XCTAssertNotNil(RetentionPolicy.repositoryPatternProblem("team/[ab]"))
        XCTAssertNotNil(RetentionPolicy.repositoryPatternProblem("team//app"))
        XCTAssertNotNil(RetentionPolicy.repositoryPatternProblem("/team"))
        XCTAssertNil(RetentionPolicy.tagPatternProblem("v*"))
        XCTAssertNil(RetentionPolicy.tagPatternProblem("Release-?.x_1"))
        XCTAssertNotNil(RetentionPolicy.tagPatternProblem("v1/*"))
        XCTAssertNotNil(RetentionPolicy.tagPatternProblem(""))
        XCTAssertNotNil(RetentionPolicy.tagPatternProblem("v[0-9]"))
    }
}
