import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// Anonymous cross-repository mount (`?mount=` without `from`) and an inverted byte range.
final class MountAndRangeTests: XCTestCase {
    func testAnonymousMountOfABlobStoredInAnotherRepository() async throws {
        try await Registry.run { client in
            let data = content(300, seed: 21)
            let digest = try await client.pushBlob("origin/team", data)

            let r = try await client.send(.post, "/v2/target/blobs/uploads/?mount=\(digest)")
            XCTAssertEqual(r.status, .created, bodyString(r))
            XCTAssertEqual(r.headers[.location], "/v2/target/blobs/\(digest)")
            XCTAssertEqual(r.headers[.dockerContentDigest], digest)
            XCTAssertEqual(r.headers[.contentLength], "0")
            XCTAssertNil(r.headers[.dockerUploadUUID])
            XCTAssertEqual(r.body.readableBytes, 0)
            try await client.expectBody("/v2/target/blobs/\(digest)", data)
            let head = try await client.send(.head, "/v2/target/blobs/\(digest)")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.headers[.contentLength], "300")

            // The mounted blob serves a manifest push in the target repository.
            let config = bytes(#"{"architecture":"amd64","os":"linux"}"#)
            let configDigest = try await client.pushBlob("target", config)
            let manifest = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociConfig, configDigest, config.count),
                                             layers: [descriptorJSON(MT.ociLayer, digest, data.count)])
            try await client.pushManifest("target", "v1", manifest, contentType: MT.ociManifest)

            // Mounting again is harmless.
            try await client.expect(.post, "/v2/target/blobs/uploads/?mount=\(digest)", .created)
        }
    }

    func testAnonymousMountOfADigestStoredNowhereStartsASession() async throws {
        try await Registry.run { client in
            try await client.pushBlob("origin", content(40, seed: 1))
            let data = content(40, seed: 2)
            let absent = sha256(data)

            let r = try await client.send(.post, "/v2/target/blobs/uploads/?mount=\(absent)")
            XCTAssertEqual(r.status, .accepted, bodyString(r))
            XCTAssertEqual(r.headers[.range], "0-0")
            XCTAssertEqual(r.headers[.contentLength], "0")
            let id = try XCTUnwrap(r.headers[.dockerUploadUUID])
            let location = try XCTUnwrap(r.headers[.location])
            XCTAssertTrue(location.hasPrefix("/v2/target/blobs/uploads/\(id)?_state="), location)
            assertError(try await client.send(.get, "/v2/target/blobs/\(absent)"), .notFound, "BLOB_UNKNOWN")

            let status = try await client.send(.get, location)
            XCTAssertEqual(status.status, .noContent)
            XCTAssertEqual(status.headers[.dockerUploadUUID], id)
            let put = try await client.send(.put, appending(location, "digest=\(absent)"), body: data)
            XCTAssertEqual(put.status, .created, bodyString(put))
            try await client.expectBody("/v2/target/blobs/\(absent)", data)
        }
    }

    /// A blob only in an unfinished upload is not stored: nothing to mount.
    func testAnonymousMountDoesNotReachUnfinishedUploads() async throws {
        try await Registry.run { client in
            let data = content(64, seed: 5)
            let location = try await client.startUpload("uploader")
            let patch = try await client.send(.patch, location, body: data)
            XCTAssertEqual(patch.status, .accepted, bodyString(patch))
            let r = try await client.send(.post, "/v2/thief/blobs/uploads/?mount=\(sha256(data))")
            XCTAssertEqual(r.status, .accepted, bodyString(r))
            assertError(try await client.send(.get, "/v2/thief/blobs/\(sha256(data))"), .notFound, "BLOB_UNKNOWN")
        }
    }

    func testRangeEndingBeforeItsStartIsUnsatisfiable() async throws {
        try await Registry.run { client in
            let data = content(1000, seed: 4)
            let digest = try await client.pushBlob("ranges", data)
            for range in ["bytes=500-0", "bytes=999-998", "bytes=1-0"] {
                let r = try await client.send(.get, "/v2/ranges/blobs/\(digest)", headers: [.range: range])
                assertError(r, .rangeNotSatisfiable, "RANGE_INVALID")
                XCTAssertEqual(r.headers[.contentRange], "bytes */1000", range)
                let head = try await client.send(.head, "/v2/ranges/blobs/\(digest)", headers: [.range: range])
                XCTAssertEqual(head.status, .rangeNotSatisfiable, range)
                XCTAssertEqual(head.headers[.contentRange], "bytes */1000", range)
            }
            // The neighbours still work: a one-byte range and an end past the size.
            let one = try await client.send(.get, "/v2/ranges/blobs/\(digest)", headers: [.range: "bytes=500-500"])
            XCTAssertEqual(one.status, .partialContent)
            XCTAssertEqual(one.headers[.contentRange], "bytes 500-500/1000")
            XCTAssertEqual(bodyBytes(one), [data[500]])
            let tail = try await client.send(.get, "/v2/ranges/blobs/\(digest)", headers: [.range: "bytes=998-5000"])
            XCTAssertEqual(tail.status, .partialContent)
            XCTAssertEqual(tail.headers[.contentRange], "bytes 998-999/1000")
            XCTAssertEqual(bodyBytes(tail), Array(data[998...]))
        }
    }
}
