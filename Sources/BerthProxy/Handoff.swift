import NIOCore
import Synchronization

/// Hands buffers from one producer to one consumer, one at a time: `send` waits until the
/// consumer has taken the previous buffer, so a slow consumer slows the producer instead of
/// piling bytes up in memory. The consumer may leave (`cancel`); sends then return false at once.
public final class Handoff: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer

    public init() {}

    private struct State {
        var item: ByteBuffer?
        var ended = false
        var failure: (any Error)?
        var cancelled = false
        var consumer: CheckedContinuation<ByteBuffer?, any Error>?
        var producer: CheckedContinuation<Bool, Never>?
        var waitingSince: ContinuousClock.Instant?
    }

    /// Since when a sent buffer waits for the consumer (nil: nothing waits).
    var waitingSince: ContinuousClock.Instant? { state.withLock { $0.producer == nil ? nil : $0.waitingSince } }

    private let state = Mutex(State())

    /// Waits until the consumer took `buffer`; false when it has left.
    public func send(_ buffer: ByteBuffer) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let action = state.withLock { s -> (() -> Void) in
                if s.cancelled { return { continuation.resume(returning: false) } }
                if let consumer = s.consumer {
                    s.consumer = nil
                    return { consumer.resume(returning: buffer); continuation.resume(returning: true) }
                }
                s.item = buffer
                s.producer = continuation
                s.waitingSince = .now
                return {}
            }
            action()
        }
    }

    /// No more buffers; with `error`, the consumer's next read throws it.
    public func finish(_ error: (any Error)? = nil) {
        let consumer = state.withLock { s -> CheckedContinuation<ByteBuffer?, any Error>? in
            s.ended = true
            s.failure = error
            defer { s.consumer = nil }
            return s.consumer
        }
        if let error { consumer?.resume(throwing: error) } else { consumer?.resume(returning: nil) }
    }

    /// The consumer has left: the pending and later sends return false.
    public func cancel() {
        let producer = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            s.cancelled = true
            s.item = nil
            defer { s.producer = nil }
            return s.producer
        }
        producer?.resume(returning: false)
    }

    public func next() async throws -> ByteBuffer? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
            let action = state.withLock { s -> (() -> Void) in
                if let item = s.item {
                    s.item = nil
                    let producer = s.producer
                    s.producer = nil
                    return { continuation.resume(returning: item); producer?.resume(returning: true) }
                }
                if s.ended {
                    let failure = s.failure
                    return { if let failure { continuation.resume(throwing: failure) } else { continuation.resume(returning: nil) } }
                }
                s.consumer = continuation
                return {}
            }
            action()
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let handoff: Handoff
        public mutating func next() async throws -> ByteBuffer? { try await handoff.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handoff: self) }
}
