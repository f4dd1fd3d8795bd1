import Hummingbird
import Logging
import ServiceLifecycle

/// Runs the application until SIGTERM or SIGINT, then drains: the listener closes at once, requests
/// already in flight (a layer upload, a large pull) get `drainTimeout` to finish, and whatever is still
/// running after that is cancelled. A cancelled upload never becomes a blob (the digest is checked before
/// the blob is moved into place), so a drain cut short leaves at most a resumable upload session.
public func serveUntilSignalled(_ app: some ApplicationProtocol, drainTimeout: Duration, logger: Logger) async throws {
    // Services shut down last to first: the notice speaks before the application starts draining.
    var configuration = ServiceGroupConfiguration(services: [app, DrainNotice(drainTimeout: drainTimeout, logger: logger)],
                                                  gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    // The group cancels every service once the drain time is over; Hummingbird then closes the connections.
    configuration.maximumGracefulShutdownDuration = drainTimeout
    try await ServiceGroup(configuration: configuration).run()
}

/// Tells the operator a shutdown began and how long it may take, so that a slow stop is not a surprise.
struct DrainNotice: Service {
    let drainTimeout: Duration
    let logger: Logger

    func run() async throws {
        do { try await gracefulShutdown() } catch { return }  // cancelled: nothing to announce
        logger.info("shutting down: requests in flight have \(GoDuration.format(drainTimeout)) to finish (http.draintimeout)")
    }
}
