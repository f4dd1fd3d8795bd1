import BerthCore
import Foundation
import NIOCore

public enum ScrubError: Error, CustomStringConvertible {
    case unknownRepository(String)

    public var description: String {
        switch self {
        case .unknownRepository(let name): "repository \(name) is not in this storage (no _manifests or _layers under it)"
        }
    }
}

/// Verifies a storage end to end: every blob's content against its digest, every link, every
/// manifest's references, and Berth's own indexes; with `repair`, quarantines corrupt blobs,
/// fixes links where the fix is certain, and rebuilds indexes. Works through `StorageDriver`
/// only, streams blob content (bounded memory: one prefix directory, one repository at a time),
/// and is safe while the registry serves: anything that looks wrong is checked again before it
/// is reported, since pushes, deletes and collections change storage meanwhile.
public struct Scrubber: Sendable {
    public let storage: RegistryStorage
    public let options: ScrubOptions
    let progress: @Sendable (ScrubProgress) -> Void

    public init(storage: RegistryStorage, options: ScrubOptions, progress: @escaping @Sendable (ScrubProgress) -> Void = { _ in }) {
        self.storage = storage
        self.options = options
        self.progress = progress
    }

    /// Runs the scrub and keeps its report in storage (`/berth/scrub/last-run.json`).
    public func run() async throws -> ScrubReport {
        var run = ScrubRun(storage: storage, options: options, progress: progress)
        try await run.execute()
        try await storage.saveScrubReport(run.report)
        return run.report
    }
}

extension RegistryStorage {
    /// The report of the last scrub that finished on this storage, if any.
    public func lastScrub() async throws -> ScrubReport? {
        guard let bytes = try? await driver.getContent(StoragePath.scrubLastRun.path, maxBytes: 16 << 20) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(ScrubReport.self, from: Data(bytes.readableBytesView))
    }

    public func saveScrubReport(_ report: ScrubReport) async throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        try await driver.putContent(StoragePath.scrubLastRun.path, ByteBuffer(bytes: try encoder.encode(report)), durable: false)
    }
}

/// One scrub's state. Used by one task.
struct ScrubRun {
    let storage: RegistryStorage
    let driver: any StorageDriver
    let options: ScrubOptions
    let progress: @Sendable (ScrubProgress) -> Void
    var report: ScrubReport
    var bucket: TokenBucket?
    /// Blobs found corrupt, empty or unreadable, with their finding's place in the list (nil past its limit).
    var blobProblems: [Digest: Int?] = [:]
    var quarantined: Set<Digest> = []
    /// Repositories whose indexes --repair rebuilds, and the findings that rebuild repairs.
    var reindex: Set<RepositoryName> = []
    var rebuildCatalog = false
    var indexFindings: [Int] = []
    var catalogIndexed = false
    let stamp: String

    init(storage: RegistryStorage, options: ScrubOptions, progress: @escaping @Sendable (ScrubProgress) -> Void) {
        self.storage = storage
        driver = storage.driver
        self.options = options
        self.progress = progress
        let started = Date()
        report = ScrubReport(startedAt: started, options: options)
        bucket = options.bytesPerSecond.map { TokenBucket(bytesPerSecond: $0) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        stamp = formatter.string(from: started)
    }

    mutating func execute() async throws {
        let clock = ContinuousClock.now
        if try await storage.hasInterruptedCollection() {
            report.note("a garbage collection is running, or stopped midway, with content set aside under /berth/gc; it counts as present here (a collection that stopped midway has it put back when `berth serve` starts)")
        }
        catalogIndexed = try await driver.exists(StoragePath.catalogIndexed.path)
        var repositories: [(RepositoryName, [String])] = []
        if let only = options.repository {
            guard let name = try? RepositoryName(only),
                  let children = try? await driver.list(StoragePath.repository(name).path),
                  children.contains("_manifests") || children.contains("_layers") else {
                throw ScrubError.unknownRepository(only)
            }
            repositories = [(name, children)]
            let digests = try await referencedDigests(name).sorted()
            progress(.phase("hashing blobs", total: digests.count))
            for (i, digest) in digests.enumerated() {
                try await checkBlob(digest)
                progress(.advanced(done: i + 1))
            }
        } else {
            let prefixes = try await storage.blobPrefixDirectories()
            progress(.phase("hashing blobs", total: prefixes.count))
            for (i, prefix) in prefixes.enumerated() {
                let algorithm = String(prefix.prefix { $0 != "/" })
                for hex in (try? await driver.list(StoragePath.blobsRoot.path + "/" + prefix)) ?? [] {
                    guard let digest = try? Digest(parsing: "\(algorithm):\(hex)"), prefix.hasSuffix("/" + digest.hex.prefix(2)) else { continue }
                    try await checkBlob(digest)
                }
                progress(.advanced(done: i + 1))
            }
            try await storage.walkRepositories { name, children in repositories.append((name, children)) }
        }
        progress(.phase("checking repositories", total: repositories.count))
        var withManifests = Set<RepositoryName>()
        for (i, (name, children)) in repositories.enumerated() {
            if try await checkRepository(name, children: children) { withManifests.insert(name) }
            progress(.advanced(done: i + 1))
        }
        if options.repository == nil { try await checkStaleCatalog(withManifests) }
        if options.repair { try await rebuildIndexes() }
        report.running = false
        report.finishedAt = Date()
        report.durationSeconds = (ContinuousClock.now - clock).seconds
    }

    /// Every digest a repository links or its manifests reference.
    func referencedDigests(_ name: RepositoryName) async throws -> Set<Digest> {
        var digests = Set(try await linkedLayers(name))
        for manifest in try await storage.manifestDigests(in: name) {
            digests.insert(manifest)
            guard let bytes = try? await driver.getContent(StoragePath.blobData(manifest).path, maxBytes: RegistryStorage.maxManifestBytes),
                  let parsed = try? ParsedManifest.parse(bytes.readableBytesView, contentType: try await storage.mediaType(of: manifest, bytes: bytes))
            else { continue }
            for d in parsed.requiredBlobs + parsed.manifests { digests.insert(d.digest) }
        }
        return digests
    }

    func linkedLayers(_ name: RepositoryName) async throws -> [Digest] {
        try await storage.digests(under: StoragePath.layerLinks(name).path)
    }

    // MARK: - Findings

    @discardableResult
    mutating func record(_ finding: ScrubFinding) -> Int? {
        let index = report.add(finding)
        progress(.found(finding))
        return index
    }

    /// Lets a concurrent operation that changes several files finish before something that
    /// looked inconsistent is looked at again. Only paid when something looks wrong.
    func settle() async throws { try await Task.sleep(for: .milliseconds(250)) }

    static func quote(_ text: some StringProtocol) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return "\"" + String(trimmed.prefix(80)) + (trimmed.count > 80 ? "…" : "") + "\""
    }
}
