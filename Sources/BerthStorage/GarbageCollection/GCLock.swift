import Foundation
import NIOCore

extension RegistryStorage {
    // MARK: - Lock

    /// Runs `body` holding the storage-wide collection lock, refreshed every 20 seconds; a lock
    /// not refreshed for two minutes belongs to a process that is gone and is taken over.
    func withGCLock<T: Sendable>(owner: String, _ body: () async throws -> T) async throws -> T {
        let path = StoragePath.gcLock.path
        let record = ByteBuffer(string: "\(owner) since \(ISO8601DateFormatter().string(from: Date()))")
        if try await !driver.putContentIfAbsent(path, record) {
            let info = try await driver.statIfExists(path)
            if let info, info.modified > Date().addingTimeInterval(-120) {
                let holder = (try? await driver.getString(path)) ?? "unknown holder"
                throw GCError.alreadyRunning(holder: holder)
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
