/// BerthStorage: the small streaming driver protocol every storage backend implements, the
/// on-disk layout (shared with the reference registry), and the blob, upload, manifest and tag
/// stores built on top of any driver.
import Foundation
import NIOCore

/// What `stat` reports about a stored object or directory.
public struct FileInfo: Sendable, Equatable {
    public var size: Int64
    public var isDirectory: Bool
    public var modified: Date
    /// Changes whenever the object (for a directory: its list of entries) changes; empty when the
    /// driver cannot tell, in which case nothing derived from the object is cached.
    public var changeToken: String

    public init(size: Int64, isDirectory: Bool, modified: Date, changeToken: String = "") {
        self.size = size
        self.isDirectory = isDirectory
        self.modified = modified
        self.changeToken = changeToken
    }
}

/// Failures of a storage driver. The API maps these to OCI errors in one place.
public enum StorageDriverError: Error, Sendable, CustomStringConvertible {
    /// Nothing is stored at the path.
    case notFound(path: String)
    /// A path outside the driver's grammar (never produced by `StoragePath`).
    case invalidPath(path: String)
    /// An object is larger than the caller allowed.
    case tooLarge(path: String, limit: Int)
    /// An I/O failure, with the operation, the path and the system's explanation.
    case io(operation: String, path: String, reason: String)
    /// The storage has no space left (or the quota of the user running Berth is used up).
    /// Nothing partial stays behind: the failed write is undone. `path` is where the write
    /// failed, as the operator sees it (for the filesystem driver, the local path).
    case outOfSpace(operation: String, path: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let p): "not found: \(p)"
        case .invalidPath(let p): "invalid storage path: \(p)"
        case .tooLarge(let p, let limit): "object larger than \(limit) bytes: \(p)"
        case .io(let op, let p, let reason): "\(op) \(p): \(reason)"
        case .outOfSpace(let op, let p, let reason): "\(op) \(p): \(reason)"
        }
    }
}

/// A storage backend. Paths are absolute within the driver (`/docker/registry/v2/...`), made only
/// by `StoragePath`. Content is streamed; only small objects (links, manifests) are read whole.
public protocol StorageDriver: Sendable {
    /// A short name for logs ("filesystem", "s3").
    var name: String { get }

    /// Reads a whole small object; throws `.tooLarge` past `maxBytes`.
    func getContent(_ path: String, maxBytes: Int) async throws -> ByteBuffer
    /// Stores a small object atomically: readers see the old content or the new, never a part.
    /// `durable` also syncs it to disk before it appears; markers whose loss a later durable
    /// write covers (on journaling file systems, the next sync commits them too) skip that.
    func putContent(_ path: String, _ content: ByteBuffer, durable: Bool) async throws
    /// Stores a small object only if nothing is stored at the path yet, atomically with respect
    /// to other processes. Returns false (storing nothing) when the path already exists.
    func putContentIfAbsent(_ path: String, _ content: ByteBuffer) async throws -> Bool
    func stat(_ path: String) async throws -> FileInfo
    /// Names of the direct children of a directory.
    func list(_ path: String) async throws -> [String]
    /// Streams `range` (or everything) of an object to `body`, in chunks of bounded size.
    func read(_ path: String, range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws
    /// Opens an object to stream it later. Fails with `.notFound` now, while a caller can still
    /// answer 404; once open, the object stays readable even if it is moved or deleted
    /// meanwhile (a garbage collection running while a blob is pulled).
    func openForReading(_ path: String) async throws -> any StorageReader
    /// Opens an object for writing; `append` continues after its current end.
    func writer(_ path: String, append: Bool) async throws -> any StorageWriter
    /// Makes `source` durable and moves it to `destination` atomically, replacing what is there.
    func move(from source: String, to destination: String) async throws
    /// Makes a small object durable without storing it anywhere yet; `publish` then stores it
    /// at a path as `putContent` would. The two halves of a durable `putContent`, for callers that
    /// make it safe while other work runs and visible only after that work.
    func stage(_ content: ByteBuffer) async throws -> StagedContent
    /// Stores staged content at `path`, atomically, replacing what is there.
    func publish(_ staged: StagedContent, at path: String) async throws
    /// Drops staged content that will not be published.
    func discard(_ staged: StagedContent) async
    /// Deletes an object or a whole directory tree; deleting nothing is not an error.
    func delete(_ path: String) async throws
    /// Removes a directory only if it is empty, atomically (a concurrent write into it wins);
    /// does nothing when it holds entries or is missing. Drivers without directories do nothing.
    func removeEmptyDirectory(_ path: String) async throws
    /// Where the object lives on the local file system, for drivers that keep objects as plain
    /// files (blob GETs then send them with `sendfile(2)`); nil for every other driver.
    func localFile(_ path: String) -> String?
    /// Removes temporary files older than `age` that interrupted writes (a crash, `kill -9`)
    /// left behind; younger ones may belong to a write of another process sharing the storage.
    /// Returns how many went. Drivers without temporary files do nothing.
    func clearTemporaryFiles(olderThan age: TimeInterval) async throws -> Int
    /// The checkpoint a writer last stored with the object at `path` (``StorageWriter/close(checkpoint:)``),
    /// or nil. Drivers that can read back what a writer stored keep none; the caller re-reads instead.
    func checkpoint(_ path: String) async throws -> [UInt8]?
    /// A URL a client may fetch the object from directly, valid for `expiry` seconds, when the
    /// driver can hand one out (presigned object storage URLs); nil otherwise.
    func redirectURL(_ path: String, expiry: Int) async throws -> String?
}

/// A small object made durable by `StorageDriver.stage` and not yet stored at a path.
public struct StagedContent: Sendable {
    public let content: ByteBuffer
    /// Where the driver keeps it meanwhile (a temporary file); nil: only in memory.
    public let location: String?

    public init(content: ByteBuffer, location: String? = nil) {
        self.content = content
        self.location = location
    }
}

/// An object opened for reading; it is closed when the reader is released.
public protocol StorageReader: Sendable {
    /// Streams `range` (or everything) of the object to `body`, in chunks of bounded size.
    func read(range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws
}

/// An open object being written. Used by one task at a time.
public protocol StorageWriter: Sendable {
    /// Bytes in the object, including what was there before an append.
    var size: Int64 { get async }
    func write(_ buffer: ByteBuffer) async throws
    /// Discards everything after `size` bytes (to undo a failed chunk).
    func truncate(to size: Int64) async throws
    func close() async throws
    /// Closes the writer, storing `checkpoint` atomically with the bytes written, for drivers that
    /// cannot read back an object still being written (S3 multipart uploads): a later writer,
    /// perhaps in another process, continues from it. The others ignore it.
    func close(checkpoint: [UInt8]?) async throws
}

extension StorageWriter {
    public func close(checkpoint: [UInt8]?) async throws { try await close() }
}

extension StorageDriver {
    public func localFile(_ path: String) -> String? { nil }

    public func clearTemporaryFiles(olderThan age: TimeInterval) async throws -> Int { 0 }

    public func checkpoint(_ path: String) async throws -> [UInt8]? { nil }

    public func redirectURL(_ path: String, expiry: Int) async throws -> String? { nil }

    /// Drivers whose `putContent` is one atomic request (object storage) keep staged content in
    /// memory and store it on `publish`.
    public func stage(_ content: ByteBuffer) async throws -> StagedContent { StagedContent(content: content) }

    public func publish(_ staged: StagedContent, at path: String) async throws {
        try await putContent(path, staged.content, durable: true)
    }

    public func discard(_ staged: StagedContent) async {}

    /// `stat`, with "not found" as nil.
    public func statIfExists(_ path: String) async throws -> FileInfo? {
        do { return try await stat(path) } catch StorageDriverError.notFound { return nil }
    }

    public func exists(_ path: String) async throws -> Bool { try await statIfExists(path) != nil }

    /// Stores a small object atomically and durably.
    public func putContent(_ path: String, _ content: ByteBuffer) async throws {
        try await putContent(path, content, durable: true)
    }

    public func putContent(_ path: String, string: String) async throws {
        try await putContent(path, ByteBuffer(string: string), durable: true)
    }

    /// An empty marker file, atomically but without a sync of its own.
    public func putMarker(_ path: String) async throws {
        try await putContent(path, ByteBuffer(), durable: false)
    }

    public func getString(_ path: String, maxBytes: Int = 4096) async throws -> String {
        let buffer = try await getContent(path, maxBytes: maxBytes)
        return String(buffer: buffer)
    }
}
