import BerthS3
import Crypto
import Foundation
import NIOCore
import XCTest

/// Multipart uploads against moto: buffered, streamed and server-side-copied parts.
final class S3ClientMultipartTests: XCTestCase {
    static let mebibyte = 1 << 20

    /// Deterministic, non-repeating bytes, so a misplaced part changes the digest.
    func pattern(_ count: Int, seed: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        var state = seed
        for _ in 0..<(count / 8) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            buffer.writeInteger(state)
        }
        buffer.writeRepeatingByte(UInt8(truncatingIfNeeded: seed), count: count % 8)
        return buffer
    }

    func testMultipartWithStreamedAndCopiedPartsJoinsInOrder() async throws {
        // No root directory: moto 5.2.1 cannot check signatures of listings with a `/` in the prefix.
        try await MotoServer.withClient { client in
            let five = 5 * Self.mebibyte
            let source = pattern(6 * Self.mebibyte, seed: 9)
            try await client.putObject("source object", body: source)
            let parts = [pattern(five, seed: 1), pattern(five, seed: 2), pattern(five, seed: 3)]
            let last = pattern(123_457, seed: 4)
            let key = "uploads/big blob"

            let started = ContinuousClock.now
            let uploadID = try await client.createMultipartUpload(key, contentType: "application/octet-stream")
            var uploaded: [S3Part] = []
            uploaded.append(try await client.uploadPart(key, uploadID: uploadID, partNumber: 1, body: parts[0]))
            uploaded.append(try await client.uploadPart(key, uploadID: uploadID, partNumber: 2, body: parts[1]))
            uploaded.append(
                try await client.uploadPart(
                    key, uploadID: uploadID, partNumber: 3, body: ChunkedBody(buffer: parts[2], chunk: 64 * 1024),
                    length: Int64(five)))
            let copyRange = S3ByteRange(offset: 512 * 1024, length: Int64(five))
            uploaded.append(
                try await client.uploadPartCopy(key, uploadID: uploadID, partNumber: 4, source: "source object", range: copyRange))
            uploaded.append(try await client.uploadPart(key, uploadID: uploadID, partNumber: 5, body: last))

            let listed = try await client.listParts(key, uploadID: uploadID)
            XCTAssertEqual(listed.map(\.number), [1, 2, 3, 4, 5])
            XCTAssertEqual(listed.map(\.eTag), uploaded.map(\.eTag))
            XCTAssertEqual(listed.map(\.size), [five, five, five, five, last.readableBytes].map { Int64($0) })
            let inProgress = try await client.listMultipartUploads(prefix: "uploads")
            XCTAssertEqual(inProgress.map(\.uploadID), [uploadID])
            XCTAssertEqual(inProgress.first?.key, key)

            let eTag = try await client.completeMultipartUpload(key, uploadID: uploadID, parts: uploaded.reversed())
            let elapsed = ContinuousClock.now - started
            XCTAssertTrue(eTag.hasSuffix("-5"), "a multipart ETag names its part count: \(eTag)")

            var expected = SHA256()
            for part in parts { expected.update(data: Data(part.readableBytesView)) }
            expected.update(data: Data(source.getSlice(at: 512 * 1024, length: five)!.readableBytesView))
            expected.update(data: Data(last.readableBytesView))
            var actual = SHA256()
            var size = 0
            try await client.getObject(key) { chunk in
                size += chunk.readableBytes
                actual.update(data: Data(chunk.readableBytesView))
            }
            XCTAssertEqual(size, 4 * five + last.readableBytes)
            XCTAssertEqual(actual.finalize(), expected.finalize())
            let head = try await client.headObject(key)
            XCTAssertEqual(head?.size, Int64(size))
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("multipart upload of \(size >> 20) MiB to moto (5 parts, one copied): \(String(format: "%.2f", seconds)) s")
        }
    }

    func testAbortDiscardsTheUpload() async throws {
        try await MotoServer.withClient { client in
            let uploadID = try await client.createMultipartUpload("aborted")
            _ = try await client.uploadPart("aborted", uploadID: uploadID, partNumber: 1, body: ByteBuffer(string: "part"))
            try await client.abortMultipartUpload("aborted", uploadID: uploadID)
            do {
                _ = try await client.listParts("aborted", uploadID: uploadID)
                XCTFail("the aborted upload still lists parts")
            } catch let error as S3Error {
                XCTAssertEqual(error.code, "NoSuchUpload")
                XCTAssertEqual(error.status, 404)
            }
            do {
                try await client.completeMultipartUpload(
                    "aborted", uploadID: uploadID, parts: [S3Part(number: 1, eTag: "x")])
                XCTFail("the aborted upload completed")
            } catch let error as S3Error {
                // moto 5.2.1 answers 500 here (a KeyError in its handler), retried and then reported.
                XCTAssertTrue(error.code == "NoSuchUpload" || error.status == 500, "\(error)")
            }
            let inProgress = try await client.listMultipartUploads()
            XCTAssertEqual(inProgress, [])
            let head = try await client.headObject("aborted")
            XCTAssertNil(head)
        }
    }
}

/// A buffer handed out in fixed-size slices, like a request body arriving from a client.
struct ChunkedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let buffer: ByteBuffer
    let chunk: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ByteBuffer
        let chunk: Int

        mutating func next() async -> ByteBuffer? {
            guard remaining.readableBytes > 0 else { return nil }
            return remaining.readSlice(length: Swift.min(chunk, remaining.readableBytes))
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(remaining: buffer, chunk: chunk) }
}
