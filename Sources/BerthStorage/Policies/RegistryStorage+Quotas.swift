import BerthCore
import Foundation
import Synchronization

/// What each repository references, kept while its manifests are unchanged (the change token of
/// its revisions directories), so quota checks cost a `stat` per repository, not a walk.
final class ReferencedBytesCache: Sendable {
    struct Entry {
        var token: String
        /// Every digest referenced, with its size.
        var sizes: [Digest: Int64]
        var bytes: Int64
    }

    private let entries = Mutex<[RepositoryName: Entry]>([:])
    /// Sizes of what manifests reference, by manifest (content-addressed, so never stale).
    private let manifests = Mutex<[Digest: [(Digest, Int64)]]>([:])
    static let limit = 4096

    func entry(_ repository: RepositoryName, token: String) -> Entry? {
        entries.withLock { $0[repository].flatMap { $0.token == token ? $0 : nil } }
    }

    func set(_ repository: RepositoryName, _ entry: Entry) {
        guard !entry.token.isEmpty else { return }
        entries.withLock {
            if $0.count >= Self.limit { $0.removeAll(keepingCapacity: true) }
            $0[repository] = entry
        }
    }

    func references(of manifest: Digest) -> [(Digest, Int64)]? { manifests.withLock { $0[manifest] } }

    func setReferences(_ references: [(Digest, Int64)], of manifest: Digest) {
        manifests.withLock {
            if $0.count >= Self.limit * 16 { $0.removeAll(keepingCapacity: true) }
            $0[manifest] = references
        }
    }
}

/// The quota a push would exceed, with the figures for the message.
public struct QuotaUsage: Sendable, Codable, Equatable {
    public var index: Int
    public var repositories: [String]
    public var limitBytes: Int64
    public var usedBytes: Int64
}

extension RegistryStorage {
    /// Refuses (403 `DENIED`) a push that would take the repository's quota past its limit:
    /// `adding` are the digests it would make the repository reference with their sizes (nil
    /// digest: content not known yet, always counted).
    func checkQuota(adding: [(digest: Digest?, size: Int64)], to repository: RepositoryName) async throws {
        guard let (index, quota) = quotas.quota(for: repository.value) else { return }
        let own = try await referenced(repository)
        var seen = Set<Digest>()
        var growth: Int64 = 0
        for (digest, size) in adding {
            if let digest {
                guard own.sizes[digest] == nil, seen.insert(digest).inserted else { continue }
            }
            growth += size
        }
        guard growth > 0 else { return }
        let used = try await quotaUsage(quota, including: repository, own: own.bytes)
        guard used + growth > quota.limit else { return }
        throw RegistryError(.denied,
                            "push refused: repository \(repository) would use \(Self.formatBytes(used + growth)) of its \(Self.formatBytes(quota.limit)) quota (quotas[\(index)]: \(quota.repositories.joined(separator: ", ")); \(Self.formatBytes(used)) used now); delete images to free space",
                            detail: ["quota": String(index), "limit": String(quota.limit), "used": String(used)])
    }

    /// Usage of every configured quota (for `berth du`, the admin API and metrics).
    public func quotaUsages() async throws -> [QuotaUsage] {
        var usages: [QuotaUsage] = []
        for (index, quota) in quotas.quotas.enumerated() {
            usages.append(QuotaUsage(index: index, repositories: quota.repositories, limitBytes: quota.limit,
                                     usedBytes: try await quotaUsage(quota, including: nil, own: 0)))
        }
        return usages
    }

    /// Bytes referenced by the repositories `quota` covers (the first quota matching each one).
    private func quotaUsage(_ quota: StorageQuotas.Quota, including repository: RepositoryName?, own: Int64) async throws -> Int64 {
        var total = own
        for name in try await catalog() where name != repository?.value {
            guard let r = try? RepositoryName(name), quotas.quota(for: name)?.quota == quota else { continue }
            total += try await referenced(r).bytes
        }
        return total
    }

    /// The digests a repository's manifests reference (themselves, configs, layers) and their total size.
    func referenced(_ repository: RepositoryName) async throws -> ReferencedBytesCache.Entry {
        let revisions = StoragePath.manifestRevisions(repository).path
        guard let top = try await driver.statIfExists(revisions) else {
            return .init(token: "", sizes: [:], bytes: 0)
        }
        var token = top.changeToken
        for algorithm in try await driver.list(revisions).sorted() {
            token += "|" + ((try await driver.statIfExists(revisions + "/" + algorithm))?.changeToken ?? "?")
        }
        if top.changeToken.isEmpty { token = "" }
        if !token.isEmpty, let cached = referencedBytes.entry(repository, token: token) { return cached }
        var sizes: [Digest: Int64] = [:]
        var bytes: Int64 = 0
        for manifest in try await manifestDigests(in: repository) {
            for (digest, size) in try await references(of: manifest) where sizes.updateValue(size, forKey: digest) == nil {
                bytes += size
            }
        }
        let entry = ReferencedBytesCache.Entry(token: token, sizes: sizes, bytes: bytes)
        referencedBytes.set(repository, entry)
        return entry
    }

    /// A manifest and what it references, with sizes (descriptors' sizes were checked at push).
    private func references(of manifest: Digest) async throws -> [(Digest, Int64)] {
        if let known = referencedBytes.references(of: manifest) { return known }
        let path = StoragePath.blobData(manifest).path
        guard let bytes = try? await driver.getContent(path, maxBytes: Self.maxManifestBytes) else { return [] }
        var result: [(Digest, Int64)] = [(manifest, Int64(bytes.readableBytes))]
        if let type = try? await mediaType(of: manifest, bytes: bytes),
           let parsed = try? ParsedManifest.parse(bytes.readableBytesView, contentType: type) {
            result += ((parsed.config.map { [$0] } ?? []) + parsed.layers).filter { !$0.isExternal }.map { ($0.digest, $0.size) }
        }
        referencedBytes.setReferences(result, of: manifest)
        return result
    }

    /// Sizes for people: `0 B`, `512 B`, `1.5 KiB`, `216.3 MiB` (binary units, as `du -h`).
    public static func formatBytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while abs(value) >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
