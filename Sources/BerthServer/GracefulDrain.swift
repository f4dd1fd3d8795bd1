import Hummingbird
import Logging
import ServiceLifecycle

/// Runs the application until SIGTERM or SIGINT, then drains: the listener closes at once, requests
/// already in flight (a layer upload, a large pull) get `drainTimeout` to finish, and whatever is still
/// running after that is cancelled. A cancelled upload never becomes a blob (the digest is checked before
/// the blob is moved into place), so a drain cut short leaves at most a resumable upload session.
public func serveUntilSignalled(_ app: some ApplicationProtocol, drainTimeout: Duration, logger: Logger) async throws {
    var configuration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint],
                                                  logger: logger)
    // The group cancels every service once the drain time is over; Hummingbird then closes the connections.
    configuration.maximumGracefulShutdownDuration = drainTimeout
    let group = ServiceGroup(configuration: configuration)
    logger.debug("graceful shutdown on SIGTERM/SIGINT", metadata: ["http.draintimeout": "\(GoDuration.format(drainTimeout))"])
    try await group.run()
}
