import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1

extension S3Client {
    /// Stores `body` at `key`, replacing what was there. With `ifNoneMatch`, only if `key` does not
    /// exist yet (`If-None-Match: *`); an existing key then fails with `PreconditionFailed`.
    /// `metadata` becomes `x-amz-meta-NAME` headers. Returns the new object's ETag.
    @discardableResult
    public func putObject(
        _ key: String, body: ByteBuffer, contentType: String? = nil, ifNoneMatch: Bool = false,
        metadata: [String: String] = [:]
    ) async throws -> String {
        var operation = Operation(name: "PutObject", method: .PUT, key: key, payload: .bytes(body))
        if let contentType { operation.headers.append(("Content-Type", contentType)) }
        for (name, value) in metadata.sorted(by: { $0.key < $1.key }) {
            operation.headers.append(("x-amz-meta-" + name.lowercased(), value))
        }
        if ifNoneMatch { operation.headers.append(("If-None-Match", "*")) }
        let headers = try await sendDiscardingBody(operation)
        return unquotedETag(headers.first(name: "ETag"))
    }

    /// Streams the object at `key` (or `range` of it) to `consumer` in chunks of at most 1 MiB, as they
    /// arrive, and returns what S3 said about the object (`size` is the object's whole size).
    /// A missing key throws `NoSuchKey`; a range past the end `InvalidRange`. The request is retried
    /// until the answer starts; a connection lost in the middle of the body throws, after `consumer`
    /// has seen a prefix, and the caller resumes with a range from there.
    @discardableResult
    /// `onHead` sees what S3 said about the object before the first chunk.
    public func getObject(
        _ key: String, range: S3ByteRange? = nil, consumer: (ByteBuffer) async throws -> Void,
        onHead: (S3ObjectInfo) async throws -> Void = { _ in }
    ) async throws -> S3ObjectInfo {
        var operation = Operation(name: "GetObject", method: .GET, key: key)
        if let range { operation.headers.append(("Range", range.headerValue)) }
        let response = try await send(operation)
        let info = objectInfo(key: key, headers: response.headers)
        try await onHead(info)
        for try await var buffer in response.body {
            while buffer.readableBytes > Self.maximumChunk {
                if let slice = buffer.readSlice(length: Self.maximumChunk) { try await consumer(slice) }
            }
            try await consumer(buffer)
        }
        return info
    }

    /// The whole object at `key`, refused with `EntityTooLarge` past `maxBytes`.
    public func getObjectBytes(_ key: String, maxBytes: Int) async throws -> ByteBuffer {
        var content = ByteBuffer()
        try await getObject(key) { chunk in
            guard content.readableBytes + chunk.readableBytes <= maxBytes else {
                throw S3Error(code: "EntityTooLarge", message: "object is larger than the \(maxBytes) bytes expected",
                              key: key, status: 200, operation: "GetObject")
            }
            content.writeImmutableBuffer(chunk)
        }
        return content
    }

    /// Size, ETag and modification time of `key`, or nil when there is no such object.
    public func headObject(_ key: String) async throws -> S3ObjectInfo? {
        do {
            let headers = try await sendDiscardingBody(Operation(name: "HeadObject", method: .HEAD, key: key))
            return objectInfo(key: key, headers: headers)
        } catch let error as S3Error where error.status == 404 && error.code != "NoSuchBucket" {
            return nil
        }
    }

    func objectInfo(key: String, headers: HTTPHeaders) -> S3ObjectInfo {
        // A ranged answer's Content-Length is the range's; Content-Range ends in the whole size.
        var size = headers.first(name: "Content-Length").flatMap { Int64($0) } ?? 0
        if let range = headers.first(name: "Content-Range"), let slash = range.lastIndex(of: "/"),
            let total = Int64(range[range.index(after: slash)...])
        {
            size = total
        }
        var metadata: [String: String] = [:]
        for (name, value) in headers {
            let lower = name.lowercased()
            if lower.hasPrefix("x-amz-meta-") { metadata[String(lower.dropFirst(11))] = value }
        }
        return S3ObjectInfo(
            key: key, size: size, eTag: unquotedETag(headers.first(name: "ETag")),
            lastModified: headers.first(name: "Last-Modified").flatMap(S3Dates.parseHTTPDate), metadata: metadata)
    }

    /// Creates the configured bucket (for set-up and tests); one these credentials own already is fine.
    public func createBucket() async throws {
        var operation = Operation(name: "CreateBucket", method: .PUT, key: nil)
        if configuration.region != "us-east-1" {
            let xml = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + S3XMLElement.tag("LocationConstraint", configuration.region) + "</CreateBucketConfiguration>"
            operation.payload = .bytes(ByteBuffer(string: xml))
        }
        do {
            try await sendDiscardingBody(operation)
        } catch let error as S3Error where error.code == "BucketAlreadyOwnedByYou" {}
    }

    /// Removes `key`; removing a missing key succeeds, as in S3.
    public func deleteObject(_ key: String) async throws {
        try await sendDiscardingBody(Operation(name: "DeleteObject", method: .DELETE, key: key))
    }

    /// Removes `keys` with DeleteObjects, 1,000 per request, and returns the keys S3 could not remove.
    @discardableResult
    public func deleteObjects(_ keys: [String]) async throws -> [S3DeleteFailure] {
        var failures: [S3DeleteFailure] = []
        var start = 0
        while start < keys.count {
            let batch = keys[start..<min(start + 1000, keys.count)]
            start += batch.count
            var xml = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
            for key in batch { xml += "<Object>" + S3XMLElement.tag("Key", bucketKey(key)) + "</Object>" }
            xml += "</Delete>"
            let body = ByteBuffer(string: xml)
            // S3 wants an integrity header on DeleteObjects.
            let md5 = Data(Insecure.MD5.hash(data: Data(xml.utf8))).base64EncodedString()
            let operation = Operation(
                name: "DeleteObjects", method: .POST, key: nil, query: [("delete", "")],
                headers: [("Content-MD5", md5), ("Content-Type", "application/xml")], payload: .bytes(body))
            let document = try await sendForDocument(operation)
            for error in document.all("Error") {
                failures.append(
                    S3DeleteFailure(
                        key: relativeKey(error["Key"] ?? ""), code: error["Code"] ?? "", message: error["Message"] ?? ""))
            }
        }
        return failures
    }

    /// Copies `source` to `destination` inside the bucket, on the server (up to 5 GiB; larger objects
    /// need a multipart upload of ``uploadPartCopy(_:uploadID:partNumber:source:range:)`` parts).
    /// Returns the copy's ETag.
    @discardableResult
    public func copyObject(from source: String, to destination: String) async throws -> String {
        let operation = Operation(
            name: "CopyObject", method: .PUT, key: destination, headers: [("x-amz-copy-source", copySource(source))])
        let document = try await sendForDocument(operation)
        return unquotedETag(document["ETag"])
    }

    /// `/bucket/key`, encoded, as `x-amz-copy-source` names an object.
    func copySource(_ key: String) -> String {
        "/" + configuration.bucket + "/" + S3URIEncoding.encodePath(bucketKey(key))
    }

    /// A URL that lets anyone holding it GET `key` without credentials until it expires
    /// (`expires` seconds after `date`, at most 7 days).
    public func presignedGetURL(_ key: String, expires: Int, date: Date = Date()) -> String {
        let (host, path) = location(key)
        let query = signer.presignedQuery(
            method: "GET", host: host, encodedPath: path, query: [], expires: expires, date: date)
        return "\(configuration.endpoint.scheme)://\(host)\(path)?\(query)"
    }
}
