import Foundation

extension S3Client {
    /// One ListObjectsV2 page of keys under `prefix` (relative to the root directory), in key order.
    /// With a `delimiter` (usually `/`), keys below the next delimiter are folded into
    /// `commonPrefixes`. `maxKeys` is at most 1,000.
    public func listObjectsV2(
        prefix: String = "", delimiter: String? = nil, maxKeys: Int = 1000, continuationToken: String? = nil,
        startAfter: String? = nil
    ) async throws -> S3ListPage {
        let fullPrefix = configuration.rootDirectory.isEmpty ? prefix : bucketKey(prefix)
        var query = [("list-type", "2"), ("max-keys", String(min(max(maxKeys, 1), 1000)))]
        if !fullPrefix.isEmpty { query.append(("prefix", fullPrefix)) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let startAfter { query.append(("start-after", bucketKey(startAfter))) }
        let document = try await sendForDocument(
            Operation(name: "ListObjectsV2", method: .GET, key: nil, query: query))
        let objects = document.all("Contents").map { entry in
            S3ObjectInfo(
                key: relativeKey(entry["Key"] ?? ""), size: entry["Size"].flatMap { Int64($0) } ?? 0,
                eTag: unquotedETag(entry["ETag"]), lastModified: entry["LastModified"].flatMap(S3Dates.parseISO8601))
        }
        let prefixes = document.all("CommonPrefixes").compactMap { $0["Prefix"] }.map(relativeKey)
        let truncated = document["IsTruncated"] == "true"
        let token = truncated ? document["NextContinuationToken"] : nil
        if truncated, token == nil {
            throw S3Error(
                code: "MalformedResponse", message: "a truncated listing came without NextContinuationToken",
                status: 200, operation: "ListObjectsV2")
        }
        return S3ListPage(objects: objects, commonPrefixes: prefixes, nextContinuationToken: token)
    }

    /// Every page of a listing, fetched one at a time as the sequence is iterated.
    public func listPages(prefix: String = "", delimiter: String? = nil, pageSize: Int = 1000) -> S3ListPages {
        S3ListPages(client: self, prefix: prefix, delimiter: delimiter, pageSize: pageSize)
    }
}

/// The pages of a ListObjectsV2 listing, following continuation tokens.
public struct S3ListPages: AsyncSequence, Sendable {
    public typealias Element = S3ListPage
    let client: S3Client
    let prefix: String
    let delimiter: String?
    let pageSize: Int

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pages: S3ListPages
        var token: String?
        var finished = false

        public mutating func next() async throws -> S3ListPage? {
            guard !finished else { return nil }
            let page = try await pages.client.listObjectsV2(
                prefix: pages.prefix, delimiter: pages.delimiter, maxKeys: pages.pageSize, continuationToken: token)
            token = page.nextContinuationToken
            finished = token == nil
            return page
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pages: self) }
}
