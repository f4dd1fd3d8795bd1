/// BerthRedis: a small Redis client (RESP2 over one pipelined connection) and the shared blob
/// descriptor cache built on it (`storage.cache.blobdescriptor: redis`).
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A Redis reply.
public enum RESPValue: Sendable, Equatable {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8]?)
    case array([RESPValue]?)

    public var string: String? {
        switch self {
        case .simple(let s): s
        case .bulk(let bytes?): String(decoding: bytes, as: UTF8.self)
        case .integer(let i): String(i)
        default: nil
        }
    }
}

public struct RedisError: Error, CustomStringConvertible {
    public let description: String
}

/// Encodes commands and parses replies (RESP2).
enum RESP {
    static func encode(_ arguments: [String], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(arguments.count)\r\n")
        for argument in arguments {
            buffer.writeString("$\(argument.utf8.count)\r\n")
            buffer.writeString(argument)
            buffer.writeString("\r\n")
        }
    }

    /// One complete reply from the front of `buffer`, consumed; nil (nothing consumed) when
    /// more bytes are needed. Throws on bytes that are not RESP.
    static func parse(_ buffer: inout ByteBuffer) throws -> RESPValue? {
        let saved = buffer.readerIndex
        do {
            if let value = try parseValue(&buffer, depth: 0) { return value }
        } catch let error as RedisError {
            throw error
        }
        buffer.moveReaderIndex(to: saved)
        return nil
    }

    private static func line(_ buffer: inout ByteBuffer) -> String? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: 0x0d), view.index(after: cr) < view.endIndex,
              view[view.index(after: cr)] == 0x0a else { return nil }
        let text = buffer.readString(length: cr - view.startIndex)
        buffer.moveReaderIndex(forwardBy: 2)
        return text
    }

    private static func parseValue(_ buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard depth < 32 else { throw RedisError(description: "Redis reply nested too deeply") }
        guard let type = buffer.readInteger(as: UInt8.self) else { return nil }
        guard let text = line(&buffer) else { return nil }
        switch type {
        case UInt8(ascii: "+"): return .simple(text)
        case UInt8(ascii: "-"): return .error(text)
        case UInt8(ascii: ":"):
            guard let value = Int(text) else { throw RedisError(description: "Redis sent a bad integer: \(text)") }
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = Int(text), length >= -1, length < 512 << 20 else {
                throw RedisError(description: "Redis sent a bad bulk length: \(text)")
            }
            if length == -1 { return .bulk(nil) }
            guard buffer.readableBytes >= length + 2, let bytes = buffer.readBytes(length: length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 2)
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(text), count >= -1, count < 1 << 20 else {
                throw RedisError(description: "Redis sent a bad array length: \(text)")
            }
            if count == -1 { return .array(nil) }
            var items: [RESPValue] = []
            for _ in 0..<count {
                guard let item = try parseValue(&buffer, depth: depth + 1) else { return nil }
                items.append(item)
            }
            return .array(items)
        default:
            throw RedisError(description: "Redis sent a reply of unknown type \(type)")
        }
    }
}

/// Matches replies to the commands sent, in order (Redis answers a connection's commands in order).
final class RESPHandler: ChannelDuplexHandler, @unchecked Sendable {
    // Only touched on the channel's event loop.
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = (ByteBuffer, EventLoopPromise<RESPValue>)
    typealias OutboundOut = ByteBuffer

    private var received = ByteBuffer()
    private var waiting = CircularBuffer<EventLoopPromise<RESPValue>>()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        do {
            while let value = try RESP.parse(&received) {
                guard let promise = waiting.popFirst() else {
                    throw RedisError(description: "Redis sent a reply nobody asked for")
                }
                promise.succeed(value)
            }
            received.discardReadBytes()
        } catch {
            failAll(error)
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let (bytes, reply) = unwrapOutboundIn(data)
        waiting.append(reply)
        context.write(wrapOutboundOut(bytes), promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError(description: "the connection to Redis closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: Error) {
        while let promise = waiting.popFirst() { promise.fail(error) }
    }
}
