import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Berth's HTTP/1 child channel: Hummingbird's `HTTP1Channel` pipeline (HTTP/1 codec, HTTP
/// types, connection state) plus Berth's connection handlers, with a much smaller inbound buffer.
///
/// NIO's default lets each connection queue up to ten socket reads ahead of a slow consumer; with
/// 1 MiB reads and uploads waiting on the disk, that is ~10 MiB per connection, 400 MiB for 32
/// concurrent pushes. Here at most `bufferedReads` reads of `ConnectionTuningHandler.readSize`
/// wait per connection, so memory stays bounded while the socket buffer absorbs the rest.
struct BerthHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    static let bufferedReads = 2

    let responder: HTTPChannelHandler.Responder
    let zeroCopy: Bool
    /// `http.timeouts` (ConnectionGuard.swift).
    let deadlines: ConnectionDeadlines
    /// Open connections and cut-offs; `admits`: this channel counts against `http.maxconnections`
    /// (false under TLS, where the TLS channel counted the connection already).
    let stats: ConnectionStats?
    let admits: Bool

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            if admits, let stats, !stats.admit(channel) {
                logger.warning("refusing a connection: \(stats.maxConnections) are open (http.maxconnections)", metadata: [
                    "remote": "\(channel.remoteAddress.map { "\($0)" } ?? "unknown")",
                ])
                try pipeline.addHandler(RefusedConnectionHandler(limit: stats.maxConnections))
                // Nothing reaches the application: the handler above answers 503 and closes.
                return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
            }
            let clock = ConnectionClock(deadlines)
            try pipeline.addHandler(ConnectionActivityHandler(clock: clock))
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false,  // NIOAsyncChannel handles one request at a time
                withErrorHandling: false,  // Hummingbird answers errors
                withOutboundHeaderValidation: false,  // HTTP types validate
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: HeaderLimits.decoderConfiguration)
            try pipeline.addHandler(RequestHeadErrorHandler())
            try pipeline.addHandler(ConnectionDeadlineHandler(clock: clock, stats: stats, logger: logger))
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandler(ConnectionTuningHandler(zeroCopy: zeroCopy))
            try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel,
                configuration: .init(
                    backPressureStrategy: .init(lowWatermark: 1, highWatermark: Self.bufferedReads),
                    isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// Berth's HTTP/1 server (see `BerthHTTP1Channel`).
    static func berthHTTP1(limits: ConnectionLimits, stats: ConnectionStats?) -> HTTPServerBuilder {
        .init { responder in
            BerthHTTP1Channel(responder: responder, zeroCopy: true, deadlines: ConnectionDeadlines(limits),
                              stats: stats, admits: true)
        }
    }
}
