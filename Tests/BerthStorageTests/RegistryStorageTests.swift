import BerthCore
import BerthFilesystem
import BerthStorage
import Foundation
import Logging
import NIOCore
import XCTest

/// A body arriving in pieces, as a request body does.
struct Chunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let parts: [[UInt8]]
    init(_ parts: [[UInt8]]) { self.parts = parts }
    init(_ bytes: [UInt8], pieces: Int) {
        let step = Swift.max(1, (bytes.count + pieces - 1) / pieces)
        parts = stride(from: 0, to: bytes.count, by: step).map { Array(bytes[$0..<Swift.min($0 + step, bytes.count)]) }
    }
    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: [[UInt8]]
        mutating func next() async throws -> ByteBuffer? {
            guard !remaining.isEmpty else { return nil }
            return ByteBuffer(bytes: remaining.removeFirst())
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: parts) }
}

/// A body that fails midway, like a client disconnecting.
struct FailingBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    struct Broken: Error {}
    let first: [UInt8]
    struct AsyncIterator: AsyncIteratorProtocol {
        var sent = false
        let first: [UInt8]
        mutating func next() async throws -> ByteBuffer? {
            if sent { throw Broken() }
            sent = true
            return ByteBuffer(bytes: first)
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(first: first) }
}

final class RegistryStorageTests: XCTestCase {
    let repo = try! RepositoryName("team/app")

    func testChunkedUploadSurvivesARestart() async throws {
        let (storage, root) = try await makeStorage(self)
        let data = randomBytes(300_000)
        let id = try await storage.startUpload(in: repo)
        let offset = try await storage.appendToUpload(id, in: repo, start: 0, length: 100_000,
                                                      body: Chunks(Array(data[0..<100_000]), pieces: 7))
        XCTAssertEqual(offset, 100_000)
        // A new storage instance has no cached hash state: it must re-read what was uploaded.
        let (restarted, _) = try await makeStorage(self, root: root)
        let v1 = try await restarted.uploadOffset(id, in: repo)
        XCTAssertEqual(v1, 100_000)
        try await restarted.appendToUpload(id, in: repo, body: Chunks([Array(data[100_000...])]))
        let digest = Digest.compute(data)
        let size = try await restarted.completeUpload(id, in: repo, digest: digest, finalChunk: Optional<Chunks>.none)
        XCTAssertEqual(size, 300_000)
        let v2 = try await storage.blobSize(digest, in: repo)
        XCTAssertEqual(v2, 300_000)
        var read: [UInt8] = []
        try await storage.readBlob(digest, range: nil) { read += $0.readableBytesView }
        XCTAssertEqual(read, data)
        // The session is gone.
        await assertRegistryError(.blobUploadUnknown) { _ = try await storage.uploadOffset(id, in: self.repo) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/docker/registry/v2/repositories/team/app/_uploads/\(id)"))
    }

    func testOutOfOrderChunkIsRefusedAndSessionStaysUsable() async throws {
        let (storage, _) = try await makeStorage(self)
        let id = try await storage.startUpload(in: repo)
        try await storage.appendToUpload(id, in: repo, start: 0, length: 3, body: Chunks([[1, 2, 3]]))
        await assertRegistryError(.rangeInvalid) {
            try await storage.appendToUpload(id, in: self.repo, start: 5, length: 2, body: Chunks([[9, 9]]))
        }
        await assertRegistryError(.rangeInvalid) {  // overlapping
            try await storage.appendToUpload(id, in: self.repo, start: 1, length: 2, body: Chunks([[9, 9]]))
        }
        let v3 = try await storage.uploadOffset(id, in: repo)
        XCTAssertEqual(v3, 3)
        try await storage.appendToUpload(id, in: repo, start: 3, length: 2, body: Chunks([[4, 5]]))
        try await storage.completeUpload(id, in: repo, digest: Digest.compute([1, 2, 3, 4, 5]), finalChunk: Optional<Chunks>.none)
    }

    func testFailedChunkIsRolledBack() async throws {
        let (storage, _) = try await makeStorage(self)
        let id = try await storage.startUpload(in: repo)
        try await storage.appendToUpload(id, in: repo, body: Chunks([[1, 2, 3]]))
        do {
            try await storage.appendToUpload(id, in: repo, body: FailingBody(first: [7, 7, 7, 7]))
            XCTFail("expected failure")
        } catch is FailingBody.Broken {}
        let v4 = try await storage.uploadOffset(id, in: repo)
        XCTAssertEqual(v4, 3)
        await assertRegistryError(.sizeInvalid) {  // shorter than announced
            try await storage.appendToUpload(id, in: self.repo, start: 3, length: 10, body: Chunks([[1]]))
        }
        let v5 = try await storage.uploadOffset(id, in: repo)
        XCTAssertEqual(v5, 3)
        try await storage.completeUpload(id, in: repo, digest: Digest.compute([1, 2, 3]), finalChunk: Optional<Chunks>.none)
    }

    func testDigestMismatchStoresNothing() async throws {
        let (storage, root) = try await makeStorage(self)
        let wrong = Digest.compute([0])
        await assertRegistryError(.digestInvalid) {
            try await storage.putBlob(wrong, in: self.repo, length: nil, body: Chunks([[1, 2, 3]]))
        }
        await assertRegistryError(.blobUnknown) { _ = try await storage.blobSize(wrong, in: self.repo) }
        let actual = Digest.compute([1, 2, 3])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/docker/registry/v2/blobs/sha256/\(actual.hex.prefix(2))/\(actual.hex)/data"))
        let uploads = (try? FileManager.default.contentsOfDirectory(atPath: root + "/docker/registry/v2/repositories/team/app/_uploads")) ?? []
        XCTAssertEqual(uploads, [])
    }

    func testSha512Upload() async throws {
        let (storage, _) = try await makeStorage(self)
        let data = randomBytes(5000)
        let digest = Digest.compute(data, algorithm: .sha512)
        // Chunked: hashed as sha256 while streaming, re-hashed as sha512 at the end.
        let id = try await storage.startUpload(in: repo)
        try await storage.appendToUpload(id, in: repo, body: Chunks(data, pieces: 3))
        try await storage.completeUpload(id, in: repo, digest: digest, finalChunk: Optional<Chunks>.none)
        let v6 = try await storage.blobSize(digest, in: repo)
        XCTAssertEqual(v6, 5000)
    }

    func testConcurrentChunksToOneSessionAreSerialised() async throws {
        let (storage, _) = try await makeStorage(self)
        let id = try await storage.startUpload(in: repo)
        let repo = self.repo
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask { try await storage.appendToUpload(id, in: repo, body: Chunks([[UInt8](repeating: UInt8(i), count: 1000)])) }
            }
            for try await _ in group {}
        }
        let v7 = try await storage.uploadOffset(id, in: repo)
        XCTAssertEqual(v7, 8000)
    }

    func testPurgeRemovesOnlyOldUploads() async throws {
        let (storage, root) = try await makeStorage(self)
        let old = try await storage.startUpload(in: repo)
        let fresh = try await storage.startUpload(in: try RepositoryName("other"))
        let startedAt = root + "/docker/registry/v2/repositories/team/app/_uploads/\(old)/startedat"
        try ISO8601DateFormatter().string(from: Date().addingTimeInterval(-10 * 86400)).write(toFile: startedAt, atomically: true, encoding: .utf8)
        let logger = Logger(label: "test")
        let dry = try await storage.purgeUploads(startedBefore: Date().addingTimeInterval(-86400), dryRun: true, logger: logger)
        XCTAssertEqual(dry, 1)
        let v8 = try await storage.uploadOffset(old, in: repo)
        XCTAssertEqual(v8, 0)
        let purged = try await storage.purgeUploads(startedBefore: Date().addingTimeInterval(-86400), dryRun: false, logger: logger)
        XCTAssertEqual(purged, 1)
        await assertRegistryError(.blobUploadUnknown) { _ = try await storage.uploadOffset(old, in: self.repo) }
        let v9 = try await storage.uploadOffset(fresh, in: try RepositoryName("other"))
        XCTAssertEqual(v9, 0)
    }

    func testUploadStartTimeIsWhatISO8601DateFormatterReads() async throws {
        let (storage, root) = try await makeStorage(self)
        let before = Date().timeIntervalSince1970.rounded(.down)
        let id = try await storage.startUpload(in: repo)
        let text = try String(contentsOfFile: root + "/docker/registry/v2/repositories/team/app/_uploads/\(id)/startedat", encoding: .utf8)
        let parsed = try XCTUnwrap(ISO8601DateFormatter().date(from: text), text)
        XCTAssertGreaterThanOrEqual(parsed.timeIntervalSince1970, before)
        XCTAssertLessThan(parsed.timeIntervalSince1970, before + 60)
        // The same text the formatter writes, for dates with one-digit fields and late ones.
        for seconds in [0.0, 1_000_000_000.5, 1_780_000_000, 4_102_444_799] {
            let date = Date(timeIntervalSince1970: seconds)
            XCTAssertEqual(RegistryStorage.timestamp(date), ISO8601DateFormatter().string(from: date))
        }
    }

    func testUploadIDsAreDistinctVersion4UUIDs() async throws {
        let (storage, _) = try await makeStorage(self)
        var seen = Set<String>()
        for _ in 0..<200 {
            let id = try await storage.startUpload(in: repo)
            XCTAssertTrue(RegistryStorage.isValidUploadID(id), id)
            let uuid = try XCTUnwrap(UUID(uuidString: id), id)
            XCTAssertEqual(uuid.uuidString.lowercased(), id)
            let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
            XCTAssertEqual(bytes[6] >> 4, 4, "version 4: \(id)")
            XCTAssertEqual(bytes[8] >> 6, 0b10, "RFC 4122 variant: \(id)")
            seen.insert(id)
        }
        XCTAssertEqual(seen.count, 200)
    }

    func testManifestPutWritesReferenceLayoutAndTag() async throws {
        let (storage, root) = try await makeStorage(self)
        let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        let configDigest = Digest.compute(config)
        try await storage.putBlob(configDigest, in: repo, length: nil, body: Chunks([config]))
        let manifest = #"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[]}"#
        let (digest, _) = try await storage.putManifest(ByteBuffer(string: manifest), contentType: MediaType.ociManifest,
                                                        reference: .tag(try Tag("v1")), in: repo)
        let base = root + "/docker/registry/v2/repositories/team/app/_manifests"
        XCTAssertEqual(try String(contentsOfFile: base + "/tags/v1/current/link", encoding: .utf8), digest.description)
        XCTAssertTrue(FileManager.default.fileExists(atPath: base + "/tags/v1/index/sha256/\(digest.hex)/link"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: base + "/revisions/sha256/\(digest.hex)/link"))
        let stored = try await storage.getManifest(.tag(try Tag("v1")), in: repo)
        XCTAssertEqual(stored.mediaType, MediaType.ociManifest)
        XCTAssertEqual(String(buffer: stored.bytes), manifest)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/berth/mediatypes/sha256/\(digest.hex)"))

        // A type that cannot be inferred from the bytes is recorded in Berth's own area and
        // served back, also by a fresh process (no cache).
        let docker = manifest + " "
        let (dockerDigest, _) = try await storage.putManifest(ByteBuffer(string: docker), contentType: MediaType.dockerManifest,
                                                              reference: .tag(try Tag("v2")), in: repo)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/berth/mediatypes/sha256/\(dockerDigest.hex)"))
        let (fresh, _) = try await makeStorage(self, root: root)
        let v10 = try await fresh.getManifest(.digest(dockerDigest), in: repo).mediaType
        XCTAssertEqual(v10, MediaType.dockerManifest)
        let v11 = try await storage.listTags(in: repo)
        XCTAssertEqual(v11, ["v1", "v2"])
    }
}

func assertRegistryError(_ code: ErrorCode, file: StaticString = #filePath, line: UInt = #line,
                         _ body: () async throws -> Void) async {
    do {
        try await body()
        XCTFail("expected \(code.rawValue)", file: file, line: line)
    } catch let error as RegistryError {
        XCTAssertEqual(error.code, code, error.message, file: file, line: line)
    } catch {
        XCTFail("expected \(code.rawValue), got \(error)", file: file, line: line)
    }
}
