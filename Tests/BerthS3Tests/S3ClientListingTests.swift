import BerthS3
import Foundation
import NIOCore
import XCTest

/// Listings and batch deletes against moto. moto 5.2.1 miscomputes the signature of a `prefix`
/// containing `/` (boto3's requests fail the same way), so these run on the moto that checks none.
final class S3ClientListingTests: XCTestCase {
    /// Puts `count` small objects named `prefix` + zero-padded index, 16 at a time.
    func putMany(_ client: S3Client, prefix: String, count: Int) async throws -> [String] {
        let keys = (0..<count).map { prefix + String(format: "%05d", $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, key) in keys.enumerated() {
                if index >= 16 { try await group.next() }
                group.addTask { try await client.putObject(key, body: ByteBuffer(string: key)) }
            }
            try await group.waitForAll()
        }
        return keys
    }

    func testPaginationWithSmallPages() async throws {
        try await MotoServer.withClient(rootDirectory: "root/dir", authenticated: false) { client in
            let keys = try await putMany(client, prefix: "page/k", count: 53)
            try await client.putObject("other/outside", body: ByteBuffer(string: "x"))
            var listed: [String] = []
            var pages = 0
            for try await page in client.listPages(prefix: "page/", pageSize: 10) {
                pages += 1
                XCTAssertLessThanOrEqual(page.objects.count, 10)
                listed += page.objects.map(\.key)
                XCTAssertTrue(page.objects.allSatisfy { $0.size == Int64($0.key.utf8.count) })
                XCTAssertTrue(page.objects.allSatisfy { abs($0.lastModified?.timeIntervalSinceNow ?? 1e9) < 300 })
                XCTAssertTrue(page.objects.allSatisfy { $0.eTag.count == 32 }, "MD5 ETags, unquoted")
            }
            XCTAssertEqual(pages, 6)
            XCTAssertEqual(listed, keys, "every key once, in order, relative to the root directory")
            // A page loop by hand, with the token.
            let first = try await client.listObjectsV2(prefix: "page/", maxKeys: 50)
            XCTAssertEqual(first.objects.count, 50)
            let token = try XCTUnwrap(first.nextContinuationToken)
            let second = try await client.listObjectsV2(prefix: "page/", maxKeys: 50, continuationToken: token)
            XCTAssertEqual(second.objects.map(\.key), Array(keys.suffix(3)))
            XCTAssertNil(second.nextContinuationToken)
        }
    }

    func testDelimiterListsCommonPrefixes() async throws {
        try await MotoServer.withClient(rootDirectory: "r", authenticated: false) { client in
            for key in ["repos/a/blobs/x", "repos/a/tags/latest", "repos/b c/_manifests/1", "repos/top", "repos/ü/1"] {
                try await client.putObject(key, body: ByteBuffer(string: key))
            }
            let page = try await client.listObjectsV2(prefix: "repos/", delimiter: "/")
            XCTAssertEqual(page.objects.map(\.key), ["repos/top"])
            XCTAssertEqual(page.commonPrefixes, ["repos/a/", "repos/b c/", "repos/ü/"])
            let nested = try await client.listObjectsV2(prefix: "repos/a/", delimiter: "/")
            XCTAssertEqual(nested.commonPrefixes, ["repos/a/blobs/", "repos/a/tags/"])
            XCTAssertTrue(nested.objects.isEmpty)
        }
    }

    func testOverAThousandKeysListedAndBatchDeleted() async throws {
        try await MotoServer.withClient(authenticated: false) { client in
            let keys = try await putMany(client, prefix: "many/", count: 1100)
            var listed: [String] = []
            var pages = 0
            for try await page in client.listPages(prefix: "many/") {
                pages += 1
                listed += page.objects.map(\.key)
            }
            XCTAssertEqual(pages, 2, "S3 returns at most 1,000 keys a page")
            XCTAssertEqual(listed, keys)
            let failures = try await client.deleteObjects(keys + ["many/never-existed"])
            XCTAssertEqual(failures, [])
            let after = try await client.listObjectsV2(prefix: "many/")
            XCTAssertEqual(after.objects, [])
        }
    }
}
