import BerthAPI
import BerthCore
import BerthStorage
import Foundation
import Logging
import ServiceLifecycle

/// Garbage collection inside `berth serve`: on the `storage.gc.interval` schedule and on demand
/// through the admin API, while the registry keeps serving (docs/garbage-collection.md). Also
/// drops pins older than a day, which every push leaves, whether or not collections are scheduled.
final class GarbageCollectionService: Service, AdminOperations {
    let storage: RegistryStorage
    let settings: GarbageCollectionSettings
    let metrics: BerthMetrics?
    let logger: Logger
    private let owner = "berth serve on \(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)"

    init(storage: RegistryStorage, settings: GarbageCollectionSettings, metrics: BerthMetrics?, logger: Logger) {
        self.storage = storage
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
    }

    func run() async throws {
        // Sleeping must end at shutdown, or the process would wait for the next tick to exit.
        let storage = self.storage, settings = self.settings, logger = self.logger
        do {
            let putBack = try await storage.recoverInterruptedCollection(owner: owner)
            if putBack > 0 {
                logger.notice("a garbage collection had stopped midway: put back what it had set aside", metadata: ["items": "\(putBack)"])
            }
        } catch {
            logger.error("recovering an interrupted garbage collection failed; the next collection retries",
                         metadata: ["error": "\(error)"])
        }
        try? await cancelWhenGracefulShutdown {
            let tick = min(settings.interval ?? .seconds(3600), .seconds(3600))
            var sinceCollection = Duration.zero
            while !Task.isCancelled {
                try await Task.sleep(for: tick)
                sinceCollection += tick
                do {
                    try await storage.prunePins()
                } catch {
                    logger.warning("removing old garbage-collection pins failed; retried in an hour", metadata: ["error": "\(error)"])
                }
                if let interval = settings.interval, sinceCollection >= interval {
                    sinceCollection = .zero
                    _ = try? await self.collect(settings.options, trigger: "schedule")
                }
            }
        }
    }

    func collectGarbage(dryRun: Bool, deleteUntagged: Bool?) async throws -> GCReport {
        var options = settings.options
        options.dryRun = dryRun
        if let deleteUntagged { options.deleteUntagged = deleteUntagged }
        return try await collect(options, trigger: "admin API")
    }

    func lastGarbageCollection() async throws -> GCReport? { try await storage.lastGarbageCollection() }

    func storageUsage(repository: RepositoryName?) async throws -> StorageUsage {
        try await storage.storageUsage(only: repository, gracePeriod: settings.options.gracePeriod)
    }

    private func collect(_ options: GCOptions, trigger: String) async throws -> GCReport {
        logger.info("garbage collection starting", metadata: [
            "trigger": "\(trigger)", "dryRun": "\(options.dryRun)", "deleteUntagged": "\(options.deleteUntagged)",
            "gracePeriod": "\(GoDuration.format(options.gracePeriod))",
        ])
        metrics?.gcRunning(true)
        defer { metrics?.gcRunning(false) }
        let logger = self.logger
        do {
            let report = try await storage.collectGarbage(options, owner: owner) { event in
                switch event {
                case .removed(let removal, let dryRun):
                    logger.debug("\(dryRun ? "would remove" : "removed") \(removal.kind)", metadata: [
                        "repository": "\(removal.repository ?? "")", "digest": "\(removal.digest)", "size": "\(removal.size ?? 0)"])
                case .restored(let removal):
                    logger.info("garbage collection kept content a push started using during the run", metadata: [
                        "kind": "\(removal.kind)", "repository": "\(removal.repository ?? "")", "digest": "\(removal.digest)"])
                case .phase, .advanced:
                    break
                }
            }
            metrics?.gcFinished(report)
            logger.info("garbage collection finished", metadata: [
                "dryRun": "\(report.dryRun)", "manifestsRemoved": "\(report.manifestsRemoved)",
                "layerLinksRemoved": "\(report.layerLinksRemoved)", "blobsRemoved": "\(report.blobsRemoved)",
                "bytesReclaimed": "\(report.bytesReclaimed)", "restored": "\(report.restored)",
                "repositories": "\(report.repositories)", "blobsScanned": "\(report.blobsScanned)",
                "seconds": "\(String(format: "%.3f", report.durationSeconds))",
            ])
            return report
        } catch let error as GCError {
            metrics?.gcFailed("busy")
            logger.notice("garbage collection skipped", metadata: ["reason": "\(error)"])
            throw error
        } catch {
            metrics?.gcFailed("error")
            logger.error("garbage collection failed; content set aside is put back by the next run", metadata: ["error": "\(error)"])
            throw error
        }
    }
}
