import BerthAPI
import BerthStorage
import Foundation
import Logging

/// The observers told about every request: the access log and metrics, as configured.
func makeRequestObservers(_ config: BerthConfiguration, metrics: BerthMetrics? = nil, logger: Logger) -> [any RequestObserver] {
    var observers: [any RequestObserver] = []
    // The access log writes at `info`: below that level it would only cost time.
    if !config.accessLogDisabled, config.logLevel <= .info {
        var access = logger
        access[metadataKey: "log"] = "access"
        observers.append(AccessLogObserver(logger: access))
    }
    if let metrics { observers.append(metrics) }  // Prometheus counters and histograms (BerthMetrics.swift).
    return observers
}

/// The sink that keeps push, pull, mount and delete events for `notifications.endpoints`; nil
/// when no endpoint is configured.
func makeEventSink(_ config: BerthConfiguration, storage: RegistryStorage, metrics: BerthMetrics? = nil,
                   logger: Logger) async throws -> (any EventSink)? {
    let endpoints = config.notifications.endpoints.filter { !$0.disabled }
    guard !endpoints.isEmpty else { return nil }
    let host = ProcessInfo.processInfo.hostName
    let source = EventSource(address: "\(host):\(config.httpAddress.port)", instanceID: UUID().uuidString.lowercased(),
                             scheme: config.tls == nil ? "http" : "https")
    logger.info("notifications are on", metadata: ["endpoints": "\(endpoints.map(\.name).joined(separator: ", "))"])
    return NotificationSink(endpoints: endpoints, driver: storage.driver, source: source, logger: logger, metrics: metrics)
}
