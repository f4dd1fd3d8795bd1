import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking loopback socket with a receive timeout, for speaking raw (and hostile) HTTP.
final class RawConnection {
    let fd: Int32

    /// `receiveBuffer`: a small `SO_RCVBUF` makes a client that does not read stall the server soon.
    init(port: Int, timeout: Int = 5, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var time = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw TestFailure("connect: errno \(code)")
        }
    }

    deinit { close(fd) }

    /// Sends `text`; false when the peer has gone (no SIGPIPE).
    @discardableResult
    func send(_ text: String) -> Bool {
        send(Array(text.utf8))
    }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// Bytes read but not yet returned.
    private var pending = [UInt8]()

    /// Reads until `marker` has arrived (or the peer closes / the timeout passes).
    func receive(until marker: String) -> String {
        var received = pending
        pending = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).contains(marker) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Reads everything until the peer closes or resets the connection, or the receive timeout
    /// passes with nothing arriving; returns the byte count and whether the connection ended.
    func drain() -> (bytes: Int, ended: Bool) {
        var total = pending.count
        pending = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { total += n; continue }
            if n == 0 { return (total, true) }
            return (total, errno == ECONNRESET)
        }
    }

    /// True when the peer has closed the connection.
    func isClosed() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    /// Without waiting: true when the peer has closed or reset the connection. What has arrived
    /// meanwhile is kept for `receive(until:)`.
    func hasEnded() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 { pending += buffer[0..<n]; continue }
            if n == 0 { return true }
            return errno == ECONNRESET
        }
    }
}
