import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Per-connection tweaks in front of Hummingbird's request handling:
/// - answers `Expect: 100-continue` at once (Hummingbird does not), so clients such as curl do not
///   wait a second before sending every upload body;
/// - reads up to 1 MiB per socket read, which roughly halves server CPU on large uploads;
/// - keeps HTTP/1.0 keep-alive clients (ApacheBench, some proxies) on their connection;
/// - sends blobs with `sendfile(2)` (`ZeroCopySendHandler`).
final class ConnectionTuningHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    static let readSize = 256 << 10

    /// Whether blob GETs may use `sendfile(2)`: only on plain-TCP HTTP/1 connections.
    let zeroCopy: Bool

    init(zeroCopy: Bool = true) {
        self.zeroCopy = zeroCopy
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        if let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) {
            try? pipeline.addHandler(HTTP10KeepAliveHandler(), position: .before(codec))
            if zeroCopy { try? pipeline.addHandler(ZeroCopySendHandler(), position: .before(codec)) }
        }
        _ = context.channel.setOption(
            ChannelOptions.recvAllocator,
            value: AdaptiveRecvByteBufferAllocator(minimum: 64 * 1024, initial: 256 * 1024, maximum: Self.readSize))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(var request) = unwrapInboundIn(data),
           let expect = request.headerFields[.expect], expect.lowercased() == "100-continue" {
            request.headerFields[.expect] = nil
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            context.fireChannelRead(wrapInboundOut(.head(request)))
            return
        }
        context.fireChannelRead(data)
    }
}

/// HTTP/1.0 clients keep a connection only when the response says `Connection: keep-alive`;
/// the HTTP-types layer above this handler no longer knows the request's version, so this
/// handler, below it, remembers it per request and labels the response.
final class HTTP10KeepAliveHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// One entry per request whose response is still to be written (pipelining keeps order).
    private var pending: [(version: HTTPVersion, keepAlive: Bool)] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(var head) = unwrapInboundIn(data) {
            pending.append((head.version, head.isKeepAlive))
            if head.version == .http1_0, !head.isKeepAlive {
                // Hummingbird closes after the response only when it sees this header.
                head.headers.replaceOrAdd(name: "Connection", value: "close")
                context.fireChannelRead(wrapInboundOut(.head(head)))
                return
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(var head) = unwrapOutboundIn(data), head.status.code >= 200, !pending.isEmpty {
            let request = pending.removeFirst()
            if request.version == .http1_0 {
                head.version = .http1_0
                if request.keepAlive {
                    head.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
                } else {
                    head.headers.replaceOrAdd(name: "Connection", value: "close")
                }
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        }
        context.write(data, promise: promise)
    }
}
