import BerthCore
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// Connection counts shared by every connection of one server: how many are open, how many were
/// refused at `http.maxconnections`, and how many were cut off by each of `http.timeouts`.
public final class ConnectionStats: Sendable {
    public enum Cutoff: String, CaseIterable, Sendable {
        /// A request head did not arrive whole in time (slowloris).
        case header
        /// A request body stopped arriving.
        case body
        /// The client stopped reading a response.
        case write
        /// A keep-alive connection sat with no request (or a TLS handshake did not finish).
        case idle
    }

    let maxConnections: Int
    private let openCount = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)
    private let cutoffCounts = Mutex([Cutoff: Int]())

    init(maxConnections: Int) {
        self.maxConnections = maxConnections
    }

    public var open: Int { openCount.load(ordering: .relaxed) }
    public var refused: Int { refusedCount.load(ordering: .relaxed) }
    public var cutoffs: [Cutoff: Int] { cutoffCounts.withLock { $0 } }

    /// Counts `channel` as open until it closes, or refuses it when `maxConnections` are open.
    func admit(_ channel: any Channel) -> Bool {
        let now = openCount.wrappingAdd(1, ordering: .relaxed).newValue
        guard now <= maxConnections else {
            openCount.wrappingSubtract(1, ordering: .relaxed)
            refusedCount.wrappingAdd(1, ordering: .relaxed)
            return false
        }
        channel.closeFuture.whenComplete { _ in self.openCount.wrappingSubtract(1, ordering: .relaxed) }
        return true
    }

    func cutOff(_ reason: Cutoff) {
        cutoffCounts.withLock { $0[reason, default: 0] += 1 }
    }
}

/// What the deadlines need, in NIO's time units.
struct ConnectionDeadlines: Sendable {
    let header: TimeAmount
    let body: TimeAmount
    let write: TimeAmount
    let idle: TimeAmount

    init(_ limits: ConnectionLimits) {
        func amount(_ d: Duration) -> TimeAmount {
            let (seconds, attoseconds) = d.components
            return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
        header = amount(limits.header)
        body = amount(limits.body)
        write = amount(limits.write)
        idle = amount(limits.idle)
    }

    /// How often a connection checks its deadlines: a quarter of the shortest, between 50 ms and 1 s.
    var tick: TimeAmount {
        let shortest = min(header, body, write, idle)
        return min(max(.nanoseconds(shortest.nanoseconds / 4), .milliseconds(50)), .seconds(1))
    }
}

/// One connection's state, shared by the two handlers that watch it (both on its event loop).
final class ConnectionClock {
    let deadlines: ConnectionDeadlines
    /// Requests whose head has been read and whose response has not ended.
    var inFlight = 0
    /// A request body is still arriving.
    var readingBody = false
    /// The first byte of a request head arrived then (no request in flight).
    var headStarted: NIODeadline?
    /// The server asked the socket for more bytes then and none has come since.
    var readWanted: NIODeadline?
    /// Idle since, or (while responding) the last sign that the client reads.
    var lastProgress = NIODeadline.now()
    /// Bytes waiting to be written at the last check.
    var lastBuffered = 0
    /// A response has been completed (from then on the connection is a kept-alive one).
    var served = false

    init(_ deadlines: ConnectionDeadlines) {
        self.deadlines = deadlines
    }
}

/// Sits at the bottom of an HTTP/1 pipeline, under the HTTP decoder: sees raw bytes arrive (a
/// request head that started) and the server asking for more (so a body stalls only while the
/// server wants it, never while Berth itself waits on the disk).
final class ConnectionActivityHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let clock: ConnectionClock

    init(clock: ConnectionClock) {
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        clock.readWanted = nil
        if clock.inFlight == 0, !clock.readingBody, clock.headStarted == nil {
            clock.headStarted = .now()
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if clock.readWanted == nil { clock.readWanted = .now() }
        context.read()
    }
}

/// Sits above the HTTP decoder: follows requests and responses, and every `tick` closes the
/// connection when one of `http.timeouts` has passed — a request head still incomplete after
/// `header` (answered 408 first), a body silent for `body` while the server wants it, a response
/// the client has not read from for `write`, or no request for `idle`.
final class ConnectionDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let clock: ConnectionClock
    let stats: ConnectionStats?
    let logger: Logger
    private var timer: Scheduled<Void>?
    private var closing = false

    init(clock: ConnectionClock, stats: ConnectionStats?, logger: Logger) {
        self.clock = clock
        self.stats = stats
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        clock.lastProgress = .now()
        schedule(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            clock.inFlight += 1
            clock.readingBody = true
            clock.headStarted = nil
        case .body:
            break
        case .end:
            clock.readingBody = false
            clock.lastProgress = .now()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            clock.inFlight = max(0, clock.inFlight - 1)
            clock.served = true
            clock.lastProgress = .now()
            clock.lastBuffered = 0
        }
        context.write(data, promise: promise)
    }

    private func schedule(_ context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: clock.deadlines.tick) { [self] in
            self.check(context)
        }
    }

    private func check(_ context: ChannelHandlerContext) {
        timer = nil
        guard context.channel.isActive, !closing else { return }
        let now = NIODeadline.now()
        let deadlines = clock.deadlines
        if clock.readingBody {
            if let wanted = clock.readWanted, now - wanted > deadlines.body {
                return cutOff(context, .body, "the request body stopped arriving (nothing for longer than http.timeouts.body)")
            }
        } else if clock.inFlight > 0 {
            let buffered = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
            if buffered == 0 || buffered != clock.lastBuffered { clock.lastProgress = now }
            clock.lastBuffered = buffered
            if buffered > 0, now - clock.lastProgress > deadlines.write {
                return cutOff(context, .write, "the client stopped reading the response (\(buffered) bytes unread for longer than http.timeouts.write)")
            }
        } else if let started = clock.headStarted {
            if now - started > deadlines.header {
                return cutOff(context, .header, "the request head did not arrive whole within http.timeouts.header")
            }
        } else if !clock.served {
            // A connection that never sent a byte gets no more time than one sending a head slowly.
            if now - clock.lastProgress > deadlines.header {
                return cutOff(context, .header, "no request within http.timeouts.header of connecting")
            }
        } else if now - clock.lastProgress > deadlines.idle {
            return cutOff(context, .idle, "no request within http.timeouts.idle")
        }
        schedule(context)
    }

    private func cutOff(_ context: ChannelHandlerContext, _ reason: ConnectionStats.Cutoff, _ why: String) {
        closing = true
        stats?.cutOff(reason)
        let level: Logger.Level = reason == .idle ? .debug : .info
        logger.log(level: level, "closing connection: \(why)", metadata: [
            "remote": "\(context.channel.remoteAddress.map { "\($0)" } ?? "unknown")",
        ])
        guard reason == .header, clock.headStarted != nil else {
            context.close(promise: nil)
            return
        }
        // Nothing is being answered: say why before closing.
        answerAndClose(context, .requestTimeout,
                       RegistryError(.unsupported, "request head not received within the server's time limit; send the whole request at once"))
    }
}

/// A connection over `http.maxconnections`: answered 503 with the spec's JSON error, its write side
/// shut, whatever it sent read and dropped, and closed after a second (closing at once, with its
/// request unread, would reset the connection and the client might never see the answer).
final class RefusedConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let body = RegistryError(.unavailable, "the server has \(limit) connections open (http.maxconnections); retry shortly").jsonBody
        var response = ByteBuffer()
        response.writeString("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
            + "Retry-After: 1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n\r\n")
        response.writeBytes(body)
        context.writeAndFlush(NIOAny(response)).assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { context.close(promise: nil) }
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's open-file limit, first raised from its soft to its hard value (as Go programs do
/// at start): every connection, upload and blob read holds a descriptor.
func raiseOpenFileLimit() -> Int {
    var limit = rlimit()
    #if canImport(Glibc)
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    let resource = RLIMIT_NOFILE
    #endif
    guard getrlimit(resource, &limit) == 0 else { return 1024 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(resource, &raised) == 0 { limit = raised }
    }
    return limit.rlim_cur > rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
}
