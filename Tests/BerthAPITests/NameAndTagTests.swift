import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// Repository names, tags and digests in URLs, and the tags list.
final class NameAndTagTests: XCTestCase {
    static let invalidNames = [
        "Upper", "library/Ubuntu", "a//b", "..", "a/../b", "a/./b", "%2e%2e", "a/%2e%2e/b", "a/%2E%2E",
        "-a", "a-", "a_", "a___b", "a..b", "a/", "a b", String(repeating: "a", count: 256),
        String(repeating: "abcd/", count: 60) + "abcdefghijklmnop",  // 316 characters
    ]

    func testInvalidRepositoryNamesAreNameInvalidOnEveryEndpoint() async throws {
        try await Registry.run { client in
            let digest = sha256("x")
            for name in Self.invalidNames {
                let requests: [(HTTPRequest.Method, String)] = [
                    (.get, "/v2/\(name)/manifests/latest"),
                    (.put, "/v2/\(name)/manifests/latest"),
                    (.get, "/v2/\(name)/blobs/\(digest)"),
                    (.post, "/v2/\(name)/blobs/uploads/"),
                    (.post, "/v2/\(name)/blobs/uploads/?digest=\(digest)"),
                    (.get, "/v2/\(name)/blobs/uploads/01234567-89ab-cdef-0123-456789abcdef"),
                    (.get, "/v2/\(name)/tags/list"),
                ]
                for (method, uri) in requests {
                    let r = try await client.send(method, uri, body: method == .get ? nil : bytes("x"))
                    let entry = assertError(r, .badRequest, "NAME_INVALID")
                    XCTAssertNotNil(entry?.detail?["name"], "\(method) \(uri)")
                }
            }
            // Nothing was created on disk for any of them: listing a real repository still works,
            // and no traversal reached a sibling directory.
            assertError(try await client.send(.get, "/v2/b/tags/list"), .notFound, "NAME_UNKNOWN")
        }
    }

    func testNameOfMaximumLengthWorks() async throws {
        try await Registry.run { client in
            let name = String(repeating: "abcd/", count: 50) + "abcde"  // 255 characters
            XCTAssertEqual(name.count, 255)
            let image = try await client.pushImage(name, tag: "t")
            let get = try await client.send(.get, "/v2/\(name)/manifests/t")
            XCTAssertEqual(get.status, .ok)
            XCTAssertEqual(bodyBytes(get), image.bytes)
        }
    }

    func testValidUnusualNamesWork() async throws {
        try await Registry.run { client in
            for name in ["a", "a.b", "a_b", "a__b", "a---b", "0/1/2", "registry.example.com/team/app"] {
                let image = try await client.pushImage(name, tag: "t")
                let get = try await client.send(.get, "/v2/\(name)/manifests/t")
                XCTAssertEqual(get.status, .ok, name)
                XCTAssertEqual(get.headers[.dockerContentDigest], image.digest, name)
            }
        }
    }

    func testNamesContainingEndpointWordsWorkForPushAndPull() async throws {
        try await Registry.run { client in
            let names = ["a/blobs/b", "x/manifests/y", "u/uploads/v", "t/tags/w", "blobs/uploads", "x/tags/list",
                         "blobs", "manifests", "a/blobs", "a/manifests"]
            for name in names {
                let image = try await client.pushImage(name, tag: "latest")
                // A chunked upload, whose session URL also has to parse.
                let data = content(20, seed: 11)
                let location = try await client.startUpload(name)
                XCTAssertTrue(location.hasPrefix("/v2/\(name)/blobs/uploads/"), location)
                let patch = try await client.send(.patch, location, body: data)
                XCTAssertEqual(patch.status, .accepted, "\(name): \(bodyString(patch))")
                let status = try await client.send(.get, location)
                XCTAssertEqual(status.status, .noContent, name)
                XCTAssertEqual(status.headers[.range], "0-19", name)
                let put = try await client.send(.put, appending(location, "digest=\(sha256(data))"))
                XCTAssertEqual(put.status, .created, "\(name): \(bodyString(put))")

                let manifest = try await client.send(.get, "/v2/\(name)/manifests/latest")
                XCTAssertEqual(manifest.status, .ok, name)
                XCTAssertEqual(bodyBytes(manifest), image.bytes, name)
                let blob = try await client.send(.get, "/v2/\(name)/blobs/\(sha256(data))")
                XCTAssertEqual(blob.status, .ok, name)
                XCTAssertEqual(bodyBytes(blob), data, name)
                let tags = try await client.send(.get, "/v2/\(name)/tags/list")
                assertTagList(tags, name, ["latest"])
            }
            // The shorter names were not confused with them.
            assertError(try await client.send(.get, "/v2/x/manifests/latest"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/a/blobs/\(sha256(content(20, seed: 11)))"), .notFound, "BLOB_UNKNOWN")
        }
    }

    /// A path prefix of a repository's name ("library" of "library/app") is not itself a
    /// repository: its tags list must be 404 NAME_UNKNOWN, as for any unknown name.
    func testNamespacePrefixOfARepositoryIsNotARepository() async throws {
        try await Registry.run { client in
            try await client.pushImage("library/app", tag: "latest")
            let r = try await client.send(.get, "/v2/library/tags/list")
            assertError(r, .notFound, "NAME_UNKNOWN")
        }
    }

    func testInvalidTagsAreTagInvalid() async throws {
        try await Registry.run { client in
            try await client.pushBlob("r", emptyJSON)
            let body = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociEmpty, emptyDigest, 2), layers: [])
            for tag in ["-bad", ".bad", String(repeating: "t", count: 129), "bad%20tag", "b@d", "t+1"] {
                let put = try await client.putManifest("r", tag, body, contentType: MT.ociManifest)
                let entry = assertError(put, .badRequest, "TAG_INVALID")
                XCTAssertNotNil(entry?.detail?["tag"], tag)
                assertError(try await client.send(.get, "/v2/r/manifests/\(tag)"), .badRequest, "TAG_INVALID")
                assertHeadError(try await client.send(.head, "/v2/r/manifests/\(tag)"), .badRequest)
            }
            // The longest tag and unusual but valid ones are accepted.
            for tag in [String(repeating: "t", count: 128), "_x", "V1.0-rc_1", "0"] {
                let digest = try await client.pushManifest("r", tag, body, contentType: MT.ociManifest)
                let get = try await client.send(.get, "/v2/r/manifests/\(tag)")
                XCTAssertEqual(get.status, .ok, tag)
                XCTAssertEqual(get.headers[.dockerContentDigest], digest, tag)
            }
        }
    }

    func testMalformedDigestsAreDigestInvalid() async throws {
        try await Registry.run { client in
            let hex64 = String(repeating: "a", count: 64)
            let malformed = [
                "sha256:xyz", "sha256:" + String(hex64.dropLast()), "sha256:" + hex64 + "a",
                "sha256:" + String(repeating: "A", count: 64), "sha256:", ":" + hex64, "md5:" + String(repeating: "a", count: 32),
                "sha512:" + hex64, "SHA256:" + hex64, "sha256:" + String(repeating: "g", count: 64),
            ]
            for digest in malformed {
                assertError(try await client.send(.get, "/v2/r/blobs/\(digest)"), .badRequest, "DIGEST_INVALID")
                assertError(try await client.send(.get, "/v2/r/manifests/\(digest)"), .badRequest, "DIGEST_INVALID")
                assertError(try await client.send(.post, "/v2/r/blobs/uploads/?digest=\(digest)", body: bytes("x")),
                            .badRequest, "DIGEST_INVALID")
                assertError(try await client.send(.post, "/v2/r/blobs/uploads/?mount=\(digest)&from=s"), .badRequest, "DIGEST_INVALID")
            }
            // Not even a digest shape on the blob endpoint.
            assertError(try await client.send(.get, "/v2/r/blobs/latest"), .badRequest, "DIGEST_INVALID")
        }
    }

    // MARK: - Tags list

    func testTagsListIsSortedJSON() async throws {
        try await Registry.run { client in
            let image = try await client.pushImage("sorted", tag: "latest")
            for tag in ["b", "A", "a", "1.0", "Z", "_x", "a-1"] {
                try await client.pushManifest("sorted", tag, image.bytes, contentType: MT.ociManifest)
            }
            let r = try await client.send(.get, "/v2/sorted/tags/list")
            assertTagList(r, "sorted", ["1.0", "A", "Z", "_x", "a", "a-1", "b", "latest"])
        }
    }

    func testTagsListPagination() async throws {
        try await Registry.run { client in
            let image = try await client.pushImage("paged", tag: "e")
            for tag in ["c", "a", "d", "b"] {
                try await client.pushManifest("paged", tag, image.bytes, contentType: MT.ociManifest)
            }
            let p1 = try await client.send(.get, "/v2/paged/tags/list?n=2")
            assertTagList(p1, "paged", ["a", "b"], link: #"</v2/paged/tags/list?n=2&last=b>; rel="next""#)

            let p2 = try await client.send(.get, "/v2/paged/tags/list?n=2&last=b")
            assertTagList(p2, "paged", ["c", "d"], link: #"</v2/paged/tags/list?n=2&last=d>; rel="next""#)

            let p3 = try await client.send(.get, "/v2/paged/tags/list?n=2&last=d")
            assertTagList(p3, "paged", ["e"])

            let exact = try await client.send(.get, "/v2/paged/tags/list?n=5")
            assertTagList(exact, "paged", ["a", "b", "c", "d", "e"])

            let zero = try await client.send(.get, "/v2/paged/tags/list?n=0")
            assertTagList(zero, "paged", [])

            let afterOnly = try await client.send(.get, "/v2/paged/tags/list?last=c")
            assertTagList(afterOnly, "paged", ["d", "e"])

            // `last` need not be an existing tag.
            let between = try await client.send(.get, "/v2/paged/tags/list?n=1&last=bb")
            assertTagList(between, "paged", ["c"], link: #"</v2/paged/tags/list?n=1&last=c>; rel="next""#)

            let pastEnd = try await client.send(.get, "/v2/paged/tags/list?last=z")
            assertTagList(pastEnd, "paged", [])

            for bad in ["-1", "abc", "1.5"] {
                assertError(try await client.send(.get, "/v2/paged/tags/list?n=\(bad)"), .badRequest, "PAGINATION_NUMBER_INVALID")
            }
        }
    }

    func testTagsListOfUnknownRepositoryIsNameUnknown() async throws {
        try await Registry.run { client in
            let r = try await client.send(.get, "/v2/nobody/home/tags/list")
            let entry = assertError(r, .notFound, "NAME_UNKNOWN")
            XCTAssertEqual(entry?.detail?["name"], "nobody/home")
            assertHeadError(try await client.send(.head, "/v2/nobody/home/tags/list"), .notFound)
        }
    }
}
