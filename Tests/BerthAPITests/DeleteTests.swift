import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// DELETE of manifests, tags and blobs, with `storage.delete.enabled` off and on.
final class DeleteTests: XCTestCase {
    func testDeletesAreUnsupportedWhenDisabled() async throws {
        try await Registry.run(deleteEnabled: false) { client in
            let image = try await client.pushImage("keep", tag: "t")
            let blob = try await client.pushBlob("keep", content(9))
            for uri in ["/v2/keep/manifests/\(image.digest)", "/v2/keep/manifests/t", "/v2/keep/blobs/\(blob)"] {
                let r = try await client.send(.delete, uri)
                assertError(r, .methodNotAllowed, "UNSUPPORTED")
            }
            // Everything is still there.
            try await client.expect(.get, "/v2/keep/manifests/t", .ok)
            try await client.expect(.get, "/v2/keep/manifests/\(image.digest)", .ok)
            try await client.expect(.get, "/v2/keep/blobs/\(blob)", .ok)
        }
    }

    func testDeleteManifestByDigestRemovesItAndItsTags() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let doomed = try await client.pushImage("del", tag: "a", seed: 1)
            try await client.pushManifest("del", "b", doomed.bytes, contentType: MT.ociManifest)
            let kept = try await client.pushImage("del", tag: "c", seed: 2)

            let r = try await client.send(.delete, "/v2/del/manifests/\(doomed.digest)")
            XCTAssertEqual(r.status, .accepted, bodyString(r))
            XCTAssertEqual(r.body.readableBytes, 0)

            assertError(try await client.send(.get, "/v2/del/manifests/\(doomed.digest)"), .notFound, "MANIFEST_UNKNOWN")
            assertHeadError(try await client.send(.head, "/v2/del/manifests/\(doomed.digest)"), .notFound)
            assertError(try await client.send(.get, "/v2/del/manifests/a"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/del/manifests/b"), .notFound, "MANIFEST_UNKNOWN")
            let tags = try await client.send(.get, "/v2/del/tags/list")
            assertTagList(tags, "del", ["c"])
            // The other manifest is untouched.
            let other = try await client.send(.get, "/v2/del/manifests/c")
            XCTAssertEqual(other.status, .ok)
            XCTAssertEqual(other.headers[.dockerContentDigest], kept.digest)

            // Deleting it again: unknown.
            assertError(try await client.send(.delete, "/v2/del/manifests/\(doomed.digest)"), .notFound, "MANIFEST_UNKNOWN")
        }
    }

    func testDeletedManifestCanBePushedAgain() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let image = try await client.pushImage("again", tag: "t")
            try await client.expect(.delete, "/v2/again/manifests/\(image.digest)", .accepted)
            try await client.pushManifest("again", "t", image.bytes, contentType: MT.ociManifest)
            try await ManifestTests.assertServed(client, "again", "t", image.bytes, contentType: MT.ociManifest, digest: image.digest)
        }
    }

    func testDeleteTagRemovesOnlyThatTag() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let image = try await client.pushImage("tags", tag: "one")
            try await client.pushManifest("tags", "two", image.bytes, contentType: MT.ociManifest)

            let r = try await client.send(.delete, "/v2/tags/manifests/one")
            XCTAssertEqual(r.status, .accepted, bodyString(r))

            assertError(try await client.send(.get, "/v2/tags/manifests/one"), .notFound, "MANIFEST_UNKNOWN")
            let two = try await client.send(.get, "/v2/tags/manifests/two")
            XCTAssertEqual(two.status, .ok)
            XCTAssertEqual(bodyBytes(two), image.bytes)
            let byDigest = try await client.send(.get, "/v2/tags/manifests/\(image.digest)")
            XCTAssertEqual(byDigest.status, .ok)
            assertTagList(try await client.send(.get, "/v2/tags/tags/list"), "tags", ["two"])

            assertError(try await client.send(.delete, "/v2/tags/manifests/one"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.delete, "/v2/tags/manifests/-bad"), .badRequest, "TAG_INVALID")
        }
    }

    func testDeleteBlob() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let data = content(30)
            let digest = try await client.pushBlob("blobs-del", data)
            let other = try await client.pushBlob("blobs-del", content(31))
            try await client.expect(.post, "/v2/sharer/blobs/uploads/?mount=\(digest)&from=blobs-del", .created)

            let r = try await client.send(.delete, "/v2/blobs-del/blobs/\(digest)")
            XCTAssertEqual(r.status, .accepted, bodyString(r))
            XCTAssertEqual(r.body.readableBytes, 0)
            assertError(try await client.send(.get, "/v2/blobs-del/blobs/\(digest)"), .notFound, "BLOB_UNKNOWN")
            assertHeadError(try await client.send(.head, "/v2/blobs-del/blobs/\(digest)"), .notFound)
            assertError(try await client.send(.delete, "/v2/blobs-del/blobs/\(digest)"), .notFound, "BLOB_UNKNOWN")

            // Only the link went: another blob of the repository and the same blob elsewhere remain.
            try await client.expect(.get, "/v2/blobs-del/blobs/\(other)", .ok)
            let shared = try await client.send(.get, "/v2/sharer/blobs/\(digest)")
            XCTAssertEqual(shared.status, .ok)
            XCTAssertEqual(bodyBytes(shared), data)

            assertError(try await client.send(.delete, "/v2/blobs-del/blobs/sha256:nothex"), .badRequest, "DIGEST_INVALID")
        }
    }
}
