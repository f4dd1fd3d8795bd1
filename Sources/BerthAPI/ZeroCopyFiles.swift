import Foundation
import HTTPTypes
import NIOCore
import Synchronization

/// Zero-copy blob sends (`sendfile(2)`) through Hummingbird, whose response writer carries only
/// byte buffers.
///
/// A blob route that may send zero-copy opens the blob's file, registers it here, and writes a
/// small *marker* buffer (a per-process random key and an id) as the response body. A channel
/// handler in front of the HTTP/1 encoder recognises the marker, claims the file and writes a
/// `FileRegion` instead, so the kernel copies from the page cache to the socket and no blob byte
/// passes through user space. The handler announces itself on each request with a header holding
/// the same key (stripped from what clients send), so routes never emit markers on connections
/// without it (TLS, HTTP/2, in-process tests). Unclaimed files are closed after `staleAfter`.
public final class ZeroCopyFiles: Sendable {
    public static let shared = ZeroCopyFiles()

    /// The request header the channel handler sets on connections that can send files.
    public static let capabilityHeader = HTTPField.Name("X-Berth-Internal-Zero-Copy")!

    /// A file claimed by the channel handler: it owns `descriptor` and must close it.
    public struct File: Sendable {
        public var descriptor: Int32
        public var offset: Int64
        public var length: Int64
    }

    private struct Entry {
        var file: File
        var registered: ContinuousClock.Instant
    }

    /// 16 random bytes, hex: unguessable by clients, so neither the header nor a marker can be forged.
    public let key: String
    private let keyBytes: [UInt8]
    private let state = Mutex<(next: UInt64, entries: [UInt64: Entry])>((1, [:]))
    private let claimed = Atomic<Int>(0)
    static let staleAfter = Duration.seconds(300)

    init() {
        var generator = SystemRandomNumberGenerator()
        key = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        keyBytes = Array(key.utf8)
    }

    /// The size of every marker buffer.
    public var markerLength: Int { keyBytes.count + 8 }

    /// Registers an open file and returns the marker to write as the body. Takes ownership of
    /// `descriptor`.
    func register(descriptor: Int32, offset: Int64, length: Int64) -> (id: UInt64, marker: ByteBuffer) {
        let now = ContinuousClock.now
        let (id, stale) = state.withLock { s -> (UInt64, [Int32]) in
            let id = s.next
            s.next += 1
            var stale: [Int32] = []
            for (key, entry) in s.entries where now - entry.registered > Self.staleAfter {
                stale.append(entry.file.descriptor)
                s.entries[key] = nil
            }
            s.entries[id] = Entry(file: File(descriptor: descriptor, offset: offset, length: length), registered: now)
            return (id, stale)
        }
        for fd in stale { close(fd) }
        var marker = ByteBufferAllocator().buffer(capacity: markerLength)
        marker.writeBytes(keyBytes)
        marker.writeInteger(id)
        return (id, marker)
    }

    /// Closes a registered file nobody claimed (the response failed before it was written).
    func cancel(_ id: UInt64) {
        if let entry = state.withLock({ $0.entries.removeValue(forKey: id) }) { close(entry.file.descriptor) }
    }

    /// The file a body buffer stands for, if it is a marker of this process; the caller then owns it.
    public func claim(_ buffer: ByteBuffer) -> File? {
        guard buffer.readableBytes == markerLength else { return nil }
        let matches = buffer.withUnsafeReadableBytes { bytes in
            bytes.prefix(keyBytes.count).elementsEqual(keyBytes)
        }
        guard matches, let id = buffer.getInteger(at: buffer.readerIndex + keyBytes.count, as: UInt64.self) else { return nil }
        guard let file = state.withLock({ $0.entries.removeValue(forKey: id)?.file }) else { return nil }
        claimed.add(1, ordering: .relaxed)
        return file
    }

    /// Responses sent zero-copy since start.
    public var sentCount: Int { claimed.load(ordering: .relaxed) }

    /// Files registered and not yet claimed (for tests).
    public var pendingCount: Int { state.withLock { $0.entries.count } }
}
