import BerthCore
@testable import BerthStorage
import Foundation
import NIOCore
import XCTest

/// What keeps a collection from removing content still in use: pins of pushes (before and during
/// the run), the quarantine a crashed run leaves, the lock, and manifests it cannot read.
final class GarbageCollectorSafetyTests: XCTestCase {
    let app = try! RepositoryName("team/app")
    let hour = Duration.seconds(3600)

    /// A mount after the blob's last reference went, and a manifest push, pin what they rely
    /// on: kept while the pin is within the pin window, collected once it is older.
    func testPinnedContentIsKeptUntilItsPinIsOld() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let source = try RepositoryName("source"), target = try RepositoryName("target")
        let layer = try await storage.pushBlob(randomBytes(900), in: source)
        try await storage.unlinkBlob(layer.digest, from: source)
        let size = try await storage.mountBlob(layer.digest, from: nil, into: target)
        XCTAssertEqual(size, 900)
        let image = try await storage.pushImage(in: app, layers: [randomBytes(600)])
        try await storage.deleteManifest(.digest(image.digest), in: app)

        let pinned = try await storage.collect(deleteUntagged: true, pinWindow: hour)
        XCTAssertEqual(pinned.removals, [])
        disk.assertBlobs(image.allDigests.union([layer.digest]), present: true, "pinned")
        let mounted = try await storage.blobSize(layer.digest, in: target)
        XCTAssertEqual(mounted, 900)

        try disk.agePins(to: Date().addingTimeInterval(-7200))
        let unpinned = try await storage.collect(deleteUntagged: true, pinWindow: hour)
        XCTAssertEqual(unpinned.layerLinksRemoved, 1 + image.blobs.count)
        XCTAssertEqual(unpinned.blobsRemoved, 1 + image.allDigests.count)
        disk.assertBlobs(image.allDigests.union([layer.digest]), present: false, "no longer pinned")
    }

    /// Hours of pins older than their lifetime are dropped by a (real) run; recent ones stay.
    func testRunPrunesOldPins() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let old = Date(timeIntervalSince1970: 946_684_800)  // 2000-01-01T00:00Z
        try disk.writePin([Digest.compute([1])], at: old)
        _ = try await storage.pushBlob(randomBytes(10), in: app)  // a pin of now

        _ = try await storage.collect(dryRun: true)
        XCTAssertTrue(disk.exists("/berth/gc/pins/2000010100"), "a dry run changes nothing")
        _ = try await storage.collect()
        XCTAssertFalse(disk.exists("/berth/gc/pins/2000010100"))
        let hours = try FileManager.default.contentsOfDirectory(atPath: root + "/berth/gc/pins")
        XCTAssertEqual(hours.count, 1, "this hour's pins stay: \(hours)")
    }

    /// A push that pins an index while the run is under way (after the run read the pins and
    /// set the untagged index aside) gets the index back with its children and everything they
    /// reference, though its pin names only the index and its children.
    func testIndexPinnedDuringTheRunComesBackWhole() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let amd64 = try await storage.pushImage(in: app, layers: [randomBytes(1000)])
        let arm64 = try await storage.pushImage(in: app, layers: [randomBytes(1000)])
        let index = try await storage.pushIndex(in: app, tag: "latest", children: [amd64, arm64])
        try await storage.deleteManifest(.tag(try Tag("latest")), in: app)

        let report = try await storage.collect(deleteUntagged: true) { event in
            // What `putManifest` of the index pins, written as the blob sweep starts.
            if case .phase("scanning blobs", _) = event {
                try? disk.writePin([index.digest, amd64.digest, arm64.digest], at: Date())
            }
        }
        XCTAssertEqual(report.manifestsRemoved, 0)
        XCTAssertEqual(report.layerLinksRemoved, 0)
        XCTAssertEqual(report.blobsRemoved, 0)
        XCTAssertGreaterThan(report.restored, 0)
        disk.assertBlobs(index.allDigests, present: true, "index pinned during the run")
        try await storage.assertIntact(.digest(index.digest), in: app)
    }

    /// A referrer pinned during the run comes back listed among its subject's referrers.
    func testReferrerPinnedDuringTheRunIsListedAgain() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let image = try await storage.pushImage(in: app, tag: "v1", layers: [randomBytes(500)])
        let signature = try await storage.pushImage(in: app, layers: [randomBytes(100)], subject: image,
                                                    artifactType: GarbageCollectorTests.signature)
        try await storage.deleteManifest(.digest(image.digest), in: app)

        let report = try await storage.collect { event in
            if case .phase("scanning blobs", _) = event {
                try? disk.writePin([signature.digest] + signature.blobs.map(\.digest), at: Date())
            }
        }
        XCTAssertEqual(report.manifestsRemoved, 0)
        disk.assertBlobs(signature.allDigests, present: true, "signature pinned during the run")
        disk.assertBlobs(image.allDigests, present: false, "deleted image")
        try await storage.assertIntact(.digest(signature.digest), in: app)
        let listed = try await storage.referrers(of: image.digest, in: app)
        XCTAssertEqual(listed.map(\.digest), [signature.digest])
    }

    /// Blobs a crashed run left in the quarantine are put back before anything is decided;
    /// then each is kept or collected on its merits.
    func testQuarantineLeftByACrashedRunIsPutBackFirst() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let image = try await storage.pushImage(in: app, tag: "v1", layers: [randomBytes(700), randomBytes(800)])
        let stray = try await storage.pushBlob(randomBytes(300), in: try RepositoryName("strays"))
        let quarantine = root + "/berth/gc/quarantine"
        try FileManager.default.createDirectory(atPath: quarantine, withIntermediateDirectories: true)
        for d in [image.blobs[2].digest, stray.digest] {
            try FileManager.default.moveItem(atPath: root + StoragePath.blobData(d).path, toPath: quarantine + "/sha256-" + d.hex)
        }

        let dry = try await storage.collect(dryRun: true)
        XCTAssertEqual(dry.restored, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: quarantine).count, 2, "a dry run changes nothing")

        let report = try await storage.collect()
        XCTAssertEqual(report.restored, 2)
        XCTAssertEqual(report.blobsRemoved, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: quarantine), [])
        disk.assertBlobs(image.allDigests, present: true, "tagged image")
        XCTAssertFalse(disk.blobExists(stray.digest))
        try await storage.assertEveryTagIntact()
    }

    /// A run that crashed after removing links a concurrent push then relied on: the journal it
    /// wrote first lets the server's start-up (or the next run) put them back, except links whose
    /// content the run had already deleted for good.
    func testLinksSetAsideByACrashedRunArePutBack() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let image = try await storage.pushImage(in: app, tag: "v1", layers: [randomBytes(700), randomBytes(800)])
        let layer = image.blobs[1].digest
        let gone = Digest.compute(randomBytes(10))
        // What the crashed run left: the layer's link removed and its content in the quarantine,
        // with the journal naming it (and a link whose content it had already deleted).
        try FileManager.default.removeItem(atPath: root + "/docker/registry/v2/repositories/team/app/_layers/sha256/" + layer.hex)
        let quarantine = root + "/berth/gc/quarantine"
        try FileManager.default.createDirectory(atPath: quarantine, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: root + StoragePath.blobData(layer).path, toPath: quarantine + "/sha256-" + layer.hex)
        let journal = root + "/berth/gc/set-aside"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: true)
        try "layer-link \(layer)\nlayer-link \(gone)\n".write(toFile: journal + "/team~app", atomically: true, encoding: .utf8)
        XCTAssertFalse(disk.layerLinked(layer, in: "team/app"))

        let putBack = try await storage.recoverInterruptedCollection(owner: "test start-up")
        XCTAssertEqual(putBack, 2, "the blob and its link")
        XCTAssertTrue(disk.layerLinked(layer, in: "team/app"))
        XCTAssertFalse(disk.layerLinked(gone, in: "team/app"), "content deleted for good is not linked again")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: quarantine), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: journal + "/team~app"))
        try await storage.assertEveryTagIntact()
        let again = try await storage.recoverInterruptedCollection(owner: "test start-up")
        XCTAssertEqual(again, 0, "nothing left to recover")
    }

    /// A run that crashed while deleting had removed an untagged manifest's link and already
    /// deleted its config for good: the manifest stays collected rather than coming back without
    /// its config; a manifest whose content is all there comes back.
    func testAManifestMissingContentTheCrashedRunDeletedStaysCollected() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let broken = try await storage.pushImage(in: app, layers: [randomBytes(300)])
        let whole = try await storage.pushImage(in: app, layers: [randomBytes(400)])
        for image in [broken, whole] {
            try FileManager.default.removeItem(atPath: root + Disk.v2 + "/repositories/team/app/_manifests/revisions/sha256/" + image.digest.hex)
        }
        try FileManager.default.removeItem(atPath: root + StoragePath.blobData(broken.blobs[0].digest).path)  // its config
        let journal = root + "/berth/gc/set-aside"
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: true)
        try "manifest \(broken.digest)\nmanifest \(whole.digest)\n".write(toFile: journal + "/team~app", atomically: true, encoding: .utf8)

        let putBack = try await storage.recoverInterruptedCollection(owner: "test start-up")
        XCTAssertEqual(putBack, 1)
        XCTAssertTrue(disk.manifestLinked(whole.digest, in: "team/app"))
        XCTAssertFalse(disk.manifestLinked(broken.digest, in: "team/app"), "restored without its config")
    }

    func testALiveLockRefusesAndAStaleOneIsTakenOver() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let stray = try await storage.pushBlob(randomBytes(300), in: app)
        try FileManager.default.createDirectory(atPath: root + "/berth/gc", withIntermediateDirectories: true)
        try "berth garbage-collect on elsewhere pid 42".write(toFile: root + "/berth/gc/lock", atomically: true, encoding: .utf8)

        do {
            _ = try await storage.collect()
            XCTFail("a second collection ran beside the first")
        } catch GCError.alreadyRunning(let holder) {
            XCTAssertTrue(holder.contains("elsewhere pid 42"), holder)
        }
        XCTAssertTrue(disk.blobExists(stray.digest))
        XCTAssertTrue(disk.exists("/berth/gc/lock"), "the other run's lock stays")
        let none = try await storage.lastGarbageCollection()
        XCTAssertNil(none)

        // Not refreshed for three minutes: its holder is gone.
        try disk.setModified("/berth/gc/lock", Date().addingTimeInterval(-180))
        let report = try await storage.collect()
        XCTAssertEqual(report.blobsRemoved, 1)
        XCTAssertFalse(disk.exists("/berth/gc/lock"), "released after the run")
        let last = try await storage.lastGarbageCollection()
        XCTAssertEqual(last?.blobsRemoved, 1)
        XCTAssertEqual(last?.removals, report.removals)
    }

    /// A lock left by a process of this machine that no longer runs (`kill -9` midway through a
    /// collection) is taken over at once; one a live process holds (this one, as a concurrent
    /// collection would) or another machine holds still refuses until it is two minutes old.
    func testALockOfADeadProcessIsTakenOverAtOnce() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let stray = try await storage.pushBlob(randomBytes(300), in: app)
        let me = try XCTUnwrap(LockHolder.current, "/proc describes this process")
        XCTAssertEqual(LockHolder(record: "x since y \(me.record)"), me)
        try FileManager.default.createDirectory(atPath: root + "/berth/gc", withIntermediateDirectories: true)
        var elsewhere = me
        elsewhere.boot = "another-machine"
        var dead = me
        dead.started = "1"  // the same PID, but not this process: the one before a restart
        for (holder, refused) in [(me, true), (elsewhere, true), (dead, false)] {
            try "berth serve on h pid \(holder.pid) since now \(holder.record)"
                .write(toFile: root + "/berth/gc/lock", atomically: true, encoding: .utf8)
            do {
                let report = try await storage.collect()
                XCTAssertFalse(refused, "ran beside the live holder \(holder.record)")
                XCTAssertEqual(report.blobsRemoved, 1)
                XCTAssertFalse(disk.exists("/berth/gc/lock"), "released after the run")
            } catch GCError.alreadyRunning(let text) {
                XCTAssertTrue(refused, "a dead holder's lock was not taken over: \(text)")
                XCTAssertTrue(disk.blobExists(stray.digest))
            }
        }
    }

    /// A manifest Berth cannot parse (here the reference registry's schema 1) is kept, and so
    /// are the layers linked into its repository, which it may well reference.
    func testLayersOfAManifestBerthCannotReadAreKept() async throws {
        let (storage, root) = try await makeStorage(self)
        let disk = Disk(root: root)
        let legacy = try RepositoryName("legacy")
        let layer = try await storage.pushBlob(randomBytes(1000), in: legacy)
        let json = #"{"schemaVersion":1,"name":"legacy","tag":"v1","architecture":"amd64","fsLayers":[{"blobSum":"\#(layer.digest)"}]}"#
        let digest = Digest.compute(Array(json.utf8))
        try await storage.driver.putContent(StoragePath.blobData(digest).path, ByteBuffer(string: json))
        try await storage.writeLink(.manifestRevisionLink(legacy, digest), to: digest)
        try await storage.writeLink(.tagCurrentLink(legacy, try Tag("v1")), to: digest)

        for deleteUntagged in [false, true] {
            let report = try await storage.collect(deleteUntagged: deleteUntagged)
            XCTAssertEqual(report.removals, [], "deleteUntagged \(deleteUntagged)")
        }
        XCTAssertTrue(disk.manifestLinked(digest, in: "legacy"))
        XCTAssertTrue(disk.layerLinked(layer.digest, in: "legacy"))
        disk.assertBlobs([digest, layer.digest], present: true, "schema 1 image")
    }
}
