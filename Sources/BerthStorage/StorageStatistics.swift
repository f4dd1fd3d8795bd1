import BerthCore
import Foundation
import NIOCore
import Synchronization

/// What storage holds, as counted by a full walk.
public struct StorageCounts: Sendable, Codable, Equatable {
    /// Repositories holding at least one manifest.
    public var repositories: Int
    /// Manifests stored, counted once per repository holding them.
    public var manifests: Int
    /// Distinct blobs (layers, configs, manifests) and their total size.
    public var blobs: Int
    public var storedBytes: Int64
    /// When the walk started.
    public var takenAt: Date

    public init(repositories: Int, manifests: Int, blobs: Int, storedBytes: Int64, takenAt: Date) {
        self.repositories = repositories
        self.manifests = manifests
        self.blobs = blobs
        self.storedBytes = storedBytes
        self.takenAt = takenAt
    }
}

/// Counts for the metrics without walking storage per scrape: a baseline from the last full walk
/// (each garbage collection makes one; a server without one walks once in the background) plus
/// the changes this process made since. Other processes' changes show up at the next baseline.
public final class StorageStatistics: Sendable {
    private struct State {
        var baseline: StorageCounts?
        var delta = StorageCounts(repositories: 0, manifests: 0, blobs: 0, storedBytes: 0, takenAt: .distantPast)
    }

    private let state = Mutex(State())
    /// How many lookups the in-memory caches answered, and how many went to storage.
    public let cacheCounters = CacheCounters()

    init() {}

    /// The baseline plus this process's changes; nil until a baseline is known.
    public var current: StorageCounts? {
        state.withLock { s in
            guard var counts = s.baseline else { return nil }
            counts.repositories += s.delta.repositories
            counts.manifests += s.delta.manifests
            counts.blobs += s.delta.blobs
            counts.storedBytes += s.delta.storedBytes
            return counts
        }
    }

    var baselineTakenAt: Date? { state.withLock { $0.baseline?.takenAt } }

    func record(repositories: Int = 0, manifests: Int = 0, blobs: Int = 0, bytes: Int64 = 0) {
        state.withLock {
            $0.delta.repositories += repositories
            $0.delta.manifests += manifests
            $0.delta.blobs += blobs
            $0.delta.storedBytes += bytes
        }
    }

    /// Changes recorded so far (to keep those made while a walk runs).
    public func changesSoFar() -> StorageCounts { state.withLock { $0.delta } }

    /// Adopts counts from a walk; changes recorded since `since` (taken when the walk started)
    /// are kept on top, earlier ones are in the walk's counts.
    func setBaseline(_ counts: StorageCounts, keepingChangesSince since: StorageCounts? = nil) {
        state.withLock {
            $0.baseline = counts
            if let since {
                $0.delta.repositories -= since.repositories
                $0.delta.manifests -= since.manifests
                $0.delta.blobs -= since.blobs
                $0.delta.storedBytes -= since.storedBytes
            } else {
                $0.delta = StorageCounts(repositories: 0, manifests: 0, blobs: 0, storedBytes: 0, takenAt: .distantPast)
            }
        }
    }
}

/// Hits and misses of the in-memory caches, counted without locks (they sit on the hot paths).
public final class CacheCounters: Sendable {
    public enum Cache: String, CaseIterable, Sendable {
        /// Blob sizes (blob HEAD and GET, manifest PUT checks).
        case blobSize = "blob_size"
        /// Manifest bytes (manifest GET and HEAD).
        case manifest
        /// Manifest media types that cannot be derived from the bytes.
        case mediaType = "media_type"
        /// Sorted tag lists and the catalog.
        case listing
        /// The blob descriptors shared through Redis (`storage.cache.blobdescriptor: redis`).
        case blobDescriptor = "blob_descriptor"
    }

    private final class Count: Sendable {
        let value = Atomic<Int>(0)
    }

    private let hits: [Cache: Count]
    private let misses: [Cache: Count]

    init() {
        hits = Dictionary(uniqueKeysWithValues: Cache.allCases.map { ($0, Count()) })
        misses = Dictionary(uniqueKeysWithValues: Cache.allCases.map { ($0, Count()) })
    }

    func record(_ cache: Cache, hit: Bool) {
        (hit ? hits : misses)[cache]?.value.add(1, ordering: .relaxed)
    }

    /// Hits and misses so far, per cache.
    public func totals() -> [(cache: Cache, hits: Int, misses: Int)] {
        Cache.allCases.map { cache in
            (cache, hits[cache]?.value.load(ordering: .relaxed) ?? 0, misses[cache]?.value.load(ordering: .relaxed) ?? 0)
        }
    }
}

extension RegistryStorage {
    /// Counts everything by walking storage (repositories, their manifest links, every blob).
    public func countContent() async throws -> StorageCounts {
        let started = Date()
        var counts = StorageCounts(repositories: 0, manifests: 0, blobs: 0, storedBytes: 0, takenAt: started)
        try await walkRepositories { name, children in
            guard children.contains("_manifests") else { return }
            let n = try await manifestDigests(in: name).count
            if n > 0 {
                counts.repositories += 1
                counts.manifests += n
            }
        }
        for prefix in try await blobPrefixDirectories() {
            for blob in try await blobsIn(prefix) {
                counts.blobs += 1
                counts.storedBytes += blob.size
            }
        }
        return counts
    }

    /// The counts kept in storage by the last walk (any process), if any.
    public func storedCounts() async -> StorageCounts? {
        guard let bytes = try? await driver.getContent(StoragePath.storageCounts.path, maxBytes: 1 << 16) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(StorageCounts.self, from: Data(bytes.readableBytesView))
    }

    /// Keeps `counts` in storage for other processes and adopts them here.
    public func publishCounts(_ counts: StorageCounts, keepingChangesSince since: StorageCounts? = nil) async throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        try await driver.putContent(StoragePath.storageCounts.path, ByteBuffer(bytes: try encoder.encode(counts)), durable: false)
        statistics.setBaseline(counts, keepingChangesSince: since)
    }

    /// Adopts counts another process published, when newer than the ones in use.
    public func adoptPublishedCounts() async {
        guard let published = await storedCounts() else { return }
        if let known = statistics.baselineTakenAt, known >= published.takenAt { return }
        statistics.setBaseline(published)
    }
}
