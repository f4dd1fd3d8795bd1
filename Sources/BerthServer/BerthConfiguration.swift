/// BerthServer: typed configuration (the reference registry's `config.yml`, environment
/// overrides, command-line flags), its validation, and the assembly of the running application.
import BerthAuth
import BerthFilesystem
import BerthProxy
import BerthRedis
import BerthReplication
import BerthStorage
import Logging

/// Berth's version, as `berth --version` prints it and `berth_build_info` reports it.
public let berthVersion = "0.1.0"

/// Everything `berth serve` runs with, after file, environment and flags are merged and checked.
public struct BerthConfiguration: Sendable, Equatable {
    public struct UploadPurging: Sendable, Equatable {
        public var enabled = true
        /// Uploads older than this are abandoned.
        public var age: Duration = .seconds(168 * 3600)
        public var interval: Duration = .seconds(24 * 3600)
        public var dryRun = false
    }

    public var version = "0.1"
    public var logLevel: Logger.Level = .info
    public var logFields: [String: String] = [:]
    /// `log.formatter`: `text` (default) or `json` (one object per line).
    public var logFormatter: LogFormatter = .text
    /// `log.accesslog.disabled`: no line per request.
    public var accessLogDisabled = false

    public enum LogFormatter: String, Sendable, Equatable {
        case text, json
    }
    /// Listen address, `host:port` (host may be empty for all interfaces).
    public var httpAddress = ListenAddress(host: "0.0.0.0", port: 5000)
    /// Key for signing upload state; generated and kept in storage when unset.
    public var httpSecret: String?
    /// How long SIGTERM / SIGINT let in-flight requests finish (`http.draintimeout`) before they are cut off.
    /// Docker's `stop` sends SIGKILL after 10 s and systemd after 90 s: stay below what the supervisor allows.
    public var drainTimeout: Duration = .seconds(30)
    /// `http.timeouts` and `http.maxconnections` (ConfigurationLoader+Connections.swift, ConnectionGuard.swift).
    public var connections = ConnectionLimits()
    public var httpHeaders: [Header] = []
    /// `storage.filesystem.rootdirectory` (used when `storageBackend` is `.filesystem`).
    public var rootDirectory = "./data"
    /// `storage.filesystem.directwrites`: uploads past this many bytes continue with `O_DIRECT`
    /// (see `FilesystemWriter`); nil (`off`): always through the page cache.
    public var directWriteThreshold: Int64? = FilesystemDriver.defaultDirectWriteThreshold
    /// Which driver holds the content (ConfigurationLoader+Storage.swift).
    public var storageBackend = StorageBackend.filesystem
    /// `replication`: rules pushing repositories to remote registries; nil: none.
    public var replication: ReplicationSettings?
    /// `proxy`: the pull-through cache (ConfigurationLoader+Proxy.swift); nil: none.
    public var proxy: ProxySettings?
    /// `storage.cache.blobdescriptor: redis` and `redis`: the blob descriptor cache the nodes share.
    public var redis: RedisSettings?
    /// Blob GETs answer 307 to a presigned URL where the driver offers one (`storage.redirect.disable: false`).
    public var storageRedirect = true
    public var deleteEnabled = false
    public var uploadPurging = UploadPurging()
    /// `validation.manifests`: whether pushed manifests must reference only stored content.
    public var manifestValidation = RegistryStorage.ManifestValidation()
    /// `storage.maintenance.readonly.enabled`: refuse writes, keep serving pulls.
    public var readOnly = false
    /// `http.tls`; nil: plain HTTP.
    public var tls: TLSSettings?
    /// `auth`, `auth.groups` and `access`.
    public var auth = AuthSettings()
    /// `http.ratelimit`.
    public var rateLimit = RateLimitSettings()
    /// `network`: trusted proxies, allow and deny ranges (ConfigurationLoader+Network.swift).
    public var network = NetworkRules()
    /// `http.debug` (debug server, Prometheus metrics) and `health.storagedriver`.
    public var observability = ObservabilitySettings()
    /// `notifications`: webhook endpoints (ConfigurationLoader+Notifications.swift).
    public var notifications = NotificationSettings()
    /// `immutability`: tags that never move (ConfigurationLoader+Policies.swift).
    public var immutability = TagImmutability()
    /// `quotas`: caps on what repositories reference (ConfigurationLoader+Policies.swift).
    public var quotas = StorageQuotas()
    /// `storage.gc`: online garbage collection (ConfigurationLoader+GarbageCollection.swift).
    public var garbageCollection = GarbageCollectionSettings()
    /// `storage.scrub`: scheduled integrity scrubs (ConfigurationLoader+GarbageCollection.swift).
    public var scrub = ScrubSettings()
    /// `retention`: policies deleting old tags and untagged manifests (ConfigurationLoader+Retention.swift).
    public var retention = RetentionSettings()
    /// `ui.enabled`: the web UI at `/ui/` (BerthUI).
    public var uiEnabled = true

    public init() {}

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
    }

    /// The effective settings as `key: value` lines, secrets masked (for `berth config check`).
    public func describe() -> [String] {
        var lines = [
            "version: \(version)",
            "log.level: \(logLevel.configName)",
        ]
        for (k, v) in logFields.sorted(by: { $0.key < $1.key }) { lines.append("log.fields.\(k): \(v)") }
        lines += ["log.formatter: \(logFormatter.rawValue)", "log.accesslog.disabled: \(accessLogDisabled)"]
        lines += [
            "http.addr: \(httpAddress)",
            "http.draintimeout: \(GoDuration.format(drainTimeout))",
        ] + connections.describe() + [
            "http.secret: \(httpSecret == nil ? "(not set: generated and kept in storage)" : "********")",
        ]
        for h in httpHeaders { lines.append("http.headers.\(h.name): \(h.value)") }
        lines += storageDescription() + [
            "storage.delete.enabled: \(deleteEnabled)",
            "storage.maintenance.uploadpurging.enabled: \(uploadPurging.enabled)",
            "storage.maintenance.uploadpurging.age: \(GoDuration.format(uploadPurging.age))",
            "storage.maintenance.uploadpurging.interval: \(GoDuration.format(uploadPurging.interval))",
            "storage.maintenance.uploadpurging.dryrun: \(uploadPurging.dryRun)",
            "validation.manifests.indexes.platforms: \(manifestValidation.requireIndexChildren ? "all" : "none")",
            "validation.manifests.layers: \(manifestValidation.requireLayers ? "all" : "none")",
            "storage.maintenance.readonly.enabled: \(readOnly)",
            "ui.enabled: \(uiEnabled)",
        ]
        if let debug = observability.debugAddress {
            lines += ["http.debug.addr: \(debug)", "http.debug.prometheus.enabled: \(observability.prometheusEnabled)",
                      "http.debug.prometheus.path: \(observability.prometheusPath)"]
        }
        lines.append("health.storagedriver.enabled: \(observability.storageHealth.enabled)")
        lines += garbageCollection.describe()
        lines += scrub.describe()
        lines += describeSecurity()
        lines += describeNetwork()
        lines += describeRetention()
        lines += describePolicies()
        return lines
    }
}

/// `host:port` to listen on.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `:port` or `[v6]:port`.
    public init?(parsing text: String) {
        let s = text.trimmingCharacters(in: " ")
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        else if host.contains(":") { return nil }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension Logger.Level {
    /// The reference registry's level names.
    init?(configName: String) {
        switch configName.lowercased() {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info": self = .info
        case "notice": self = .notice
        case "warn", "warning": self = .warning
        case "error": self = .error
        case "fatal", "panic", "critical": self = .critical
        default: return nil
        }
    }

    var configName: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warn"
        case .error: "error"
        case .critical: "fatal"
        }
    }
}
