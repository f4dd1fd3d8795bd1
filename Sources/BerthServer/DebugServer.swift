import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `/healthz` and `/readyz`, answered the same way on the debug address and the main address.
enum HealthEndpoints {
    /// The answer for a health path, or nil when `path` is not one.
    static func response(path: String, readiness: Readiness) -> Response? {
        switch path {
        case "/healthz":
            return json(.ok, ["status": "ok"])
        case "/readyz":
            if let reason = readiness.notReadyReason {
                return json(.serviceUnavailable, ["status": "not ready", "reason": reason])
            }
            return json(.ok, ["status": "ready"])
        default:
            return nil
        }
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: String]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The main responder with `/healthz` and `/readyz` in front of it (the registry API has no
/// such paths: it lives under `/v2/` and `/token`). Health requests are not counted as API
/// requests.
struct HealthCheckedResponder<Inner: HTTPResponder>: HTTPResponder {
    typealias Context = Inner.Context
    let inner: Inner
    let readiness: Readiness

    func respond(to request: Request, context: Context) async throws -> Response {
        if request.method == .get || request.method == .head,
           let response = HealthEndpoints.response(path: request.uri.path, readiness: readiness) {
            return response
        }
        return try await inner.respond(to: request, context: context)
    }
}

/// The debug server on `http.debug.addr`: Prometheus metrics at `http.debug.prometheus.path`
/// (when enabled), `/healthz` and `/readyz`.
struct DebugResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let metrics: BerthMetrics?
    let metricsPath: String
    let readiness: Readiness

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            var headers = HTTPFields()
            headers[.allow] = "GET, HEAD"
            return Response(status: .methodNotAllowed, headers: headers)
        }
        let path = request.uri.path
        if let metrics, path == metricsPath {
            var headers = HTTPFields()
            headers[.contentType] = BerthMetrics.contentType
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
        }
        if let response = HealthEndpoints.response(path: path, readiness: readiness) { return response }
        let known = (metrics == nil ? [] : [metricsPath]) + ["/healthz", "/readyz"]
        return HealthEndpoints.json(.notFound, ["error": "no such debug endpoint: \(path.prefix(200)); try \(known.joined(separator: ", "))"])
    }
}

/// The debug server as a service of the main application.
func makeDebugServer(address: ListenAddress, metrics: BerthMetrics?, metricsPath: String, readiness: Readiness,
                     logger: Logger) -> some ApplicationProtocol {
    var logger = logger
    logger[metadataKey: "server"] = "debug"
    return Application(
        responder: DebugResponder(metrics: metrics, metricsPath: metricsPath, readiness: readiness),
        configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil, reuseAddress: true),
        logger: logger)
}

/// What `http.debug` and `health.storagedriver` add to the application: the metrics (when
/// Prometheus is enabled on a debug address), the readiness state, and the background services.
struct MetricsAndHealth {
    let settings: ObservabilitySettings
    let metrics: BerthMetrics?
    let readiness: Readiness

    init(_ config: BerthConfiguration) {
        settings = config.observability
        metrics = settings.metricsEnabled ? BerthMetrics(version: BerthMetrics.buildVersion) : nil
        readiness = Readiness(threshold: settings.storageHealth.threshold)
    }

    /// The storage check (when enabled) and the debug server (when an address is set).
    func services(storage: RegistryStorage, logger: Logger) -> [any Service] {
        var services: [any Service] = []
        if settings.storageHealth.enabled {
            services.append(StorageHealthCheck(driver: storage.driver, settings: settings.storageHealth,
                                               readiness: readiness, logger: logger))
        }
        if let address = settings.debugAddress {
            logger.info("starting the debug server", metadata: [
                "addr": "\(address)", "metrics": "\(metrics == nil ? "off" : settings.prometheusPath)",
            ])
            services.append(makeDebugServer(address: address, metrics: metrics, metricsPath: settings.prometheusPath,
                                            readiness: readiness, logger: logger))
        }
        return services
    }
}
