import BerthStorage
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Whether the registry can serve: the result of the background storage check
/// (`health.storagedriver`). Ready until `threshold` checks in a row have failed; ready again
/// after the next check that passes. Always ready when the check is disabled.
public final class Readiness: Sendable {
    private struct State {
        var consecutiveFailures = 0
        var lastError: String?
        var ready = true
    }

    private let state = Mutex(State())
    let threshold: Int

    public init(threshold: Int) {
        self.threshold = max(1, threshold)
    }

    /// nil when ready, otherwise why not.
    public var notReadyReason: String? {
        state.withLock { s in
            guard !s.ready else { return nil }
            return "the storage check failed \(s.consecutiveFailures) times in a row: \(s.lastError ?? "unknown error")"
        }
    }

    /// Records the outcome of one check; returns whether readiness changed.
    @discardableResult
    func record(failure: String?) -> Bool {
        state.withLock { s in
            let was = s.ready
            if let failure {
                s.consecutiveFailures += 1
                s.lastError = failure
                if s.consecutiveFailures >= threshold { s.ready = false }
            } else {
                s.consecutiveFailures = 0
                s.lastError = nil
                s.ready = true
            }
            return was != s.ready
        }
    }
}

/// Every `interval`, writes a small file under the storage's `/berth/health/` area and removes
/// it again, and reports the outcome to `readiness`.
struct StorageHealthCheck: Service {
    let driver: any StorageDriver
    let settings: ObservabilitySettings.StorageHealth
    let readiness: Readiness
    let logger: Logger

    /// One check: write, read back and delete a probe file.
    static func probe(_ driver: any StorageDriver) async -> String? {
        let path = "/berth/health/probe-\(UUID().uuidString.lowercased())"
        let content = "berth storage health check\n"
        do {
            try await driver.putContent(path, ByteBuffer(string: content), durable: false)
            let back = try await driver.getString(path)
            try await driver.delete(path)
            return back == content ? nil : "the probe file \(path) read back different content"
        } catch {
            try? await driver.delete(path)
            return "cannot write, read back and remove \(path) in storage: \(error)"
        }
    }

    func run() async throws {
        // Returning would stop the whole application; sleeping must end at shutdown.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await checkOnce()
                try await Task.sleep(for: settings.interval)
            }
        }
    }

    func checkOnce() async {
        let failure = await Self.probe(driver)
        if readiness.record(failure: failure) {
            if let reason = readiness.notReadyReason {
                logger.error("storage is not usable: the registry reports not ready", metadata: ["reason": "\(reason)"])
            } else {
                logger.notice("storage is usable again: the registry reports ready")
            }
        } else if let failure {
            logger.warning("storage health check failed", metadata: ["error": "\(failure)"])
        }
    }
}
