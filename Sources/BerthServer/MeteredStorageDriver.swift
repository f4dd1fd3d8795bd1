import BerthStorage
import Foundation
import NIOCore

/// A storage driver that counts and times every call of the driver it wraps, into
/// `berth_storage_operations_total{operation,outcome}` and
/// `berth_storage_operation_duration_seconds{operation}`. `localFile` is forwarded unmetered
/// (it is a path computation, and blob GETs depend on it for zero-copy sends).
public struct MeteredStorageDriver: StorageDriver {
    public let base: any StorageDriver
    let metrics: BerthMetrics

    public init(_ base: any StorageDriver, metrics: BerthMetrics) {
        self.base = base
        self.metrics = metrics
    }

    public var name: String { base.name }

    /// Runs `body`, recording its duration and outcome under `operation`.
    func measure<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let started = ContinuousClock.now
        do {
            let result = try await body()
            metrics.storageOperation(operation, outcome: "success", duration: ContinuousClock.now - started)
            return result
        } catch {
            let outcome: String
            if case StorageDriverError.notFound = error { outcome = "not_found" } else { outcome = "error" }
            metrics.storageOperation(operation, outcome: outcome, duration: ContinuousClock.now - started)
            throw error
        }
    }

    public func getContent(_ path: String, maxBytes: Int) async throws -> ByteBuffer {
        try await measure("get_content") { try await base.getContent(path, maxBytes: maxBytes) }
    }

    public func putContent(_ path: String, _ content: ByteBuffer, durable: Bool) async throws {
        try await measure("put_content") { try await base.putContent(path, content, durable: durable) }
    }

    public func putContentIfAbsent(_ path: String, _ content: ByteBuffer) async throws -> Bool {
        try await measure("put_content_if_absent") { try await base.putContentIfAbsent(path, content) }
    }

    public func stat(_ path: String) async throws -> FileInfo {
        try await measure("stat") { try await base.stat(path) }
    }

    public func list(_ path: String) async throws -> [String] {
        try await measure("list") { try await base.list(path) }
    }

    /// Timed from the first byte asked to the last one handed to `body` (so it includes the
    /// time the consumer takes).
    public func read(_ path: String, range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await measure("read") { try await base.read(path, range: range, body) }
    }

    /// Counts opening; each `read` of the reader is then metered as `read` is.
    public func openForReading(_ path: String) async throws -> any StorageReader {
        MeteredReader(base: try await measure("open_for_reading") { try await base.openForReading(path) }, driver: self)
    }

    struct MeteredReader: StorageReader {
        let base: any StorageReader
        let driver: MeteredStorageDriver

        func read(range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
            try await driver.measure("read") { try await base.read(range: range, body) }
        }
    }

    /// Counts opening the writer; the writes themselves are not metered.
    public func writer(_ path: String, append: Bool) async throws -> any StorageWriter {
        try await measure("writer") { try await base.writer(path, append: append) }
    }

    public func move(from source: String, to destination: String) async throws {
        try await measure("move") { try await base.move(from: source, to: destination) }
    }

    public func stage(_ content: ByteBuffer) async throws -> StagedContent {
        try await measure("stage") { try await base.stage(content) }
    }

    public func publish(_ staged: StagedContent, at path: String) async throws {
        try await measure("publish") { try await base.publish(staged, at: path) }
    }

    public func discard(_ staged: StagedContent) async { await base.discard(staged) }

    public func delete(_ path: String) async throws {
        try await measure("delete") { try await base.delete(path) }
    }

    public func removeEmptyDirectory(_ path: String) async throws {
        try await measure("remove_empty_directory") { try await base.removeEmptyDirectory(path) }
    }

    public func localFile(_ path: String) -> String? { base.localFile(path) }

    public func checkpoint(_ path: String) async throws -> [UInt8]? {
        try await measure("checkpoint") { try await base.checkpoint(path) }
    }

    public func redirectURL(_ path: String, expiry: Int) async throws -> String? {
        try await base.redirectURL(path, expiry: expiry)
    }

    public func clearTemporaryFiles(olderThan age: TimeInterval) async throws -> Int {
        try await measure("clear_temporary_files") { try await base.clearTemporaryFiles(olderThan: age) }
    }
}
