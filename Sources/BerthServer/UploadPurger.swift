import BerthStorage
import Foundation
import Logging
import ServiceLifecycle

/// Deletes abandoned upload sessions on a schedule (`storage.maintenance.uploadpurging`),
/// as the reference registry does, and the temporary files an interrupted write (a crash,
/// `kill -9`) left behind, which a server that is not restarted would otherwise keep for good.
/// Runs as a service of the application.
struct UploadPurger: Service {
    let storage: RegistryStorage
    let settings: BerthConfiguration.UploadPurging
    let logger: Logger

    func run() async throws {
        guard settings.enabled else {
            // A service that returns stops the whole application: wait for shutdown instead.
            try? await gracefulShutdown()
            return
        }
        // Sleeping must end at shutdown, or the process would wait for the next interval to exit.
        try? await cancelWhenGracefulShutdown {
            // Like the reference registry, wait a little after start so purging never competes
            // with start-up, then run at every interval.
            try await Task.sleep(for: min(settings.interval, .seconds(60)))
            while !Task.isCancelled {
                await purgeOnce()
                try await Task.sleep(for: settings.interval)
            }
        }
    }

    func purgeOnce() async {
        let age = Double(settings.age.components.seconds)
        let cutoff = Date().addingTimeInterval(-age)
        do {
            let count = try await storage.purgeUploads(startedBefore: cutoff, dryRun: settings.dryRun, logger: logger)
            logger.info("upload purge finished", metadata: ["purged": "\(count)", "dryRun": "\(settings.dryRun)"])
        } catch is CancellationError {
            logger.debug("upload purge interrupted by shutdown")
        } catch {
            logger.error("upload purge failed; it will be retried at the next interval", metadata: ["error": "\(error)"])
        }
        guard !settings.dryRun else { return }
        do {
            let removed = try await storage.driver.clearTemporaryFiles(olderThan: Self.temporaryFileAge)
            if removed > 0 { logger.info("removed temporary files left by interrupted writes", metadata: ["files": "\(removed)"]) }
        } catch {
            logger.error("removing old temporary files failed; retried at the next interval", metadata: ["error": "\(error)"])
        }
    }

    /// No write takes an hour from its temporary file to its rename.
    static let temporaryFileAge: TimeInterval = 3600
}
