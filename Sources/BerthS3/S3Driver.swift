import BerthStorage
import Foundation
import Logging
import NIOCore

/// The storage driver for S3-compatible object stores (`storage.s3`): the same layout as the
/// filesystem driver, one object per file, so several Berth processes can share one bucket.
///
/// - Directories are key prefixes: one exists while an object lies below it, and listing one
///   is a delimited `ListObjectsV2`.
/// - Objects written by a ``StorageWriter`` (uploads) go to an S3 multipart upload part by part;
///   until they are moved into place the key holds a small *pending* document (metadata
///   `berth-pending`: its size) naming the parts, the unfinished tail and the hash checkpoint, so
///   the next chunk may come to any node (S3Driver+Writer.swift).
/// - `move` is a server-side copy and a delete, as S3 has no rename.
public final class S3Driver: StorageDriver {
    public let client: S3Client
    let logger: Logger

    public init(client: S3Client, logger: Logger = Logger(label: "berth.storage.s3")) {
        self.client = client
        self.logger = logger
    }

    public var name: String { "s3" }

    /// The bucket key of a driver path (driver paths start with `/`).
    func key(_ path: String) -> String {
        path.hasPrefix("/") ? String(path.dropFirst()) : path
    }

    /// Runs one S3 call, mapping its failures to `StorageDriverError` with the path.
    func call<T>(_ operation: String, _ path: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StorageDriverError {
            throw error
        } catch let error as S3Error where error.isNotFound {
            throw StorageDriverError.notFound(path: path)
        } catch {
            throw StorageDriverError.io(operation: operation, path: "s3://\(client.configuration.bucket)/\(key(path))",
                                        reason: "\(error)")
        }
    }

    public func getContent(_ path: String, maxBytes: Int) async throws -> ByteBuffer {
        try await call("read", path) {
            var content = ByteBuffer()
            let info = try await client.getObject(key(path)) { chunk in
                guard content.readableBytes + chunk.readableBytes <= maxBytes else {
                    throw StorageDriverError.tooLarge(path: path, limit: maxBytes)
                }
                content.writeImmutableBuffer(chunk)
            }
            if info.metadata[Self.pendingMetadata] != nil {
                throw StorageDriverError.io(operation: "read", path: path, reason: "the object is an unfinished upload")
            }
            return content
        }
    }

    /// S3 stores every PUT atomically and durably before answering.
    public func putContent(_ path: String, _ content: ByteBuffer, durable: Bool) async throws {
        try await call("write", path) { try await client.putObject(key(path), body: content) }
    }

    /// A conditional PUT (`If-None-Match: *`), which AWS S3, MinIO and moto honour.
    public func putContentIfAbsent(_ path: String, _ content: ByteBuffer) async throws -> Bool {
        try await call("write", path) {
            do {
                try await client.putObject(key(path), body: content, ifNoneMatch: true)
                return true
            } catch let error as S3Error where error.isPreconditionFailed || error.code == "ConditionalRequestConflict" {
                return false
            }
        }
    }

    public func stat(_ path: String) async throws -> FileInfo {
        try await call("stat", path) {
            if !path.hasSuffix("/"), path != "/", let info = try await client.headObject(key(path)) {
                let size = info.metadata[Self.pendingMetadata].flatMap { Int64($0) } ?? info.size
                return FileInfo(size: size, isDirectory: false, modified: info.lastModified ?? Date(), changeToken: info.eTag)
            }
            let page = try await client.listObjectsV2(prefix: directoryPrefix(path), maxKeys: 1)
            guard let first = page.objects.first else { throw StorageDriverError.notFound(path: path) }
            // A prefix has no modification time or version of its own; nothing derived from it is cached.
            return FileInfo(size: 0, isDirectory: true, modified: first.lastModified ?? Date())
        }
    }

    func directoryPrefix(_ path: String) -> String {
        let k = key(path)
        return k.isEmpty || k.hasSuffix("/") ? k : k + "/"
    }

    public func list(_ path: String) async throws -> [String] {
        try await call("list", path) {
            let prefix = directoryPrefix(path)
            var names: [String] = []
            for try await page in client.listPages(prefix: prefix, delimiter: "/") {
                for object in page.objects { names.append(String(object.key.dropFirst(prefix.count))) }
                for common in page.commonPrefixes { names.append(String(common.dropFirst(prefix.count).dropLast())) }
            }
            names.removeAll { $0.isEmpty }
            guard !names.isEmpty else { throw StorageDriverError.notFound(path: path) }
            return names.sorted()
        }
    }

    public func read(_ path: String, range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await call("read", path) {
            if let range, range.isEmpty { return }
            let byteRange = range.map { S3ByteRange(offset: $0.lowerBound, length: Int64($0.count)) }
            do {
                try await readObject(path, byteRange, body)
            } catch let error as S3Error where error.code == "InvalidRange" {
                return  // a range starting at the end: nothing to send
            }
        }
    }

    /// Streams an object; an unfinished upload is read from its tail when it has no parts yet.
    func readObject(_ path: String, _ range: S3ByteRange?, _ body: (ByteBuffer) async throws -> Void) async throws {
        var pending = false
        try await client.getObject(key(path), range: range) { chunk in
            // The first chunk of a pending document is small; its metadata came with the head.
            if !pending { try await body(chunk) }
        } onHead: { info in
            pending = info.metadata[Self.pendingMetadata] != nil
        }
        guard pending else { return }
        let upload = try await PendingUpload.load(self, path)
        guard upload.parts.isEmpty else {
            throw StorageDriverError.io(operation: "read", path: path,
                                        reason: "the upload's bytes are in an unfinished multipart upload, which S3 cannot read back")
        }
        guard let tail = upload.tailKey else { return }
        try await client.getObject(tail, range: range, consumer: body)
    }

    public func openForReading(_ path: String) async throws -> any StorageReader {
        guard try await call("stat", path, { try await client.headObject(key(path)) }) != nil else {
            throw StorageDriverError.notFound(path: path)
        }
        return Reader(driver: self, path: path)
    }

    struct Reader: StorageReader {
        let driver: S3Driver
        let path: String

        func read(range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
            try await driver.read(path, range: range, body)
        }
    }

    public func move(from source: String, to destination: String) async throws {
        try await call("move", source) {
            guard let info = try await client.headObject(key(source)) else { throw StorageDriverError.notFound(path: source) }
            if info.metadata[Self.pendingMetadata] != nil {
                let finished = try await finish(source)
                try await copy(finished.key, to: key(destination), size: finished.size)
                try await client.deleteObject(key(source))
                if let leftover = finished.leftover { try? await client.deleteObject(leftover) }
            } else {
                try await copy(key(source), to: key(destination), size: info.size)
                try await client.deleteObject(key(source))
            }
        }
    }

    /// Largest object one CopyObject copies; larger ones are copied in parts of `copyPartSize`.
    static let copyLimit: Int64 = 5 << 30
    static let copyPartSize: Int64 = 1 << 30

    /// Copies between bucket keys on the server.
    func copy(_ source: String, to destination: String, size: Int64) async throws {
        guard size > Self.copyLimit else {
            try await client.copyObject(from: source, to: destination)
            return
        }
        let uploadID = try await client.createMultipartUpload(destination)
        do {
            var parts: [S3Part] = []
            var offset: Int64 = 0
            while offset < size {
                let length = min(Self.copyPartSize, size - offset)
                parts.append(try await client.uploadPartCopy(
                    destination, uploadID: uploadID, partNumber: parts.count + 1, source: source,
                    range: S3ByteRange(offset: offset, length: length)))
                offset += length
            }
            try await client.completeMultipartUpload(destination, uploadID: uploadID, parts: parts)
        } catch {
            try? await client.abortMultipartUpload(destination, uploadID: uploadID)
            throw error
        }
    }

    /// Deletes the object at `path`, everything below it, and the multipart uploads of both.
    public func delete(_ path: String) async throws {
        try await call("delete", path) {
            let prefix = directoryPrefix(path)
            var keys: [String] = []
            if !prefix.isEmpty {
                for try await page in client.listPages(prefix: prefix) { keys += page.objects.map(\.key) }
            }
            for upload in try await client.listMultipartUploads(prefix: key(path))
            where upload.key == key(path) || upload.key.hasPrefix(prefix) {
                try? await client.abortMultipartUpload(upload.key, uploadID: upload.uploadID)
            }
            if path != "/" { keys.append(key(path)) }
            let failures = try await client.deleteObjects(keys)
            if let failure = failures.first {
                throw StorageDriverError.io(operation: "delete", path: failure.key, reason: "\(failure.code): \(failure.message)")
            }
        }
    }

    /// Prefixes vanish with their last object.
    public func removeEmptyDirectory(_ path: String) async throws {}

    public func redirectURL(_ path: String, expiry: Int) async throws -> String? {
        client.presignedGetURL(key(path), expires: expiry)
    }
}
