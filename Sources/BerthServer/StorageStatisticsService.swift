import BerthStorage
import Foundation
import Logging
import ServiceLifecycle

/// Keeps the storage gauges (`berth_storage_*`) and cache counters current for `/metrics`
/// without walking storage per scrape: counts come from the last full walk (every garbage
/// collection publishes one) plus this process's own pushes and deletes since. When storage has
/// no counts yet, or only day-old ones, one walk runs in the background at start-up.
struct StorageStatisticsService: Service {
    let storage: RegistryStorage
    let metrics: BerthMetrics
    let logger: Logger
    /// How often counts other processes published are looked for and quota usage is measured
    /// (the other gauges are computed per scrape).
    var interval: Duration = .seconds(10)

    static let staleAfter: TimeInterval = 24 * 3600

    func run() async throws {
        let storage = self.storage, metrics = self.metrics, logger = self.logger, interval = self.interval
        let statistics = storage.statistics
        metrics.beforeRender { metrics.updateStorage(statistics.current, caches: statistics.cacheCounters.totals()) }
        try? await cancelWhenGracefulShutdown {
            await storage.adoptPublishedCounts()
            let fresh = storage.statistics.current.map { $0.takenAt >= Date().addingTimeInterval(-Self.staleAfter) } ?? false
            if !fresh {
                let since = storage.statistics.changesSoFar()
                do {
                    let counts = try await storage.countContent()
                    try await storage.publishCounts(counts, keepingChangesSince: since)
                    logger.info("counted stored content for the metrics", metadata: [
                        "repositories": "\(counts.repositories)", "manifests": "\(counts.manifests)",
                        "blobs": "\(counts.blobs)", "bytes": "\(counts.storedBytes)"])
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("counting stored content failed; the storage gauges wait for the next garbage collection",
                                   metadata: ["error": "\(error)"])
                }
            }
            while !Task.isCancelled {
                if !storage.quotas.isEmpty, let usages = try? await storage.quotaUsages() {
                    metrics.updateQuotas(usages)
                }
                try await Task.sleep(for: interval)
                await storage.adoptPublishedCounts()
            }
        }
    }
}
