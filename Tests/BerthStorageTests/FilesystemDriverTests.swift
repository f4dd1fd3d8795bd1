@testable import BerthFilesystem
import BerthStorage
import CBerthSystem
import Foundation
import NIOCore
import XCTest

/// Creates a fresh temporary directory for one test and removes it afterwards.
func makeTemporaryDirectory(_ testCase: XCTestCase) throws -> String {
    let dir = NSTemporaryDirectory() + "berth-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

final class FilesystemDriverTests: XCTestCase {
    func makeDriver() async throws -> (FilesystemDriver, String) {
        let root = try makeTemporaryDirectory(self)
        let driver = FilesystemDriver(root: root)
        try await driver.prepare()
        return (driver, root)
    }

    func testPutGetStatListDelete() async throws {
        let (driver, root) = try await makeDriver()
        try await driver.putContent("/a/b/c", string: "hello")
        let v1 = try await driver.getString("/a/b/c")
        XCTAssertEqual(v1, "hello")
        let v2 = try await driver.stat("/a/b/c").size
        XCTAssertEqual(v2, 5)
        let v3 = try await driver.stat("/a/b").isDirectory
        XCTAssertTrue(v3)
        let v4 = try await driver.list("/a/b")
        XCTAssertEqual(v4, ["c"])
        try await driver.putContent("/a/b/c", string: "replaced")
        let v5 = try await driver.getString("/a/b/c")
        XCTAssertEqual(v5, "replaced")
        // No temporary file is left next to the content or in the temporary directory.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/a/b"), ["c"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/berth/tmp"), [])
        try await driver.delete("/a")
        let v6 = try await driver.exists("/a/b/c")
        XCTAssertFalse(v6)
        try await driver.delete("/a")  // deleting nothing is fine
    }

    func testMissingObjectsAreNotFound() async throws {
        let (driver, _) = try await makeDriver()
        do {
            _ = try await driver.getContent("/nope", maxBytes: 10)
            XCTFail("expected notFound")
        } catch StorageDriverError.notFound {}
        do {
            _ = try await driver.list("/nope")
            XCTFail("expected notFound")
        } catch StorageDriverError.notFound {}
        let info = try await driver.statIfExists("/nope")
        XCTAssertNil(info)
    }

    func testGetContentEnforcesLimit() async throws {
        let (driver, _) = try await makeDriver()
        try await driver.putContent("/big", string: String(repeating: "x", count: 100))
        do {
            _ = try await driver.getContent("/big", maxBytes: 99)
            XCTFail("expected tooLarge")
        } catch StorageDriverError.tooLarge {}
    }

    func testPathsCannotEscapeTheRoot() async throws {
        let (driver, _) = try await makeDriver()
        for bad in ["relative", "/a/../b", "/..", "/a//b", "/a/./b", "/a/", "/a\u{0}b"] {
            do {
                try await driver.putContent(bad, string: "x")
                XCTFail("accepted \(bad)")
            } catch StorageDriverError.invalidPath {}
        }
    }

    func testStreamingReadWithRangeAndChunks() async throws {
        let (driver, _) = try await makeDriver()
        let size = 3 * (1 << 20) + 123
        var bytes = [UInt8](repeating: 0, count: size)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
        let writer = try await driver.writer("/blob", append: false)
        try await writer.write(ByteBuffer(bytes: bytes))
        try await writer.close()
        var all: [UInt8] = []
        var chunks = 0
        try await driver.read("/blob", range: nil) { chunk in
            chunks += 1
            XCTAssertLessThanOrEqual(chunk.readableBytes, FilesystemDriver.readChunk)
            all += chunk.readableBytesView
        }
        XCTAssertEqual(all, bytes)
        XCTAssertEqual(chunks, (size + FilesystemDriver.readChunk - 1) / FilesystemDriver.readChunk)
        var part: [UInt8] = []
        try await driver.read("/blob", range: 1_000_000..<2_100_000) { part += $0.readableBytesView }
        XCTAssertEqual(part, Array(bytes[1_000_000..<2_100_000]))
    }

    /// A reader opened before its file is deleted (a garbage collection) still reads it whole;
    /// opening a missing file fails at once.
    func testAnOpenedFileIsReadWholeAfterItIsDeleted() async throws {
        let (driver, _) = try await makeDriver()
        let bytes = (0..<(FilesystemDriver.readChunk + 500)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try await driver.putContent("/blob", ByteBuffer(bytes: bytes))
        let reader = try await driver.openForReading("/blob")
        try await driver.delete("/blob")
        var read: [UInt8] = []
        try await reader.read(range: nil) { read += $0.readableBytesView }
        XCTAssertEqual(read, bytes)
        do {
            _ = try await driver.openForReading("/blob")
            XCTFail("expected notFound")
        } catch StorageDriverError.notFound {}
    }

    func testWriterAppendsAndTruncates() async throws {
        let (driver, _) = try await makeDriver()
        let w1 = try await driver.writer("/up/data", append: true)
        try await w1.write(ByteBuffer(string: "abc"))
        try await w1.close()
        let w2 = try await driver.writer("/up/data", append: true)
        let before = await w2.size
        XCTAssertEqual(before, 3)
        try await w2.write(ByteBuffer(string: "defgh"))
        try await w2.truncate(to: 5)
        try await w2.close()
        let v7 = try await driver.getString("/up/data")
        XCTAssertEqual(v7, "abcde")
    }

    /// Writes run one behind the caller: many writes land in order, and `close` waits for the last.
    func testWriteBehindKeepsOrderAndCloseWaitsForTheLastWrite() async throws {
        let (driver, root) = try await makeDriver()
        let writer = try await driver.writer("/big", append: false)
        var expected = [UInt8]()
        for i in 0..<200 {
            let piece = [UInt8](repeating: UInt8(i % 251), count: 1000 + i * 37)
            expected += piece
            try await writer.write(ByteBuffer(bytes: piece))
        }
        try await writer.close()
        XCTAssertEqual(Array(FileManager.default.contents(atPath: root + "/big") ?? Data()), expected)
    }

    /// A truncate right after a write undoes that write too (it waits for it first).
    func testTruncateAfterAPendingWriteRemovesIt() async throws {
        let (driver, root) = try await makeDriver()
        let writer = try await driver.writer("/t", append: false)
        try await writer.write(ByteBuffer(string: "keep"))
        try await writer.write(ByteBuffer(bytes: [UInt8](repeating: 1, count: 4 << 20)))
        try await writer.truncate(to: 4)
        try await writer.write(ByteBuffer(string: "+more"))
        try await writer.close()
        let stored = FileManager.default.contents(atPath: root + "/t") ?? Data()
        XCTAssertEqual(stored.count, 9)
        XCTAssertTrue(stored == Data("keep+more".utf8), "content differs from keep+more")
    }

    /// Past the threshold, whole aligned blocks go to the disk with O_DIRECT and the rest through
    /// the page cache: pieces of every awkward size, a threshold and a reopen at unaligned
    /// offsets, a truncate into data still in a block, all land byte for byte.
    func testDirectWritesKeepEveryByteInOrder() async throws {
        let root = try makeTemporaryDirectory(self)
        let driver = FilesystemDriver(root: root, directWriteThreshold: 100_003)
        try await driver.prepare()
        let opened = DirectBlocks.opened.withLockedValue { $0 }
        var expected = [UInt8]()
        var generator = SystemRandomNumberGenerator()
        func piece(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) } }

        let first = try await driver.writer("/up/data", append: true)
        for count in [1, 4095, 100_000, 3, (1 << 20) + 17, 256 << 10, 5, (3 << 20) - 1, 4096] {
            let bytes = piece(count)
            expected += bytes
            try await first.write(ByteBuffer(bytes: bytes))
        }
        let sizeBeforeTruncate = await first.size
        XCTAssertEqual(sizeBeforeTruncate, Int64(expected.count))
        // Back into what the block being filled holds, and on again.
        let cut = expected.count - 1_000
        try await first.truncate(to: Int64(cut))
        expected.removeLast(1_000)
        for count in [2 << 20, 7] {
            let bytes = piece(count)
            expected += bytes
            try await first.write(ByteBuffer(bytes: bytes))
        }
        try await first.close()
        // A second writer continues at the unaligned end, as the next PATCH of an upload does.
        let second = try await driver.writer("/up/data", append: true)
        let bytes = piece((2 << 20) + 333)
        expected += bytes
        try await second.write(ByteBuffer(bytes: bytes))
        try await second.close()

        let stored = [UInt8](FileManager.default.contents(atPath: root + "/up/data") ?? Data())
        XCTAssertEqual(stored.count, expected.count)
        XCTAssertTrue(stored == expected, "stored bytes differ from those written")
        if supportsDirectIO(root) {
            let now = DirectBlocks.opened.withLockedValue { $0 }
            XCTAssertGreaterThan(now, opened, "no write went to the disk directly")
        }
        XCTAssertEqual(DirectBlocks.inUseNow, 0, "a closed writer kept its direct-write slot")
    }

    /// A file system without O_DIRECT (tmpfs) takes the same writes through the page cache.
    func testDirectWritesFallBackWhereTheFileSystemRefusesThem() async throws {
        guard FileManager.default.fileExists(atPath: "/dev/shm") else { throw XCTSkip("no /dev/shm") }
        let root = "/dev/shm/berth-test-" + UUID().uuidString
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let driver = FilesystemDriver(root: root, directWriteThreshold: 0)
        try await driver.prepare()
        let writer = try await driver.writer("/data", append: false)
        let bytes = [UInt8]((0..<(3 << 20) + 11).map { UInt8(truncatingIfNeeded: $0 * 7) })
        try await writer.write(ByteBuffer(bytes: bytes))
        try await writer.close()
        XCTAssertTrue([UInt8](FileManager.default.contents(atPath: root + "/data") ?? Data()) == bytes)
    }

    /// Only a few writers hold the 1 MiB direct blocks at a time; the others write through the
    /// page cache until a slot frees up.
    func testDirectWriteSlotsAreBounded() async throws {
        let root = try makeTemporaryDirectory(self)
        guard supportsDirectIO(root) else { throw XCTSkip("no O_DIRECT under \(root)") }
        let driver = FilesystemDriver(root: root, directWriteThreshold: 0)
        try await driver.prepare()
        var writers: [any StorageWriter] = []
        for i in 0..<(DirectBlocks.slots + 2) {
            let writer = try await driver.writer("/w\(i)", append: false)
            try await writer.write(ByteBuffer(bytes: [UInt8](repeating: UInt8(i), count: 2 << 20)))
            writers.append(writer)
            XCTAssertLessThanOrEqual(DirectBlocks.inUseNow, DirectBlocks.slots)
        }
        XCTAssertEqual(DirectBlocks.inUseNow, DirectBlocks.slots)
        for writer in writers { try await writer.close() }
        XCTAssertEqual(DirectBlocks.inUseNow, 0)
        for i in 0..<writers.count {
            XCTAssertTrue(FileManager.default.contents(atPath: root + "/w\(i)") == Data(repeating: UInt8(i), count: 2 << 20))
        }
    }

    private func supportsDirectIO(_ dir: String) -> Bool {
        let probe = dir + "/direct-probe"
        FileManager.default.createFile(atPath: probe, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: probe) }
        let fd = berth_open_direct(probe)
        if fd >= 0 { close(fd) }
        return fd >= 0
    }

    /// A failed write surfaces at the next call (here `close`), never silently.
    func testAFailedWriteIsReportedLater() async throws {
        let (driver, _) = try await makeDriver()
        guard FileManager.default.fileExists(atPath: "/dev/full") else { throw XCTSkip("no /dev/full") }
        let full = FilesystemDriver(root: "/dev")
        let writer = try await full.writer("/full", append: true)
        try? await writer.write(ByteBuffer(string: "x"))
        do {
            try await writer.close()
            XCTFail("writing to /dev/full did not fail")
        } catch {
            XCTAssertTrue("\(error)".contains("No space"), "\(error)")
        }
        _ = driver
    }

    func testMoveReplacesAtomically() async throws {
        let (driver, _) = try await makeDriver()
        try await driver.putContent("/src/data", string: "new")
        try await driver.putContent("/dst/x/data", string: "old")
        try await driver.move(from: "/src/data", to: "/dst/x/data")
        let v8 = try await driver.getString("/dst/x/data")
        XCTAssertEqual(v8, "new")
        let v9 = try await driver.exists("/src/data")
        XCTAssertFalse(v9)
        try await driver.putContent("/src/data", string: "again")
        try await driver.move(from: "/src/data", to: "/fresh/dir/data")  // creates parents
        let v10 = try await driver.getString("/fresh/dir/data")
        XCTAssertEqual(v10, "again")
    }

    func testPrepareClearsLeftoverTemporaryFiles() async throws {
        let (driver, root) = try await makeDriver()
        FileManager.default.createFile(atPath: root + "/berth/tmp/leftover", contents: Data("x".utf8))
        let old = Date().addingTimeInterval(-7200)
        FileManager.default.createFile(atPath: root + "/berth/tmp/recent", contents: Data("y".utf8))
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: root + "/berth/tmp/leftover")
        try await driver.prepare()
        // Recent files may belong to another process sharing the storage: they stay.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/berth/tmp"), ["recent"])
    }
}

final class FilesystemDriverCreateOnceTests: XCTestCase {
    func testPutContentIfAbsentWritesOnlyOnce() async throws {
        let root = try makeTemporaryDirectory(self)
        let driver = FilesystemDriver(root: root)
        try await driver.prepare()
        let first = try await driver.putContentIfAbsent("/x/secret", ByteBuffer(string: "one"))
        let second = try await driver.putContentIfAbsent("/x/secret", ByteBuffer(string: "two"))
        XCTAssertTrue(first)
        XCTAssertFalse(second)
        let stored = try await driver.getString("/x/secret")
        XCTAssertEqual(stored, "one")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/berth/tmp"), [])
    }
}

final class FilesystemDriverDeleteTests: XCTestCase {
    /// Deleting works even when Berth's temporary directory was removed behind its back.
    func testDeleteRecreatesMissingTemporaryDirectory() async throws {
        let root = try makeTemporaryDirectory(self)
        let driver = FilesystemDriver(root: root)
        try await driver.prepare()
        try await driver.putContent("/a/b", string: "x")
        try FileManager.default.removeItem(atPath: root + "/berth/tmp")
        try await driver.delete("/a")
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/a"))
    }
}

final class FilesystemDriverRaceTests: XCTestCase {
    /// New directories appear only with their file, built in berth/tmp and moved in at once (so a
    /// crash never leaves an empty tag directory): nothing stays in berth/tmp, and a write next to
    /// existing content joins it.
    func testNewDirectoriesAppearWithTheirFile() async throws {
        let root = try makeTemporaryDirectory(self)
        let driver = FilesystemDriver(root: root)
        try await driver.prepare()
        try await driver.putContent("/repo/_manifests/tags/v1/current/link", string: "one")
        try await driver.putContent("/repo/_manifests/tags/v2/current/link", string: "two")
        try await driver.putContent("/repo/_manifests/tags/v1/index/sha256/abc/link", string: "one")
        let w = try await driver.writer("/repo/_uploads/u1/data", append: false)
        try await w.write(ByteBuffer(string: "blob"))
        try await w.close()
        try await driver.move(from: "/repo/_uploads/u1/data", to: "/blobs/sha256/ab/abcd/data")
        let v1 = try await driver.getString("/repo/_manifests/tags/v1/current/link")
        let v2 = try await driver.getString("/repo/_manifests/tags/v2/current/link")
        let index = try await driver.getString("/repo/_manifests/tags/v1/index/sha256/abc/link")
        let blob = try await driver.getString("/blobs/sha256/ab/abcd/data")
        XCTAssertEqual([v1, v2, index, blob], ["one", "two", "one", "blob"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/berth/tmp"), [])
    }

    /// A write racing a delete of the directory it goes into (a tag pushed while it is deleted)
    /// succeeds or is deleted after, but never fails because its directory vanished midway.
    func testWritesRacingDeletesOfTheirDirectorySucceed() async throws {
        let root = try makeTemporaryDirectory(self)
        let driver = FilesystemDriver(root: root)
        try await driver.prepare()
        let deadline = ContinuousClock.now + .seconds(2)
        let (writes, failures) = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for writer in 0..<3 {
                group.addTask {
                    var (count, failures) = (0, [String]())
                    while ContinuousClock.now < deadline {
                        do {
                            if count % 2 == 0 {
                                try await driver.putContent("/repo/_manifests/tags/latest/current/link", string: "w\(writer)-\(count)")
                            } else {
                                _ = try await driver.putContentIfAbsent("/repo/_manifests/tags/latest/index/\(writer)-\(count)",
                                                                        ByteBuffer(string: "x"))
                            }
                        } catch {
                            failures.append("\(error)")
                        }
                        count += 1
                    }
                    return (count, failures)
                }
            }
            group.addTask {
                while ContinuousClock.now < deadline { try await driver.delete("/repo/_manifests/tags/latest") }
                return (0, [])
            }
            var total = (0, [String]())
            for try await (count, failures) in group { total = (total.0 + count, total.1 + failures) }
            return total
        }
        XCTAssertGreaterThan(writes, 100)
        XCTAssertEqual(failures.prefix(5), [], "\(failures.count) of \(writes) writes failed")
    }
}

final class ReadBufferPoolTests: XCTestCase {
    /// Pooled blocks behave as ordinary ByteBuffer storage: reused, grown (moved out of the pool)
    /// and copied without losing a byte.
    func testPooledBuffersKeepTheirContentWhenGrownAndReused() {
        let allocator = FilesystemDriver.readAllocator
        for round in 0..<4 {
            var buffer = allocator.buffer(capacity: FilesystemDriver.readChunk)
            let bytes = (0..<FilesystemDriver.readChunk).map { UInt8(truncatingIfNeeded: $0 &+ round) }
            buffer.writeBytes(bytes)
            let copy = buffer  // shares storage until written
            buffer.writeBytes([1, 2, 3])  // grows: a pooled block is reallocated
            XCTAssertEqual(Array(buffer.readableBytesView.prefix(bytes.count)), bytes)
            XCTAssertEqual(Array(buffer.readableBytesView.suffix(3)), [1, 2, 3])
            XCTAssertEqual(Array(copy.readableBytesView), bytes)
        }
        var small = allocator.buffer(capacity: 100)  // not a pool size: plain malloc
        small.writeString(String(repeating: "x", count: 5000))
        XCTAssertEqual(small.readableBytes, 5000)
    }
}
