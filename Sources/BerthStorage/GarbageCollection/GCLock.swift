import Foundation
import NIOCore

extension RegistryStorage {
    // MARK: - Lock

    /// Runs `body` holding the storage-wide collection lock, refreshed every 20 seconds; a lock
    /// not refreshed for two minutes belongs to a process that is gone and is taken over. So is
    /// at once a lock whose holder was a process on this machine that no longer runs (killed, or
    /// crashed): otherwise a server restarted after a `kill -9` in the middle of a collection
    /// could neither put back what that collection had set aside nor collect for two minutes.
    func withGCLock<T: Sendable>(owner: String, _ body: () async throws -> T) async throws -> T {
        let path = StoragePath.gcLock.path
        let identity = LockHolder.current.map { " " + $0.record } ?? ""
        let record = ByteBuffer(string: "\(owner) since \(ISO8601DateFormatter().string(from: Date()))\(identity)")
        if try await !driver.putContentIfAbsent(path, record) {
            let info = try await driver.statIfExists(path)
            if let info, info.modified > Date().addingTimeInterval(-120) {
                let holder = (try? await driver.getString(path)) ?? "unknown holder"
                guard let current = LockHolder.current, let recorded = LockHolder(record: holder),
                      recorded.isGone(seenFrom: current) else {
                    throw GCError.alreadyRunning(holder: holder)
                }
            }
            try await driver.delete(path)
            guard try await driver.putContentIfAbsent(path, record) else {
                throw GCError.alreadyRunning(holder: (try? await driver.getString(path)) ?? "unknown holder")
            }
        }
        let driver = self.driver
        do {
            let result = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while true {  // ends when the group is cancelled (the sleep throws)
                        try await Task.sleep(for: .seconds(20))
                        try? await driver.putContent(path, record, durable: false)
                    }
                }
                defer { group.cancelAll() }
                return try await body()
            }
            try? await driver.delete(path)
            return result
        } catch {
            try? await driver.delete(path)
            throw error
        }
    }
}

/// The process holding the collection lock, precisely enough that another process on the same
/// machine can tell it has died: the boot, the PID namespace, the PID and that process's start
/// time (a PID is reused; a restarted service may even get the same one). Processes on other
/// machines or in other PID namespaces (containers) are never judged: for them the lock's age
/// decides. Linux only (it reads `/proc`); elsewhere `current` is nil.
struct LockHolder: Equatable {
    var boot: String
    var namespace: String
    var pid: Int32
    var started: String

    static var current: LockHolder? {
        let pid = getpid()
        guard let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
                  .trimmingCharacters(in: .whitespacesAndNewlines),
              let namespace = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid"),
              let started = startTime(of: pid) else { return nil }
        return LockHolder(boot: boot, namespace: namespace, pid: pid, started: started)
    }

    /// The start time of process `pid` since boot (field 22 of `/proc/<pid>/stat`), nil when
    /// no such process runs.
    static func startTime(of pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces), starting at field 3.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        return fields.count > 19 ? String(fields[19]) : nil
    }

    var record: String { "[holder boot=\(boot) pidns=\(namespace) pid=\(pid) start=\(started)]" }

    init(boot: String, namespace: String, pid: Int32, started: String) {
        self.boot = boot
        self.namespace = namespace
        self.pid = pid
        self.started = started
    }

    /// Parses the `[holder ...]` part of a lock record; nil when there is none.
    init?(record: String) {
        // The last "]": the namespace itself reads `pid:[4026531836]`.
        guard let open = record.range(of: "[holder "), let close = record.lastIndex(of: "]"),
              close >= open.upperBound else { return nil }
        var values: [Substring: Substring] = [:]
        for pair in record[open.upperBound..<close].split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        guard let boot = values["boot"], let namespace = values["pidns"], let pid = values["pid"].flatMap({ Int32($0) }),
              let started = values["start"] else { return nil }
        self.init(boot: String(boot), namespace: String(namespace), pid: pid, started: String(started))
    }

    /// Whether this holder was a process that `observer` could see (same boot, same PID
    /// namespace) and that no longer runs.
    func isGone(seenFrom observer: LockHolder) -> Bool {
        guard boot == observer.boot, namespace == observer.namespace else { return false }
        return Self.startTime(of: pid) != started
    }
}
