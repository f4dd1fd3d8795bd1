import BerthStorage

/// `storage.gc`: the collector that runs inside `berth serve`.
///
///     storage:
///       gc:
///         interval: 24h          # run on this schedule; absent: only on demand (admin API, CLI)
///         deleteuntagged: false  # also remove manifests no tag reaches
///         graceperiod: 10m       # never collect content younger than this
///         dryrun: false          # scheduled runs only report
public struct GarbageCollectionSettings: Sendable, Equatable {
    public var interval: Duration?
    public var options = GCOptions()

    public init() {}

    func describe() -> [String] {
        [
            "storage.gc.interval: \(interval.map(GoDuration.format) ?? "(not scheduled)")",
            "storage.gc.deleteuntagged: \(options.deleteUntagged)",
            "storage.gc.graceperiod: \(GoDuration.format(options.gracePeriod))",
            "storage.gc.dryrun: \(options.dryRun)",
        ]
    }
}

extension ConfigurationLoader {
    /// The longest grace period accepted: pins, which the grace period relies on, live a day.
    static let maximumGracePeriod: Duration = .seconds(12 * 3600)

    mutating func buildGarbageCollection(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        if let v = duration(tree, "storage.gc.interval"), v > .zero {
            if v < .seconds(1) { problems.append("storage.gc.interval must be at least 1s") } else { c.garbageCollection.interval = v }
        }
        if let v = bool(tree, "storage.gc.deleteuntagged") { c.garbageCollection.options.deleteUntagged = v }
        if let v = bool(tree, "storage.gc.dryrun") { c.garbageCollection.options.dryRun = v }
        if let v = duration(tree, "storage.gc.graceperiod") {
            if v < .zero || v > Self.maximumGracePeriod {
                problems.append("storage.gc.graceperiod \(GoDuration.format(v)) must be between 0s and 12h (longer than any push takes, shorter than the day pins are kept)")
            } else {
                c.garbageCollection.options.gracePeriod = v
            }
        }
    }
}

/// `storage.scrub`: integrity scrubs inside `berth serve` (README, "Scrub").
///
///     storage:
///       scrub:
///         interval: 168h         # run on this schedule; absent: only on demand (admin API, CLI)
///         ratelimit: 50MB/s      # hash at most this many bytes per second; absent: no limit
public struct ScrubSettings: Sendable, Equatable {
    public var interval: Duration?
    public var bytesPerSecond: Int64?

    public init() {}

    func describe() -> [String] {
        [
            "storage.scrub.interval: \(interval.map(GoDuration.format) ?? "(not scheduled)")",
            "storage.scrub.ratelimit: \(bytesPerSecond.map(ByteRate.format) ?? "(no limit)")",
        ]
    }
}

extension ConfigurationLoader {
    mutating func buildScrub(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        if let v = duration(tree, "storage.scrub.interval"), v > .zero {
            if v < .seconds(60) { problems.append("storage.scrub.interval must be at least 1m (a scrub reads every blob)") } else { c.scrub.interval = v }
        }
        if let text = string(tree, "storage.scrub.ratelimit") {
            if let rate = ByteRate.parse(text) {
                c.scrub.bytesPerSecond = rate
            } else {
                problems.append("storage.scrub.ratelimit \(text) is not a byte rate such as 50MB/s or 10MiB/s")
            }
        }
    }
}
