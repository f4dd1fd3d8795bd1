import BerthCore
import Foundation
import Synchronization

/// What a browser is shown of a repository: every tag with what it points at, the repository's
/// size and when it was last pushed. Computed from the repository's own tag links and manifests
/// (never a walk of the storage tree) and kept in `OverviewCache`.
public struct RepositoryOverview: Sendable, Equatable, Codable {
    public var name: String
    /// Sorted by name, bytewise (as `tags/list`).
    public var tags: [TagOverview]
    /// Distinct content the tags reach: manifests, configs, layers and index children, each once.
    public var totalBytes: Int64
    /// The newest tag link's modification time.
    public var lastPush: Date?

    public var tagCount: Int { tags.count }

    public init(name: String, tags: [TagOverview], totalBytes: Int64, lastPush: Date?) {
        self.name = name
        self.tags = tags
        self.totalBytes = totalBytes
        self.lastPush = lastPush
    }
}

/// One tag of a `RepositoryOverview`.
public struct TagOverview: Sendable, Equatable, Codable {
    public var name: String
    public var digest: String
    public var mediaType: String
    /// The manifest, its config and layers; for an index, also every stored child's.
    public var size: Int64
    public var pushedAt: Date?
    /// `os/architecture[/variant]` of the image, or of each child of an index.
    public var platforms: [String]

    public init(name: String, digest: String, mediaType: String, size: Int64, pushedAt: Date?, platforms: [String]) {
        self.name = name
        self.digest = digest
        self.mediaType = mediaType
        self.size = size
        self.pushedAt = pushedAt
        self.platforms = platforms
    }
}

/// Repository overviews by name. A push or delete through this process drops the repository's
/// entry (`invalidate`). Entries expire after `maxAge`, which is how changes made by other
/// processes sharing the storage (and by garbage collection) show up; the server's overview
/// indexer recomputes each entry once it is `refreshAge` old, so pages never wait for that.
final class OverviewCache: Sendable {
    private struct Entry {
        var overview: RepositoryOverview
        var computedAt: ContinuousClock.Instant
    }

    private struct State {
        var entries: [RepositoryName: Entry] = [:]
        /// Bumped by every invalidation, so an overview computed across one is not kept.
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    static let limit = 50_000
    static let maxAge: Duration = .seconds(600)
    static let refreshAge: Duration = .seconds(300)

    func get(_ name: RepositoryName) -> RepositoryOverview? {
        state.withLock { s in
            guard let entry = s.entries[name], ContinuousClock.now - entry.computedAt < Self.maxAge else { return nil }
            return entry.overview
        }
    }

    /// Whether the entry is missing or `refreshAge` old.
    func needsRefresh(_ name: RepositoryName) -> Bool {
        state.withLock { s in
            guard let entry = s.entries[name] else { return true }
            return ContinuousClock.now - entry.computedAt >= Self.refreshAge
        }
    }

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Keeps `overview` unless an invalidation happened since `generation` was read.
    func set(_ name: RepositoryName, _ overview: RepositoryOverview, computedSince generation: UInt64) {
        state.withLock { s in
            guard s.generation == generation else { return }
            // Full (a registry of more than `limit` repositories): one arbitrary entry goes, not all
            // of them, so the indexer's work is not thrown away wholesale.
            if s.entries.count >= Self.limit, s.entries[name] == nil { s.entries.remove(at: s.entries.startIndex) }
            s.entries[name] = Entry(overview: overview, computedAt: .now)
        }
    }

    func invalidate(_ name: RepositoryName) {
        state.withLock { s in
            s.generation &+= 1
            s.entries[name] = nil
        }
    }
}
