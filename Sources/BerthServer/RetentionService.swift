import BerthStorage
import Foundation
import Logging
import ServiceLifecycle

/// Applies `retention.policies` every `retention.interval`. Runs as a service of the application;
/// `berth retention apply` does the same once.
struct RetentionService: Service {
    let storage: RegistryStorage
    let settings: RetentionSettings
    /// In read-only mode nothing may be deleted: runs only report.
    let readOnly: Bool
    let metrics: BerthMetrics?
    let logger: Logger

    var dryRun: Bool { settings.dryRun || readOnly }

    func run() async throws {
        guard let interval = settings.interval, !settings.policies.isEmpty else {
            // A service that returns stops the whole application: wait for shutdown instead.
            try? await gracefulShutdown()
            return
        }
        if readOnly, !settings.dryRun {
            logger.warning("storage.maintenance.readonly.enabled: scheduled retention runs only report what they would delete")
        }
        try? await cancelWhenGracefulShutdown {
            // As upload purging: never compete with start-up, then run at every interval.
            try await Task.sleep(for: min(interval, .seconds(60)))
            while !Task.isCancelled {
                await applyOnce()
                try await Task.sleep(for: interval)
            }
        }
    }

    func applyOnce() async {
        let dryRun = self.dryRun
        do {
            let report = try await storage.applyRetention(settings.policies, dryRun: dryRun) { log($0) }
            let failed = report.failedRepositories > 0
            metrics?.retentionRun(outcome: failed ? "error" : "success",
                                  tagsDeleted: dryRun ? 0 : report.tagsDeleted,
                                  manifestsDeleted: dryRun ? 0 : report.manifestsDeleted)
            logger.log(level: failed ? .warning : .info, "\(report.summary)", metadata: [
                "tagsDeleted": "\(report.tagsDeleted)", "manifestsDeleted": "\(report.manifestsDeleted)", "dryRun": "\(dryRun)",
            ])
        } catch is CancellationError {
            logger.debug("retention run interrupted by shutdown")
        } catch {
            metrics?.retentionRun(outcome: "error", tagsDeleted: 0, manifestsDeleted: 0)
            logger.error("retention run failed; it will be retried at the next interval", metadata: ["error": "\(error)"])
        }
    }

    /// Every deletion is logged, so that what retention removed can be found afterwards.
    private func log(_ r: RetentionReport.Repository) {
        let message: Logger.Message = dryRun ? "retention would delete" : "retention deleted"
        for d in r.tags + r.manifests {
            var metadata: Logger.Metadata = [
                "repository": "\(r.name)", "digest": "\(d.digest)", "pushed": "\(d.pushed)", "rule": "\(d.rule)",
                "policy": "\(r.policy)", "dryRun": "\(dryRun)",
            ]
            if let tag = d.tag { metadata["tag"] = "\(tag)" }
            logger.info(message, metadata: metadata)
        }
        for s in r.skipped {
            logger.info("retention kept what was pushed during the run", metadata: [
                "repository": "\(r.name)", "digest": "\(s.digest)", "tag": "\(s.tag ?? "")", "reason": "\(s.reason)"])
        }
        for warning in r.warnings { logger.warning("retention: \(warning)") }
        if let error = r.error {
            logger.error("retention failed for a repository; the others went on", metadata: ["repository": "\(r.name)", "error": "\(error)"])
        }
    }
}
