import BerthCore
import BerthStorage
import Foundation
import XCTest

/// The collector's decisions alone, on hand-built snapshots: no storage, no clock.
final class GCPlannerTests: XCTestCase {
    let repo = try! RepositoryName("team/app")
    /// Everything is written long before the cutoff unless a test says otherwise.
    let old = Date(timeIntervalSince1970: 1_000_000)
    let cutoff = Date(timeIntervalSince1970: 2_000_000)

    /// A digest named after what it stands for, so failures read as names.
    func d(_ name: String) -> Digest { Digest.compute(Array(name.utf8)) }
    func ds(_ names: String...) -> Set<Digest> { Set(names.map(d)) }

    func manifest(_ name: String, blobs: [String] = [], children: [String] = [], subject: String? = nil,
                  modified: Date? = nil, readable: Bool = true) -> RepositorySnapshot.Manifest {
        .init(digest: d(name), modified: modified ?? old, blobs: blobs.map(d), children: children.map(d),
              subject: subject.map(d), readable: readable)
    }

    func snapshot(_ manifests: [RepositorySnapshot.Manifest], tags: [String: String] = [:],
                  links: [String: Date] = [:]) -> RepositorySnapshot {
        RepositorySnapshot(name: repo, manifests: manifests, tags: tags.mapValues(d),
                           layerLinks: Dictionary(uniqueKeysWithValues: links.map { (d($0.key), $0.value) }))
    }

    func plan(_ s: RepositorySnapshot, deleteUntagged: Bool, pinned: Set<Digest> = []) -> RepositoryPlan {
        GCPlanner.plan(s, deleteUntagged: deleteUntagged, cutoff: cutoff, pinned: pinned)
    }

    /// The plan under both settings of `deleteUntagged`.
    func plans(_ s: RepositorySnapshot, pinned: Set<Digest> = []) -> [(Bool, RepositoryPlan)] {
        [false, true].map { ($0, plan(s, deleteUntagged: $0, pinned: pinned)) }
    }

    func testTaggedKeptAndUntaggedRemovedOnlyWithDeleteUntagged() {
        let s = snapshot([manifest("tagged", blobs: ["config-1", "shared"]), manifest("untagged", blobs: ["config-2", "shared"])],
                         tags: ["v1": "tagged"])
        let keepAll = plan(s, deleteUntagged: false)
        XCTAssertEqual(keepAll.keptManifests, ds("tagged", "untagged"))
        XCTAssertEqual(keepAll.removedManifests, [])
        XCTAssertEqual(keepAll.referenced, ds("tagged", "untagged", "config-1", "config-2", "shared"))

        let taggedOnly = plan(s, deleteUntagged: true)
        XCTAssertEqual(taggedOnly.keptManifests, ds("tagged"))
        XCTAssertEqual(taggedOnly.removedManifests, [d("untagged")])
        XCTAssertEqual(taggedOnly.referenced, ds("tagged", "config-1", "shared"))
    }

    func testIndexChildrenAndNestedIndexesStayWithTheirTaggedIndex() {
        let s = snapshot([
            manifest("index", children: ["amd64", "nested"]),
            manifest("nested", children: ["arm64", "arm-v7"]),
            manifest("amd64", blobs: ["amd64-config", "amd64-layer"]),
            manifest("arm64", blobs: ["arm64-config", "arm64-layer"]),
            manifest("arm-v7", blobs: ["arm-config"]),
            manifest("stray", blobs: ["stray-layer"]),
        ], tags: ["multi": "index"])
        let p = plan(s, deleteUntagged: true)
        XCTAssertEqual(p.keptManifests, ds("index", "nested", "amd64", "arm64", "arm-v7"))
        XCTAssertEqual(p.removedManifests, [d("stray")])
        XCTAssertEqual(p.referenced, ds("index", "nested", "amd64", "arm64", "arm-v7", "amd64-config", "amd64-layer",
                                        "arm64-config", "arm64-layer", "arm-config"))

        // Untagged, the whole tree goes.
        var untagged = s
        untagged.tags = [:]
        let gone = plan(untagged, deleteUntagged: true)
        XCTAssertEqual(gone.keptManifests, [])
        XCTAssertEqual(gone.removedManifests.count, 6)
        XCTAssertEqual(gone.referenced, [])
    }

    func testReferrersAndReferrersOfReferrersFollowAKeptSubject() {
        let s = snapshot([
            manifest("image", blobs: ["layer"]),
            manifest("signature", blobs: ["sig-config", "sig-layer"], subject: "image"),
            manifest("signature-of-signature", blobs: ["sig2-layer"], subject: "signature"),
            manifest("sbom", blobs: ["sbom-layer"], subject: "image"),
        ], tags: ["v1": "image"])
        for (deleteUntagged, p) in plans(s) {
            XCTAssertEqual(p.keptManifests, ds("image", "signature", "signature-of-signature", "sbom"), "deleteUntagged \(deleteUntagged)")
            XCTAssertEqual(p.removedManifests, [], "deleteUntagged \(deleteUntagged)")
            XCTAssertTrue(p.referenced.isSuperset(of: ds("sig-config", "sig-layer", "sig2-layer", "sbom-layer")))
        }
    }

    func testReferrerWhoseSubjectIsAbsentOrRemovedGoesUnlessTagged() {
        let s = snapshot([
            manifest("orphan-signature", blobs: ["orphan-layer"], subject: "never-pushed"),
            manifest("untagged-child", blobs: ["child-layer"], subject: "absent-too"),
            manifest("sig-of-orphan", blobs: ["sig-of-orphan-layer"], subject: "orphan-signature"),
            manifest("tagged-referrer", blobs: ["tagged-layer"], subject: "never-pushed"),
        ], tags: ["keep": "tagged-referrer"])
        for (deleteUntagged, p) in plans(s) {
            XCTAssertEqual(p.keptManifests, ds("tagged-referrer"), "deleteUntagged \(deleteUntagged)")
            XCTAssertEqual(Set(p.removedManifests), ds("orphan-signature", "untagged-child", "sig-of-orphan"))
            XCTAssertEqual(p.referenced, ds("tagged-referrer", "tagged-layer"))
        }

        // A subject that is itself removed (untagged, with deleteUntagged) takes its referrer along;
        // without deleteUntagged the subject is a root, and so is its referrer's reason to stay.
        let chained = snapshot([manifest("image", blobs: ["layer"]), manifest("signature", blobs: ["sig-layer"], subject: "image")])
        XCTAssertEqual(plan(chained, deleteUntagged: true).removedManifests, [d("image"), d("signature")].sorted())
        XCTAssertEqual(plan(chained, deleteUntagged: false).keptManifests, ds("image", "signature"))
    }

    func testRecentManifestIsKeptWithWhatItReferences() {
        let s = snapshot([
            manifest("fresh-index", children: ["old-child"], modified: cutoff),
            manifest("old-child", blobs: ["child-layer"]),
            manifest("fresh-referrer", blobs: ["ref-layer"], subject: "nothing", modified: cutoff.addingTimeInterval(5)),
            manifest("just-too-old", blobs: ["old-layer"], modified: cutoff.addingTimeInterval(-0.001)),
        ])
        let p = plan(s, deleteUntagged: true)
        XCTAssertEqual(p.keptManifests, ds("fresh-index", "old-child", "fresh-referrer"))
        XCTAssertEqual(p.removedManifests, [d("just-too-old")])
        XCTAssertEqual(p.referenced, ds("fresh-index", "old-child", "child-layer", "fresh-referrer", "ref-layer"))
    }

    func testPinnedDigestIsKept() {
        let s = snapshot([manifest("pinned-index", children: ["child"]), manifest("child", blobs: ["layer"]),
                          manifest("unpinned", blobs: ["other"])],
                         links: ["pinned-blob": old, "other": old])
        let p = plan(s, deleteUntagged: true, pinned: ds("pinned-index", "pinned-blob"))
        XCTAssertEqual(p.keptManifests, ds("pinned-index", "child"))
        XCTAssertEqual(p.removedManifests, [d("unpinned")])
        XCTAssertEqual(p.removedLayerLinks, [d("other")])
        XCTAssertEqual(p.referenced, ds("pinned-index", "child", "layer", "pinned-blob"))
    }

    /// What an unreadable manifest (content missing, or a format Berth does not parse, such as
    /// the reference registry's schema 1) references is unknown: it stays, and so does every
    /// blob linked into its repository, which may be one of its layers.
    func testUnreadableManifestIsKeptWithTheRepositorysLayerLinks() {
        let s = snapshot([manifest("unreadable", readable: false), manifest("referrer-of-unreadable", subject: "unreadable"),
                          manifest("untagged", blobs: ["untagged-layer"])],
                         links: ["maybe-its-layer": old, "untagged-layer": old])
        for (deleteUntagged, p) in plans(s) {
            XCTAssertTrue(p.keptManifests.isSuperset(of: ds("unreadable", "referrer-of-unreadable")), "deleteUntagged \(deleteUntagged)")
            XCTAssertEqual(p.removedLayerLinks, [], "deleteUntagged \(deleteUntagged)")
            XCTAssertTrue(p.referenced.isSuperset(of: ds("maybe-its-layer", "untagged-layer")), "deleteUntagged \(deleteUntagged)")
        }
        XCTAssertEqual(plan(s, deleteUntagged: true).removedManifests, [d("untagged")])
    }

    func testLayerLinks() {
        let s = snapshot([manifest("image", blobs: ["config", "layer"])], tags: ["v1": "image"],
                         links: ["config": old, "layer": old, "unreferenced-old": old,
                                 "unreferenced-recent": cutoff, "unreferenced-pinned": old])
        for (deleteUntagged, p) in plans(s, pinned: ds("unreferenced-pinned")) {
            XCTAssertEqual(p.removedLayerLinks, [d("unreferenced-old")], "deleteUntagged \(deleteUntagged)")
            XCTAssertEqual(p.referenced, ds("image", "config", "layer", "unreferenced-recent", "unreferenced-pinned"))
        }
        // The links of a removed manifest go with it; without its pin, so does that link.
        var untagged = s
        untagged.tags = [:]
        let p = plan(untagged, deleteUntagged: true)
        XCTAssertEqual(Set(p.removedLayerLinks), ds("config", "layer", "unreferenced-old", "unreferenced-pinned"))
        XCTAssertEqual(p.referenced, ds("unreferenced-recent"))
    }

    func testUnreachableBlobsRespectReferencesCutoffAndPins() {
        let blobs = ["referenced", "recent", "pinned", "garbage-1", "garbage-2"].map { name in
            GCPlanner.Blob(digest: d(name), size: Int64(name.count), modified: name == "recent" ? cutoff : old)
        }
        let unreachable = GCPlanner.unreachableBlobs(blobs, referenced: ds("referenced"), cutoff: cutoff, pinned: ds("pinned"))
        XCTAssertEqual(unreachable.map(\.digest), [d("garbage-1"), d("garbage-2")].sorted())
        XCTAssertEqual(unreachable.map(\.size), [9, 9])
        XCTAssertEqual(GCPlanner.unreachableBlobs([], referenced: [], cutoff: cutoff, pinned: []), [])
    }

    /// What a pin read at the end of a run puts back: what it names and all that keeps alive.
    func testPinsProtectWhatPinnedManifestsKeepAlive() {
        let manifests = [
            manifest("index", children: ["amd64", "arm64"]),
            manifest("amd64", blobs: ["amd64-config", "amd64-layer"]),
            manifest("arm64", blobs: ["arm64-config"]),
            manifest("signature", blobs: ["sig-layer"], subject: "index"),
            manifest("unrelated", blobs: ["unrelated-layer"]),
        ]
        XCTAssertEqual(GCPlanner.protected(by: ds("index", "amd64", "arm64"), manifests: manifests),
                       ds("index", "amd64", "arm64", "amd64-config", "amd64-layer", "arm64-config", "signature", "sig-layer"))
        XCTAssertEqual(GCPlanner.protected(by: ds("a-blob", "never-seen"), manifests: manifests), ds("a-blob", "never-seen"))
        XCTAssertEqual(GCPlanner.protected(by: [], manifests: manifests), [])
    }

    /// Tags, children and subjects naming digests the repository does not store are ignored.
    func testDanglingDigestsDoNotCrash() {
        let s = snapshot([manifest("index", children: ["missing-child", "child"]), manifest("child", blobs: ["layer"])],
                         tags: ["gone": "never-stored", "multi": "index"])
        for (_, p) in plans(s) {
            XCTAssertEqual(p.keptManifests, ds("index", "child"))
            XCTAssertTrue(p.referenced.contains(d("missing-child")), "a child an index names is kept alive wherever it is")
        }
        let onlyDangling = snapshot([], tags: ["gone": "never-stored"], links: ["layer": old])
        let p = plan(onlyDangling, deleteUntagged: true)
        XCTAssertEqual(p.keptManifests, [])
        XCTAssertEqual(p.removedManifests, [])
        XCTAssertEqual(p.removedLayerLinks, [d("layer")])
    }
}
