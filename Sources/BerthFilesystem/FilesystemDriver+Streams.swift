import BerthStorage
import CBerthSystem
import Foundation
@_spi(CustomByteBufferAllocator) import NIOCore
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

/// An open file being appended to.
final class FilesystemWriter: StorageWriter, @unchecked Sendable {
    // Mutable state is only touched by the one task that owns the writer (see `StorageWriter`).
    private var fd: Int32
    private let path: String
    private var written: Int64
    private let driver: FilesystemDriver
    /// Where the last early writeback request ended.
    private var flushedTo: Int64
    /// Dirty data is handed to the disk every this many bytes, so the fsync that makes a blob
    /// durable finds little left to write and the disk works while the network does.
    static let writebackInterval: Int64 = 8 << 20

    init(fd: Int32, path: String, size: Int64, driver: FilesystemDriver) {
        self.fd = fd
        self.path = path
        self.written = size
        self.driver = driver
        self.flushedTo = size
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    var size: Int64 { written }

    /// The write still running on the thread pool. Each `write` hands its buffer over and returns,
    /// so the caller receives and hashes the next piece while the kernel copies this one; at most
    /// one write is in flight, which bounds memory to two buffers per writer. Its error surfaces
    /// at the next call.
    private var inFlight: Task<Void, any Error>?

    private func settle() async throws {
        guard let task = inFlight else { return }
        inFlight = nil
        try await task.value
    }

    func write(_ buffer: ByteBuffer) async throws {
        try await settle()
        let fd = self.fd
        let path = self.path
        let end = written + Int64(buffer.readableBytes)
        let flushFrom = flushedTo
        let flush = end - flushFrom >= Self.writebackInterval
        let driver = self.driver
        inFlight = Task { [self] in
            try await driver.blocking {
                try FilesystemDriver.writeAll(fd: fd, buffer, path: path)
                if flush {
                    // Start writeback of what is complete; does not wait for it.
                    _ = berth_start_writeback(fd, flushFrom, end - flushFrom)
                }
            }
            // Holding the writer until here keeps `deinit` from closing the descriptor (whose
            // number could then be reused) while the write runs.
            withExtendedLifetime(self) {}
        }
        written = end
        if flush { flushedTo = end }
    }

    func truncate(to size: Int64) async throws {
        try? await settle()  // a failed write is what is being undone
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
        // The rest goes to the disk now, while the response travels and the client sends its
        // next request: the fsync that commits the blob then finds it written or on its way.
        if written > flushedTo {
            _ = berth_start_writeback(fd, flushedTo, written - flushedTo)
            flushedTo = written
        }
    }
}
