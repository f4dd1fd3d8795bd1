import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// `redis` settings, with the reference registry's keys.
public struct RedisSettings: Sendable, Equatable {
    /// `host:port` of each server (`redis.addr`, or `redis.addrs`); the first that answers is used.
    public var addresses: [String]
    public var password: String?
    public var db: Int
    public var dialTimeout: Duration
    public var readTimeout: Duration
    /// How long Berth leaves a Redis that failed alone before trying it again.
    public var retryAfter: Duration

    public init(addresses: [String], password: String? = nil, db: Int = 0, dialTimeout: Duration = .milliseconds(500),
                readTimeout: Duration = .milliseconds(500), retryAfter: Duration = .seconds(5)) {
        self.addresses = addresses
        self.password = password
        self.db = db
        self.dialTimeout = dialTimeout
        self.readTimeout = readTimeout
        self.retryAfter = retryAfter
    }
}

/// One pipelined connection to Redis, opened on first use and again after a failure. While Redis
/// is unreachable, calls fail at once (for `retryAfter`) instead of waiting on each request:
/// callers treat a failure as a cache miss.
public final class RedisClient: Sendable {
    public let settings: RedisSettings
    let logger: Logger
    private let group: any EventLoopGroup

    private struct State {
        var channel: (any Channel)?
        var connecting: Task<any Channel, Error>?
        var downUntil: ContinuousClock.Instant?
        var loggedDown = false
    }

    private let state = Mutex(State())

    public init(settings: RedisSettings, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "berth.redis")) {
        self.settings = settings
        self.group = group
        self.logger = logger
    }

    /// Sends one command and waits for its reply; a Redis error reply is thrown.
    @discardableResult
    public func send(_ arguments: [String]) async throws -> RESPValue {
        let channel = try await connection()
        do {
            let reply = try await Self.send(arguments, on: channel, timeout: settings.readTimeout)
            if case .error(let message) = reply { throw RedisError(description: "Redis refused \(arguments.first ?? ""): \(message)") }
            return reply
        } catch let error as RedisError where error.description.hasPrefix("Redis refused") {
            throw error
        } catch {
            markDown(error, closing: channel)
            throw error
        }
    }

    public func close() async {
        let channel = state.withLock { s -> (any Channel)? in
            defer { s.channel = nil }
            return s.channel
        }
        try? await channel?.close()
    }

    static func send(_ arguments: [String], on channel: any Channel, timeout: Duration) async throws -> RESPValue {
        var buffer = channel.allocator.buffer(capacity: 64)
        RESP.encode(arguments, into: &buffer)
        let reply = channel.eventLoop.makePromise(of: RESPValue.self)
        let timer = channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            // A late reply would be matched to the next command: drop the connection instead.
            reply.fail(RedisError(description: "Redis did not answer \(arguments.first ?? "") within \(timeout)"))
            channel.close(promise: nil)
        }
        channel.writeAndFlush((buffer, reply), promise: nil)
        defer { timer.cancel() }
        return try await reply.futureResult.get()
    }

    private func markDown(_ error: Error, closing channel: (any Channel)?) {
        let first = state.withLock { s -> Bool in
            if let channel, s.channel === channel { s.channel = nil }
            s.downUntil = .now + settings.retryAfter
            defer { s.loggedDown = true }
            return !s.loggedDown
        }
        channel?.close(promise: nil)
        if first {
            logger.warning("Redis is unavailable; the blob descriptor cache is bypassed until it answers again", metadata: [
                "redis": "\(settings.addresses.joined(separator: ","))", "error": "\(error)",
            ])
        }
    }

    private func connection() async throws -> any Channel {
        let task = try state.withLock { s -> Task<any Channel, Error>? in
            if let channel = s.channel, channel.isActive { return nil }
            if let downUntil = s.downUntil, ContinuousClock.now < downUntil {
                throw RedisError(description: "Redis is unavailable (retrying after a pause)")
            }
            if let connecting = s.connecting { return connecting }
            let connecting = Task { try await self.connect() }
            s.connecting = connecting
            return connecting
        }
        guard let task else {
            if let channel = state.withLock({ $0.channel }) { return channel }
            return try await connection()
        }
        do {
            let channel = try await task.value
            let recovered = state.withLock { s -> Bool in
                s.channel = channel
                s.connecting = nil
                s.downUntil = nil
                defer { s.loggedDown = false }
                return s.loggedDown
            }
            if recovered { logger.info("Redis answers again; the blob descriptor cache is in use", metadata: ["redis": "\(settings.addresses.joined(separator: ","))"]) }
            return channel
        } catch {
            state.withLock { $0.connecting = nil }
            markDown(error, closing: nil)
            throw error
        }
    }

    private func connect() async throws -> any Channel {
        var failures: [String] = []
        for address in settings.addresses {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
                failures.append("\(address): not host:port")
                continue
            }
            let host = String(address[..<colon])
            do {
                let channel = try await ClientBootstrap(group: group)
                    .connectTimeout(TimeAmount(settings.dialTimeout))
                    .channelOption(.socketOption(.so_keepalive), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RESPHandler()) }
                    }
                    .connect(host: host.isEmpty ? "127.0.0.1" : host, port: port).get()
                do {
                    if let password = settings.password, !password.isEmpty {
                        try Self.check(try await Self.send(["AUTH", password], on: channel, timeout: settings.readTimeout), "AUTH")
                    }
                    if settings.db != 0 {
                        try Self.check(try await Self.send(["SELECT", String(settings.db)], on: channel, timeout: settings.readTimeout), "SELECT")
                    }
                    return channel
                } catch {
                    try? await channel.close()
                    throw error
                }
            } catch {
                failures.append("\(address): \(error)")
            }
        }
        throw RedisError(description: "no Redis server answered: " + failures.joined(separator: "; "))
    }

    private static func check(_ reply: RESPValue, _ command: String) throws {
        if case .error(let message) = reply { throw RedisError(description: "Redis refused \(command): \(message)") }
    }
}
