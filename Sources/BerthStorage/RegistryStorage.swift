import BerthCore
import Foundation
import Logging
import NIOCore
import Synchronization

/// The registry's content on top of one storage driver: blobs, uploads, manifests and tags.
/// Stateless apart from caches, so several processes may share one storage.
public struct RegistryStorage: Sendable {
    /// Which references a manifest push must satisfy (`validation.manifests`).
    public struct ManifestValidation: Sendable, Equatable {
        /// Every child of an index must be stored (`indexes.platforms: all`); when false, sparse
        /// indexes are accepted (`none`).
        public var requireIndexChildren = true
        /// Every layer of an image manifest must be stored; when false, sparse images are accepted.
        public var requireLayers = true
        public init(requireIndexChildren: Bool = true, requireLayers: Bool = true) {
            self.requireIndexChildren = requireIndexChildren
            self.requireLayers = requireLayers
        }
    }

    public let driver: any StorageDriver
    public let validation: ManifestValidation
    /// Tags that may not move or be deleted (Policies/TagImmutability.swift).
    public let immutability: TagImmutability
    /// Caps on what repositories reference (Policies/StorageQuotas.swift).
    public let quotas: StorageQuotas
    let referencedBytes = ReferencedBytesCache()
    let uploads: UploadCoordinator
    let mediaTypes: MediaTypeCache
    let index: IndexState
    let content: ContentCache
    /// Counts of stored content and cache hits, for metrics.
    public let statistics: StorageStatistics
    /// Blob descriptors shared by the nodes over this storage (Redis); nil: none.
    public let descriptors: (any BlobDescriptorCache)?

    /// The largest manifest accepted and read back.
    public static let maxManifestBytes = 4 << 20

    public init(driver: any StorageDriver, validation: ManifestValidation = .init(), immutability: TagImmutability = .none,
                quotas: StorageQuotas = .none, descriptors: (any BlobDescriptorCache)? = nil) {
        self.driver = driver
        self.descriptors = descriptors
        self.validation = validation
        self.immutability = immutability
        self.quotas = quotas
        self.uploads = UploadCoordinator()
        self.mediaTypes = MediaTypeCache()
        let statistics = StorageStatistics()
        self.statistics = statistics
        self.index = IndexState(counters: statistics.cacheCounters)
        self.content = ContentCache()
    }

    /// Reads a link file (`sha256:…`) and parses the digest in it.
    func readLink(_ path: StoragePath) async throws -> Digest {
        let text = try await driver.getString(path.path, maxBytes: 1024)
        do {
            return try Digest(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw StorageDriverError.io(operation: "parse link", path: path.path, reason: "link holds no valid digest: \(error.message)")
        }
    }

    func writeLink(_ path: StoragePath, to digest: Digest) async throws {
        try await driver.putContent(path.path, Self.linkContent(digest))
    }

    /// What a link file holds: the digest it names, as the reference registry writes it.
    static func linkContent(_ digest: Digest) -> ByteBuffer { ByteBuffer(string: digest.description) }

    /// The key that signs upload state, generated and stored on first use when none is configured,
    /// so sessions survive restarts and are shared by processes over the same storage.
    public func loadOrCreateHTTPSecret() async throws -> String {
        if let existing = try? await driver.getString(StoragePath.httpSecret.path), !existing.isEmpty {
            return existing
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
        let secret = bytes.map { String(format: "%02x", $0) }.joined()
        // Processes starting together on fresh storage race here: only the first write lands,
        // and everyone reads back that one.
        _ = try await driver.putContentIfAbsent(StoragePath.httpSecret.path, ByteBuffer(string: secret))
        return try await driver.getString(StoragePath.httpSecret.path)
    }
}

/// Remembers the Content-Type of manifests whose type cannot be derived from their bytes alone.
final class MediaTypeCache: Sendable {
    private let entries = Mutex<[Digest: String]>([:])
    static let limit = 50_000

    func get(_ d: Digest) -> String? { entries.withLock { $0[d] } }

    func set(_ d: Digest, _ type: String) {
        entries.withLock {
            if $0.count >= Self.limit { $0.removeAll(keepingCapacity: true) }
            $0[d] = type
        }
    }
}

/// Content-addressed facts never change: a blob's size, a manifest's bytes and media type. They
/// are kept in memory (bounded) so hot reads skip storage; only whether a repository links the
/// content is asked of storage on every request.
final class ContentCache: Sendable {
    private struct State {
        var sizes: [Digest: Int64] = [:]
        var manifests: [Digest: StoredManifest] = [:]
        var manifestBytes = 0
    }

    private let state = Mutex(State())
    static let sizeLimit = 200_000
    static let manifestByteLimit = 32 << 20

    func size(_ d: Digest) -> Int64? { state.withLock { $0.sizes[d] } }

    func setSize(_ d: Digest, _ size: Int64) {
        state.withLock {
            if $0.sizes.count >= Self.sizeLimit { $0.sizes.removeAll(keepingCapacity: true) }
            $0.sizes[d] = size
        }
    }

    func manifest(_ d: Digest) -> StoredManifest? { state.withLock { $0.manifests[d] } }

    func setManifest(_ m: StoredManifest) {
        let size = m.bytes.readableBytes
        guard size <= Self.manifestByteLimit / 64 else { return }
        state.withLock {
            if $0.manifestBytes + size > Self.manifestByteLimit {
                $0.manifests.removeAll(keepingCapacity: true)
                $0.manifestBytes = 0
            }
            if $0.manifests.updateValue(m, forKey: m.digest) == nil { $0.manifestBytes += size }
        }
    }

    /// Forgets a digest (when garbage collection removes its content).
    func forget(_ d: Digest) {
        state.withLock {
            $0.sizes[d] = nil
            if let m = $0.manifests.removeValue(forKey: d) { $0.manifestBytes -= m.bytes.readableBytes }
        }
    }
}
