import BerthCore

/// A cache of blob descriptors shared by every node over one storage (Redis in BerthRedis):
/// which repositories may serve a digest, and its size. Blob HEADs and GETs then skip the link
/// and size lookups in storage. Every way of removing a link or a blob forgets it here too.
/// Implementations never throw: an unreachable cache is a miss, and the caller asks storage.
public protocol BlobDescriptorCache: Sendable {
    /// The size of `digest` when the cache knows `repository` may serve it; nil otherwise.
    func size(of digest: Digest, in repository: RepositoryName) async -> Int64?
    /// Records that `repository` may serve `digest`, of `size` bytes.
    func remember(_ digest: Digest, size: Int64, in repository: RepositoryName) async
    /// Forgets that `repository` may serve `digest` (a deleted link); with nil, everything
    /// about `digest` (its content was collected).
    func forget(_ digest: Digest, in repository: RepositoryName?) async
}
