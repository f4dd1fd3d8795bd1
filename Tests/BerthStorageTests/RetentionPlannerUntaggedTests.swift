import BerthCore
import BerthStorage
import Foundation
import XCTest

/// `delete.untaggedolderthan`: which untagged manifests go, and everything that keeps one.
final class RetentionPlannerUntaggedTests: XCTestCase {
    let now = Date(timeIntervalSince1970: 1_700_000_000)
    let day: Duration = .seconds(24 * 3600)

    /// Names of the digests made so far, to show plans by name.
    var names: [Digest: String] = [:]

    func d(_ name: String) -> Digest {
        let digest = Digest.compute(Array(name.utf8))
        names[digest] = name
        return digest
    }

    func manifest(_ name: String, hoursAgo: Double, children: [String]? = [], subject: String? = nil) -> RetentionSnapshot.ManifestState {
        .init(digest: d(name), pushed: now.addingTimeInterval(-hoursAgo * 3600),
              children: children?.map(d), subject: subject.map(d))
    }

    /// The names of the manifests the plan deletes, in its order.
    func deleted(tags: [(tag: String, manifest: String)], _ manifests: [RetentionSnapshot.ManifestState],
                 policy: RetentionPolicy? = nil) -> [String] {
        let snapshot = RetentionSnapshot(
            repository: "team/app",
            tags: tags.map { .init(name: $0.tag, digest: d($0.manifest), pushed: now.addingTimeInterval(-3600)) },
            manifests: manifests)
        let plan = RetentionPlanner.plan(snapshot, policy: policy ?? .init(repositories: ["**"], deleteUntaggedOlderThan: day),
                                         policyIndex: 0, now: now)
        return plan.manifests.map { names[$0.digest] ?? $0.digest.description }
    }

    func testOldUntaggedManifestsGoAndTheBoundaryStays() {
        let manifests = [manifest("old", hoursAgo: 25), manifest("young", hoursAgo: 23), manifest("exact", hoursAgo: 24),
                         manifest("tagged", hoursAgo: 1000)]
        XCTAssertEqual(deleted(tags: [("latest", "tagged")], manifests), ["old"])
        let snapshot = RetentionSnapshot(repository: "r", tags: [], manifests: [manifest("old", hoursAgo: 25)])
        let plan = RetentionPlanner.plan(snapshot, policy: .init(repositories: ["**"], deleteUntaggedOlderThan: day), policyIndex: 0, now: now)
        XCTAssertEqual(plan.manifests.first?.rule, .untaggedOlderThan(day))
        XCTAssertEqual(plan.manifests.first?.rule.description, "untagged and older than 24h")
        XCTAssertEqual(plan.manifests.first?.pushed, now.addingTimeInterval(-25 * 3600))
    }

    func testWithoutTheRuleNoManifestIsDeleted() {
        let manifests = [manifest("old", hoursAgo: 10_000)]
        XCTAssertEqual(deleted(tags: [], manifests, policy: .init(repositories: ["**"], keepNewest: 1)), [])
    }

    func testChildrenOfATaggedIndexStayWhole() {
        // A multi-platform image: the children are never tagged themselves.
        let manifests = [manifest("index", hoursAgo: 100, children: ["amd64", "arm64"]),
                         manifest("amd64", hoursAgo: 100), manifest("arm64", hoursAgo: 100), manifest("old", hoursAgo: 100)]
        XCTAssertEqual(deleted(tags: [("latest", "index")], manifests), ["old"])
    }

    func testChildrenOfAYoungUntaggedIndexStay() {
        // The children were pushed days before the index that lists them.
        let manifests = [manifest("index", hoursAgo: 2, children: ["amd64", "arm64"]),
                         manifest("amd64", hoursAgo: 100), manifest("arm64", hoursAgo: 100)]
        XCTAssertEqual(deleted(tags: [], manifests), [])
    }

    func testAnOldUntaggedIndexGoesBeforeItsChildren() {
        let manifests = [manifest("amd64", hoursAgo: 100), manifest("arm64", hoursAgo: 100),
                         manifest("index", hoursAgo: 100, children: ["amd64", "arm64"])]
        let order = deleted(tags: [], manifests)
        XCTAssertEqual(order.first, "index")
        XCTAssertEqual(Set(order), ["index", "amd64", "arm64"])
    }

    func testNestedIndexesKeepTheirGrandchildren() {
        let manifests = [manifest("top", hoursAgo: 100, children: ["inner"]), manifest("inner", hoursAgo: 100, children: ["leaf"]),
                         manifest("leaf", hoursAgo: 100)]
        XCTAssertEqual(deleted(tags: [("v1", "top")], manifests), [])
        XCTAssertEqual(deleted(tags: [], manifests), ["top", "inner", "leaf"])
    }

    func testAChildSharedWithAKeptIndexStays() {
        let manifests = [manifest("v1", hoursAgo: 100, children: ["shared", "amd64"]), manifest("v2", hoursAgo: 100, children: ["shared"]),
                         manifest("shared", hoursAgo: 100), manifest("amd64", hoursAgo: 100)]
        XCTAssertEqual(deleted(tags: [("release", "v2")], manifests), ["v1", "amd64"])
    }

    func testReferrersOfKeptManifestsStayAndTheirReferrersToo() {
        let manifests = [manifest("tagged", hoursAgo: 100), manifest("sig", hoursAgo: 100, subject: "tagged"),
                         manifest("sbom", hoursAgo: 100, subject: "tagged"), manifest("sbom-sig", hoursAgo: 100, subject: "sbom"),
                         manifest("orphan-sig", hoursAgo: 100, subject: "lost")]
        XCTAssertEqual(deleted(tags: [("latest", "tagged")], manifests), ["orphan-sig"],
                       "a referrer whose subject is gone is an ordinary untagged manifest")
    }

    func testReferrersOfADeletedManifestGoFirst() {
        let manifests = [manifest("old", hoursAgo: 100), manifest("sig", hoursAgo: 100, subject: "old"),
                         manifest("sbom", hoursAgo: 100, subject: "old"), manifest("sbom-sig", hoursAgo: 100, subject: "sbom")]
        let order = deleted(tags: [], manifests)
        XCTAssertEqual(Set(order), ["old", "sig", "sbom", "sbom-sig"])
        XCTAssertEqual(order.last, "old")
        XCTAssertLessThan(order.firstIndex(of: "sbom-sig") ?? 9, order.firstIndex(of: "sbom") ?? -1)
    }

    func testAYoungReferrerKeepsItselfButNotItsOldSubject() {
        let manifests = [manifest("old", hoursAgo: 100), manifest("sig", hoursAgo: 1, subject: "old")]
        XCTAssertEqual(deleted(tags: [], manifests), ["old"])
    }

    func testTagsDeletedInTheSameRunStillProtectTheirManifests() {
        // keep.newest 1 deletes tag "v1"; its manifest is untagged only from the next run on.
        let manifests = [manifest("v1", hoursAgo: 100), manifest("v2", hoursAgo: 50), manifest("old", hoursAgo: 100)]
        let snapshot = RetentionSnapshot(
            repository: "team/app",
            tags: [.init(name: "v1", digest: d("v1"), pushed: now.addingTimeInterval(-100 * 3600)),
                   .init(name: "v2", digest: d("v2"), pushed: now.addingTimeInterval(-50 * 3600))],
            manifests: manifests)
        let policy = RetentionPolicy(repositories: ["**"], keepNewest: 1, deleteUntaggedOlderThan: day)
        let plan = RetentionPlanner.plan(snapshot, policy: policy, policyIndex: 0, now: now)
        XCTAssertEqual(plan.tags.map(\.tag), ["v1"])
        XCTAssertEqual(plan.manifests.map(\.digest), [d("old")])
    }

    func testAManifestThatStaysButCannotBeReadStopsTheRule() {
        // Unreadable, so perhaps an index whose children would be deleted: delete nothing, say why.
        let manifests = [manifest("tagged", hoursAgo: 100, children: nil), manifest("old", hoursAgo: 100)]
        let snapshot = RetentionSnapshot(
            repository: "team/app", tags: [.init(name: "latest", digest: d("tagged"), pushed: now)], manifests: manifests)
        let plan = RetentionPlanner.plan(snapshot, policy: .init(repositories: ["**"], deleteUntaggedOlderThan: day),
                                         policyIndex: 0, now: now)
        XCTAssertEqual(plan.manifests, [])
        XCTAssertEqual(plan.warnings.count, 1)
        XCTAssertTrue(plan.warnings[0].contains("could not be read"), plan.warnings[0])
        // An unreadable manifest that goes itself needs nothing.
        XCTAssertEqual(deleted(tags: [], [manifest("old", hoursAgo: 100, children: nil)]), ["old"])
    }

    func testUntaggedZeroDeletesEveryUntaggedManifest() {
        let manifests = [manifest("young", hoursAgo: 0.01), manifest("tagged", hoursAgo: 0.01)]
        XCTAssertEqual(deleted(tags: [("t", "tagged")], manifests, policy: .init(repositories: ["**"], deleteUntaggedOlderThan: .zero)),
                       ["young"])
    }
}
