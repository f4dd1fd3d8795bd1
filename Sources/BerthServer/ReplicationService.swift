import BerthAPI
import BerthReplication
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Runs the replication rules inside `berth serve`: the queue of pushes to replicate, and a full
/// run of every rule shortly after start and every `replication.interval`.
struct ReplicationService: Service {
    let replicator: Replicator
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await replicator.runQueue() }
            group.addTask {
                try? await Task.sleep(for: .seconds(2))
                while !Task.isCancelled {
                    let statuses = await replicator.syncAll()
                    for status in statuses where status.lastError != nil {
                        logger.warning("replication rule has failures; the next run tries again", metadata: [
                            "rule": "\(status.rule)", "remote": "\(status.remote)", "error": "\(status.lastError ?? "")",
                        ])
                    }
                    try? await Task.sleep(for: replicator.settings.interval)
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }
}

/// `/admin/api/replication`.
struct ReplicationAdmin: ReplicationOperations {
    let replicator: Replicator

    func replicationStatus() throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return ByteBuffer(bytes: try encoder.encode(["rules": replicator.status()]))
    }

    func startReplication() {
        Task { await replicator.syncAll() }
    }
}

/// Hands every push and delete to the replicator, and every event to the notifications sink.
struct ReplicatingEventSink: EventSink {
    let notifications: (any EventSink)?
    let replicator: Replicator

    func wants(_ action: RegistryEvent.Action) -> Bool {
        action == .push || action == .delete || (notifications?.wants(action) ?? false)
    }

    func record(_ events: [RegistryEvent]) async throws {
        for event in events where event.action == .push || event.action == .delete {
            // Blob deletes come as digests too; at the remote they find no manifest (404), which is fine.
            replicator.noticed(action: event.action.rawValue, repository: event.repository, tag: event.tag, digest: event.digest)
        }
        if let notifications {
            let wanted = events.filter { notifications.wants($0.action) }
            if !wanted.isEmpty { try await notifications.record(wanted) }
        }
    }
}
