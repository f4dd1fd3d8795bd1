import BerthAPI
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Blob GETs over a real loopback server go out with `sendfile(2)`; the bytes, ranges and
/// headers are those of the streamed path, and the internal capability header cannot be forged.
private let capability = HTTPField.Name("X-Berth-Internal-Zero-Copy")!

final class ZeroCopyTests: XCTestCase {
    func testBlobGetsOnALiveServerAreSentZeroCopyAndIntact() async throws {
        try await Registry.run(framework: .live) { client in
            let data = content(3 << 20, seed: 11)
            let digest = try await client.pushBlob("zero/copy", data)
            let before = ZeroCopyFiles.shared.sentCount

            let whole = try await client.send(.get, "/v2/zero/copy/blobs/\(digest)")
            XCTAssertEqual(whole.status, .ok)
            XCTAssertEqual(whole.headers[.contentLength], String(data.count))
            XCTAssertEqual(whole.headers[.dockerContentDigest], digest)
            XCTAssertEqual(sha256(bodyBytes(whole)), digest)

            let range = try await client.send(.get, "/v2/zero/copy/blobs/\(digest)", headers: [.range: "bytes=1000-1048575"])
            XCTAssertEqual(range.status, .partialContent)
            XCTAssertEqual(range.headers[.contentRange], "bytes 1000-1048575/\(data.count)")
            XCTAssertEqual(bodyBytes(range), Array(data[1000...1_048_575]))

            // A client naming the internal header (with any value) gets the same, correct bytes.
            let forged = try await client.send(.get, "/v2/zero/copy/blobs/\(digest)", headers: [capability: "guess"])
            XCTAssertEqual(sha256(bodyBytes(forged)), digest)

            XCTAssertGreaterThanOrEqual(ZeroCopyFiles.shared.sentCount - before, 3, "blob GETs did not take the sendfile path")
            let head = try await client.send(.head, "/v2/zero/copy/blobs/\(digest)")
            XCTAssertEqual(head.headers[.contentLength], String(data.count))
            XCTAssertEqual(head.body.readableBytes, 0)
        }
    }

    /// Clients that hang up in the middle of a zero-copy download leave no file open and no
    /// pending send behind, and the server keeps answering.
    func testClientsDisconnectingMidSendLeakNothing() async throws {
        try await Registry.run(framework: .live) { client in
            let data = content(8 << 20, seed: 13)
            let digest = try await client.pushBlob("zero/drop", data)
            let port = try XCTUnwrap(client.port)
            func openFiles() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
            let before = openFiles()
            for _ in 0..<20 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                XCTAssertEqual(connected, 0)
                let request = Array("GET /v2/zero/drop/blobs/\(digest) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
                _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                var buffer = [UInt8](repeating: 0, count: 4096)
                _ = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }  // the head and a little body
                close(fd)
            }
            // The server notices each hang-up when sendfile fails; give it a moment.
            var after = openFiles()
            for _ in 0..<100 where after > before || ZeroCopyFiles.shared.pendingCount > 0 {
                try await Task.sleep(for: .milliseconds(20))
                after = openFiles()
            }
            XCTAssertLessThanOrEqual(after, before, "descriptors leaked by interrupted sends")
            XCTAssertEqual(ZeroCopyFiles.shared.pendingCount, 0)
            let whole = try await client.send(.get, "/v2/zero/drop/blobs/\(digest)")
            XCTAssertEqual(sha256(bodyBytes(whole)), digest)
        }
    }

    /// In-process (router) tests have no channel handler: a client cannot switch the marker path
    /// on by sending the header, even with a plausible value, so it never receives a marker.
    func testWithoutTheHandlerBlobsAreStreamed() async throws {
        try await Registry.run { client in
            let data = content(100_000, seed: 12)
            let digest = try await client.pushBlob("streamed", data)
            let before = ZeroCopyFiles.shared.sentCount
            for value in ["", "0123456789abcdef0123456789abcdef", String(repeating: "0", count: 32)] {
                let r = try await client.send(.get, "/v2/streamed/blobs/\(digest)", headers: [capability: value])
                XCTAssertEqual(bodyBytes(r), data)
            }
            XCTAssertEqual(ZeroCopyFiles.shared.sentCount, before)
        }
    }

    func testMarkersOfOtherProcessesOrUnknownIdsAreNotClaimed() {
        let files = ZeroCopyFiles.shared
        var foreign = ByteBuffer(string: String(repeating: "a", count: files.key.utf8.count))
        foreign.writeInteger(UInt64(1))
        XCTAssertNil(files.claim(foreign))
        var unknown = ByteBuffer(string: files.key)
        unknown.writeInteger(UInt64.max)
        XCTAssertNil(files.claim(unknown))
        XCTAssertNil(files.claim(ByteBuffer(string: files.key)))
    }
}
