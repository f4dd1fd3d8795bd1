import BerthAPI
import Logging

/// One log line per request (`log.accesslog`): method, path (never the query, which carries
/// signed upload state), status, bytes, duration, user, client address and request id. Logged at
/// `info`, so `log.level: warn` silences it too.
struct AccessLogObserver: RequestObserver {
    let logger: Logger

    func requestFinished(_ r: RequestRecord) {
        guard logger.logLevel <= .info else { return }
        logger.info("request", metadata: [
            "request_id": .string(r.requestID),
            "method": .string(r.method),
            "path": .string(String(r.path.prefix(512))),
            "status": .stringConvertible(r.status),
            "bytes_in": .stringConvertible(r.bytesIn),
            "bytes_out": .stringConvertible(r.bytesOut),
            "duration_ms": .string(String(format: "%.3f", Double(r.duration.components.attoseconds) / 1e15
                                              + Double(r.duration.components.seconds) * 1000)),
            "user": .string(r.user ?? "-"),
            "client": .string(r.client),
        ])
    }
}
