import BerthStorage
import Logging
import ServiceLifecycle

/// Builds the repository catalog once, in the background, when storage has none yet (a data
/// directory written by the reference registry), so start-up never waits for a walk of storage.
struct CatalogBuilder: Service {
    let storage: RegistryStorage
    let logger: Logger

    func run() async throws {
        do {
            _ = try await storage.ensureCatalog(logger: logger)
        } catch {
            logger.error("building the repository catalog failed; the first catalog request will retry",
                         metadata: ["error": "\(error)"])
        }
        // A service that returns stops the application: stay until shutdown.
        try? await gracefulShutdown()
    }
}
