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
///
/// When the bytes that fail to parse follow a request still being answered (a body longer than
/// its `Content-Length`), that request's answer goes out first and the connection then closes,
/// so no client reads an error meant for bytes it did not intend as a request.
final class RequestHeadErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Requests whose head has been read and whose response has not ended.
    private var unanswered = 0
    /// A parse error came while a request was unanswered: close once it is.
    private var closeWhenAnswered = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { unanswered += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        unanswered = max(0, unanswered - 1)
        guard closeWhenAnswered, unanswered == 0 else {
            context.write(data, promise: promise)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.cascade(to: promise)
        context.writeAndFlush(data, promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard unanswered == 0 else {
            closeWhenAnswered = true
            return
        }
        let (status, error): (HTTPResponseStatus, RegistryError) = parserError == .headerOverflow
            ? (.requestHeaderFieldsTooLarge, RegistryError(
                .denied, "request headers exceed \(HeaderLimits.maxHeadBytes) bytes or \(HeaderLimits.maxFieldCount) fields"))
            : (.badRequest, RegistryError(.unsupported, "malformed HTTP request: \(parserError)"))
        answerAndClose(context, status, error)
    }
}

/// Answers from below the application, where no route runs (a head the codec refused, a head that
/// never arrived): `error` as the spec's JSON error with `status`, then the connection closes.
/// `context` must belong to a handler whose outbound parts are `HTTPServerResponsePart`.
func answerAndClose(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, _ error: RegistryError) {
    let body = error.jsonBody
    var headers = HTTPHeaders()
    headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
    headers.add(name: "Content-Length", value: String(body.count))
    headers.add(name: "Connection", value: "close")
    context.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
    context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
    context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
}
