import BerthAPI
import BerthStorage
import Foundation
import Logging
import NIOCore
import Synchronization

/// Names for queued events that sort in arrival order: a 20-digit count of microseconds since
/// 1970, raised by one whenever the clock has not moved on (or went back) since the last name.
/// After a restart the clock has moved on, so new names still sort after the old ones.
final class EventSequencer: Sendable {
    private let last = Mutex<UInt64>(0)

    /// The next sequence number, formatted to sort lexically.
    func next() -> String {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
        let value = last.withLock { last in
            last = max(now, last + 1)
            return last
        }
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }
}

/// An event read back from an endpoint's queue, with the file it is kept in.
struct QueuedEvent: Sendable {
    var name: String
    var event: RegistryEvent
}

/// The durable queue of one endpoint's undelivered events: one small JSON file per event under
/// `/berth/notifications/<endpoint>/queue/`, named `<sequence>-<event id>`, written with a sync
/// before `append` returns and deleted only once the endpoint has accepted it.
struct EventQueue: Sendable {
    let driver: any StorageDriver
    /// The endpoint's name as a path component.
    let directory: String
    /// Queued events larger than this are not Berth's (events are well under 4 KiB): set aside.
    static let maximumEventBytes = 256 * 1024

    init(driver: any StorageDriver, endpoint: String) {
        self.driver = driver
        self.directory = StoragePath.notificationDirectoryName(endpoint)
    }

    /// Stores the events durably, in order; `sequence` names each (shared by every endpoint's copy).
    func append(_ events: [(sequence: String, event: RegistryEvent)]) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for (sequence, event) in events {
            let name = sequence + "-" + StoragePath.notificationDirectoryName(event.id)
            let path = StoragePath.notificationQueueEntry(endpoint: directory, name: name).path
            try await driver.putContent(path, ByteBuffer(bytes: try encoder.encode(event)), durable: true)
        }
    }

    /// The names of every queued event, oldest first.
    func names() async throws -> [String] {
        do {
            return try await driver.list(StoragePath.notificationQueue(endpoint: directory).path)
                .filter { !$0.hasPrefix(".") }.sorted()
        } catch StorageDriverError.notFound {
            return []
        }
    }

    /// Reads the named events, in the given order. Files that cannot be read as events are moved
    /// to `unreadable/` (with an error in the log) so they never block the queue.
    func load(_ names: some Sequence<String>, logger: Logger) async throws -> [QueuedEvent] {
        var events: [QueuedEvent] = []
        let decoder = JSONDecoder()
        for name in names {
            let path = StoragePath.notificationQueueEntry(endpoint: directory, name: name).path
            let content: ByteBuffer
            do {
                content = try await driver.getContent(path, maxBytes: Self.maximumEventBytes)
            } catch StorageDriverError.notFound {
                continue  // delivered meanwhile by another process sharing the storage
            } catch StorageDriverError.tooLarge {
                await setAside(name, reason: "larger than \(Self.maximumEventBytes) bytes", logger: logger)
                continue
            }
            do {
                events.append(QueuedEvent(name: name, event: try decoder.decode(RegistryEvent.self, from: Data(content.readableBytesView))))
            } catch {
                await setAside(name, reason: "not an event: \(error)", logger: logger)
            }
        }
        return events
    }

    /// Deletes delivered events.
    func remove(_ events: [QueuedEvent]) async throws {
        for queued in events {
            try await driver.delete(StoragePath.notificationQueueEntry(endpoint: directory, name: queued.name).path)
        }
    }

    private func setAside(_ name: String, reason: String, logger: Logger) async {
        let from = StoragePath.notificationQueueEntry(endpoint: directory, name: name).path
        let to = StoragePath.notificationUnreadable(endpoint: directory, name: name).path
        do {
            try await driver.move(from: from, to: to)
            logger.error("a queued notification cannot be read and was set aside; inspect or delete it",
                         metadata: ["path": "\(to)", "reason": "\(reason)"])
        } catch {
            logger.error("a queued notification cannot be read nor set aside; delete it to let delivery continue",
                         metadata: ["path": "\(from)", "reason": "\(reason)", "error": "\(error)"])
        }
    }
}
