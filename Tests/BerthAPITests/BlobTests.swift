import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// `GET`/`HEAD /v2/<name>/blobs/<digest>`, including byte ranges.
final class BlobTests: XCTestCase {
    func testHeadAndGetReturnSizeDigestAndExactBytes() async throws {
        try await Registry.run { client in
            let data = content(100)
            let digest = try await client.pushBlob("library/app", data)

            let head = try await client.send(.head, "/v2/library/app/blobs/\(digest)")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.headers[.contentLength], "100")
            XCTAssertEqual(head.headers[.dockerContentDigest], digest)
            XCTAssertEqual(head.headers[.apiVersion], "registry/2.0")
            XCTAssertEqual(head.body.readableBytes, 0)

            let get = try await client.send(.get, "/v2/library/app/blobs/\(digest)")
            XCTAssertEqual(get.status, .ok)
            XCTAssertEqual(get.headers[.contentLength], "100")
            XCTAssertEqual(get.headers[.dockerContentDigest], digest)
            XCTAssertEqual(get.headers[.contentType], "application/octet-stream")
            XCTAssertEqual(get.headers[.acceptRanges], "bytes")
            XCTAssertNil(get.headers[.contentRange])
            XCTAssertEqual(bodyBytes(get), data)
        }
    }

    /// Content removed after its link was checked (a garbage collection racing the pull) is a
    /// 404 before anything is sent, on the streamed and the zero-copy path, never a 200 whose
    /// body stops short.
    func testABlobWhoseContentGoesAfterItsLinkWasCheckedIsA404() async throws {
        for framework in [TestingSetup.router, .live] {
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-gone-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: root) }
            try await Registry.run(root: root, framework: framework) { client in
                let data = content(5000)
                let digest = try await client.pushBlob("gone", data)
                // Served once, so its size is cached and the route no longer looks at the file.
                let first = try await client.send(.get, "/v2/gone/blobs/\(digest)")
                XCTAssertEqual(bodyBytes(first), data)
                let hex = digest.dropFirst("sha256:".count)
                try FileManager.default.removeItem(atPath: "\(root)/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
                let r = try await client.send(.get, "/v2/gone/blobs/\(digest)")
                _ = assertError(r, .notFound, "BLOB_UNKNOWN")
            }
        }
    }

    func testEmptyBlob() async throws {
        try await Registry.run { client in
            let digest = try await client.pushBlob("empty", [])
            XCTAssertEqual(digest, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
            let get = try await client.send(.get, "/v2/empty/blobs/\(digest)")
            XCTAssertEqual(get.status, .ok)
            XCTAssertEqual(get.headers[.contentLength], "0")
            XCTAssertEqual(get.body.readableBytes, 0)
        }
    }

    /// Larger than the driver's 1 MiB read chunk and than the 4 MiB manifest/body limit.
    func testLargeBlobStreamsBackExactly() async throws {
        try await Registry.run { client in
            let data = content(5 * 1024 * 1024 + 123, seed: 3)
            let digest = try await client.pushBlob("big", data)
            let get = try await client.send(.get, "/v2/big/blobs/\(digest)")
            XCTAssertEqual(get.status, .ok)
            XCTAssertEqual(get.headers[.contentLength], String(data.count))
            XCTAssertEqual(get.body.readableBytes, data.count)
            XCTAssertTrue(bodyBytes(get) == data, "large blob content differs")

            // A range straddling the 1 MiB chunk boundary.
            let mib = 1 << 20
            let ranged = try await client.send(.get, "/v2/big/blobs/\(digest)",
                                               headers: [.range: "bytes=\(mib - 5)-\(mib + 4)"])
            XCTAssertEqual(ranged.status, .partialContent)
            XCTAssertEqual(ranged.headers[.contentRange], "bytes \(mib - 5)-\(mib + 4)/\(data.count)")
            XCTAssertEqual(bodyBytes(ranged), Array(data[(mib - 5)...(mib + 4)]))
        }
    }

    func testRangeFirstTenBytes() async throws {
        try await Registry.run { client in
            let data = content(100)
            let digest = try await client.pushBlob("r", data)
            let r = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=0-9"])
            XCTAssertEqual(r.status, .partialContent)
            XCTAssertEqual(r.headers[.contentRange], "bytes 0-9/100")
            XCTAssertEqual(r.headers[.contentLength], "10")
            XCTAssertEqual(r.headers[.dockerContentDigest], digest)
            XCTAssertEqual(bodyBytes(r), Array(data[0..<10]))

            let head = try await client.send(.head, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=0-9"])
            XCTAssertEqual(head.status, .partialContent)
            XCTAssertEqual(head.headers[.contentRange], "bytes 0-9/100")
            XCTAssertEqual(head.headers[.contentLength], "10")
            XCTAssertEqual(head.body.readableBytes, 0)
        }
    }

    func testRangeOpenEndedSuffixAndClamped() async throws {
        try await Registry.run { client in
            let data = content(100)
            let digest = try await client.pushBlob("r", data)

            let open = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=5-"])
            XCTAssertEqual(open.status, .partialContent)
            XCTAssertEqual(open.headers[.contentRange], "bytes 5-99/100")
            XCTAssertEqual(open.headers[.contentLength], "95")
            XCTAssertEqual(bodyBytes(open), Array(data[5...]))

            let suffix = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=-3"])
            XCTAssertEqual(suffix.status, .partialContent)
            XCTAssertEqual(suffix.headers[.contentRange], "bytes 97-99/100")
            XCTAssertEqual(suffix.headers[.contentLength], "3")
            XCTAssertEqual(bodyBytes(suffix), Array(data[97...]))

            // A suffix longer than the blob is the whole blob, as a 206.
            let longSuffix = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=-500"])
            XCTAssertEqual(longSuffix.status, .partialContent)
            XCTAssertEqual(longSuffix.headers[.contentRange], "bytes 0-99/100")
            XCTAssertEqual(bodyBytes(longSuffix), data)

            // An end beyond the blob is clamped to its last byte.
            let clamped = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=90-1000"])
            XCTAssertEqual(clamped.status, .partialContent)
            XCTAssertEqual(clamped.headers[.contentRange], "bytes 90-99/100")
            XCTAssertEqual(bodyBytes(clamped), Array(data[90...]))

            // The last byte alone.
            let last = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=99-99"])
            XCTAssertEqual(last.status, .partialContent)
            XCTAssertEqual(last.headers[.contentRange], "bytes 99-99/100")
            XCTAssertEqual(bodyBytes(last), [data[99]])
        }
    }

    func testUnsatisfiableRangeIs416WithContentRangeAndJSONError() async throws {
        try await Registry.run { client in
            let data = content(100)
            let digest = try await client.pushBlob("r", data)
            // Including an end before the start (invalid), refused as Go's http.ServeContent does.
            for range in ["bytes=100-", "bytes=100-110", "bytes=500-600", "bytes=-0", "bytes=5-2", "bytes=500-0"] {
                let r = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: range])
                assertError(r, .rangeNotSatisfiable, "RANGE_INVALID")
                XCTAssertEqual(r.headers[.contentRange], "bytes */100", range)
            }
        }
    }

    /// Positions past Int64.max: a last one is clamped to the end, a first one is past it
    /// (the header used to be ignored as malformed). Found by the range fuzz target.
    func testFuzzRegressionHugeRangePositions() async throws {
        try await Registry.run { client in
            let data = content(100)
            let digest = try await client.pushBlob("r", data)
            let clamped = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=90-99999999999999999999"])
            XCTAssertEqual(clamped.status, .partialContent)
            XCTAssertEqual(clamped.headers[.contentRange], "bytes 90-99/100")
            let past = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: "bytes=99999999999999999999-"])
            assertError(past, .rangeNotSatisfiable, "RANGE_INVALID")
        }
    }

    func testMalformedRangeIsIgnored() async throws {
        try await Registry.run { client in
            let data = content(20)
            let digest = try await client.pushBlob("r", data)
            for range in ["items=0-3", "bytes=0-1,3-4", "bytes=abc"] {
                let r = try await client.send(.get, "/v2/r/blobs/\(digest)", headers: [.range: range])
                XCTAssertEqual(r.status, .ok, range)
                XCTAssertNil(r.headers[.contentRange], range)
                XCTAssertEqual(bodyBytes(r), data, range)
            }
        }
    }

    func testUnknownBlobIs404BlobUnknown() async throws {
        try await Registry.run { client in
            try await client.pushBlob("r", content(10))
            let missing = sha256("never pushed")
            let get = try await client.send(.get, "/v2/r/blobs/\(missing)")
            let entry = assertError(get, .notFound, "BLOB_UNKNOWN")
            XCTAssertEqual(entry?.detail?["digest"], missing)

            let head = try await client.send(.head, "/v2/r/blobs/\(missing)")
            assertHeadError(head, .notFound)

            // In a repository that does not exist at all.
            let nowhere = try await client.send(.get, "/v2/no/such/repo/blobs/\(missing)")
            assertError(nowhere, .notFound, "BLOB_UNKNOWN")
        }
    }

    func testBlobOfOneRepositoryIsNotVisibleInAnother() async throws {
        try await Registry.run { client in
            let data = content(64)
            let digest = try await client.pushBlob("team/a", data)
            let get = try await client.send(.get, "/v2/team/b/blobs/\(digest)")
            assertError(get, .notFound, "BLOB_UNKNOWN")
            let head = try await client.send(.head, "/v2/team/b/blobs/\(digest)")
            assertHeadError(head, .notFound)
            // Nor in a repository whose name merely extends it.
            let longer = try await client.send(.get, "/v2/team/a/x/blobs/\(digest)")
            assertError(longer, .notFound, "BLOB_UNKNOWN")
            // Still visible where it was pushed.
            let own = try await client.send(.get, "/v2/team/a/blobs/\(digest)")
            XCTAssertEqual(own.status, .ok)
            XCTAssertEqual(bodyBytes(own), data)
        }
    }

    func testPushingExistingContentAgainSucceeds() async throws {
        try await Registry.run { client in
            let data = content(40)
            let digest = try await client.pushBlob("again", data)
            try await client.pushBlob("again", data)
            try await client.pushBlob("again/other", data)
            // Chunked, too.
            let location = try await client.startUpload("again/third")
            let put = try await client.send(.put, appending(location, "digest=\(digest)"), body: data)
            XCTAssertEqual(put.status, .created, bodyString(put))
            for repo in ["again", "again/other", "again/third"] {
                try await client.expectBody("/v2/\(repo)/blobs/\(digest)", data)
            }
        }
    }

    func testSameDigestUnderTheOtherAlgorithmIsUnknown() async throws {
        try await Registry.run { client in
            let data = content(10)
            try await client.pushBlob("r", data)
            let r = try await client.send(.get, "/v2/r/blobs/\(sha512(data))")
            assertError(r, .notFound, "BLOB_UNKNOWN")
        }
    }
}
