import BerthCore
import BerthStorage
import Logging

/// The blob descriptor cache in Redis (`storage.cache.blobdescriptor: redis`), keyed as
/// `berth:blob:<digest>` (its size) and `berth:repo:<name>:<digest>` (the repository may serve it).
/// A hit needs both, so forgetting a digest everywhere is one `DEL`. Entries expire after `ttl`,
/// which bounds how long a lost invalidation (Redis down during a delete) can mislead a HEAD; a
/// GET of content that is gone still answers 404.
public struct RedisBlobDescriptorCache: BlobDescriptorCache {
    public let client: RedisClient
    public let ttl: Duration

    public init(client: RedisClient, ttl: Duration = .seconds(600)) {
        self.client = client
        self.ttl = ttl
    }

    static func blobKey(_ digest: Digest) -> String { "berth:blob:\(digest)" }
    static func linkKey(_ digest: Digest, _ repository: RepositoryName) -> String { "berth:repo:\(repository):\(digest)" }

    public func size(of digest: Digest, in repository: RepositoryName) async -> Int64? {
        guard case .array(let values?)? = try? await client.send(["MGET", Self.blobKey(digest), Self.linkKey(digest, repository)]),
              values.count == 2, values[1].string != nil, let size = values[0].string.flatMap({ Int64($0) }) else { return nil }
        return size
    }

    public func remember(_ digest: Digest, size: Int64, in repository: RepositoryName) async {
        let seconds = String(ttl.components.seconds)
        _ = try? await client.send(["SET", Self.blobKey(digest), String(size), "EX", seconds])
        _ = try? await client.send(["SET", Self.linkKey(digest, repository), "1", "EX", seconds])
    }

    public func forget(_ digest: Digest, in repository: RepositoryName?) async {
        let key = repository.map { Self.linkKey(digest, $0) } ?? Self.blobKey(digest)
        do {
            try await client.send(["DEL", key])
        } catch {
            client.logger.warning("could not forget a blob descriptor in Redis; it expires by itself", metadata: [
                "key": "\(key)", "ttl": "\(ttl)", "error": "\(error)",
            ])
        }
    }
}
