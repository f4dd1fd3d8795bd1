import BerthCore
import Foundation
import NIOCore

/// How a collection runs (`berth garbage-collect` flags, `storage.gc` settings).
public struct GCOptions: Sendable, Equatable {
    /// Also remove manifests no tag reaches (index children and referrers of kept ones stay).
    public var deleteUntagged = false
    /// Report what would go, change nothing.
    public var dryRun = false
    /// Content written, linked or pinned within this long before the run started is never
    /// collected. Must exceed the longest time between a push's pin and its last write (a few
    /// seconds), and stay below `Pins.lifetime`.
    public var gracePeriod: Duration = .seconds(600)
    /// Pins written this long before the run started still count, whatever the grace period:
    /// a push that pinned just before the run may commit after the run has read its repository.
    /// A push takes milliseconds from its pin to its last write; a minute leaves a wide margin
    /// (tests shorten it to finish quickly).
    public var pinWindow: Duration = .seconds(60)

    public init(deleteUntagged: Bool = false, dryRun: Bool = false, gracePeriod: Duration = .seconds(600),
                pinWindow: Duration = .seconds(60)) {
        self.deleteUntagged = deleteUntagged
        self.dryRun = dryRun
        self.gracePeriod = gracePeriod
        self.pinWindow = pinWindow
    }
}

/// What a collection did (or, dry, would do). Also kept in storage as the last run's record.
public struct GCReport: Sendable, Codable, Equatable {
    public struct Removal: Sendable, Codable, Equatable {
        /// `manifest`, `layer-link` or `blob`.
        public var kind: String
        public var repository: String?
        public var digest: String
        public var size: Int64?
    }

    public var startedAt: Date
    public var durationSeconds = 0.0
    public var dryRun: Bool
    public var deleteUntagged: Bool
    public var repositories = 0
    public var manifestsScanned = 0
    public var blobsScanned = 0
    public var manifestsRemoved = 0
    public var layerLinksRemoved = 0
    public var blobsRemoved = 0
    public var bytesReclaimed: Int64 = 0
    /// Set aside, then put back because a push started relying on it during the run.
    public var restored = 0
    /// The first `removalListLimit` removals.
    public var removals: [Removal] = []
    public var removalsTruncated = false

    public static let removalListLimit = 1000

    mutating func record(_ removal: Removal) {
        switch removal.kind {
        case "manifest": manifestsRemoved += 1
        case "layer-link": layerLinksRemoved += 1
        default:
            blobsRemoved += 1
            bytesReclaimed += removal.size ?? 0
        }
        if removals.count < Self.removalListLimit { removals.append(removal) } else { removalsTruncated = true }
    }
}

/// What a running collection reports as it goes (progress bars, plain lines, logs).
public enum GCProgress: Sendable {
    /// A new phase and how many items it has (0 when unknown).
    case phase(String, total: Int)
    case advanced(done: Int)
    case removed(GCReport.Removal, dryRun: Bool)
    case restored(GCReport.Removal)
}

public enum GCError: Error, CustomStringConvertible {
    case alreadyRunning(holder: String)

    public var description: String {
        switch self {
        case .alreadyRunning(let holder):
            "another garbage collection is running (\(holder)); wait for it to finish, or remove /berth/gc/lock under the storage root if that process is gone"
        }
    }
}

extension RegistryStorage {
    /// Runs one collection: mark from the roots, set unreachable content aside, re-read the pins,
    /// put back what a concurrent push relies on, delete the rest. Safe while the registry serves
    /// (docs/garbage-collection.md). Only one collection runs at a time per storage.
    public func collectGarbage(_ options: GCOptions, owner: String,
                               progress: @escaping @Sendable (GCProgress) -> Void = { _ in }) async throws -> GCReport {
        if options.dryRun { return try await collect(options, progress: progress) }
        return try await withGCLock(owner: owner) {
            let report = try await collect(options, progress: progress)
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys]
            try await driver.putContent(StoragePath.gcLastRun.path, ByteBuffer(bytes: try encoder.encode(report)), durable: false)
            return report
        }
    }

    /// The report of the last completed (not dry) collection, if any.
    public func lastGarbageCollection() async throws -> GCReport? {
        guard let bytes = try? await driver.getContent(StoragePath.gcLastRun.path, maxBytes: 4 << 20) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(GCReport.self, from: Data(bytes.readableBytesView))
    }

    private func collect(_ options: GCOptions, progress: @escaping @Sendable (GCProgress) -> Void) async throws -> GCReport {
        let started = Date()
        let clock = ContinuousClock.now
        let cutoff = started.addingTimeInterval(-options.gracePeriod.seconds)
        let pinCutoff = started.addingTimeInterval(-max(options.gracePeriod, options.pinWindow).seconds)
        var report = GCReport(startedAt: started, dryRun: options.dryRun, deleteUntagged: options.deleteUntagged)
        if !options.dryRun { report.restored += try await recoverInterruptedCollection() }
        var pinCache: [String: [Digest]] = [:]
        let pinned = try await pinnedDigests(since: pinCutoff, seen: &pinCache)
        let changesAtStart = statistics.changesSoFar()
        var repositoriesWithManifests = 0
        var scannedBytes: Int64 = 0

        // Mark, repository by repository; manifests and links that go are removed right away
        // (they are put back below if a pin turns up).
        var repositories: [(RepositoryName, [String])] = []
        try await walkRepositories { name, children in repositories.append((name, children)) }
        progress(.phase("scanning repositories", total: repositories.count))
        var referenced = Set<Digest>()
        var manifestCache: [Digest: ManifestReferences] = [:]
        var setAside: [GCReport.Removal] = []
        var touchedRepositories: [RepositoryName] = []
        for (i, (name, children)) in repositories.enumerated() {
            let snapshot = try await snapshotRepository(name, children: children, cache: &manifestCache)
            let plan = GCPlanner.plan(snapshot, deleteUntagged: options.deleteUntagged, cutoff: cutoff, pinned: pinned)
            report.repositories += 1
            report.manifestsScanned += snapshot.manifests.count
            if !snapshot.manifests.isEmpty { repositoriesWithManifests += 1 }
            referenced.formUnion(plan.referenced)
            var removals = plan.removedManifests.map { GCReport.Removal(kind: "manifest", repository: name.value, digest: $0.description) }
            removals += plan.removedLayerLinks.map { GCReport.Removal(kind: "layer-link", repository: name.value, digest: $0.description) }
            if !plan.removedManifests.isEmpty { touchedRepositories.append(name) }
            if !options.dryRun { try await journalSetAside(removals, in: name) }
            for removal in removals {
                if options.dryRun {
                    report.record(removal)
                    progress(.removed(removal, dryRun: true))
                } else {
                    try await removeLink(removal, in: name, manifests: manifestCache)
                    setAside.append(removal)
                }
            }
            progress(.advanced(done: i + 1))
        }

        // Sweep blobs, one prefix directory at a time (bounded memory).
        var quarantined: [GCReport.Removal] = []
        let prefixes = try await blobPrefixDirectories()
        progress(.phase("scanning blobs", total: prefixes.count))
        for (i, prefix) in prefixes.enumerated() {
            let blobs = try await blobsIn(prefix)
            report.blobsScanned += blobs.count
            scannedBytes += blobs.reduce(0) { $0 + $1.size }
            for blob in GCPlanner.unreachableBlobs(blobs, referenced: referenced, cutoff: cutoff, pinned: pinned) {
                let removal = GCReport.Removal(kind: "blob", repository: nil, digest: blob.digest.description, size: blob.size)
                if options.dryRun {
                    report.record(removal)
                    progress(.removed(removal, dryRun: true))
                    continue
                }
                do {
                    await descriptors?.forget(blob.digest, in: nil)
                    try await driver.move(from: StoragePath.blobData(blob.digest).path,
                                          to: StoragePath.gcQuarantineEntry(blob.digest).path)
                    quarantined.append(removal)
                } catch StorageDriverError.notFound {
                    continue  // removed by someone else meanwhile
                }
            }
            progress(.advanced(done: i + 1))
        }
        guard !options.dryRun else {
            report.durationSeconds = (ContinuousClock.now - clock).seconds
            return report
        }

        // Anything a push pinned since the cutoff goes back, with what it references; only then
        // is deletion final.
        let pinnedNow = try await pinnedDigests(since: pinCutoff, seen: &pinCache)
        let protected = GCPlanner.protected(by: pinnedNow, manifests: manifestCache.map { digest, refs in
            RepositorySnapshot.Manifest(digest: digest, modified: started, blobs: refs.blobs, children: refs.children,
                                        subject: refs.subject, readable: refs.readable)
        })
        progress(.phase("finishing", total: setAside.count + quarantined.count))
        var done = 0
        // Blobs first: putting a referrer's link back reads its content to rewrite its
        // referrers entry, and that content may be in the quarantine.
        for removal in quarantined {
            guard let digest = try? Digest(parsing: removal.digest) else { continue }
            if protected.contains(digest) {
                try await driver.move(from: StoragePath.gcQuarantineEntry(digest).path, to: StoragePath.blobData(digest).path)
                report.restored += 1
                progress(.restored(removal))
            } else {
                try await driver.delete(StoragePath.gcQuarantineEntry(digest).path)
                try await driver.delete(StoragePath.manifestMediaType(digest).path)
                try await driver.removeEmptyDirectory(StoragePath.blobDirectory(digest).path)
                content.forget(digest)
                report.record(removal)
                progress(.removed(removal, dryRun: false))
            }
            done += 1
            progress(.advanced(done: done))
        }
        for removal in setAside {
            guard let digest = try? Digest(parsing: removal.digest), let repository = try? RepositoryName(removal.repository ?? "") else { continue }
            if protected.contains(digest) {
                try await restoreLink(removal, digest: digest, in: repository)
                report.restored += 1
                progress(.restored(removal))
            } else {
                report.record(removal)
                progress(.removed(removal, dryRun: false))
            }
            done += 1
            progress(.advanced(done: done))
        }
        // The walk counted everything; repositories it emptied leave the catalog (and the count) below.
        try await publishCounts(StorageCounts(repositories: repositoriesWithManifests,
                                              manifests: report.manifestsScanned - report.manifestsRemoved,
                                              blobs: report.blobsScanned - report.blobsRemoved,
                                              storedBytes: scannedBytes - report.bytesReclaimed, takenAt: started),
                                keepingChangesSince: changesAtStart)
        try await clearSetAsideJournals()
        for repository in touchedRepositories { try await removeFromCatalogIfEmpty(repository) }
        try await prunePins(now: started)
        report.durationSeconds = (ContinuousClock.now - clock).seconds
        return report
    }

    // MARK: - Reading

    /// What a manifest references, read once per run however many repositories hold it.
    struct ManifestReferences {
        var blobs: [Digest]
        var children: [Digest]
        var subject: Digest?
        var readable: Bool
    }

    func snapshotRepository(_ name: RepositoryName, children: [String],
                                    cache: inout [Digest: ManifestReferences]) async throws -> RepositorySnapshot {
        var snapshot = RepositorySnapshot(name: name)
        if children.contains("_manifests") {
            for digest in try await manifestDigests(in: name) {
                guard let info = try await driver.statIfExists(StoragePath.manifestRevisionLink(name, digest).path) else { continue }
                let refs: ManifestReferences
                if let known = cache[digest] {
                    refs = known
                } else {
                    refs = await readReferences(digest)
                    cache[digest] = refs
                }
                snapshot.manifests[digest] = .init(digest: digest, modified: info.modified, blobs: refs.blobs,
                                                   children: refs.children, subject: refs.subject, readable: refs.readable)
            }
            let tags = (try? await listTags(in: name)) ?? []
            for tagName in tags {
                guard let tag = try? Tag(tagName), let digest = try? await readLink(.tagCurrentLink(name, tag)) else { continue }
                snapshot.tags[tagName] = digest
            }
        }
        if children.contains("_layers") {
            let root = StoragePath.layerLinks(name).path
            for algorithm in (try? await driver.list(root)) ?? [] {
                for hex in (try? await driver.list(root + "/" + algorithm)) ?? [] {
                    guard let digest = try? Digest(parsing: "\(algorithm):\(hex)"),
                          let info = try await driver.statIfExists(StoragePath.layerLink(name, digest).path) else { continue }
                    snapshot.layerLinks[digest] = info.modified
                }
            }
        }
        return snapshot
    }

    private func readReferences(_ digest: Digest) async -> ManifestReferences {
        guard let bytes = try? await driver.getContent(StoragePath.blobData(digest).path, maxBytes: Self.maxManifestBytes),
              let type = try? await mediaType(of: digest, bytes: bytes),
              let manifest = try? ParsedManifest.parse(bytes.readableBytesView, contentType: type) else {
            return ManifestReferences(blobs: [], children: [], subject: nil, readable: false)
        }
        return ManifestReferences(blobs: ((manifest.config.map { [$0] } ?? []) + manifest.layers).map(\.digest),
                                  children: manifest.manifests.map(\.digest), subject: manifest.subject?.digest, readable: true)
    }

    /// `blobs/<alg>/<xx>` directories.
    func blobPrefixDirectories() async throws -> [String] {
        var dirs: [String] = []
        let root = StoragePath.blobsRoot.path
        for algorithm in (try? await driver.list(root)) ?? [] where DigestAlgorithm(rawValue: algorithm) != nil {
            for prefix in (try? await driver.list(root + "/" + algorithm)) ?? [] {
                dirs.append("\(algorithm)/\(prefix)")
            }
        }
        return dirs.sorted()
    }

    func blobsIn(_ prefix: String) async throws -> [GCPlanner.Blob] {
        let algorithm = String(prefix.prefix { $0 != "/" })
        var blobs: [GCPlanner.Blob] = []
        for hex in (try? await driver.list(StoragePath.blobsRoot.path + "/" + prefix)) ?? [] {
            guard let digest = try? Digest(parsing: "\(algorithm):\(hex)"),
                  let info = try await driver.statIfExists(StoragePath.blobData(digest).path) else { continue }
            blobs.append(.init(digest: digest, size: info.size, modified: info.modified))
        }
        return blobs
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
