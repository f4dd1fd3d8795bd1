import BerthCore
@testable import BerthFilesystem
@testable import BerthStorage
import Foundation
import NIOCore
import Synchronization
import XCTest

/// Operations stopped at each of their writes in turn, as a `kill -9` could stop them: what a
/// restarted registry then lists must still be whole. (The integration test `CrashSafetyTests`
/// kills real processes at random moments; this walks every write point deterministically.)
final class CrashPointTests: XCTestCase {
    let app = try! RepositoryName("team/app")

    /// Moving a tag and creating another, stopped at any write: every listed tag resolves to an
    /// intact image, the moved tag to the old manifest or the new, the new tag to nothing or the new.
    func testATagWriteStoppedAtAnyPointLeavesEveryListedTagIntact() async throws {
        let points = try await stopAtEveryWrite { storage in
            let old = try await storage.pushImage(in: self.app, tag: "v1", layers: [randomBytes(100)])
            let new = try await storage.pushImage(in: self.app, layers: [randomBytes(100)])
            let bytes = try await storage.getManifest(.digest(new.digest), in: self.app).bytes
            return (old.digest, new.digest, bytes)
        } operation: { storage, pushed in
            _ = try await storage.putManifest(pushed.2, contentType: nil, reference: .tag(try Tag("v1")),
                                              tags: [try Tag("v2")], in: self.app)
        } check: { storage, pushed in
            let v1 = try await storage.resolveManifest(.tag(try Tag("v1")), in: self.app)
            XCTAssertTrue([pushed.0, pushed.1].contains(v1))
            if let v2 = try? await storage.resolveManifest(.tag(try Tag("v2")), in: self.app) { XCTAssertEqual(v2, pushed.1) }
        }
        XCTAssertGreaterThan(points, 4, "the tag write has several steps")
    }

    /// Deleting a manifest (with its tags) or a tag, stopped at any write: what is listed is intact.
    func testADeleteStoppedAtAnyPointLeavesEveryListedTagIntact() async throws {
        for byDigest in [true, false] {
            _ = try await stopAtEveryWrite { storage in
                let image = try await storage.pushImage(in: self.app, tag: "v1", layers: [randomBytes(100)])
                try await storage.moveTag(try Tag("v2"), to: image.digest, in: self.app)
                _ = try await storage.pushImage(in: self.app, tag: "keep", layers: [randomBytes(100)])
                return image.digest
            } operation: { storage, digest in
                try await storage.deleteManifest(byDigest ? .digest(digest) : .tag(try Tag("v1")), in: self.app)
            } check: { storage, _ in
                _ = try await storage.resolveManifest(.tag(try Tag("keep")), in: self.app)
            }
        }
    }

    /// Completing a blob upload, stopped at any write (its link staged and synced beside the
    /// blob's move, then published): a repository link never names a blob that is not in place
    /// whole, and the completed upload leaves no temporary file behind.
    func testABlobUploadStoppedAtAnyPointNeverLinksAMissingBlob() async throws {
        let bytes = randomBytes(300_000)
        let digest = Digest.compute(bytes)
        let points = try await stopAtEveryWrite { storage in
            let id = try await storage.startUpload(in: self.app)
            try await storage.appendToUpload(id, in: self.app, body: Chunks([bytes]))
            return id
        } operation: { storage, id in
            try await storage.completeUpload(id, in: self.app, digest: digest, finalChunk: nil as Chunks?)
        } check: { storage, _ in
            let link = StoragePath.layerLink(self.app, digest).path
            guard try await storage.driver.exists(link) else { return }
            let named = try await storage.driver.getString(link)
            XCTAssertEqual(named, digest.description)
            let blob = try await storage.driver.stat(StoragePath.blobData(digest).path)
            XCTAssertEqual(blob.size, Int64(bytes.count), "the link names a blob that is not in place whole")
        }
        XCTAssertGreaterThan(points, 3, "pin, stage, move, publish and the session's removal are writes")
    }

    /// A delete of a tag that lands between a push's two writes of it (its current link, then its
    /// history entry) wins: the tag is gone, not left listed without a current link.
    func testATagDeletedBetweenThePushsTwoWritesStaysDeleted() async throws {
        let dir = try makeTemporaryDirectory(self)
        let inner = FilesystemDriver(root: dir)
        try await inner.prepare()
        let driver = StoppingDriver(inner: inner)
        let storage = RegistryStorage(driver: driver)
        let image = try await storage.pushImage(in: app, tag: "v1", layers: [randomBytes(100)])
        let tagDirectory = StoragePath.tag(app, try Tag("v2")).path
        let deletes = Mutex(0)
        driver.beforeEachPut { path in
            guard path.hasPrefix(tagDirectory + "/index/"), deletes.withLock({ $0 += 1; return $0 == 1 }) else { return }
            try? await inner.delete(tagDirectory)  // the other request's DELETE of the tag
        }
        try await storage.retag(image, "v2", in: app)
        driver.beforeEachPut(nil)
        XCTAssertEqual(deletes.withLock { $0 }, 1, "the delete did not run between the two writes")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + tagDirectory), "the tag's directory was left behind")
        let restarted = RegistryStorage(driver: inner)
        try await restarted.assertEveryTagIntact()
        let tags = try await restarted.listTags(in: app)
        XCTAssertEqual(tags, ["v1"])
    }

    /// Runs `setup` on a fresh storage, then `operation` stopped at its first write, then at its
    /// second, and so on until it completes; after each stop a fresh `RegistryStorage` (nothing
    /// cached, as after a restart) must find every listed tag intact and pass `check`. Returns
    /// the number of writes the operation makes.
    private func stopAtEveryWrite<T: Sendable>(
        setup: (RegistryStorage) async throws -> T,
        operation: (RegistryStorage, T) async throws -> Void,
        check: (RegistryStorage, T) async throws -> Void
    ) async throws -> Int {
        for point in 0..<200 {
            let dir = try makeTemporaryDirectory(self)
            let inner = FilesystemDriver(root: dir)
            try await inner.prepare()
            let driver = StoppingDriver(inner: inner)
            let storage = RegistryStorage(driver: driver)
            let prepared = try await setup(storage)
            driver.stop(atWrite: point)
            var completed = false
            do {
                try await operation(storage, prepared)
                completed = true
            } catch is StoppingDriver.Stopped {}
            driver.stop(atWrite: nil)
            let restarted = RegistryStorage(driver: inner)
            try await restarted.assertEveryTagIntact()
            try await check(restarted, prepared)
            if completed {
                let left = try await inner.clearTemporaryFiles(olderThan: 0)
                XCTAssertEqual(left, 0, "the completed operation left temporary files")
                return point
            }
        }
        XCTFail("the operation never completed")
        return 0
    }
}

/// A driver whose n-th write (`putContent`, `putContentIfAbsent`, `move`, `delete`, a writer)
/// fails, and every write after it, as if the process had been killed there.
final class StoppingDriver: StorageDriver {
    struct Stopped: Error {}
    let inner: FilesystemDriver
    private let state = Mutex<(writes: Int, stopAt: Int?)>((0, nil))
    /// Runs before each `putContent`, with its path: another process's step slipped in between.
    private let beforePut = Mutex<(@Sendable (String) async -> Void)?>(nil)

    init(inner: FilesystemDriver) { self.inner = inner }

    func stop(atWrite point: Int?) { state.withLock { $0 = (0, point) } }

    func beforeEachPut(_ hook: (@Sendable (String) async -> Void)?) { beforePut.withLock { $0 = hook } }

    private func write() throws {
        let stopped = state.withLock { state -> Bool in
            defer { state.writes += 1 }
            return state.stopAt.map { state.writes >= $0 } ?? false
        }
        if stopped { throw Stopped() }
    }

    var name: String { inner.name }
    func getContent(_ path: String, maxBytes: Int) async throws -> ByteBuffer { try await inner.getContent(path, maxBytes: maxBytes) }
    func putContent(_ path: String, _ content: ByteBuffer, durable: Bool) async throws {
        try write()
        if let hook = beforePut.withLock({ $0 }) { await hook(path) }
        try await inner.putContent(path, content, durable: durable)
    }
    func putContentIfAbsent(_ path: String, _ content: ByteBuffer) async throws -> Bool {
        try write()
        return try await inner.putContentIfAbsent(path, content)
    }
    func stat(_ path: String) async throws -> FileInfo { try await inner.stat(path) }
    func list(_ path: String) async throws -> [String] { try await inner.list(path) }
    func read(_ path: String, range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await inner.read(path, range: range, body)
    }
    func writer(_ path: String, append: Bool) async throws -> any StorageWriter {
        try write()
        return try await inner.writer(path, append: append)
    }
    func move(from source: String, to destination: String) async throws {
        try write()
        try await inner.move(from: source, to: destination)
    }
    func delete(_ path: String) async throws {
        try write()
        try await inner.delete(path)
    }
    func removeEmptyDirectory(_ path: String) async throws {
        try write()
        try await inner.removeEmptyDirectory(path)
    }
    func stage(_ content: ByteBuffer) async throws -> StagedContent {
        try write()
        return try await inner.stage(content)
    }
    func publish(_ staged: StagedContent, at path: String) async throws {
        try write()
        try await inner.publish(staged, at: path)
    }
    func discard(_ staged: StagedContent) async { await inner.discard(staged) }
    func openForReading(_ path: String) async throws -> any StorageReader { try await inner.openForReading(path) }
}
