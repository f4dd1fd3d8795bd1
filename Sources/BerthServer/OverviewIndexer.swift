import BerthStorage
import Logging
import ServiceLifecycle

/// Keeps the web UI's repository overviews computed (when the UI is on): all of them at start,
/// then every minute those about to expire, so a page of the repository list reads them from
/// memory rather than reading 50 repositories' tags and manifests while the browser waits.
struct OverviewIndexer: Service {
    let storage: RegistryStorage
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let clock = ContinuousClock()
                    let start = clock.now
                    let count = try await storage.refreshOverviews()
                    if count > 0 {
                        logger.debug("repository overviews computed", metadata: [
                            "repositories": "\(count)", "duration": "\(clock.now - start)",
                        ])
                    }
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("computing repository overviews failed; pages compute them as needed",
                                   metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(60))
            }
        }
        // A service that returns stops the application: stay until shutdown.
        try? await gracefulShutdown()
    }
}
