@testable import BerthS3
import BerthStorage
import Foundation
import NIOCore
import XCTest
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// What the S3 driver does beyond the shared checks: part sizes, listings past one page,
/// abandoned multipart uploads, finished objects continued, presigned redirects.
final class S3DriverTests: XCTestCase {
    func testPartSizesGrowSoA200GiBUploadStaysUnder10000Parts() throws {
        for chunk in [S3Configuration.minimumChunkSize, S3Configuration.defaultChunkSize] {
            var configuration = try S3Configuration.parse(["bucket": "abc", "region": "us-east-1", "accesskey": "a", "secretkey": "b"],
                                                          environment: [:])
            configuration.chunkSize = chunk
            let client = S3Client(configuration: configuration)
            defer { try? client.httpClient.syncShutdown() }
            let driver = S3Driver(client: client)
            XCTAssertEqual(driver.partSize(1), chunk)
            XCTAssertEqual(driver.partSize(1000), chunk)
            XCTAssertEqual(driver.partSize(1001), chunk * 2)
            var total: Int64 = 0
            var parts = 0
            while total < 200 << 30 {
                parts += 1
                XCTAssertLessThanOrEqual(driver.partSize(parts), S3Configuration.maximumChunkSize)
                total += Int64(driver.partSize(parts))
            }
            XCTAssertLessThan(parts, 10_000, "\(chunk)-byte parts carry 200 GiB in \(parts) parts")
            XCTAssertLessThanOrEqual(driver.partSize(10_000), S3Configuration.maximumChunkSize)
        }
    }

    func testListingsPastOnePage() async throws {
        try await S3DriverConformanceTests.withDriver { driver in
            let names = (0..<1_105).map { String(format: "r%05d", $0) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for batch in stride(from: 0, to: names.count, by: 70) {
                    let slice = names[batch..<min(batch + 70, names.count)]
                    group.addTask {
                        for name in slice { try await driver.putContent("/many/\(name)/link", ByteBuffer(string: name)) }
                    }
                }
                try await group.waitForAll()
            }
            try await driver.putContent("/many/top", ByteBuffer(string: "file"))
            let listed = try await driver.list("/many")
            XCTAssertEqual(listed, (names + ["top"]).sorted(), "1,105 directories and a file, over two pages")
            try await driver.delete("/many")
            let left = try await driver.statIfExists("/many")
            XCTAssertNil(left, "a delete of 1,106 objects takes more than one DeleteObjects request")
        }
    }

    /// A multipart upload nothing names (a node killed before it committed) is aborted; one a
    /// pending document names is kept.
    func testAbandonedMultipartUploadsAreCleared() async throws {
        try await S3DriverConformanceTests.withDriver { driver in
            let orphan = try await driver.client.createMultipartUpload("_uploads/orphan/data")
            let writer = try await driver.writer("/_uploads/live/data", append: false)
            try await writer.write(ByteBuffer(bytes: [UInt8](repeating: 1, count: (5 << 20) + 10)))
            try await writer.close(checkpoint: [1, 2, 3])
            let before = try await driver.client.listMultipartUploads()
            XCTAssertEqual(Set(before.map(\.key)), ["_uploads/orphan/data", "_uploads/live/data"])
            // moto dates every multipart upload 2010-11-10, so the age rule (younger ones may still
            // be in use) cannot be seen here; every upload counts as old.
            let cleared = try await driver.clearTemporaryFiles(olderThan: 3600)
            XCTAssertEqual(cleared, 1)
            let after = try await driver.client.listMultipartUploads()
            XCTAssertEqual(after.map(\.key), ["_uploads/live/data"], "the live upload is kept")
            XCTAssertFalse(after.contains { $0.uploadID == orphan })
            let checkpoint = try await driver.checkpoint("/_uploads/live/data")
            XCTAssertEqual(checkpoint, [1, 2, 3])
            try await driver.delete("/_uploads")
            let none = try await driver.client.listMultipartUploads()
            XCTAssertEqual(none.count, 0, "deleting the directory aborts its multipart upload")
        }
    }

    /// An object whose parts were joined just before a crash is continued when more chunks come,
    /// whether it becomes the tail (short) or the first part (long).
    func testAFinishedObjectCanBeContinued() async throws {
        try await S3DriverConformanceTests.withDriver { driver in
            for size in [1_000, (5 << 20) + 3] {
                let path = "/adopt/\(size)"
                let first = [UInt8](repeating: 7, count: size)
                try await driver.client.putObject(driver.key(path), body: ByteBuffer(bytes: first))
                let writer = try await driver.writer(path, append: true)
                let start = await writer.size
                XCTAssertEqual(start, Int64(size))
                let more = [UInt8](repeating: 9, count: 6 << 20)
                try await writer.write(ByteBuffer(bytes: more))
                try await writer.close(checkpoint: nil)
                try await driver.move(from: path, to: path + "-final")
                var read: [UInt8] = []
                try await driver.read(path + "-final", range: nil) { read += $0.readableBytesView }
                XCTAssertTrue(read == first + more, "size \(size): \(read.count) bytes read back")
            }
        }
    }

    /// A pending upload with parts cannot be read back (S3 has no reads of unfinished multipart
    /// uploads): the error says so; one that is all tail reads fine.
    func testReadingPendingUploads() async throws {
        try await S3DriverConformanceTests.withDriver { driver in
            let small = try await driver.writer("/pending/small", append: false)
            try await small.write(ByteBuffer(string: "just a tail"))
            try await small.close(checkpoint: nil)
            var read = ""
            try await driver.read("/pending/small", range: 5..<11) { read += String(buffer: $0) }
            XCTAssertEqual(read, "a tail")
            let big = try await driver.writer("/pending/big", append: false)
            try await big.write(ByteBuffer(bytes: [UInt8](repeating: 0, count: 6 << 20)))
            try await big.close(checkpoint: nil)
            do {
                try await driver.read("/pending/big", range: nil) { _ in }
                XCTFail("reading an unfinished multipart upload must fail")
            } catch StorageDriverError.io(_, _, let reason) {
                XCTAssertTrue(reason.contains("unfinished multipart upload"), reason)
            }
        }
    }

    func testRedirectURLsArePresignedForTheObject() async throws {
        try await S3DriverConformanceTests.withDriver { driver in
            try await driver.putContent("/blobs/x/data", ByteBuffer(string: "blob bytes"))
            let presigned = try await driver.redirectURL("/blobs/x/data", expiry: 600)
            let url = try XCTUnwrap(presigned)
            XCTAssertTrue(url.contains("/registry/blobs/x/data?") && url.contains("X-Amz-Expires=600"), url)
            let (data, response) = try await URLSession.shared.data(from: try XCTUnwrap(URL(string: url)))
            XCTAssertEqual((response as? HTTPURLResponse)?.statusCode, 200)
            XCTAssertEqual(String(decoding: data, as: UTF8.self), "blob bytes")
        }
    }
}
