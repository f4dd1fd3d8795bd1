import Foundation

/// How a scrub runs (`berth scrub` flags, `storage.scrub` settings, the admin API).
public struct ScrubOptions: Sendable, Equatable {
    /// Quarantine corrupt blobs, rewrite or remove broken links where that is safe, rebuild indexes.
    public var repair = false
    /// Hash at most this many bytes per second (nil: as fast as storage allows).
    public var bytesPerSecond: Int64?
    /// Check only this repository and the blobs it references.
    public var repository: String?

    public init(repair: Bool = false, bytesPerSecond: Int64? = nil, repository: String? = nil) {
        self.repair = repair
        self.bytesPerSecond = bytesPerSecond
        self.repository = repository
    }
}

/// One problem a scrub found: what, where, what it affects, and what to do about it.
public struct ScrubFinding: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// A blob's content does not hash to its digest.
        case blobCorrupt = "blob-corrupt"
        /// A blob's data file is shorter than a manifest's descriptor of it says.
        case blobTruncated = "blob-truncated"
        /// A blob's data file is empty (and its digest is not that of empty content).
        case blobEmpty = "blob-empty"
        /// A blob's data file could not be read.
        case blobUnreadable = "blob-unreadable"
        /// A link file holds no digest, or another digest than its path names.
        case linkMalformed = "link-malformed"
        /// A layer or manifest link whose content is not stored.
        case linkDangling = "link-dangling"
        /// A tag pointing at a manifest the repository does not hold.
        case tagDangling = "tag-dangling"
        /// A manifest whose stored content does not parse.
        case manifestUnparseable = "manifest-unparseable"
        /// A config, layer or child manifest that a manifest needs and the repository lacks.
        case referenceMissing = "reference-missing"
        /// A descriptor's size differs from the stored blob's (a truncated or wrong blob).
        case sizeMismatch = "size-mismatch"
        /// Berth's catalog, tags-by-digest or referrers index disagrees with the links.
        case indexMismatch = "index-mismatch"
    }

    public var kind: Kind
    /// The storage path (driver path, under the root directory) where the problem is.
    public var path: String
    public var digest: String?
    /// The stored size, for blob problems.
    public var size: Int64?
    /// Repositories the problem is in or affects.
    public var repositories: [String] = []
    /// Tags (`repository:tag`) whose image the problem breaks.
    public var tags: [String] = []
    /// Manifests (`repository@digest`) that are, or reference, the broken content.
    public var manifests: [String] = []
    /// What is wrong and what to do about it.
    public var message: String
    /// What `--repair` did, when it did something.
    public var repair: String?
    public var repaired = false

    public init(kind: Kind, path: String, digest: String? = nil, repositories: [String] = [], message: String) {
        self.kind = kind
        self.path = path
        self.digest = digest
        self.repositories = repositories
        self.message = message
    }
}

/// What a scrub found (and, with repair, did). Also kept in storage as the last run's record.
public struct ScrubReport: Sendable, Codable, Equatable {
    public var startedAt: Date
    public var finishedAt: Date?
    /// True while the run is going on (the admin API shows a run in progress).
    public var running = true
    public var repair: Bool
    public var repository: String?
    public var rateLimitBytesPerSecond: Int64?
    public var blobsChecked = 0
    public var bytesHashed: Int64 = 0
    public var repositoriesChecked = 0
    public var manifestsChecked = 0
    public var tagsChecked = 0
    public var durationSeconds = 0.0
    /// Problems found, by kind (all of them, even past the list's limit).
    public var problemsByKind: [String: Int] = [:]
    public var problems = 0
    public var repaired = 0
    /// The first `findingListLimit` problems.
    public var findings: [ScrubFinding] = []
    public var findingsTruncated = false
    /// Legitimate states worth knowing about that are not problems (an interrupted collection,
    /// a stale catalog entry a crash can leave, repositories not indexed yet).
    public var notes: [String] = []
    /// While running: what it is doing (`hashing blobs`), and how far it is (items of the phase).
    public var phase: String?
    public var phaseDone: Int?
    public var phaseTotal: Int?
    /// Why the run stopped early, if it did.
    public var error: String?

    public static let findingListLimit = 1000

    public init(startedAt: Date, options: ScrubOptions) {
        self.startedAt = startedAt
        repair = options.repair
        repository = options.repository
        rateLimitBytesPerSecond = options.bytesPerSecond
    }

    /// Problems left after the run: found and not repaired.
    public var unrepaired: Int { problems - repaired }

    /// Bytes hashed per second.
    public var bytesPerSecond: Double { durationSeconds > 0 ? Double(bytesHashed) / durationSeconds : 0 }

    /// Adds a finding; returns its position in `findings`, nil past the limit.
    @discardableResult
    public mutating func add(_ finding: ScrubFinding) -> Int? {
        problems += 1
        problemsByKind[finding.kind.rawValue, default: 0] += 1
        if finding.repaired { repaired += 1 }
        guard findings.count < Self.findingListLimit else {
            findingsTruncated = true
            return nil
        }
        findings.append(finding)
        return findings.count - 1
    }

    mutating func markRepaired(_ index: Int, _ what: String) {
        guard !findings[index].repaired else { return }
        findings[index].repaired = true
        findings[index].repair = what
        repaired += 1
    }

    mutating func reclassify(_ index: Int, as kind: ScrubFinding.Kind, message: String) {
        let old = findings[index].kind.rawValue
        problemsByKind[old, default: 1] -= 1
        if problemsByKind[old] == 0 { problemsByKind[old] = nil }
        problemsByKind[kind.rawValue, default: 0] += 1
        findings[index].kind = kind
        findings[index].message = message
    }

    mutating func note(_ text: String) {
        if notes.count < 100, !notes.contains(text) { notes.append(text) }
    }
}

/// What a running scrub reports as it goes (progress bars, plain lines, logs).
public enum ScrubProgress: Sendable {
    /// A new phase and how many items it has (0 when unknown).
    case phase(String, total: Int)
    case advanced(done: Int)
    case found(ScrubFinding)
}

/// Byte rates as operators write them: `50MB/s`, `10MiB/s`, `1G`, `500k`, `1048576`.
public enum ByteRate {
    /// Bytes per second, or nil when `text` is not a rate (or not positive). The units are
    /// those of quota sizes (`StorageQuotas.parseSize`), with an optional `/s`.
    public static func parse(_ text: String) -> Int64? {
        var s = text.trimmingCharacters(in: .whitespaces)
        if s.lowercased().hasSuffix("/s") { s.removeLast(2) }
        guard let bytes = StorageQuotas.parseSize(s), bytes > 0 else { return nil }
        return bytes
    }

    public static func format(_ bytesPerSecond: Int64) -> String {
        let mb = Double(bytesPerSecond) / 1_000_000
        return mb >= 1 ? String(format: "%.1fMB/s", mb) : "\(bytesPerSecond)B/s"
    }
}

/// A token bucket over bytes: `consume` sleeps as long as needed to keep the average rate under
/// `bytesPerSecond`, allowing a burst of `capacity` bytes. Used by one task at a time.
struct TokenBucket {
    let bytesPerSecond: Double
    let capacity: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    init(bytesPerSecond: Int64, capacity: Int64? = nil) {
        self.bytesPerSecond = Double(bytesPerSecond)
        // A quarter of a second's worth, at least 64 KiB, at most 4 MiB.
        self.capacity = Double(capacity ?? min(max(bytesPerSecond / 4, 64 << 10), 4 << 20))
        tokens = self.capacity
        last = .now
    }

    /// Takes `bytes` tokens, first waiting until the bucket would not be in debt.
    mutating func consume(_ bytes: Int) async throws {
        let now = ContinuousClock.now
        tokens = min(capacity, tokens + (now - last).seconds * bytesPerSecond)
        last = now
        tokens -= Double(bytes)
        if tokens < 0 {
            try await Task.sleep(for: .seconds(-tokens / bytesPerSecond))
            tokens = 0
            last = .now
        }
    }
}
