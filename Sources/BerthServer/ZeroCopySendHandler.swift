import BerthAPI
import NIOCore
import NIOHTTP1

/// Sits in front of the HTTP/1 encoder on plain-TCP connections: tells routes (with a request
/// header only this process can produce) that files may be sent zero-copy, and turns their marker
/// bodies into `FileRegion`s, which NIO writes with `sendfile(2)`. See `ZeroCopyFiles`.
final class ZeroCopySendHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let files: ZeroCopyFiles
    private let headerName = ZeroCopyFiles.capabilityHeader.canonicalName

    init(files: ZeroCopyFiles = .shared) {
        self.files = files
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data) else {
            context.fireChannelRead(data)
            return
        }
        // Whatever a client sends under this name is dropped; only this handler sets it.
        head.headers.replaceOrAdd(name: headerName, value: files.key)
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .body(.byteBuffer(let buffer)) = unwrapOutboundIn(data),
              buffer.readableBytes == files.markerLength,
              let file = files.claim(buffer) else {
            context.write(data, promise: promise)
            return
        }
        let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: file.descriptor)
        let region = FileRegion(fileHandle: handle, readerIndex: Int(file.offset), endIndex: Int(file.offset + file.length))
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { result in
            try? handle.close()
            switch result {
            case .success: promise?.succeed()
            case .failure(let error): promise?.fail(error)
            }
        }
        context.write(wrapOutboundOut(.body(.fileRegion(region))), promise: written)
    }
}
