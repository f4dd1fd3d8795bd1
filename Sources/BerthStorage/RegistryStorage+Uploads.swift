import BerthCore
import Foundation
import Logging
import NIOCore

/// Where an upload stands.
public struct UploadStatus: Sendable, Equatable {
    public var id: String
    /// Bytes received so far.
    public var offset: Int64
}

extension RegistryStorage {
    /// Upload ids are lower-case UUIDs; anything else never reaches a storage path.
    public static func isValidUploadID(_ id: some StringProtocol) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count == 36 else { return false }
        for (i, c) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == 0x2d else { return false }
            } else {
                guard (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) else { return false }
            }
        }
        return true
    }

    static func uploadUnknown(_ id: String, _ repository: RepositoryName) -> RegistryError {
        RegistryError(.blobUploadUnknown, "upload \(id) is not in progress in repository \(repository): it was completed, cancelled, purged, or never started",
                      detail: ["uuid": id])
    }

    /// Starts an upload session and returns its id.
    public func startUpload(in repository: RepositoryName) async throws -> String {
        let id = Self.newUploadID()
        // Not synced: losing a session's start time to a power cut loses only that session.
        try await driver.putContent(StoragePath.uploadStartedAt(repository, id: id).path,
                                    ByteBuffer(string: Self.timestamp(Date())), durable: false)
        return id
    }

    /// A random (version 4) UUID in lower case, from the system generator (`getrandom`):
    /// Foundation's `UUID()` opens, reads and closes `/dev/urandom` for each one.
    static func newUploadID() -> String {
        var generator = SystemRandomNumberGenerator()
        let random: (UInt64, UInt64) = (generator.next(), generator.next())  // two `getrandom` calls
        var bytes = withUnsafeBytes(of: random) { Array($0) }
        bytes[6] = bytes[6] & 0x0F | 0x40  // version 4
        bytes[8] = bytes[8] & 0x3F | 0x80  // RFC 4122 variant
        let hex = Array(bytes.lowercaseHex)
        return String(hex[0..<8]) + "-" + String(hex[8..<12]) + "-" + String(hex[12..<16]) + "-"
            + String(hex[16..<20]) + "-" + String(hex[20..<32])
    }

    /// `2026-11-29T17:04:17Z`, what `ISO8601DateFormatter` writes and reads by default, without
    /// creating one (an ICU formatter per upload costs more than the rest of the POST).
    public static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }

    /// The number of bytes an upload holds; `BLOB_UPLOAD_UNKNOWN` if there is no such session.
    public func uploadOffset(_ id: String, in repository: RepositoryName) async throws -> Int64 {
        guard Self.isValidUploadID(id),
              try await driver.exists(StoragePath.uploadStartedAt(repository, id: id).path) else {
            throw Self.uploadUnknown(id, repository)
        }
        return try await driver.statIfExists(StoragePath.uploadData(repository, id: id).path)?.size ?? 0
    }

    /// Appends a chunk. When `start` is given (a `Content-Range`), it must equal the current
    /// offset; otherwise the chunk is refused with 416 and the session is left as it was. A chunk
    /// that fails midway is rolled back, so the session stays usable.
    @discardableResult
    public func appendToUpload<Body: AsyncSequence>(
        _ id: String, in repository: RepositoryName, start: Int64? = nil, length: Int64? = nil,
        algorithm: DigestAlgorithm = .sha256, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try await uploads.withLock(id) {
            let offset = try await uploadOffset(id, in: repository)
            // A chunk of known length that would pass the quota is refused before it is read.
            if let length, !quotas.isEmpty { try await checkQuota(adding: [(nil, offset + length)], to: repository) }
            return try await appendLocked(id, repository, offset: offset, start: start, length: length,
                                          algorithm: algorithm, body: body)
        }
    }

    private func appendLocked<Body: AsyncSequence>(
        _ id: String, _ repository: RepositoryName, offset: Int64, start: Int64?, length: Int64?,
        algorithm: DigestAlgorithm, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        if let start, start != offset {
            throw RegistryError(
                .rangeInvalid,
                "chunk starts at byte \(start) but upload \(id) holds \(offset) bytes: send the chunk starting at \(offset)",
                detail: ["offset": String(offset)],
                headers: ["Range": Self.rangeHeader(offset)])
        }
        var state = try await hashState(id, repository, offset: offset, algorithm: algorithm)
        let dataPath = StoragePath.uploadData(repository, id: id).path
        let writer = try await driver.writer(dataPath, append: true)
        var written: Int64 = 0
        // Clients often send small pieces (8 KiB from Python's http.client): hash each as it
        // comes, but hand the driver large writes, so the cost per piece stays a memcpy.
        var staging = ByteBuffer()
        do {
            for try await buffer in body {
                written += Int64(buffer.readableBytes)
                if let length, written > length {
                    throw RegistryError(.sizeInvalid, "chunk is longer than the \(length) bytes its Content-Range or Content-Length announced")
                }
                buffer.withUnsafeReadableBytes { state.hasher.update($0) }
                if staging.readableBytes == 0, buffer.readableBytes >= Self.writeBatch {
                    try await writer.write(buffer)
                    continue
                }
                if staging.capacity == 0 { staging = ByteBufferAllocator().buffer(capacity: Self.writeBatch + buffer.readableBytes) }
                staging.writeImmutableBuffer(buffer)
                if staging.readableBytes >= Self.writeBatch {
                    try await writer.write(staging)
                    staging = ByteBuffer()
                }
            }
            if staging.readableBytes > 0 { try await writer.write(staging) }
            if let length, written != length {
                throw RegistryError(.sizeInvalid, "chunk has \(written) bytes but its Content-Range or Content-Length announced \(length)")
            }
            try await writer.close(checkpoint: state.hasher.checkpoint)
        } catch {
            try? await writer.truncate(to: offset)
            try? await writer.close()
            uploads.setHash(id, nil)
            throw error
        }
        state.offset = offset + written
        uploads.setHash(id, state)
        return state.offset
    }

    /// The running hash of the first `offset` bytes: from memory, from the checkpoint the driver
    /// stored with the data (another process received the earlier chunks), or re-read from storage.
    private func hashState(_ id: String, _ repository: RepositoryName, offset: Int64,
                           algorithm: DigestAlgorithm) async throws -> UploadCoordinator.HashState {
        if let cached = uploads.hash(id), cached.offset == offset, cached.hasher.algorithm == algorithm {
            return cached
        }
        let dataPath = StoragePath.uploadData(repository, id: id).path
        if offset > 0, let bytes = try await driver.checkpoint(dataPath), let hasher = DigestHasher(checkpoint: bytes),
           hasher.byteCount == offset, hasher.algorithm == algorithm {
            return .init(offset: offset, hasher: hasher)
        }
        var hasher = DigestHasher(algorithm)
        if offset > 0 {
            try await driver.read(dataPath, range: 0..<offset) { chunk in
                chunk.withUnsafeReadableBytes { hasher.update($0) }
            }
        }
        return .init(offset: offset, hasher: hasher)
    }

    /// Finishes an upload: appends the optional last chunk, verifies `digest` over everything
    /// received, then makes the blob visible in the repository. On a mismatch nothing is stored
    /// and the session is removed. Returns the blob's size.
    @discardableResult
    public func completeUpload<Body: AsyncSequence>(
        _ id: String, in repository: RepositoryName, digest: Digest,
        start: Int64? = nil, length: Int64? = nil, finalChunk: Body?
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try await uploads.withLock(id) {
            var offset = try await uploadOffset(id, in: repository)
            if let length, finalChunk != nil, !quotas.isEmpty {
                try await checkQuota(adding: [(digest, offset + length)], to: repository)
            }
            if let finalChunk {
                offset = try await appendLocked(id, repository, offset: offset, start: start, length: length,
                                                algorithm: digest.algorithm, body: finalChunk)
            }
            let state = try await hashState(id, repository, offset: offset, algorithm: digest.algorithm)
            let computed = state.hasher.finalize()
            guard computed == digest else {
                try await removeUpload(id, repository)
                throw RegistryError(.digestInvalid,
                                    "uploaded content (\(offset) bytes) has digest \(computed), not the \(digest) given: nothing was stored",
                                    detail: ["digest": digest.description])
            }
            if !quotas.isEmpty {
                do {
                    try await checkQuota(adding: [(digest, offset)], to: repository)
                } catch {
                    try await removeUpload(id, repository)
                    throw error
                }
            }
            let blobPath = StoragePath.blobData(digest).path
            // The repository's link is written and synced while the blob is, and appears only
            // after it: the two syncs overlap, and a link never names a blob not yet in place.
            async let staging = driver.stage(Self.linkContent(digest))
            do {
                try await pin([digest])  // before the existence check (docs/garbage-collection.md)
                if try await driver.statIfExists(blobPath)?.size != offset {
                    try await driver.move(from: StoragePath.uploadData(repository, id: id).path, to: blobPath)
                    statistics.record(blobs: 1, bytes: offset)
                }
            } catch {
                if let link = try? await staging { await driver.discard(link) }
                throw error
            }
            async let removed: Void = removeUpload(id, repository)
            try await driver.publish(try await staging, at: StoragePath.layerLink(repository, digest).path)
            try await removed
            return offset
        }
    }

    /// Stores a whole blob from one body (monolithic upload), verified against `digest`.
    @discardableResult
    public func putBlob<Body: AsyncSequence>(
        _ digest: Digest, in repository: RepositoryName, length: Int64?, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        let id = try await startUpload(in: repository)
        do {
            return try await completeUpload(id, in: repository, digest: digest, length: length, finalChunk: body)
        } catch {
            try? await removeUpload(id, repository)
            throw error
        }
    }

    /// Cancels an upload and deletes what it received.
    public func cancelUpload(_ id: String, in repository: RepositoryName) async throws {
        try await uploads.withLock(id) {
            _ = try await uploadOffset(id, in: repository)
            try await removeUpload(id, repository)
        }
    }

    private func removeUpload(_ id: String, _ repository: RepositoryName) async throws {
        uploads.setHash(id, nil)
        try await driver.delete(StoragePath.upload(repository, id: id).path)
    }

    /// Upload data reaches the driver in writes of at least this size (except the last).
    static let writeBatch = 256 << 10

    /// The `Range` header value for an upload holding `offset` bytes (`0-0` when empty, as
    /// clients of the reference registry expect).
    public static func rangeHeader(_ offset: Int64) -> String { "0-\(max(offset - 1, 0))" }

    /// Deletes upload sessions started before `cutoff`. Returns how many were (or, with
    /// `dryRun`, would be) removed.
    public func purgeUploads(startedBefore cutoff: Date, dryRun: Bool, logger: Logger) async throws -> Int {
        var purged = 0
        for (repository, id) in try await allUploads() {
            let startedAtPath = StoragePath.uploadStartedAt(repository, id: id).path
            let started: Date
            if let text = try? await driver.getString(startedAtPath),
               let date = ISO8601DateFormatter().date(from: text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                started = date
            } else if let info = try await driver.statIfExists(StoragePath.upload(repository, id: id).path) {
                started = info.modified  // no readable start time: judge by the directory's age
            } else {
                continue
            }
            guard started < cutoff else { continue }
            purged += 1
            logger.info("purging abandoned upload", metadata: [
                "repository": "\(repository)", "upload": "\(id)", "startedAt": "\(started)", "dryRun": "\(dryRun)"])
            if !dryRun { try await driver.delete(StoragePath.upload(repository, id: id).path) }
        }
        return purged
    }

    /// Every upload session in storage, found by walking the repositories tree.
    func allUploads() async throws -> [(RepositoryName, String)] {
        var found: [(RepositoryName, String)] = []
        try await walkRepositories { name, children in
            guard children.contains("_uploads") else { return }
            let ids = (try? await driver.list(StoragePath.uploads(name).path)) ?? []
            found += ids.filter { Self.isValidUploadID($0) }.map { (name, $0) }
        }
        return found
    }
}
