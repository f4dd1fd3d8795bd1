import BerthCore
import Foundation
import Synchronization

/// Per-client limits (`http.ratelimit`): a token bucket of requests and one of bytes for each
/// client (a user, or an address for anonymous requests). A request over the limit gets 429
/// `TOOMANYREQUESTS` with `Retry-After`. Bytes are counted from the declared request body and the
/// response body; a large transfer may take the byte bucket below zero (it is not cut off), and
/// the client then waits until the debt is paid.
public final class RateLimiter: Sendable {
    public let requestsPerSecond: Double
    public let burst: Double
    public let bytesPerSecond: Double

    private struct Bucket {
        var requests: Double
        var bytes: Double
        var updated: ContinuousClock.Instant
    }

    private let buckets = Mutex<[String: Bucket]>([:])
    static let maxClients = 100_000

    /// `requestsPerSecond` or `bytesPerSecond` 0 means no limit of that kind.
    public init(requestsPerSecond: Double, burst: Int, bytesPerSecond: Double) {
        self.requestsPerSecond = requestsPerSecond
        self.burst = Double(max(burst, 1))
        self.bytesPerSecond = bytesPerSecond
    }

    /// Admits one request of `bytes` declared body bytes, or throws 429 saying when to retry.
    public func admit(client: String, bytes: Int64, now: ContinuousClock.Instant = .now) throws(RegistryError) {
        let wait: Double? = buckets.withLock { all in
            if all.count >= Self.maxClients, all[client] == nil { all.removeAll(keepingCapacity: true) }
            var b = all[client] ?? Bucket(requests: burst, bytes: bytesPerSecond, updated: now)
            let elapsed = Double((now - b.updated).components.seconds) + Double((now - b.updated).components.attoseconds) / 1e18
            b.updated = now
            if requestsPerSecond > 0 { b.requests = min(burst, b.requests + elapsed * requestsPerSecond) }
            if bytesPerSecond > 0 { b.bytes = min(bytesPerSecond, b.bytes + elapsed * bytesPerSecond) }
            defer { all[client] = b }
            if requestsPerSecond > 0, b.requests < 1 { return (1 - b.requests) / requestsPerSecond }
            if bytesPerSecond > 0, b.bytes < 0 { return -b.bytes / bytesPerSecond }
            if requestsPerSecond > 0 { b.requests -= 1 }
            if bytesPerSecond > 0 { b.bytes -= Double(bytes) }
            return nil
        }
        guard let wait else { return }
        // A tiny configured rate makes the wait huge: cap it so the conversion to Int cannot trap.
        let seconds = wait < 1e9 ? max(1, Int(wait.rounded(.up))) : 1_000_000_000
        throw RegistryError(.tooManyRequests,
                            "too many requests from this client (limit \(describeLimit)); retry after \(seconds) s",
                            headers: ["Retry-After": String(seconds)])
    }

    /// Charges response bytes (a blob sent) to the client's byte bucket.
    public func charge(client: String, bytes: Int64) {
        guard bytesPerSecond > 0, bytes > 0 else { return }
        buckets.withLock { all in all[client]?.bytes -= Double(bytes) }
    }

    private var describeLimit: String {
        var parts: [String] = []
        if requestsPerSecond > 0 { parts.append("\(requestsPerSecond) requests/s, burst \(Int(burst))") }
        if bytesPerSecond > 0 { parts.append("\(Int(bytesPerSecond)) bytes/s") }
        return parts.joined(separator: ", ")
    }
}
