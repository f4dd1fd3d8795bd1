/// BerthStorageConformance: the behaviour every `StorageDriver` must show, as checks a driver's
/// test case runs against a real instance (the filesystem, in-memory and S3 drivers all do).
/// Kept out of XCTest so any test target can call it; a failed check throws a ``ConformanceFailure``
/// naming the driver, the check and what differed.
import BerthCore
import BerthStorage
import Foundation
import NIOCore

public struct ConformanceFailure: Error, CustomStringConvertible {
    public let description: String
}

public struct StorageDriverConformance: Sendable {
    public let driver: any StorageDriver
    /// Where the checks write; every check uses its own subdirectory.
    public let root: String
    /// Objects at least this large are read back in several chunks (drivers split them).
    public let largeObjectSize: Int

    public init(driver: any StorageDriver, largeObjectSize: Int = 12 << 20) {
        self.driver = driver
        self.root = "/conformance/" + UUID().uuidString.lowercased()
        self.largeObjectSize = largeObjectSize
    }

    func expect(_ condition: Bool, _ what: @autoclosure () -> String, line: Int = #line) throws {
        if !condition { throw ConformanceFailure(description: "[\(driver.name)] \(what()) (conformance line \(line))") }
    }

    func expectNotFound(_ what: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
            throw ConformanceFailure(description: "[\(driver.name)] \(what): expected notFound, got success")
        } catch StorageDriverError.notFound {
        } catch let failure as ConformanceFailure {
            throw failure
        } catch {
            throw ConformanceFailure(description: "[\(driver.name)] \(what): expected notFound, got \(error)")
        }
    }

    func readAll(_ path: String, range: Range<Int64>? = nil, maxChunk: Int = 8 << 20) async throws -> [UInt8] {
        var out: [UInt8] = []
        try await driver.read(path, range: range) { chunk in
            try expect(chunk.readableBytes <= maxChunk, "read of \(path) handed over a \(chunk.readableBytes)-byte chunk")
            out += chunk.readableBytesView
        }
        return out
    }

    static func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ $0 >> 9) }
    }

    // MARK: - Checks

    /// Small objects: write, read back, replace, size limits, absence.
    public func smallObjects() async throws {
        let dir = root + "/small"
        try await driver.putContent(dir + "/a", ByteBuffer(string: "first"))
        try await expect(String(buffer: driver.getContent(dir + "/a", maxBytes: 100)) == "first", "read back what was put")
        let before = try await driver.stat(dir + "/a")
        try await driver.putContent(dir + "/a", ByteBuffer(string: "second!"), durable: false)
        try await expect(String(buffer: driver.getContent(dir + "/a", maxBytes: 100)) == "second!", "a put replaces")
        let after = try await driver.stat(dir + "/a")
        try expect(after.size == 7 && !after.isDirectory, "stat of an object: size 7, not a directory (got \(after))")
        if !before.changeToken.isEmpty {
            try expect(before.changeToken != after.changeToken, "the change token changes when the object is replaced")
        }
        do {
            _ = try await driver.getContent(dir + "/a", maxBytes: 3)
            try expect(false, "getContent past maxBytes must fail")
        } catch StorageDriverError.tooLarge {}
        try await driver.putContent(dir + "/empty", ByteBuffer())
        try await expect(driver.getContent(dir + "/empty", maxBytes: 10).readableBytes == 0, "an empty object reads back empty")
        try await expectNotFound("getContent of a missing object") { _ = try await driver.getContent(dir + "/missing", maxBytes: 10) }
        try await expectNotFound("stat of a missing object") { _ = try await driver.stat(dir + "/missing") }
        try await expect(driver.statIfExists(dir + "/missing/deeper") == nil, "statIfExists of a missing path is nil")
    }

    /// Staged content: invisible until published, then stored like `putContent` (replacing what
    /// is there, creating parents); a discarded stage leaves nothing behind.
    public func stagedContent() async throws {
        let dir = root + "/staged"
        let staged = try await driver.stage(ByteBuffer(string: "link"))
        try await expect(driver.statIfExists(dir + "/a/link") == nil, "staged content is not visible before it is published")
        try await driver.publish(staged, at: dir + "/a/link")
        try await expect(String(buffer: driver.getContent(dir + "/a/link", maxBytes: 10)) == "link", "published content reads back")
        try await driver.publish(try await driver.stage(ByteBuffer(string: "newer")), at: dir + "/a/link")
        try await expect(String(buffer: driver.getContent(dir + "/a/link", maxBytes: 10)) == "newer", "a publish replaces")
        let dropped = try await driver.stage(ByteBuffer(string: "never"))
        await driver.discard(dropped)
        try await expect(driver.list(dir + "/a") == ["link"], "a discarded stage stores nothing")
        if driver.localFile(dir) != nil {  // drivers keeping temporary files beside the objects
            try await expect(driver.clearTemporaryFiles(olderThan: 0) == 0, "published and discarded stages leave no temporary files")
        }
    }

    /// `putContentIfAbsent` stores once, and exactly one of several racing callers wins.
    public func putIfAbsent() async throws {
        let path = root + "/once/lock"
        try await expect(driver.putContentIfAbsent(path, ByteBuffer(string: "one")), "the first putContentIfAbsent stores")
        try await expect(!(driver.putContentIfAbsent(path, ByteBuffer(string: "two"))), "a second putContentIfAbsent stores nothing")
        try await expect(String(buffer: driver.getContent(path, maxBytes: 10)) == "one", "the first content stays")
        let racePath = root + "/once/race"
        let driver = self.driver
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for i in 0..<8 { group.addTask { try await driver.putContentIfAbsent(racePath, ByteBuffer(string: "\(i)")) } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        try expect(wins == 1, "exactly one of 8 racing putContentIfAbsent calls wins (got \(wins))")
    }

    /// Directories: stat, listing of direct children, absence.
    public func directories() async throws {
        let dir = root + "/tree"
        for path in ["/x", "/y/one", "/y/two", "/z/deep/er/file", "/x2"] {
            try await driver.putContent(dir + path, ByteBuffer(string: path))
        }
        try await expect(Set(driver.list(dir)) == ["x", "y", "z", "x2"], "list names direct children, files and directories")
        try await expect(Set(driver.list(dir + "/y")) == ["one", "two"], "list of a subdirectory")
        try await expect(driver.list(dir + "/z") == ["deep"], "list of a directory holding only a directory")
        let info = try await driver.stat(dir + "/y")
        try expect(info.isDirectory, "stat of a directory says so")
        try await expectNotFound("list of a missing directory") { _ = try await driver.list(dir + "/nothing") }
        try await expectNotFound("stat of a missing directory") { _ = try await driver.stat(dir + "/nothing") }
        try await driver.removeEmptyDirectory(dir + "/y")
        try await expect(Set(driver.list(dir + "/y")) == ["one", "two"], "removeEmptyDirectory leaves a directory with entries")
    }

    /// Streaming reads: whole objects in bounded chunks, ranges, and open readers.
    public func reads() async throws {
        let path = root + "/reads/big"
        let bytes = Self.pattern(largeObjectSize)
        let writer = try await driver.writer(path, append: false)
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + 3 << 20, bytes.count)
            try await writer.write(ByteBuffer(bytes: bytes[offset..<end]))
            offset = end
        }
        try await writer.close()
        try await driver.move(from: path, to: path + "-final")
        let final = path + "-final"
        try await expect(driver.stat(final).size == Int64(bytes.count), "a written and moved object has its size")
        try await expect(readAll(final) == bytes, "the whole object reads back")
        let n = Int64(bytes.count)
        for range in [Int64(0)..<1, 5..<(n / 2), (n - 10)..<n, (n / 3)..<(n / 3 + (5 << 20))] {
            try await expect(readAll(final, range: range) == Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)]),
                             "range \(range) reads back")
        }
        try await expect(readAll(final, range: n..<n).isEmpty, "an empty range at the end reads nothing")
        let reader = try await driver.openForReading(final)
        var streamed: [UInt8] = []
        try await reader.read(range: 7..<1_000_007) { streamed += $0.readableBytesView }
        try expect(streamed == Array(bytes[7..<1_000_007]), "an open reader streams its range")
        try await expectNotFound("openForReading of a missing object") { _ = try await driver.openForReading(root + "/reads/missing") }
        try await expectNotFound("read of a missing object") { _ = try await readAll(root + "/reads/missing") }
    }

    /// Writers as uploads use them: chunks of any size over several writers, each closed with a
    /// checkpoint, the size seen by `stat` after each, a roll-back, then a move into place.
    public func appendingWriters() async throws {
        let path = root + "/upload/data"
        let bytes = Self.pattern(largeObjectSize + 12_345, seed: 7)
        let cuts = [0, 1, 100_000, 5 << 20, (5 << 20) + 1, largeObjectSize - 7, bytes.count]
        for (index, (from, to)) in zip(cuts, cuts.dropFirst()).enumerated() {
            let writer = try await driver.writer(path, append: index > 0)
            let openedAt = await writer.size
            try expect(openedAt == Int64(from), "an appending writer starts at the end (\(openedAt), expected \(from))")
            if index == 2 {
                // A chunk that fails midway is rolled back, and the upload stays usable.
                try await writer.write(ByteBuffer(bytes: Self.pattern(6 << 20, seed: 99)))
                try await writer.truncate(to: openedAt)
                try await writer.close()
                try await expect(driver.stat(path).size == openedAt, "a roll-back leaves the size where it was")
                let again = try await driver.writer(path, append: true)
                try await write(bytes[from..<to], to: again, checkpoint: [UInt8(index)])
            } else {
                try await write(bytes[from..<to], to: writer, checkpoint: [UInt8(index)])
            }
            try await expect(driver.stat(path).size == Int64(to), "stat after chunk \(index) says \(to) bytes")
            if let checkpoint = try await driver.checkpoint(path) {
                try expect(checkpoint == [UInt8(index)], "the checkpoint is the one stored with the last chunk")
            }
        }
        let final = root + "/blobs/final"
        try await driver.putContent(final, ByteBuffer(string: "old"))  // a move replaces what is there
        try await driver.move(from: path, to: final)
        try await expect(readAll(final) == bytes, "the moved upload holds every chunk, in order")
        try await expect(driver.statIfExists(path) == nil, "nothing is left at the upload's path after the move")
        try await expectNotFound("move of a missing object") { try await driver.move(from: path, to: final + "2") }

        // A small upload (one chunk, no part) and an empty one.
        for (name, count) in [("small", 1_000), ("empty", 0)] {
            let p = root + "/upload/" + name
            let writer = try await driver.writer(p, append: false)
            try await write(Self.pattern(count, seed: 3)[...], to: writer, checkpoint: [1])
            try await driver.move(from: p, to: p + "-final")
            try await expect(readAll(p + "-final") == Self.pattern(count, seed: 3), "a \(name) upload reads back after its move")
        }
    }

    private func write(_ bytes: ArraySlice<UInt8>, to writer: any StorageWriter, checkpoint: [UInt8]) async throws {
        var offset = bytes.startIndex
        var piece = 1
        while offset < bytes.endIndex {
            let end = min(offset + piece, bytes.endIndex)
            try await writer.write(ByteBuffer(bytes: bytes[offset..<end]))
            offset = end
            piece = min(piece * 4, 2 << 20)
        }
        try await writer.close(checkpoint: checkpoint)
    }

    /// Moves of small objects, and deletes of objects and trees.
    public func movesAndDeletes() async throws {
        let dir = root + "/md"
        try await driver.putContent(dir + "/a/source", ByteBuffer(string: "moved"))
        try await driver.move(from: dir + "/a/source", to: dir + "/b/c/target")
        try await expect(String(buffer: driver.getContent(dir + "/b/c/target", maxBytes: 10)) == "moved", "a move into new directories")
        try await expect(driver.statIfExists(dir + "/a/source") == nil, "the source is gone after a move")
        for path in ["/t/1", "/t/2/x", "/t/2/y/z", "/tt"] { try await driver.putContent(dir + path, ByteBuffer(string: "x")) }
        try await driver.delete(dir + "/t")
        let gone = try await driver.statIfExists(dir + "/t") == nil
        let deepGone = try await driver.statIfExists(dir + "/t/2/y/z") == nil
        try expect(gone && deepGone, "deleting a directory deletes everything below it")
        try await expect(driver.statIfExists(dir + "/tt") != nil, "deleting a directory leaves a sibling sharing its prefix")
        try await driver.delete(dir + "/tt")
        try await expect(driver.statIfExists(dir + "/tt") == nil, "deleting an object")
        try await driver.delete(dir + "/never-there")
        // An unfinished upload is deleted with its directory.
        let writer = try await driver.writer(dir + "/u/data", append: false)
        try await writer.write(ByteBuffer(bytes: Self.pattern(6 << 20)))
        try await writer.close(checkpoint: nil)
        try await driver.delete(dir + "/u")
        try await expect(driver.statIfExists(dir + "/u/data") == nil, "deleting a directory deletes an unfinished upload in it")
    }

    /// Registry-level: a chunked upload whose chunks go to two `RegistryStorage` instances (two
    /// nodes with separate caches) is verified and stored whole.
    public func uploadsAcrossInstances() async throws {
        let repository = try RepositoryName("conformance/upload")
        let first = RegistryStorage(driver: driver)
        let second = RegistryStorage(driver: driver)
        let bytes = Self.pattern(largeObjectSize / 2 + 777, seed: 11)
        let digest = Digest.compute(bytes)
        let id = try await first.startUpload(in: repository)
        var offset = 0
        var turn = 0
        while offset < bytes.count {
            let end = min(offset + (turn % 2 == 0 ? 1_500_000 : 4_000_000), bytes.count)
            let node = turn % 2 == 0 ? first : second
            let chunk = [ByteBuffer(bytes: bytes[offset..<end])].async
            let now = try await node.appendToUpload(id, in: repository, start: Int64(offset), length: Int64(end - offset), body: chunk)
            try expect(now == Int64(end), "after chunk \(turn) the upload holds \(end) bytes (got \(now))")
            offset = end
            turn += 1
        }
        try await expect(second.uploadOffset(id, in: repository) == Int64(bytes.count), "the other node sees the whole upload")
        try await first.completeUpload(id, in: repository, digest: digest, finalChunk: Optional<[ByteBuffer].AsyncSeq>.none)
        try await expect(readAll(StoragePath.blobData(digest).path) == bytes, "the blob holds what the chunks carried")

        // A wrong digest stores nothing.
        let bad = try await second.startUpload(in: repository)
        try await second.appendToUpload(bad, in: repository, body: [ByteBuffer(bytes: bytes[0..<1000])].async)
        let wrong = Digest.compute(Array("other".utf8))
        do {
            try await first.completeUpload(bad, in: repository, digest: wrong, finalChunk: Optional<[ByteBuffer].AsyncSeq>.none)
            try expect(false, "completing with a wrong digest must fail")
        } catch let error as RegistryError {
            try expect(error.code == .digestInvalid, "a wrong digest is DIGEST_INVALID (got \(error.code))")
        }
        try await expect(driver.statIfExists(StoragePath.blobData(wrong).path) == nil, "nothing is stored under a wrong digest")
        try await driver.delete(StoragePath.repository(repository).path)
        try await driver.delete(StoragePath.blobDirectory(digest).path)
    }

    /// Every check, in order.
    public func all() async throws {
        try await smallObjects()
        try await stagedContent()
        try await putIfAbsent()
        try await directories()
        try await reads()
        try await appendingWriters()
        try await movesAndDeletes()
        try await uploadsAcrossInstances()
        try await driver.delete(root)
    }
}

extension Array where Element == ByteBuffer {
    public typealias AsyncSeq = AsyncBuffers

    /// The buffers as an `AsyncSequence`, as request bodies arrive.
    public var async: AsyncBuffers { AsyncBuffers(buffers: self) }
}

public struct AsyncBuffers: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let buffers: [ByteBuffer]

    public struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<ByteBuffer>
        public mutating func next() async -> ByteBuffer? { remaining.popFirst() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: buffers[...]) }
}
