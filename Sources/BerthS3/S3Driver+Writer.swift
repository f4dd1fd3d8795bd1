import BerthStorage
import Foundation
import NIOCore

/// What the key of an unfinished upload holds: the parts stored so far, the tail too short to be a
/// part yet (kept in an object of its own), and the hash checkpoint, all committed by one PUT.
/// Its size is in the `berth-pending` metadata, so `stat` needs only a HEAD.
struct PendingUpload: Codable, Equatable {
    struct Part: Codable, Equatable {
        var number: Int
        var eTag: String
        var size: Int64
    }

    var uploadID: String?
    var parts: [Part] = []
    var tailKey: String?
    var tailSize: Int64 = 0
    /// Base64 of the ``DigestHasher`` checkpoint after `size` bytes.
    var checkpoint: String?

    var partBytes: Int64 { parts.reduce(0) { $0 + $1.size } }
    var size: Int64 { partBytes + tailSize }

    static func load(_ driver: S3Driver, _ path: String) async throws -> PendingUpload {
        let bytes = try await driver.client.getObjectBytes(driver.key(path), maxBytes: 4 << 20)
        do {
            return try JSONDecoder().decode(PendingUpload.self, from: Data(bytes.readableBytesView))
        } catch {
            throw StorageDriverError.io(operation: "read upload state", path: path, reason: "unreadable pending upload document: \(error)")
        }
    }
}

extension S3Driver {
    /// Metadata naming a pending document and the upload's size.
    static let pendingMetadata = "berth-pending"

    /// Size of part `number` (1-based): the configured chunk size, doubled every 1,000 parts (up to
    /// S3's 5 GiB), so 10 MiB parts carry a 200 GiB upload in under 4,500 parts.
    func partSize(_ number: Int) -> Int {
        let doublings = min((number - 1) / 1000, 9)
        return min(client.configuration.chunkSize << doublings, S3Configuration.maximumChunkSize)
    }

    public func checkpoint(_ path: String) async throws -> [UInt8]? {
        try await call("read upload state", path) {
            guard let info = try await client.headObject(key(path)), info.metadata[Self.pendingMetadata] != nil else { return nil }
            return try await PendingUpload.load(self, path).checkpoint.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
        }
    }

    public func writer(_ path: String, append: Bool) async throws -> any StorageWriter {
        try await call("open for writing", path) {
            var start = PendingUpload()
            var continued = false
            if append, let info = try await client.headObject(key(path)) {
                continued = true
                if info.metadata[Self.pendingMetadata] != nil {
                    start = try await PendingUpload.load(self, path)
                } else if info.size > 0 {
                    start = try await adopt(path, size: info.size)
                }
            }
            return S3Writer(driver: self, path: path, start: start, continued: continued)
        }
    }

    /// Continues a finished object (an upload whose parts were joined just before a crash): it
    /// becomes the first part of a new multipart upload, or the tail when shorter than a part.
    func adopt(_ path: String, size: Int64) async throws -> PendingUpload {
        var upload = PendingUpload()
        if size < Int64(S3Configuration.minimumChunkSize) {
            let tail = tailKey(path)
            try await client.copyObject(from: key(path), to: tail)
            upload.tailKey = tail
            upload.tailSize = size
        } else {
            let id = try await client.createMultipartUpload(key(path))
            let part = try await client.uploadPartCopy(key(path), uploadID: id, partNumber: 1, source: key(path))
            upload.uploadID = id
            upload.parts = [.init(number: 1, eTag: part.eTag, size: size)]
        }
        return upload
    }

    /// Aborts multipart uploads started before `age` that no pending document names any more (a
    /// node killed between starting one and committing it). Younger ones may be in use.
    public func clearTemporaryFiles(olderThan age: TimeInterval) async throws -> Int {
        let cutoff = Date().addingTimeInterval(-age)
        var cleared = 0
        for upload in try await client.listMultipartUploads() where (upload.initiated ?? Date()) < cutoff {
            let path = "/" + upload.key
            let info = try await client.headObject(upload.key)
            if let info, info.metadata[Self.pendingMetadata] != nil,
               try await PendingUpload.load(self, path).uploadID == upload.uploadID { continue }
            try? await client.abortMultipartUpload(upload.key, uploadID: upload.uploadID)
            cleared += 1
        }
        return cleared
    }

    func tailKey(_ path: String) -> String { key(path) + ".tail-" + UUID().uuidString.lowercased() }

    /// Turns the pending upload at `path` into the finished object and returns the key holding its
    /// bytes: `path` itself once its parts are joined, or the tail object when there are no parts.
    func finish(_ path: String) async throws -> (key: String, size: Int64, leftover: String?) {
        let upload = try await PendingUpload.load(self, path)
        if upload.parts.isEmpty {
            if let id = upload.uploadID { try? await client.abortMultipartUpload(key(path), uploadID: id) }
            guard let tail = upload.tailKey else {
                try await client.putObject(key(path), body: ByteBuffer())
                return (key(path), 0, nil)
            }
            return (tail, upload.tailSize, tail)
        }
        guard let id = upload.uploadID else {
            throw StorageDriverError.io(operation: "finish upload", path: path, reason: "pending upload has parts but no multipart upload id")
        }
        var parts = upload.parts.map { S3Part(number: $0.number, eTag: $0.eTag) }
        if let tail = upload.tailKey, upload.tailSize > 0 {
            parts.append(try await client.uploadPartCopy(key(path), uploadID: id, partNumber: parts.count + 1, source: tail))
        }
        try await client.completeMultipartUpload(key(path), uploadID: id, parts: parts)
        return (key(path), upload.size, upload.tailKey)
    }
}

/// Streams into the parts of a multipart upload, one part in memory at most; `close` commits the
/// parts, the tail and the checkpoint with one PUT of the pending document.
final class S3Writer: StorageWriter, @unchecked Sendable {
    // Used by one task at a time (see `StorageWriter`).
    let driver: S3Driver
    let path: String
    let start: PendingUpload
    var current: PendingUpload
    /// Bytes after the last part: the old tail (once loaded) and what came since.
    var buffer = ByteBuffer()
    var tailLoaded = false
    var dirty = false
    /// A multipart upload this writer started (aborted again on `truncate`).
    var startedUpload: String?

    /// Whether the writer continues an object (else it starts one, which exists once closed, even
    /// with nothing written: an empty blob).
    let continued: Bool

    init(driver: S3Driver, path: String, start: PendingUpload, continued: Bool) {
        self.driver = driver
        self.path = path
        self.start = start
        self.continued = continued
        current = start
        dirty = !continued
    }

    var size: Int64 { current.partBytes + (tailLoaded ? 0 : current.tailSize) + Int64(buffer.readableBytes) }

    func write(_ bytes: ByteBuffer) async throws {
        guard bytes.readableBytes > 0 else { return }
        try await driver.call("write", path) {
            if !tailLoaded {
                if let tail = current.tailKey, current.tailSize > 0 {
                    buffer = try await driver.client.getObjectBytes(tail, maxBytes: Int(current.tailSize))
                }
                tailLoaded = true
            }
            dirty = true
            buffer.writeImmutableBuffer(bytes)
            while buffer.readableBytes >= driver.partSize(current.parts.count + 1) {
                try await uploadPart(buffer.readSlice(length: driver.partSize(current.parts.count + 1))!)
            }
            buffer.discardReadBytes()
        }
    }

    private func uploadPart(_ part: ByteBuffer) async throws {
        let key = driver.key(path)
        if current.uploadID == nil {
            let id = try await driver.client.createMultipartUpload(key)
            current.uploadID = id
            startedUpload = id
        }
        let number = current.parts.count + 1
        let stored = try await driver.client.uploadPart(key, uploadID: current.uploadID!, partNumber: number, body: part)
        current.parts.append(.init(number: number, eTag: stored.eTag, size: Int64(part.readableBytes)))
    }

    /// Only a roll-back to where the writer started is possible: uncommitted parts are forgotten
    /// (a later part with the same number replaces them).
    func truncate(to size: Int64) async throws {
        guard size == start.size else {
            throw StorageDriverError.io(operation: "truncate", path: path,
                                        reason: "an S3 upload can only be rolled back to the \(start.size) bytes it held when opened")
        }
        if let id = startedUpload { try? await driver.client.abortMultipartUpload(driver.key(path), uploadID: id) }
        startedUpload = nil
        current = start
        buffer = ByteBuffer()
        tailLoaded = false
        dirty = !continued
    }

    func close() async throws { try await close(checkpoint: nil) }

    func close(checkpoint: [UInt8]?) async throws {
        guard dirty else { return }
        try await driver.call("write", path) {
            let oldTail = current.tailKey
            if !tailLoaded {
                // Nothing written since opening: the tail stays as it is.
            } else if buffer.readableBytes > 0 {
                let tail = driver.tailKey(path)
                try await driver.client.putObject(tail, body: buffer)
                current.tailKey = tail
                current.tailSize = Int64(buffer.readableBytes)
            } else {
                current.tailKey = nil
                current.tailSize = 0
            }
            current.checkpoint = checkpoint.map { Data($0).base64EncodedString() }
            let document = try JSONEncoder().encode(current)
            try await driver.client.putObject(driver.key(path), body: ByteBuffer(bytes: document),
                                              metadata: [S3Driver.pendingMetadata: String(current.size)])
            dirty = false
            startedUpload = nil
            if let oldTail, oldTail != current.tailKey { try? await driver.client.deleteObject(oldTail) }
        }
    }
}
