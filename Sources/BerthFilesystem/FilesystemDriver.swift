/// BerthFilesystem: the local-filesystem storage driver (the default: a `./data` directory).
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

/// Stores everything under one root directory with plain POSIX files. Blocking system calls run
/// on NIO's thread pool, never on the event loops or Swift's cooperative threads.
/// Small objects are written to a temporary file, fsynced and renamed into place, so a crash or
/// `kill -9` at any moment leaves the old content or the new, never a part.
public struct FilesystemDriver: StorageDriver {
    public let name = "filesystem"
    public let root: String
    let threadPool: NIOThreadPool
    /// Size of each read when streaming a file out: large enough that a pull costs few hops to
    /// the thread pool, small enough that many parallel pulls hold little memory.
    public static let readChunk = Int(BERTH_POOL_BLOCK)
    /// Streaming buffers come from a pool of mapped blocks, not the malloc heap (see CBerthSystem).
    static let readAllocator = ByteBufferAllocator(
        allocate: berth_pool_allocate, reallocate: berth_pool_reallocate,
        deallocate: berth_pool_deallocate, copy: berth_pool_copy)

    /// Files written past this many bytes continue with `O_DIRECT` (see `FilesystemWriter`); nil:
    /// always through the page cache.
    public let directWriteThreshold: Int64?
    /// Blobs up to this size, nearly all layers, are written through the page cache, where the
    /// pull that often follows a push finds them.
    public static let defaultDirectWriteThreshold: Int64 = 32 << 20

    public init(root: String, threadPool: NIOThreadPool = .singleton,
                directWriteThreshold: Int64? = FilesystemDriver.defaultDirectWriteThreshold) {
        var root = root
        while root.count > 1, root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.threadPool = threadPool
        self.directWriteThreshold = directWriteThreshold
    }

    /// Creates the root (and Berth's temporary directory) and clears temporary files a crash left
    /// behind. Only old ones go: another process sharing the storage may be writing the recent ones.
    public func prepare(clearingTemporaryFilesOlderThan age: TimeInterval = 3600) async throws {
        let tmp = try full(StoragePath.temporaryDirectory.path)
        try await blocking { try Self.makeDirectories(tmp) }
        _ = try await clearTemporaryFiles(olderThan: age)
    }

    public func clearTemporaryFiles(olderThan age: TimeInterval) async throws -> Int {
        let tmp = try full(StoragePath.temporaryDirectory.path)
        return try await blocking {
            let cutoff = Date().addingTimeInterval(-age)
            var removed = 0
            for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] {
                let path = tmp + "/" + name
                guard let st = fileStatus(path: path), Double(st.st_mtim.tv_sec) <= cutoff.timeIntervalSince1970 else { continue }
                if (try? FileManager.default.removeItem(atPath: path)) != nil { removed += 1 }
            }
            return removed
        }
    }

    /// The local file behind a path (for zero-copy sends).
    public func localPath(_ path: String) throws -> String { try full(path) }

    func full(_ path: String) throws -> String {
        guard path.hasPrefix("/"), !path.utf8.contains(0) else { throw StorageDriverError.invalidPath(path: path) }
        for component in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            guard !component.isEmpty, component != ".", component != ".." else {
                throw StorageDriverError.invalidPath(path: path)
            }
        }
        return root + path
    }

    func blocking<T: Sendable>(_ work: @Sendable @escaping () throws -> T) async throws -> T {
        do {
            return try await threadPool.runIfActive(work)
        } catch {
            throw localized(error)
        }
    }

    /// A full file system named by its local path: the operator needs it to know which one.
    func localized(_ error: any Error) -> any Error {
        if case StorageDriverError.outOfSpace(let operation, let path, let reason) = error, !path.hasPrefix(root + "/") {
            return StorageDriverError.outOfSpace(operation: operation, path: root + path, reason: reason)
        }
        return error
    }

    static func ioError(_ operation: String, _ path: String, _ code: Int32 = errno) -> StorageDriverError {
        if code == ENOENT || code == ENOTDIR { return .notFound(path: path) }
        if code == ENOSPC || code == EDQUOT {
            return .outOfSpace(operation: operation, path: path, reason: String(cString: strerror(code)))
        }
        return .io(operation: operation, path: path, reason: String(cString: strerror(code)))
    }

    // Small metadata operations (`stat`, reading a link or a manifest) run inline: on a local
    // file system they take microseconds, far less than a hop to the thread pool and back.

    public func getContent(_ path: String, maxBytes: Int) async throws -> ByteBuffer {
        let file = try full(path)
        return try {
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Self.ioError("open", path) }
            defer { close(fd) }
            guard let st = fileStatus(fd: fd) else { throw Self.ioError("stat", path) }
            let size = Int(st.st_size)
            guard size <= maxBytes else { throw StorageDriverError.tooLarge(path: path, limit: maxBytes) }
            var buffer = ByteBufferAllocator().buffer(capacity: size)
            try Self.readFully(fd: fd, into: &buffer, count: size, offset: 0, path: path)
            return buffer
        }()
    }

    static func readFully(fd: Int32, into buffer: inout ByteBuffer, count: Int, offset: Int64, path: String) throws {
        var done = 0
        while done < count {
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { ptr in
                pread(fd, ptr.baseAddress, min(ptr.count, count - done), off_t(offset) + off_t(done))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("read", path)
            }
            if n == 0 { throw StorageDriverError.io(operation: "read", path: path, reason: "file is shorter than expected") }
            done += n
        }
    }

    /// A durable write waits for the disk on the thread pool; a marker without a sync is a few
    /// metadata calls and runs inline, like `stat` (a hop to the pool and back costs more).
    public func putContent(_ path: String, _ content: ByteBuffer, durable: Bool) async throws {
        if durable {
            _ = try await writeViaTemporaryFile(path, content, replacing: true)
            return
        }
        let tmpDir = try full(StoragePath.temporaryDirectory.path)
        let tmp: String
        do {
            tmp = try Self.writeTemporaryFile(content, in: tmpDir, durable: false, path: path)
        } catch {
            throw localized(error)  // a full disk is named by its local path, as on the thread pool
        }
        try place(tmp, at: path)
    }

    /// Renames a temporary file to `path`, inline; removes it when that fails.
    private func place(_ tmp: String, at path: String) throws {
        do {
            try Self.renameCreatingParent(tmp, try full(path), path: path, staging: try full(StoragePath.temporaryDirectory.path))
        } catch {
            unlink(tmp)
            throw localized(error)
        }
    }

    public func putContentIfAbsent(_ path: String, _ content: ByteBuffer) async throws -> Bool {
        try await writeViaTemporaryFile(path, content, replacing: false)
    }

    /// Writes a temporary file, fsyncs it, then renames it into place (`replacing`) or links it
    /// there, which fails if the path exists. Returns false in that case.
    private func writeViaTemporaryFile(_ path: String, _ content: ByteBuffer, replacing: Bool) async throws -> Bool {
        let file = try full(path)
        let tmpDir = try full(StoragePath.temporaryDirectory.path)
        return try await blocking {
            let tmp = try Self.writeTemporaryFile(content, in: tmpDir, durable: true, path: path)
            do {
                if replacing {
                    try Self.renameCreatingParent(tmp, file, path: path, staging: tmpDir)
                    return true
                }
                defer { unlink(tmp) }
                for attempt in 1...Self.parentRaceAttempts {
                    if link(tmp, file) == 0 { return true }
                    guard errno == ENOENT, attempt < Self.parentRaceAttempts else { break }
                    try? Self.makeDirectories(Self.parent(of: file))  // as in renameCreatingParent
                }
                if errno == EEXIST { return false }
                throw Self.ioError("link", path)
            } catch {
                unlink(tmp)
                throw error
            }
        }
    }

    /// A new file in `tmpDir` holding `content` (synced when `durable`); returns its full path.
    /// `path` names the object it is for, in errors.
    static func writeTemporaryFile(_ content: ByteBuffer, in tmpDir: String, durable: Bool, path: String) throws -> String {
        let tmp = tmpDir + "/" + temporaryName()
        var fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0, errno == ENOENT {
            try makeDirectories(tmpDir)
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { throw ioError("create", tmp) }
        do {
            try writeAll(fd: fd, content, path: path)
            if durable { guard fsync(fd) == 0 else { throw ioError("fsync", path) } }
            close(fd)
            return tmp
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
    }

    /// Writes and syncs a temporary file on the thread pool; `publish` renames it into place.
    public func stage(_ content: ByteBuffer) async throws -> StagedContent {
        let tmpDir = try full(StoragePath.temporaryDirectory.path)
        let tmp = try await blocking {
            try Self.writeTemporaryFile(content, in: tmpDir, durable: true, path: StoragePath.temporaryDirectory.path)
        }
        return StagedContent(content: content, location: tmp)
    }

    /// Renames the staged file into place, inline: a rename (and at most a few directories made
    /// for it) takes microseconds, less than a hop to the thread pool.
    public func publish(_ staged: StagedContent, at path: String) async throws {
        guard let tmp = staged.location else { return try await putContent(path, staged.content, durable: true) }
        try place(tmp, at: path)
    }

    public func discard(_ staged: StagedContent) async {
        if let tmp = staged.location { unlink(tmp) }
    }

    static func writeAll(fd: Int32, _ buffer: ByteBuffer, path: String) throws {
        try buffer.withUnsafeReadableBytes { ptr in
            var done = 0
            while done < ptr.count {
                let n = write(fd, ptr.baseAddress! + done, ptr.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ioError("write", path)
                }
                done += n
            }
        }
    }

    public func stat(_ path: String) async throws -> FileInfo {
        let file = try full(path)
        return try {
            guard let st = fileStatus(path: file) else { throw Self.ioError("stat", path) }
            let modified = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
            // A directory's mtime moves when entries come or go, and its link count with every
            // subdirectory; together with the inode they tell reliably whether a listing changed.
            let token = "\(st.st_ino)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)-\(st.st_nlink)-\(st.st_size)"
            return FileInfo(size: Int64(st.st_size), isDirectory: (st.st_mode & S_IFMT) == S_IFDIR, modified: modified,
                            changeToken: token)
        }()
    }

    public func list(_ path: String) async throws -> [String] {
        let dir = try full(path)
        return try await blocking {
            guard let handle = opendir(dir) else { throw Self.ioError("list", path) }
            defer { closedir(handle) }
            var names: [String] = []
            while let entry = readdir(handle) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name != ".", name != ".." { names.append(name) }
            }
            return names
        }
    }

    public func read(_ path: String, range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await openForReading(path).read(range: range, body)
    }

    public func openForReading(_ path: String) async throws -> any StorageReader {
        let file = try full(path)
        let fd = try await blocking { () throws -> Int32 in
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Self.ioError("open", path) }
            return fd
        }
        return FilesystemReader(fd: fd, path: path, driver: self)
    }

    public func localFile(_ path: String) -> String? { try? full(path) }

    public func writer(_ path: String, append: Bool) async throws -> any StorageWriter {
        let file = try full(path)
        let fd = try await blocking { () throws -> Int32 in
            let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC)
            var fd = open(file, flags, 0o644)
            if fd < 0, errno == ENOENT {
                try Self.makeDirectories(Self.parent(of: file))
                fd = open(file, flags, 0o644)
            }
            guard fd >= 0 else { throw Self.ioError("open for writing", path) }
            return fd
        }
        let size = try await blocking { Int64(lseek(fd, 0, SEEK_END)) }
        return FilesystemWriter(fd: fd, path: path, file: file, size: size, driver: self)
    }

    public func move(from source: String, to destination: String) async throws {
        let from = try full(source)
        let to = try full(destination)
        let tmpDir = try full(StoragePath.temporaryDirectory.path)
        try await blocking {
            let fd = open(from, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw Self.ioError("open", source) }
            let synced = fsync(fd)
            close(fd)
            guard synced == 0 else { throw Self.ioError("fsync", source) }
            try Self.renameCreatingParent(from, to, path: destination, staging: tmpDir)
        }
    }

    public func removeEmptyDirectory(_ path: String) async throws {
        let dir = try full(path)
        try await blocking {
            // rmdir(2) refuses a directory with entries, so a file moved in meanwhile is never lost.
            guard rmdir(dir) != 0 else { return }
            let code = errno
            if code == ENOTEMPTY || code == EEXIST || code == ENOENT || code == ENOTDIR { return }
            throw Self.ioError("rmdir", path, code)
        }
    }

    public func delete(_ path: String) async throws {
        let file = try full(path)
        let tmpDir = try full(StoragePath.temporaryDirectory.path)
        try await blocking {
            // Rename out of the way first so the tree disappears from its path atomically.
            let trash = tmpDir + "/" + Self.temporaryName()
            if rename(file, trash) != 0 {
                let code = errno
                guard fileStatus(path: file) != nil else { return }  // nothing there to delete
                if code == ENOENT {  // the temporary directory itself is missing
                    try Self.makeDirectories(tmpDir)
                    guard rename(file, trash) == 0 else { throw Self.ioError("delete", path) }
                } else {
                    try Self.removeTree(file, path: path)
                    return
                }
            }
            try Self.removeTree(trash, path: path)
        }
    }
}

func fileStatus(path: String) -> stat? {
    var st = stat()
    return stat(path, &st) == 0 ? st : nil
}

func fileStatus(fd: Int32) -> stat? {
    var st = stat()
    return fstat(fd, &st) == 0 ? st : nil
}
