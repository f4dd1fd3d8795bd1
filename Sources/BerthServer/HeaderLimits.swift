import BerthAPI
import BerthCore
import NIOCore
import NIOHTTP1

/// Bounds on request heads, so that no request can make the server hold much memory before its
/// route runs: the whole head (request line and headers), one field, and the number of fields.
enum HeaderLimits {
    static let maxHeadBytes = 64 * 1024
    static let maxFieldCount = 200

    static var decoderConfiguration: NIOHTTPDecoderLimitConfiguration {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = maxHeadBytes
        limits.maxHeaderListSize = maxHeadBytes
        limits.maxHeaderFieldCount = maxFieldCount
        return limits
    }
}

/// Answers a request whose head breaks the limits (or cannot be parsed) with the spec's JSON
/// error, 431 or 400, then closes the connection; without it the client would just see the
/// connection drop. Sits right above the HTTP/1 codec.
final class RequestHeadErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Whether a response is under way (then an error can only close the connection).
    private var responding = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responding = true
        case .end: responding = false
        case .body: break
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError, !responding else {
            context.fireErrorCaught(error)
            return
        }
        let (status, error): (HTTPResponseStatus, RegistryError) = parserError == .headerOverflow
            ? (.requestHeaderFieldsTooLarge, RegistryError(
                .denied, "request headers exceed \(HeaderLimits.maxHeadBytes) bytes or \(HeaderLimits.maxFieldCount) fields"))
            : (.badRequest, RegistryError(.unsupported, "malformed HTTP request: \(parserError)"))
        let body = error.jsonBody
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
