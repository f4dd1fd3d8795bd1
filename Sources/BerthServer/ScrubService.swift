import BerthAPI
import BerthStorage
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Integrity scrubs inside `berth serve`: on the `storage.scrub.interval` schedule and on demand
/// through the admin API, one at a time, in the background, within `storage.scrub.ratelimit` so
/// that serving keeps its bandwidth. Runs are requests queued to this service's own task.
final class ScrubService: Service, ScrubOperations {
    let storage: RegistryStorage
    let settings: ScrubSettings
    let metrics: BerthMetrics?
    let logger: Logger
    /// The running scrub's report so far.
    private let current = Mutex<ScrubReport?>(nil)
    private let requests: AsyncStream<ScrubOptions>
    private let queue: AsyncStream<ScrubOptions>.Continuation

    init(storage: RegistryStorage, settings: ScrubSettings, metrics: BerthMetrics?, logger: Logger) {
        self.storage = storage
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        (requests, queue) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            try await withThrowingDiscardingTaskGroup { group in
                if let interval = self.settings.interval {
                    group.addTask {
                        while true {
                            try await Task.sleep(for: interval)
                            if (try? self.startScrub(repair: false, bytesPerSecond: nil)) == nil {
                                self.logger.notice("scheduled scrub skipped: the previous one is still running")
                            }
                        }
                    }
                }
                for await options in self.requests { await self.execute(options) }
                group.cancelAll()
            }
        }
    }

    func startScrub(repair: Bool, bytesPerSecond: Int64?) throws -> ScrubReport {
        let options = ScrubOptions(repair: repair, bytesPerSecond: bytesPerSecond ?? settings.bytesPerSecond)
        let report = try current.withLock { running in
            if let running { throw ScrubAlreadyRunning(startedAt: running.startedAt) }
            var report = ScrubReport(startedAt: Date(), options: options)
            report.phase = "queued"
            running = report
            return report
        }
        queue.yield(options)
        return report
    }

    func scrubStatus() async throws -> ScrubReport? {
        if let running = current.withLock({ $0 }) { return running }
        return try await storage.lastScrub()
    }

    private func execute(_ options: ScrubOptions) async {
        logger.info("scrub starting", metadata: [
            "repair": "\(options.repair)", "rateLimit": "\(options.bytesPerSecond.map(ByteRate.format) ?? "none")"])
        metrics?.scrubRunning(true)
        defer { metrics?.scrubRunning(false) }
        let logger = self.logger
        let scrubber = Scrubber(storage: storage, options: options) { [self] event in
            self.current.withLock { report in
                switch event {
                case .phase(let name, let total):
                    report?.phase = name
                    report?.phaseDone = 0
                    report?.phaseTotal = total
                case .advanced(let done):
                    report?.phaseDone = done
                case .found(let finding):
                    report?.add(finding)
                    logger.warning("scrub: \(finding.message)", metadata: ["kind": "\(finding.kind.rawValue)", "path": "\(finding.path)"])
                }
            }
        }
        do {
            let report = try await scrubber.run()
            metrics?.scrubFinished(report)
            logger.log(level: report.unrepaired > 0 ? .warning : .info, "scrub finished", metadata: [
                "problems": "\(report.problems)", "repaired": "\(report.repaired)", "blobsChecked": "\(report.blobsChecked)",
                "bytesHashed": "\(report.bytesHashed)", "seconds": "\(String(format: "%.1f", report.durationSeconds))",
            ])
        } catch {
            var failed = current.withLock { $0 } ?? ScrubReport(startedAt: Date(), options: options)
            failed.running = false
            (failed.phase, failed.phaseDone, failed.phaseTotal) = (nil, nil, nil)
            failed.finishedAt = Date()
            failed.error = "\(error)"
            try? await storage.saveScrubReport(failed)
            metrics?.scrubFinished(failed)
            logger.error("scrub failed; run it again", metadata: ["error": "\(error)"])
        }
        current.withLock { $0 = nil }
    }
}
