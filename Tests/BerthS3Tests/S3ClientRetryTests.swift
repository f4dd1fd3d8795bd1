import BerthS3
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import XCTest

/// Retries through a TCP proxy in front of moto that drops connections in the middle of a request.
final class S3ClientRetryTests: XCTestCase {
    /// Runs `body` with a client of `direct`'s bucket that goes through `proxy`, and stops both after.
    func withProxiedClient(
        _ direct: S3Client, _ proxy: DroppingProxy, maxAttempts: Int, _ body: (S3Client) async throws -> Void
    ) async throws {
        let configuration = try MotoServer.get().configuration(
            bucket: direct.configuration.bucket, endpoint: "http://127.0.0.1:\(proxy.port)")
        let policy = S3RetryPolicy(maxAttempts: maxAttempts, baseDelay: .milliseconds(5), maxDelay: .milliseconds(40))
        do {
            try await S3Client.withClient(configuration: configuration, retryPolicy: policy, body)
        } catch {
            try? await proxy.stop()
            throw error
        }
        try await proxy.stop()
    }

    func testDroppedConnectionsAreRetried() async throws {
        try await MotoServer.withClient { direct in
            let proxy = try await DroppingProxy.start(upstreamPort: try MotoServer.get().port, dropFirst: 2)
            try await withProxiedClient(direct, proxy, maxAttempts: 4) { client in
                try await client.putObject("retried key", body: ByteBuffer(string: "arrived after two drops"))
                XCTAssertEqual(proxy.connections, 3, "two dropped attempts, then one that got through")
                let read = try await collect(direct, "retried key")
                XCTAssertEqual(read, ByteBuffer(string: "arrived after two drops"))
                let viaProxy = try await collect(client, "retried key")
                XCTAssertEqual(viaProxy, read)
            }
        }
    }

    func testSlowDownIsRetriedThenReported() async throws {
        try await MotoServer.withClient { direct in
            try await direct.putObject("throttled", body: ByteBuffer(string: "eventually"))
            let proxy = try await DroppingProxy.start(upstreamPort: try MotoServer.get().port, dropFirst: 2, slowDown: true)
            try await withProxiedClient(direct, proxy, maxAttempts: 3) { client in
                let read = try await collect(client, "throttled")
                XCTAssertEqual(read, ByteBuffer(string: "eventually"))
                XCTAssertEqual(proxy.connections, 3, "two throttled attempts, then one that got through")
            }
            let always = try await DroppingProxy.start(upstreamPort: try MotoServer.get().port, dropFirst: .max, slowDown: true)
            try await withProxiedClient(direct, always, maxAttempts: 3) { client in
                do {
                    try await client.deleteObject("throttled")
                    XCTFail("a DELETE answered SlowDown every time succeeded")
                } catch let error as S3Error {
                    XCTAssertEqual(error.code, "SlowDown")
                    XCTAssertEqual(error.status, 503)
                    XCTAssertEqual(error.requestID, "PROXY503")
                    XCTAssertTrue(error.description.contains("throttling"), error.description)
                }
                XCTAssertEqual(always.connections, 3)
            }
        }
    }

    func testAttemptsAreBoundedWhenEveryConnectionDrops() async throws {
        try await MotoServer.withClient { direct in
            let proxy = try await DroppingProxy.start(upstreamPort: try MotoServer.get().port, dropFirst: .max)
            try await withProxiedClient(direct, proxy, maxAttempts: 3) { client in
                do {
                    _ = try await collect(client, "anything")
                    XCTFail("a GET through a proxy that drops every connection succeeded")
                } catch let error as S3Error {
                    XCTAssertEqual(error.code, "ConnectionFailed")
                    XCTAssertEqual(error.status, 0)
                    XCTAssertTrue(error.description.contains("after 3 attempts"), error.description)
                }
                XCTAssertEqual(proxy.connections, 3)

                // A streamed part cannot be sent twice, so it is tried once.
                let uploadID = try await direct.createMultipartUpload("streamed")
                do {
                    _ = try await client.uploadPart(
                        "streamed", uploadID: uploadID, partNumber: 1,
                        body: ChunkedBody(buffer: ByteBuffer(repeating: 7, count: 200_000), chunk: 8192), length: 200_000)
                    XCTFail("a streamed part through a dropping proxy succeeded")
                } catch let error as S3Error {
                    XCTAssertEqual(error.code, "ConnectionFailed")
                    XCTAssertTrue(error.description.contains("after 1 attempt "), error.description)
                }
                XCTAssertEqual(proxy.connections, 4)
                try await direct.abortMultipartUpload("streamed", uploadID: uploadID)
            }
        }
    }
}

/// A loopback TCP proxy to another local port that fails its first `dropFirst` connections as soon
/// as request bytes arrive — closing them, or with `slowDown` answering 503 SlowDown as S3 does when
/// it throttles — and forwards the others both ways.
final class DroppingProxy: Sendable {
    let channel: any Channel
    let port: Int
    private let counter: Mutex<Int>

    var connections: Int { counter.withLock { $0 } }

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
        counter = Mutex(0)
    }

    static func start(upstreamPort: Int, dropFirst: Int, slowDown: Bool = false) async throws -> DroppingProxy {
        let box = Mutex<DroppingProxy?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { child in
                let number = box.withLock { $0?.counter.withLock { count in count += 1; return count } } ?? 1
                let handler = ProxyHandler(
                    failure: number > dropFirst ? nil : slowDown ? .slowDown : .drop, upstreamPort: upstreamPort)
                return child.pipeline.addHandler(handler)
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = DroppingProxy(channel: channel, port: channel.localAddress?.port ?? 0)
        box.withLock { $0 = proxy }
        return proxy
    }

    func stop() async throws {
        try await channel.close()
    }
}

/// One client connection of the proxy; all state is touched on its event loop only.
private final class ProxyHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    enum Failure { case drop, slowDown }
    let failure: Failure?
    let upstreamPort: Int
    var upstream: (any Channel)?
    var pending: [ByteBuffer] = []

    init(failure: Failure?, upstreamPort: Int) {
        self.failure = failure
        self.upstreamPort = upstreamPort
    }

    static let slowDownAnswer: ByteBuffer = {
        let body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>PROXY503</RequestId></Error>"
        return ByteBuffer(
            string: "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n" + body)
    }()

    func channelActive(context: ChannelHandlerContext) {
        guard failure == nil else { return }
        let downstream = context.channel
        ClientBootstrap(group: context.eventLoop)
            .channelInitializer { $0.pipeline.addHandler(ForwardHandler(peer: downstream)) }
            .connect(host: "127.0.0.1", port: upstreamPort)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    guard downstream.isActive else {
                        channel.close(promise: nil)
                        return
                    }
                    self.upstream = channel
                    for buffer in self.pending { channel.write(buffer, promise: nil) }
                    channel.flush()
                    self.pending = []
                case .failure:
                    downstream.close(promise: nil)
                }
            }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if failure == .drop {
            // The request has begun to arrive: cut it off.
            context.close(promise: nil)
        } else if failure == .slowDown {
            let channel = context.channel
            context.writeAndFlush(NIOAny(Self.slowDownAnswer)).whenComplete { _ in channel.close(promise: nil) }
        } else if let upstream {
            upstream.writeAndFlush(buffer, promise: nil)
        } else {
            pending.append(buffer)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        upstream?.close(promise: nil)
    }
}

/// Copies what the upstream server sends back to the client connection.
private final class ForwardHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let peer: any Channel

    init(peer: any Channel) { self.peer = peer }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        peer.close(promise: nil)
    }
}
