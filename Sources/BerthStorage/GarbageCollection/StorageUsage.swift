import BerthCore
import Foundation

/// How much each repository stores (`berth du`, `GET /admin/api/storage`).
///
/// A repository's logical size counts every blob its manifests reference (configs, layers, the
/// manifests themselves) once, as users expect; blobs that other repositories reference too are
/// also counted as shared. Reclaimable bytes are what a collection would free now.
public struct StorageUsage: Sendable, Codable, Equatable {
    public struct Repository: Sendable, Codable, Equatable {
        public var name: String
        public var manifests: Int
        public var tags: Int
        /// Distinct content its manifests reference.
        public var logicalBytes: Int64
        /// The part of `logicalBytes` that other repositories reference too.
        public var sharedBytes: Int64
        /// The part only this repository references (freed if it were deleted entirely).
        public var exclusiveBytes: Int64 { logicalBytes - sharedBytes }

        enum CodingKeys: String, CodingKey { case name, manifests, tags, logicalBytes, sharedBytes, exclusiveBytes }

        public init(name: String, manifests: Int, tags: Int, logicalBytes: Int64, sharedBytes: Int64) {
            self.name = name
            self.manifests = manifests
            self.tags = tags
            self.logicalBytes = logicalBytes
            self.sharedBytes = sharedBytes
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            manifests = try c.decode(Int.self, forKey: .manifests)
            tags = try c.decode(Int.self, forKey: .tags)
            logicalBytes = try c.decode(Int64.self, forKey: .logicalBytes)
            sharedBytes = try c.decode(Int64.self, forKey: .sharedBytes)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(manifests, forKey: .manifests)
            try c.encode(tags, forKey: .tags)
            try c.encode(logicalBytes, forKey: .logicalBytes)
            try c.encode(sharedBytes, forKey: .sharedBytes)
            try c.encode(exclusiveBytes, forKey: .exclusiveBytes)
        }
    }

    public var repositories: [Repository]
    /// Blobs stored (layers, configs and manifests) and their total size on storage.
    public var blobs: Int
    public var storedBytes: Int64
    /// Freed by a collection now (manifests without tags kept).
    public var reclaimableBytes: Int64
    /// Freed by a collection with `--delete-untagged` now.
    public var reclaimableUntaggedBytes: Int64
    /// Each configured quota with what its repositories use.
    public var quotas: [QuotaUsage] = []
}

extension RegistryStorage {
    /// Walks every repository and blob once (plus two dry-run collections for the reclaimable
    /// figures). `only` limits the listed repositories; sharing is still judged across all.
    public func storageUsage(only: RepositoryName? = nil, gracePeriod: Duration = .seconds(600)) async throws -> StorageUsage {
        var repositories: [(RepositoryName, [String])] = []
        try await walkRepositories { name, children in repositories.append((name, children)) }
        // What each repository references comes from the same computation the quotas use, so
        // `berth du` and a quota refusal always agree.
        var cache: [Digest: ManifestReferences] = [:]
        var perRepository: [(snapshot: RepositorySnapshot, sizes: [Digest: Int64])] = []
        var users: [Digest: Int] = [:]
        for (name, children) in repositories where children.contains("_manifests") {
            let snapshot = try await snapshotRepository(name, children: children, cache: &cache)
            guard !snapshot.manifests.isEmpty else { continue }
            let sizes = try await referenced(name).sizes
            for d in sizes.keys { users[d, default: 0] += 1 }
            perRepository.append((snapshot, sizes))
        }
        var blobs = 0
        var stored: Int64 = 0
        for prefix in try await blobPrefixDirectories() {
            for blob in try await blobsIn(prefix) {
                blobs += 1
                stored += blob.size
            }
        }
        var listed: [StorageUsage.Repository] = []
        for (snapshot, sizes) in perRepository where only == nil || snapshot.name == only {
            let logical = sizes.values.reduce(0, +)
            let shared = sizes.reduce(Int64(0)) { sum, entry in (users[entry.key] ?? 0) > 1 ? sum + entry.value : sum }
            listed.append(.init(name: snapshot.name.value, manifests: snapshot.manifests.count, tags: snapshot.tags.count,
                                logicalBytes: logical, sharedBytes: shared))
        }
        listed.sort { $0.name < $1.name }
        let keepUntagged = try await collectGarbage(GCOptions(dryRun: true, gracePeriod: gracePeriod), owner: "storage usage")
        let dropUntagged = try await collectGarbage(GCOptions(deleteUntagged: true, dryRun: true, gracePeriod: gracePeriod),
                                                    owner: "storage usage")
        return StorageUsage(repositories: listed, blobs: blobs, storedBytes: stored,
                            reclaimableBytes: keepUntagged.bytesReclaimed,
                            reclaimableUntaggedBytes: dropUntagged.bytesReclaimed,
                            quotas: try await quotaUsages())
    }
}
