import Foundation

/// `http.debug` (the debug server and its Prometheus endpoint) and `health.storagedriver`
/// (the background storage check behind `/readyz`), as the reference registry names them.
public struct ObservabilitySettings: Sendable, Equatable {
    /// `health.storagedriver`: a small file is written and removed under the storage's `/berth/`
    /// area every `interval`; `threshold` failures in a row make the registry not ready.
    public struct StorageHealth: Sendable, Equatable {
        public var enabled = false
        public var interval: Duration = .seconds(10)
        public var threshold = 3

        public init(enabled: Bool = false, interval: Duration = .seconds(10), threshold: Int = 3) {
            self.enabled = enabled
            self.interval = interval
            self.threshold = threshold
        }
    }

    /// `http.debug.addr`: where the debug server (metrics, `/healthz`, `/readyz`) listens; nil: none.
    public var debugAddress: ListenAddress?
    /// `http.debug.prometheus.enabled`: whether metrics are collected and served.
    public var prometheusEnabled = false
    /// `http.debug.prometheus.path`: where the debug server serves them.
    public var prometheusPath = "/metrics"
    public var storageHealth = StorageHealth()

    public init() {}

    /// Whether metrics are collected: the debug server exists and Prometheus is enabled.
    public var metricsEnabled: Bool { debugAddress != nil && prometheusEnabled }
}

extension ConfigurationLoader {
    /// Reads `http.debug` and `health.storagedriver` into `c.observability`.
    mutating func buildDebug(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        var o = ObservabilitySettings()
        if let addr = string(tree, "http.debug.addr"), !addr.isEmpty {
            if let parsed = ListenAddress(parsing: addr) { o.debugAddress = parsed }
            else { problems.append("http.debug.addr \(addr) is not host:port (e.g. 127.0.0.1:5001)") }
        }
        if let v = bool(tree, "http.debug.prometheus.enabled") { o.prometheusEnabled = v }
        if let path = string(tree, "http.debug.prometheus.path") {
            if path.hasPrefix("/"), path.count > 1, !path.contains(" ") { o.prometheusPath = path }
            else { problems.append("http.debug.prometheus.path \(path) must be an absolute path such as /metrics") }
        }
        if o.prometheusEnabled, o.debugAddress == nil {
            warnings.append("http.debug.prometheus.enabled has no effect without http.debug.addr: metrics are served by the debug server")
        }
        if let v = bool(tree, "health.storagedriver.enabled") { o.storageHealth.enabled = v }
        if let v = duration(tree, "health.storagedriver.interval") {
            if v < .milliseconds(100) { problems.append("health.storagedriver.interval must be at least 100ms") }
            else { o.storageHealth.interval = v }
        }
        if let s = string(tree, "health.storagedriver.threshold") {
            if let n = Int(s), n >= 1 { o.storageHealth.threshold = n }
            else { problems.append("health.storagedriver.threshold \(s) must be a whole number of at least 1") }
        }
        c.observability = o
    }
}
