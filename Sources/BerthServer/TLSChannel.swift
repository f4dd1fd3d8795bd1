import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOHTTP2
import NIOSSL
import ServiceLifecycle

/// Berth's HTTPS child channel: a TLS handler with the context that is current when the
/// connection arrives (so a reload affects new connections only), then HTTP/2 or HTTP/1.1 as
/// ALPN decides. HTTP/1.1 is `BerthHTTP1Channel` without sendfile (TLS encrypts in user space,
/// so a `FileRegion` cannot pass through it); HTTP/2 is Hummingbird's `HTTP2Channel`.
struct BerthTLSChannel: ServerChildChannel {
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<NIONegotiatedHTTPVersion<BerthHTTP1Channel.Value, HTTP2Channel.Value>>
        let channel: any Channel
    }

    let contexts: TLSContextBox
    let http1: BerthHTTP1Channel
    let http2: HTTP2Channel
    /// Counts connections against `http.maxconnections` (over it, a TLS connection is closed at once:
    /// no answer can be sent before a handshake).
    let stats: ConnectionStats?
    /// How long the handshake and protocol negotiation may take (`http.timeouts.header`).
    let handshakeTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        if let stats, !stats.admit(channel) {
            logger.warning("refusing a TLS connection: \(stats.maxConnections) are open (http.maxconnections)")
            return channel.close().flatMapThrowing { _ -> Value in throw ChannelError.ioOnClosedChannel }
        }
        do {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: contexts.current))
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let (http1, http2) = (self.http1, self.http2)
        let handshakeDeadline = channel.eventLoop.scheduleTask(in: handshakeTimeout) {
            stats?.cutOff(.header)
            logger.info("closing connection: the TLS handshake did not finish within http.timeouts.header")
            channel.close(promise: nil)
        }
        return channel.configureHTTP2AsyncSecureUpgrade { connection in
            http1.setup(channel: connection, logger: logger)
        } http2ConnectionInitializer: { connection in
            http2.setup(channel: connection, logger: logger)
        }
        .map { negotiated in
            negotiated.whenComplete { _ in handshakeDeadline.cancel() }
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            // A client that never finishes its handshake must not hold up a graceful shutdown.
            let negotiated = try await withGracefulShutdownHandler {
                try await value.negotiated.get()
            } onGracefulShutdown: {
                value.channel.close(promise: nil)
            }
            switch negotiated {
            case .http1_1(let connection):
                await http1.handle(value: connection, logger: logger)
            case .http2(let connection):
                await http2.handle(value: connection, logger: logger)
            }
        } catch {
            // Plain HTTP to the TLS port, a refused client certificate, an old TLS version...
            logger.debug("TLS connection ended before a request: \(error)")
        }
    }
}

extension HTTPServerBuilder {
    /// Berth's HTTPS server (see `BerthTLSChannel`). Throws `ConfigurationError` when the files
    /// named in `settings` cannot be used; `reloadTLS` re-reads them later.
    static func berthTLS(_ settings: TLSSettings, limits: ConnectionLimits, stats: ConnectionStats?) throws -> HTTPServerBuilder {
        let contexts = try TLSContextBox(settings: settings)
        let deadlines = ConnectionDeadlines(limits)
        return .init { responder in
            BerthTLSChannel(
                contexts: contexts,
                http1: BerthHTTP1Channel(responder: responder, zeroCopy: false, deadlines: deadlines, stats: stats, admits: false),
                http2: HTTP2Channel(responder: responder, configuration: .init(idleTimeout: limits.idle)),
                stats: stats,
                handshakeTimeout: deadlines.header)
        }
    }
}

/// The server for `http.tls`: HTTPS when set, Berth's plain HTTP/1 server (with sendfile) when nil;
/// either with the connection limits and timeouts of `limits`.
func serverBuilder(tls: TLSSettings?, limits: ConnectionLimits, stats: ConnectionStats?) throws -> HTTPServerBuilder {
    guard let tls else { return .berthHTTP1(limits: limits, stats: stats) }
    return try .berthTLS(tls, limits: limits, stats: stats)
}
