import BerthCore
import Hummingbird

/// A pull-through cache in front of upstream registries (`proxy`), implemented in BerthProxy.
/// The routes ask it before answering from storage alone; repositories it does not mirror are
/// served (and pushed to) as usual.
public protocol PullThroughCache: Sendable {
    /// Whether `repository` mirrors an upstream (its content comes from there; pushes are refused).
    func mirrors(_ repository: RepositoryName) -> Bool
    /// Makes the manifest `reference` names available in storage: fetched when missing, and for a
    /// tag, revalidated with the upstream once its time to live has passed. With the upstream
    /// unreachable, what is stored is served.
    func prepareManifest(_ reference: Reference, in repository: RepositoryName) async throws
    /// The size of a blob the upstream has (HEAD), nil when it has none.
    func upstreamBlobSize(_ digest: Digest, in repository: RepositoryName) async throws -> Int64?
    /// Streams a blob storage does not hold from the upstream while storing it; nil when the
    /// upstream has none, or when another request fetched it meanwhile (it is then in storage).
    func fetchBlob(_ digest: Digest, in repository: RepositoryName) async throws -> (size: Int64, body: ResponseBody)?
    /// The upstream's tags for the repository; nil when the upstream cannot be asked (then the
    /// stored tags are listed).
    func upstreamTags(in repository: RepositoryName) async -> [String]?
}
