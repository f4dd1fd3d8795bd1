import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// What real clients depend on at the connection level: curl's `Expect: 100-continue` is answered
/// at once, and HTTP/1.0 keep-alive clients (ApacheBench, some proxies) keep their connection.
final class ConnectionBehaviourTests: IntegrationTestCase {
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
