import BerthCore
import BerthStorage
import Foundation
import XCTest

/// Collections over real content on the filesystem driver: what goes, what stays, and that
/// everything still tagged can be pulled afterwards.
final class GarbageCollectorTests: XCTestCase {
    let app = try! RepositoryName("team/app")
    static let signature = "application/vnd.example.signature"

    func testDeleteUntaggedRemovesAnUntaggedImageButNotWhatATaggedOneShares() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let shared = randomBytes(3000)
        let kept = try await storage.pushImage(in: app, tag: "kept", layers: [shared, randomBytes(2000)])
        let doomed = try await storage.pushImage(in: app, tag: "doomed", layers: [shared, randomBytes(5000)])
        try await storage.deleteManifest(.tag(try Tag("doomed")), in: app)

        // Without deleteUntagged an untagged image is still one that may be pulled by digest.
        let keepAll = try await storage.collect()
        XCTAssertEqual(keepAll.removals, [])
        XCTAssertEqual(keepAll.manifestsScanned, 2)
        XCTAssertEqual(keepAll.blobsScanned, 7)
        try await storage.assertIntact(.digest(doomed.digest), in: app)

        let report = try await storage.collect(deleteUntagged: true)
        XCTAssertEqual(report.manifestsRemoved, 1)
        XCTAssertEqual(report.layerLinksRemoved, 2, "its config and its own layer")
        XCTAssertEqual(report.blobsRemoved, 3, "the manifest, its config and its own layer")
        let exclusive = [doomed.digest, doomed.blobs[0].digest, doomed.blobs[2].digest]
        disk.assertBlobs(exclusive, present: false, "untagged image")
        disk.assertBlobs(kept.allDigests, present: true, "tagged image")
        XCTAssertFalse(disk.manifestLinked(doomed.digest, in: app.value))
        XCTAssertTrue(disk.layerLinked(doomed.blobs[1].digest, in: app.value), "the shared layer's link")
        // The bytes reclaimed are those of the blobs removed.
        XCTAssertEqual(report.bytesReclaimed, Int64(doomed.size + doomed.blobs[0].size + doomed.blobs[2].size))
        XCTAssertEqual(report.bytesReclaimed, report.removals.compactMap(\.size).reduce(0, +))

        await assertRegistryError(.manifestUnknown) { _ = try await storage.getManifest(.digest(doomed.digest), in: self.app) }
        await assertRegistryError(.blobUnknown) { _ = try await storage.blobSize(doomed.blobs[2].digest, in: self.app) }
        try await storage.assertEveryTagIntact()
        let again = try await storage.collect(deleteUntagged: true)
        XCTAssertEqual(again.removals, [], "a second run finds nothing more")
    }

    func testMultiArchIndexStaysWholeWhileTaggedAndGoesWholeWhenNot() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let multi = try RepositoryName("multi/arch")
        let amd64 = try await storage.pushImage(in: multi, layers: [randomBytes(1000), randomBytes(1000)])
        let arm64 = try await storage.pushImage(in: multi, layers: [randomBytes(1500)])
        let index = try await storage.pushIndex(in: multi, tag: "latest", children: [amd64, arm64])
        _ = try await storage.pushImage(in: app, tag: "v1", layers: [randomBytes(100)])

        let kept = try await storage.collect(deleteUntagged: true)
        XCTAssertEqual(kept.removals, [], "the untagged children belong to a tagged index")
        disk.assertBlobs(index.allDigests, present: true, "tagged index")
        try await storage.assertIntact(.tag(try Tag("latest")), in: multi)

        try await storage.deleteManifest(.tag(try Tag("latest")), in: multi)
        let report = try await storage.collect(deleteUntagged: true)
        XCTAssertEqual(report.manifestsRemoved, 3)
        XCTAssertEqual(report.layerLinksRemoved, 5, "two configs, three layers")
        XCTAssertEqual(report.blobsRemoved, index.allDigests.count)
        disk.assertBlobs(index.allDigests, present: false, "untagged index")
        // Its last manifest gone, the repository leaves the catalog.
        let catalog = try await storage.catalog()
        XCTAssertEqual(catalog, [app.value])
        XCTAssertFalse(disk.exists("/berth/catalog/multi~arch"))
        try await storage.assertEveryTagIntact()
    }

    /// An image promoted from one repository to another and untagged in the first: the first
    /// loses its links to it, the content stays for the second.
    func testImageUntaggedInOneRepositoryStaysForAnotherThatTagsIt() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let staging = try RepositoryName("promoted/staging"), release = try RepositoryName("promoted/release")
        let image = try await storage.pushImage(in: staging, tag: "rc", layers: [randomBytes(800)])
        for blob in image.blobs { _ = try await storage.mountBlob(blob.digest, from: staging, into: release) }
        let stored = try await storage.getManifest(.digest(image.digest), in: staging)
        _ = try await storage.putManifest(stored.bytes, contentType: stored.mediaType, reference: .tag(try Tag("1.0")), in: release)
        try await storage.deleteManifest(.tag(try Tag("rc")), in: staging)

        let report = try await storage.collect(deleteUntagged: true)
        XCTAssertEqual(report.manifestsRemoved, 1)
        XCTAssertEqual(report.layerLinksRemoved, image.blobs.count)
        XCTAssertEqual(report.blobsRemoved, 0)
        disk.assertBlobs(image.allDigests, present: true, "image tagged in another repository")
        XCTAssertFalse(disk.manifestLinked(image.digest, in: staging.value))
        let catalog = try await storage.catalog()
        XCTAssertEqual(catalog, [release.value])
        await assertRegistryError(.manifestUnknown) { _ = try await storage.getManifest(.digest(image.digest), in: staging) }
        try await storage.assertEveryTagIntact()
    }

    /// Referrers go with their subject in both modes; referrers of a kept image stay listed.
    func testReferrersFollowTheirSubject() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let x = try await storage.pushImage(in: app, tag: "x", layers: [randomBytes(1000)])
        let signatureOfX = try await storage.pushImage(in: app, layers: [randomBytes(300)], subject: x, artifactType: Self.signature)
        let y = try await storage.pushImage(in: app, tag: "y", layers: [randomBytes(1000)])
        let signatureOfY = try await storage.pushImage(in: app, layers: [randomBytes(300)], subject: y, artifactType: Self.signature)
        let counterSignature = try await storage.pushImage(in: app, layers: [randomBytes(100)], subject: signatureOfY,
                                                           artifactType: Self.signature + ".counter")
        try await storage.deleteManifest(.digest(y.digest), in: app)
        let before = try await storage.referrers(of: y.digest, in: app)
        XCTAssertEqual(before.map(\.digest), [signatureOfY.digest], "deleting a subject leaves its referrers")

        let report = try await storage.collect()
        XCTAssertEqual(report.manifestsRemoved, 2)
        disk.assertBlobs(y.allDigests.union(signatureOfY.allDigests).union(counterSignature.allDigests), present: false,
                         "deleted image and its referrers")
        XCTAssertFalse(disk.exists("/berth/repositories/team/app/_referrers/sha256/\(y.digest.hex)/sha256-\(signatureOfY.digest.hex)"))
        XCTAssertFalse(disk.exists("/berth/repositories/team/app/_referrers/sha256/\(signatureOfY.digest.hex)/sha256-\(counterSignature.digest.hex)"))
        let afterY = try await storage.referrers(of: y.digest, in: app)
        XCTAssertEqual(afterY, [])

        disk.assertBlobs(x.allDigests.union(signatureOfX.allDigests), present: true, "kept image and its signature")
        let ofX = try await storage.referrers(of: x.digest, in: app)
        XCTAssertEqual(ofX.map(\.digest), [signatureOfX.digest])
        XCTAssertEqual(ofX.first?.artifactType, Self.signature)
        try await storage.assertIntact(.digest(signatureOfX.digest), in: app)
        try await storage.assertEveryTagIntact()
    }

    func testDryRunChangesNothingAndReportsWhatARealRunRemoves() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let shared = randomBytes(2000)
        _ = try await storage.pushImage(in: app, tag: "kept", layers: [shared])
        _ = try await storage.pushImage(in: app, tag: "doomed", layers: [shared, randomBytes(700)])
        let child = try await storage.pushImage(in: app, layers: [randomBytes(800)])
        let index = try await storage.pushIndex(in: app, tag: "index", children: [child])
        _ = try await storage.pushImage(in: app, layers: [randomBytes(90)], subject: index, artifactType: Self.signature)
        _ = try await storage.pushBlob(randomBytes(50), in: try RepositoryName("strays"))
        for tag in ["doomed", "index"] { try await storage.deleteManifest(.tag(try Tag(tag)), in: app) }

        let before = try disk.tree()
        let dry = try await storage.collect(deleteUntagged: true, dryRun: true)
        let after = try disk.tree()
        XCTAssertEqual(after, before, "a dry run changes nothing on disk")
        XCTAssertTrue(dry.dryRun)
        XCTAssertEqual(dry.manifestsRemoved, 4)
        let lastRun = try await storage.lastGarbageCollection()
        XCTAssertNil(lastRun, "a dry run is not recorded as the last run")

        let real = try await storage.collect(deleteUntagged: true)
        XCTAssertEqual(real.manifestsRemoved, dry.manifestsRemoved)
        XCTAssertEqual(real.layerLinksRemoved, dry.layerLinksRemoved)
        XCTAssertEqual(real.blobsRemoved, dry.blobsRemoved)
        XCTAssertEqual(real.bytesReclaimed, dry.bytesReclaimed)
        func listed(_ r: GCReport) -> [String] {
            r.removals.map { "\($0.kind) \($0.repository ?? "-") \($0.digest) \($0.size ?? -1)" }.sorted()
        }
        XCTAssertEqual(listed(real), listed(dry))
        for removal in dry.removals where removal.kind == "blob" {
            XCTAssertFalse(disk.blobExists(try Digest(parsing: removal.digest)), "\(removal.digest) was reported, then removed")
        }
        try await storage.assertEveryTagIntact()
    }

    /// Content younger than the grace period stays, however unreferenced; once older, it goes.
    func testGracePeriodProtectsFreshContent() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let kept = try await storage.pushImage(in: app, tag: "kept", layers: [randomBytes(1000)])
        let doomed = try await storage.pushImage(in: app, tag: "doomed", layers: [randomBytes(1000)])
        try await storage.deleteManifest(.tag(try Tag("doomed")), in: app)
        let stray = try await storage.pushBlob(randomBytes(400), in: try RepositoryName("strays"))

        // Only the collector's own files change (its lock and record, the temporary directory
        // its lock went through, the counts it publishes, and so the directory holding them).
        func content() throws -> [String: String] {
            try disk.tree().filter {
                !$0.key.hasPrefix("berth/gc") && !["berth/tmp", "berth/stats.json", "berth"].contains($0.key)
            }
        }
        let before = try content()
        let fresh = try await storage.collect(deleteUntagged: true, grace: .seconds(3600))
        XCTAssertEqual(fresh.removals, [])
        XCTAssertEqual(try content(), before)

        // Two hours later (content and the pushes' pins alike), the same run collects.
        let twoHoursAgo = Date().addingTimeInterval(-7200)
        try disk.age(to: twoHoursAgo)
        try disk.agePins(to: twoHoursAgo)
        let later = try await storage.collect(deleteUntagged: true, grace: .seconds(3600))
        XCTAssertEqual(later.manifestsRemoved, 1)
        XCTAssertEqual(later.blobsRemoved, doomed.allDigests.count + 1)
        disk.assertBlobs(doomed.allDigests.union([stray.digest]), present: false, "aged garbage")
        disk.assertBlobs(kept.allDigests, present: true, "tagged image")
        try await storage.assertEveryTagIntact()
    }

    /// A blob linked into a repository none of whose manifests uses it loses that link; the blob
    /// stays while another repository's manifest uses it, and goes when nothing does.
    func testUnusedLayerLinksAreRemovedAndTheirBlobsKeptWhereUsedElsewhere() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let one = try RepositoryName("one"), two = try RepositoryName("two"), strays = try RepositoryName("strays")
        let image = try await storage.pushImage(in: one, tag: "v1", layers: [randomBytes(1200)])
        let layer = image.blobs[1].digest
        let mounted = try await storage.mountBlob(layer, from: one, into: two)
        XCTAssertEqual(mounted, 1200)
        let stray = try await storage.pushBlob(randomBytes(300), in: strays)

        let report = try await storage.collect()
        XCTAssertEqual(report.manifestsRemoved, 0)
        XCTAssertEqual(report.layerLinksRemoved, 2)
        XCTAssertEqual(report.blobsRemoved, 1)
        XCTAssertEqual(report.bytesReclaimed, 300)
        XCTAssertFalse(disk.layerLinked(layer, in: "two"))
        XCTAssertFalse(disk.layerLinked(stray.digest, in: "strays"))
        XCTAssertFalse(disk.blobExists(stray.digest))
        XCTAssertTrue(disk.layerLinked(layer, in: "one"))
        XCTAssertTrue(disk.blobExists(layer))
        await assertRegistryError(.blobUnknown) { _ = try await storage.blobSize(layer, in: two) }
        let catalog = try await storage.catalog()
        XCTAssertEqual(catalog, ["one"])
        try await storage.assertEveryTagIntact()
    }
}
