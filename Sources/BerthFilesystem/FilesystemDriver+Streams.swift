import BerthStorage
import CBerthSystem
import Foundation
@_spi(CustomByteBufferAllocator) import NIOCore
import NIOConcurrencyHelpers
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file being read: reads go through the descriptor, so a file unlinked or renamed
/// after it was opened is still read whole.
final class FilesystemReader: StorageReader {
    private let fd: Int32
    private let path: String
    private let driver: FilesystemDriver

    init(fd: Int32, path: String, driver: FilesystemDriver) {
        self.fd = fd
        self.path = path
        self.driver = driver
    }

    deinit { Glibc.close(fd) }

    func read(range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
        let (fd, path) = (self.fd, self.path)
        let end: Int64
        if let range {
            end = range.upperBound
        } else {
            end = try await driver.blocking { () throws -> Int64 in
                guard let st = fileStatus(fd: fd) else { throw FilesystemDriver.ioError("stat", path) }
                return Int64(st.st_size)
            }
        }
        var offset = range?.lowerBound ?? 0
        while offset < end {
            let count = Int(min(Int64(FilesystemDriver.readChunk), end - offset))
            let start = offset
            let chunk = try await driver.blocking { () throws -> ByteBuffer in
                var buffer = FilesystemDriver.readAllocator.buffer(capacity: count)
                try FilesystemDriver.readFully(fd: fd, into: &buffer, count: count, offset: start, path: path)
                return buffer
            }
            offset += Int64(count)
            try await body(chunk)
        }
    }
}

/// A write running on the thread pool, started without a task: the writer waits for it only when
/// the next one is due, and is then resumed straight from the pool thread. (A `Task` around
/// `runIfActive` adds two more thread hand-offs per write: starting the task and resuming its
/// awaiter.)
final class BackgroundWrite: @unchecked Sendable {
    private let lock = NIOLock()
    private var result: Result<Void, any Error>?
    private var waiter: CheckedContinuation<Void, any Error>?

    init(on pool: NIOThreadPool, _ work: @escaping @Sendable () throws -> Void) {
        pool.submit { state in
            self.finish(state == .active ? Result(catching: work) : .failure(CancellationError()))
        }
    }

    private func finish(_ outcome: Result<Void, any Error>) {
        let waiter = lock.withLock { () -> CheckedContinuation<Void, any Error>? in
            result = outcome
            defer { self.waiter = nil }
            return self.waiter
        }
        waiter?.resume(with: outcome)
    }

    func wait() async throws {
        if let done = lock.withLock({ result }) { return try done.get() }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let done = lock.withLock { () -> Result<Void, any Error>? in
                if result == nil { waiter = continuation }
                return result
            }
            if let done { continuation.resume(with: done) }
        }
    }
}

/// An open file being appended to.
///
/// Writes go through the page cache until the file holds `FilesystemDriver.directWriteThreshold`
/// bytes; after that, whole aligned blocks go to the disk with `O_DIRECT` (see `DirectBlocks`).
/// A large upload then costs no page-cache copy and does not push other data out of the cache,
/// and the fsync that commits it finds nothing left to write. Small blobs, the common case and
/// the ones pulled right after a push, stay in the cache.
final class FilesystemWriter: StorageWriter, @unchecked Sendable {
    // Mutable state is only touched by the one task that owns the writer (see `StorageWriter`).
    private var fd: Int32
    private let path: String
    /// The file's full path, for opening it again with `O_DIRECT`.
    private let file: String
    private var written: Int64
    private let driver: FilesystemDriver
    /// Where the last early writeback request ended.
    private var flushedTo: Int64
    /// Dirty data is handed to the disk every this many bytes, so the fsync that makes a blob
    /// durable finds little left to write and the disk works while the network does.
    static let writebackInterval: Int64 = 8 << 20
    /// Set once the file holds `directWriteThreshold` bytes, at a block boundary.
    private var direct: DirectBlocks?
    /// `O_DIRECT` was refused here (a file system without it): buffered writes from then on.
    private var directRefused = false

    init(fd: Int32, path: String, file: String, size: Int64, driver: FilesystemDriver) {
        self.fd = fd
        self.path = path
        self.file = file
        self.written = size
        self.driver = driver
        self.flushedTo = size
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    var size: Int64 { written }

    /// The writes still running on the thread pool, oldest first. Each `write` hands its buffer
    /// over and returns, so the caller receives and hashes the next piece while the kernel copies
    /// this one. Through the page cache at most one write is in flight, which bounds memory to
    /// two buffers per writer; direct writes keep up to `DirectBlocks.perWriter - 1` (the disk takes
    /// two at a time faster than one after the other). Errors surface at the next call.
    private var inFlight: [BackgroundWrite] = []

    /// Waits for every write in flight.
    private func settle() async throws {
        while !inFlight.isEmpty { try await settleOldest() }
    }

    private func settleOldest() async throws {
        let write = inFlight.removeFirst()
        do {
            try await write.wait()
        } catch {
            // The others finish first, so none lands after the truncate that undoes this chunk.
            for other in inFlight { try? await other.wait() }
            inFlight.removeAll()
            throw driver.localized(error)
        }
    }

    func write(_ buffer: ByteBuffer) async throws {
        var buffer = buffer
        if direct == nil, !directRefused, let threshold = driver.directWriteThreshold,
           written + Int64(buffer.readableBytes) > threshold, DirectBlocks.slotFree {
            // Up to the threshold and then to a block boundary through the page cache.
            let boundary = max(threshold, written)
            let aligned = (boundary + DirectBlocks.alignment - 1) / DirectBlocks.alignment * DirectBlocks.alignment
            let head = Int(min(aligned - written, Int64(buffer.readableBytes)))
            if head > 0 { try await writeBuffered(buffer.readSlice(length: head)!) }
            if buffer.readableBytes == 0 { return }
            try await startDirect()
        }
        if let direct {
            try await writeDirect(buffer, direct)
        } else {
            try await writeBuffered(buffer)
        }
    }

    private func writeBuffered(_ buffer: ByteBuffer) async throws {
        try await settle()
        let fd = self.fd
        let path = self.path
        let end = written + Int64(buffer.readableBytes)
        let flushFrom = flushedTo
        let flush = end - flushFrom >= Self.writebackInterval
        inFlight.append(BackgroundWrite(on: driver.threadPool) { [self] in
            try FilesystemDriver.writeAll(fd: fd, buffer, path: path)
            if flush {
                // Start writeback of what is complete; does not wait for it.
                _ = berth_start_writeback(fd, flushFrom, end - flushFrom)
            }
            // Holding the writer until here keeps `deinit` from closing the descriptor (whose
            // number could then be reused) while the write runs.
            withExtendedLifetime(self) {}
        })
        written = end
        if flush { flushedTo = end }
    }

    private func startDirect() async throws {
        try await settle()  // buffered writes land before direct ones start past them
        let fd = berth_open_direct(file)
        guard fd >= 0 else {
            directRefused = true
            return
        }
        direct = DirectBlocks(fd: fd, offset: written)
        if direct == nil { Glibc.close(fd) }  // every slot taken meanwhile
    }

    private func writeDirect(_ buffer: ByteBuffer, _ blocks: DirectBlocks) async throws {
        var buffer = buffer
        while buffer.readableBytes > 0 {
            written += Int64(blocks.fill(from: &buffer))
            if blocks.isFull { try await submit(blocks) }
        }
    }

    /// Writes the full block on the thread pool while the caller fills the next one. The block
    /// filled next is the one whose write is the oldest still in flight: that write ends first.
    private func submit(_ blocks: DirectBlocks) async throws {
        while inFlight.count >= DirectBlocks.perWriter - 1 { try await settleOldest() }
        let (block, offset) = blocks.takeFull()
        let path = self.path
        inFlight.append(BackgroundWrite(on: driver.threadPool) { [self] in
            try FilesystemDriver.writeAll(fd: blocks.fd, block, at: offset, path: path)
            withExtendedLifetime(blocks) {}  // `block` points into its buffer
            withExtendedLifetime(self) {}
        })
        flushedTo = offset + Int64(block.count)
    }

    /// Writes what the block being filled holds (less than a block, so not aligned) through the
    /// page cache, and stops writing directly.
    private func finishDirect() async throws {
        guard let blocks = direct else { return }
        direct = nil
        try await settle()
        let (tail, offset) = blocks.takeRest()
        flushedTo = offset + Int64(tail.count)  // on the disk up to here, or on its way
        guard tail.count > 0 else { return }
        let (fd, path) = (self.fd, self.path)
        try await driver.blocking {
            try FilesystemDriver.writeAll(fd: fd, tail, at: offset, path: path)
            _ = berth_start_writeback(fd, offset, Int64(tail.count))
            withExtendedLifetime(blocks) {}  // `tail` points into its buffer
        }
    }

    func truncate(to size: Int64) async throws {
        try? await settle()  // a failed write is what is being undone
        // What the block being filled holds may lie below `size`: it lands first. Writes go
        // through the page cache again after this, and directly again from the next page boundary.
        if let blocks = direct, size > blocks.pendingStart { try? await finishDirect() } else { direct = nil }
        let fd = self.fd
        let path = self.path
        try await driver.blocking {
            guard ftruncate(fd, off_t(size)) == 0 else { throw FilesystemDriver.ioError("truncate", path) }
            // Writers opened without O_APPEND continue at the new end, not past a hole.
            guard lseek(fd, off_t(size), SEEK_SET) >= 0 else { throw FilesystemDriver.ioError("seek", path) }
        }
        written = size
        flushedTo = min(flushedTo, size)
    }

    func close() async throws {
        guard fd >= 0 else { return }
        defer {
            Glibc.close(fd)
            fd = -1
        }
        try await settle()
        try await finishDirect()
        // The rest goes to the disk now, while the response travels and the client sends its
        // next request: the fsync that commits the blob then finds it written or on its way.
        if written > flushedTo {
            _ = berth_start_writeback(fd, flushedTo, written - flushedTo)
            flushedTo = written
        }
    }
}
