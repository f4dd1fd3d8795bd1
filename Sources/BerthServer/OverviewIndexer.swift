import BerthStorage
import Logging
import ServiceLifecycle

/// Keeps the web UI's repository overviews computed (when the UI is on): all of them once the
/// catalog is built, then every minute those about to expire, so a page of the repository list
/// reads them from memory rather than reading 50 repositories' tags and manifests while the
/// browser waits.
struct OverviewIndexer: Service {
    let storage: RegistryStorage
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: await refreshOnce() ? .seconds(60) : .seconds(2))
            }
        }
        // A service that returns stops the application: stay until shutdown.
        try? await gracefulShutdown()
    }

    /// False while the catalog builder has not finished (then it is worth looking again soon).
    func refreshOnce() async -> Bool {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            guard let count = try await storage.refreshOverviews() else { return false }
            if count > 0 {
                logger.debug("repository overviews computed", metadata: ["repositories": "\(count)", "duration": "\(clock.now - start)"])
            }
        } catch is CancellationError {
            // Shutdown: the loop ends.
        } catch {
            logger.warning("computing repository overviews failed; pages compute them as needed", metadata: ["error": "\(error)"])
        }
        return true
    }
}
