@testable import BerthRedis
import NIOCore
import XCTest

final class RESPTests: XCTestCase {
    func testEncodesCommandsAsArraysOfBulkStrings() {
        var buffer = ByteBuffer()
        RESP.encode(["SET", "k", "wörth"], into: &buffer)
        XCTAssertEqual(String(buffer: buffer), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\nwörth\r\n")
    }

    func testParsesEveryReplyTypeAndWaitsForWholeReplies() throws {
        let wire = "+OK\r\n-ERR no\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:7\r\n*-1\r\n"
        let expected: [RESPValue] = [
            .simple("OK"), .error("ERR no"), .integer(42), .bulk(Array("hello".utf8)), .bulk(nil),
            .array([.bulk(Array("a".utf8)), .array([.integer(7)])]), .array(nil),
        ]
        // Fed one byte at a time, nothing is parsed before a reply is whole.
        var buffer = ByteBuffer()
        var parsed: [RESPValue] = []
        for byte in wire.utf8 {
            buffer.writeInteger(byte)
            while let value = try RESP.parse(&buffer) { parsed.append(value) }
        }
        XCTAssertEqual(parsed, expected)
        XCTAssertEqual(buffer.readableBytes, 0)
    }

    func testRefusesWhatIsNotRESP() {
        for bad in ["?what\r\n", ":x\r\n", "$-5\r\n", "*-2\r\n"] {
            var buffer = ByteBuffer(string: bad)
            XCTAssertThrowsError(try RESP.parse(&buffer), bad)
        }
    }
}
