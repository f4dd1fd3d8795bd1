import AsyncHTTPClient
import NIOCore

extension S3Client {
    /// Starts a multipart upload to `key` and returns its upload ID. Not retried: a second attempt
    /// would leave the first upload behind, unseen.
    public func createMultipartUpload(_ key: String, contentType: String? = nil) async throws -> String {
        var operation = Operation(
            name: "CreateMultipartUpload", method: .POST, key: key, query: [("uploads", "")], idempotent: false)
        if let contentType { operation.headers.append(("Content-Type", contentType)) }
        let document = try await sendForDocument(operation)
        guard let uploadID = document["UploadId"], !uploadID.isEmpty else {
            throw S3Error(
                code: "MalformedResponse", message: "the answer names no UploadId", key: key, status: 200,
                operation: operation.name)
        }
        return uploadID
    }

    /// Uploads part `partNumber` (1–10,000) from a buffer; retried on failure. Returns the part.
    public func uploadPart(_ key: String, uploadID: String, partNumber: Int, body: ByteBuffer) async throws -> S3Part {
        try await uploadPart(key, uploadID: uploadID, partNumber: partNumber, payload: .bytes(body))
    }

    /// Uploads part `partNumber` (1–10,000) streamed from `body`, which must yield exactly `length`
    /// bytes. The stream cannot be replayed, so a failed attempt is not retried: the caller sends
    /// the part again.
    public func uploadPart<Body: AsyncSequence & Sendable>(
        _ key: String, uploadID: String, partNumber: Int, body: Body, length: Int64
    ) async throws -> S3Part where Body.Element == ByteBuffer {
        try await uploadPart(
            key, uploadID: uploadID, partNumber: partNumber, payload: .stream(.stream(body, length: .known(length))))
    }

    func uploadPart(_ key: String, uploadID: String, partNumber: Int, payload: Payload) async throws -> S3Part {
        let operation = Operation(
            name: "UploadPart", method: .PUT, key: key,
            query: [("partNumber", String(partNumber)), ("uploadId", uploadID)], payload: payload)
        let headers = try await sendDiscardingBody(operation)
        return S3Part(number: partNumber, eTag: unquotedETag(headers.first(name: "ETag")))
    }

    /// Makes part `partNumber` a server-side copy of `source` (or `range` of it).
    public func uploadPartCopy(
        _ key: String, uploadID: String, partNumber: Int, source: String, range: S3ByteRange? = nil
    ) async throws -> S3Part {
        var operation = Operation(
            name: "UploadPartCopy", method: .PUT, key: key,
            query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
            headers: [("x-amz-copy-source", copySource(source))])
        if let range { operation.headers.append(("x-amz-copy-source-range", range.headerValue)) }
        let document = try await sendForDocument(operation)
        return S3Part(number: partNumber, eTag: unquotedETag(document["ETag"]))
    }

    /// Joins `parts` (in part-number order) into the object at `key` and returns its ETag.
    @discardableResult
    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [S3Part]) async throws -> String {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts.sorted(by: { $0.number < $1.number }) {
            xml += "<Part>" + S3XMLElement.tag("PartNumber", String(part.number))
                + S3XMLElement.tag("ETag", "\"\(part.eTag)\"") + "</Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let operation = Operation(
            name: "CompleteMultipartUpload", method: .POST, key: key, query: [("uploadId", uploadID)],
            headers: [("Content-Type", "application/xml")], payload: .bytes(ByteBuffer(string: xml)))
        let document = try await sendForDocument(operation)
        return unquotedETag(document["ETag"])
    }

    /// Discards an upload and its parts; an unknown upload throws `NoSuchUpload`.
    public func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        try await sendDiscardingBody(
            Operation(name: "AbortMultipartUpload", method: .DELETE, key: key, query: [("uploadId", uploadID)]))
    }

    /// The parts uploaded so far, in part-number order (all pages).
    public func listParts(_ key: String, uploadID: String) async throws -> [S3Part] {
        var parts: [S3Part] = []
        var marker: String?
        repeat {
            var query = [("uploadId", uploadID), ("max-parts", "1000")]
            if let marker { query.append(("part-number-marker", marker)) }
            let document = try await sendForDocument(
                Operation(name: "ListParts", method: .GET, key: key, query: query))
            for part in document.all("Part") {
                guard let number = part["PartNumber"].flatMap({ Int($0) }) else { continue }
                parts.append(
                    S3Part(number: number, eTag: unquotedETag(part["ETag"]), size: part["Size"].flatMap { Int64($0) }))
            }
            marker = document["IsTruncated"] == "true" ? document["NextPartNumberMarker"] : nil
        } while marker != nil
        return parts
    }

    /// Multipart uploads in progress under `prefix` (first 1,000), for purging abandoned ones.
    public func listMultipartUploads(prefix: String = "") async throws -> [S3MultipartUpload] {
        var query = [("uploads", "")]
        let fullPrefix = configuration.rootDirectory.isEmpty ? prefix : bucketKey(prefix)
        if !fullPrefix.isEmpty { query.append(("prefix", fullPrefix)) }
        let document = try await sendForDocument(
            Operation(name: "ListMultipartUploads", method: .GET, key: nil, query: query))
        return document.all("Upload").compactMap { upload in
            guard let key = upload["Key"], let id = upload["UploadId"] else { return nil }
            return S3MultipartUpload(
                key: relativeKey(key), uploadID: id, initiated: upload["Initiated"].flatMap(S3Dates.parseISO8601))
        }
    }
}
