import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// What real clients depend on at the connection level: curl's `Expect: 100-continue` is answered
/// at once, and HTTP/1.0 keep-alive clients (ApacheBench, some proxies) keep their connection.
final class ConnectionBehaviourTests: IntegrationTestCase {
    /// A blocking loopback socket with a receive timeout, for speaking raw HTTP.
    final class RawConnection {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw TestFailure("connect: errno \(errno)") }
        }

        deinit { close(fd) }

        func send(_ text: String) {
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        }

        /// Reads until `marker` has arrived (or the peer closes / the timeout passes).
        func receive(until marker: String) -> String {
            var received = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !String(decoding: received, as: UTF8.self).contains(marker) {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                received += buffer[0..<n]
            }
            return String(decoding: received, as: UTF8.self)
        }

        /// True when the peer has closed the connection.
        func isClosed() -> Bool {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0) == 0
        }
    }

    func testExpectContinueIsAnsweredBeforeTheBodyIsSent() async throws {
        let registry = try await startBerth(root: try temporaryDirectory("expect"))
        let body = String(repeating: "x", count: 1000)
        let digest = Blob.digest(Data(body.utf8))
        let connection = try RawConnection(port: registry.port)
        connection.send("POST /v2/expect/blobs/uploads/?digest=\(digest) HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n")
        // Nothing of the body has been sent: the interim response must come anyway.
        let interim = connection.receive(until: "\r\n\r\n")
        XCTAssertTrue(interim.hasPrefix("HTTP/1.1 100 Continue"), interim)
        connection.send(body)
        let final = connection.receive(until: "\r\n\r\n")
        XCTAssertTrue(final.hasPrefix("HTTP/1.1 201"), final)
    }

    func testHTTP10KeepAliveKeepsTheConnectionAndPlainHTTP10Closes() async throws {
        let registry = try await startBerth(root: try temporaryDirectory("http10"))
        let keepAlive = try RawConnection(port: registry.port)
        for _ in 0..<2 {
            keepAlive.send("HEAD /v2/ HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
            let response = keepAlive.receive(until: "\r\n\r\n")
            XCTAssertTrue(response.hasPrefix("HTTP/1.0 200"), response)
            XCTAssertTrue(response.lowercased().contains("connection: keep-alive"), response)
        }
        let plain = try RawConnection(port: registry.port)
        plain.send("GET /v2/ HTTP/1.0\r\nHost: x\r\n\r\n")
        let response = plain.receive(until: "{}")
        XCTAssertTrue(response.hasPrefix("HTTP/1.0 200"), response)
        XCTAssertTrue(response.lowercased().contains("connection: close"), response)
        XCTAssertTrue(plain.isClosed(), "an HTTP/1.0 request without keep-alive must end with the connection closed")
    }

    /// A request head over the limit gets the spec's JSON error with 431 (not a dropped
    /// connection), and the server keeps serving.
    func testOversizedRequestHeadsGet431() async throws {
        let registry = try await startBerth(root: try temporaryDirectory("headers"))
        let big = try RawConnection(port: registry.port)
        big.send("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 70_000))\r\n\r\n")
        let refused = big.receive(until: "}]}")
        XCTAssertTrue(refused.hasPrefix("HTTP/1.1 431"), String(refused.prefix(200)))
        XCTAssertTrue(refused.contains(#""code":"DENIED""#), refused)
        XCTAssertTrue(big.isClosed())
        let many = try RawConnection(port: registry.port)
        let fields = (0..<300).map { "X-F\($0): v\r\n" }.joined()
        many.send("GET /v2/ HTTP/1.1\r\nHost: x\r\n\(fields)\r\n")
        XCTAssertTrue(many.receive(until: "\r\n").hasPrefix("HTTP/1.1 431"))
        let fine = try RawConnection(port: registry.port)
        fine.send("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertTrue(fine.receive(until: "{}").hasPrefix("HTTP/1.1 200"))
    }
}
