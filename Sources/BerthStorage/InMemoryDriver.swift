import Foundation
import NIOCore
import Synchronization

/// Keeps everything in memory (`storage.inmemory`, as in the reference registry): for tests and
/// throw-away registries. Nothing survives the process, and every object counts against its memory.
/// Directories exist while they hold an object, as in object stores.
public final class InMemoryDriver: StorageDriver {
    struct Object {
        var bytes: ByteBuffer
        var modified: Date
        var version: Int
    }

    private struct State {
        var objects: [String: Object] = [:]
        var nextVersion = 1

        mutating func store(_ path: String, _ bytes: ByteBuffer) {
            objects[path] = Object(bytes: bytes, modified: Date(), version: nextVersion)
            nextVersion += 1
        }
    }

    private let state = Mutex(State())
    /// Chunk size of `read`.
    static let chunk = 1 << 20

    public init() {}

    public var name: String { "inmemory" }

    private func object(_ path: String) throws -> Object {
        guard let object = state.withLock({ $0.objects[path] }) else { throw StorageDriverError.notFound(path: path) }
        return object
    }

    public func getContent(_ path: String, maxBytes: Int) async throws -> ByteBuffer {
        let object = try object(path)
        guard object.bytes.readableBytes <= maxBytes else { throw StorageDriverError.tooLarge(path: path, limit: maxBytes) }
        return object.bytes
    }

    public func putContent(_ path: String, _ content: ByteBuffer, durable: Bool) async throws {
        state.withLock { $0.store(path, content) }
    }

    public func putContentIfAbsent(_ path: String, _ content: ByteBuffer) async throws -> Bool {
        state.withLock {
            guard $0.objects[path] == nil else { return false }
            $0.store(path, content)
            return true
        }
    }

    public func stat(_ path: String) async throws -> FileInfo {
        let prefix = path + "/"
        return try state.withLock {
            if let object = $0.objects[path] {
                return FileInfo(size: Int64(object.bytes.readableBytes), isDirectory: false, modified: object.modified,
                                changeToken: String(object.version))
            }
            var newest: Date?
            for (key, object) in $0.objects where key.hasPrefix(prefix) {
                newest = max(newest ?? object.modified, object.modified)
            }
            guard let newest else { throw StorageDriverError.notFound(path: path) }
            return FileInfo(size: 0, isDirectory: true, modified: newest)
        }
    }

    public func list(_ path: String) async throws -> [String] {
        let prefix = path == "/" ? "/" : path + "/"
        let names = state.withLock { state -> Set<String> in
            var names = Set<String>()
            for key in state.objects.keys where key.hasPrefix(prefix) {
                let rest = key.utf8.dropFirst(prefix.utf8.count)
                let name = rest.split(separator: UInt8(ascii: "/"), maxSplits: 1).first.map { Substring($0) } ?? ""
                if !name.isEmpty { names.insert(String(name)) }
            }
            return names
        }
        guard !names.isEmpty else { throw StorageDriverError.notFound(path: path) }
        return names.sorted()
    }

    public func read(_ path: String, range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await Reader(bytes: try object(path).bytes).read(range: range, body)
    }

    public func openForReading(_ path: String) async throws -> any StorageReader {
        Reader(bytes: try object(path).bytes)
    }

    struct Reader: StorageReader {
        let bytes: ByteBuffer

        func read(range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
            let total = Int64(bytes.readableBytes)
            let lower = Int(min(max(range?.lowerBound ?? 0, 0), total))
            let upper = Int(min(max(range?.upperBound ?? total, Int64(lower)), total))
            var offset = lower
            while offset < upper {
                let length = min(InMemoryDriver.chunk, upper - offset)
                try await body(bytes.getSlice(at: bytes.readerIndex + offset, length: length)!)
                offset += length
            }
        }
    }

    public func writer(_ path: String, append: Bool) async throws -> any StorageWriter {
        let existing = append ? state.withLock { $0.objects[path]?.bytes } : nil
        return Writer(path: path, driver: self, bytes: existing ?? ByteBuffer())
    }

    /// Collects the bytes and stores them at `close`, as one object.
    final class Writer: StorageWriter, @unchecked Sendable {
        // Used by one task at a time (see `StorageWriter`).
        let path: String
        let driver: InMemoryDriver
        var bytes: ByteBuffer

        init(path: String, driver: InMemoryDriver, bytes: ByteBuffer) {
            self.path = path
            self.driver = driver
            self.bytes = bytes
        }

        var size: Int64 { Int64(bytes.readableBytes) }
        func write(_ buffer: ByteBuffer) async throws { bytes.writeImmutableBuffer(buffer) }
        func truncate(to size: Int64) async throws {
            bytes.moveWriterIndex(to: bytes.readerIndex + Int(min(max(size, 0), Int64(bytes.readableBytes))))
        }
        func close() async throws { driver.state.withLock { $0.store(path, bytes) } }
    }

    public func move(from source: String, to destination: String) async throws {
        try state.withLock {
            guard let object = $0.objects.removeValue(forKey: source) else { throw StorageDriverError.notFound(path: source) }
            $0.objects[destination] = object
        }
    }

    public func delete(_ path: String) async throws {
        let prefix = path + "/"
        state.withLock { state in
            state.objects[path] = nil
            for key in state.objects.keys where key.hasPrefix(prefix) { state.objects[key] = nil }
        }
    }

    /// Directories vanish with their last object.
    public func removeEmptyDirectory(_ path: String) async throws {}
}
