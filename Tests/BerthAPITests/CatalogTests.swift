import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

struct CatalogBody: Decodable, Equatable {
    var repositories: [String]
}

/// Asserts a 200 catalog response listing exactly `names` (in that order) with the `Link`
/// header `link` (nil: none).
func assertCatalog(_ r: TestResponse, _ names: [String], link: String? = nil,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, .ok, bodyString(r), file: file, line: line)
    XCTAssertEqual(r.headers[.contentType], "application/json", file: file, line: line)
    XCTAssertEqual(r.headers[.contentLength], String(r.body.readableBytes), file: file, line: line)
    XCTAssertEqual(r.headers[.link], link, "Link", file: file, line: line)
    XCTAssertEqual(try? JSONDecoder().decode(CatalogBody.self, from: Data(bodyBytes(r))), CatalogBody(repositories: names),
                   bodyString(r), file: file, line: line)
}

/// `GET /v2/_catalog`: repositories holding at least one manifest, sorted bytewise, paginated.
final class CatalogTests: XCTestCase {
    /// Pushed in an unsorted order; the expected order is bytewise: '-' < '.' < '/' < '0' < '_' < 'b'.
    static let names = ["b", "a/b/c", "a0", "a.b", "a", "a/b", "a-b", "a__b", "a_b"]
    static let sorted = ["a", "a-b", "a.b", "a/b", "a/b/c", "a0", "a__b", "a_b", "b"]

    func testEmptyRegistryHasAnEmptyCatalog() async throws {
        try await Registry.run { client in
            let r = try await client.send(.get, "/v2/_catalog")
            assertCatalog(r, [])
            XCTAssertEqual(bodyString(r), #"{"repositories":[]}"#)
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=10"), [])
        }
    }

    func testCatalogListsRepositoriesWithManifestsSortedBytewise() async throws {
        try await Registry.run { client in
            XCTAssertEqual(Self.names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, Self.sorted)
            for (i, name) in Self.names.enumerated() {
                try await client.pushImage(name, tag: "latest", seed: UInt8(i + 1))
            }
            // Repositories with only a blob, only an upload, or only a blob mounted into them are not listed.
            let blob = try await client.pushBlob("blobs/only", content(10))
            _ = try await client.startUpload("upload/only")
            try await client.expect(.post, "/v2/mounted/only/blobs/uploads/?mount=\(blob)&from=blobs/only", .created)

            let r = try await client.send(.get, "/v2/_catalog")
            assertCatalog(r, Self.sorted)
            // Names with a '/' are written as they are.
            XCTAssertTrue(bodyString(r).contains(#""a/b/c""#), bodyString(r))

            let head = try await client.send(.head, "/v2/_catalog")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.headers[.contentLength], r.headers[.contentLength])
            XCTAssertEqual(head.body.readableBytes, 0)

            // A second manifest or tag in a repository adds nothing.
            try await client.pushImage("a/b", tag: "other", seed: 99)
            assertCatalog(try await client.send(.get, "/v2/_catalog"), Self.sorted)
        }
    }

    /// A manifest pushed by digest only (no tag) makes a repository: listed, with no tags.
    func testRepositoryWithOnlyAnUntaggedManifestIsListed() async throws {
        try await Registry.run { client in
            try await client.pushBlob("untagged", emptyJSON)
            let body = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociEmpty, emptyDigest, 2), layers: [])
            try await client.pushManifest("untagged", sha256(body), body, contentType: MT.ociManifest)
            assertCatalog(try await client.send(.get, "/v2/_catalog"), ["untagged"])
            assertTagList(try await client.send(.get, "/v2/untagged/tags/list"), "untagged", [])
        }
    }

    func testCatalogPagination() async throws {
        try await Registry.run { client in
            for (i, name) in Self.names.enumerated() {
                try await client.pushImage(name, tag: "latest", seed: UInt8(i + 1))
            }
            // Follow the Link headers with n=2: the last page (one name) has no Link.
            var pages: [[String]] = []
            var uri: String? = "/v2/_catalog?n=2"
            while let next = uri, pages.count < 20 {
                let r = try await client.send(.get, next)
                XCTAssertEqual(r.status, .ok, bodyString(r))
                let page = try JSONDecoder().decode(CatalogBody.self, from: Data(bodyBytes(r))).repositories
                pages.append(page)
                if let link = r.headers[.link] {
                    XCTAssertEqual(link, "</v2/_catalog?n=2&last=\(page.last ?? "")>; rel=\"next\"")
                    uri = String(link.dropFirst().prefix { $0 != ">" })
                } else {
                    uri = nil
                }
            }
            XCTAssertEqual(pages, [["a", "a-b"], ["a.b", "a/b"], ["a/b/c", "a0"], ["a__b", "a_b"], ["b"]])

            // A nested name as `last`, and a `last` that is no repository but sorts between two.
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=3&last=a/b"), ["a/b/c", "a0", "a__b"],
                          link: #"</v2/_catalog?n=3&last=a__b>; rel="next""#)
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=2&last=a/a"), ["a/b", "a/b/c"],
                          link: #"</v2/_catalog?n=2&last=a/b/c>; rel="next""#)
            assertCatalog(try await client.send(.get, "/v2/_catalog?last=a0"), ["a__b", "a_b", "b"])
            // An exact page boundary: the page holding the last names has no Link.
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=2&last=a__b"), ["a_b", "b"])
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=9"), Self.sorted)
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=8"), Array(Self.sorted.prefix(8)),
                          link: #"</v2/_catalog?n=8&last=a_b>; rel="next""#)
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=0"), [])
            assertCatalog(try await client.send(.get, "/v2/_catalog?last=b"), [])
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=5&last=zzz"), [])
            for bad in ["-1", "x", "2.5"] {
                assertError(try await client.send(.get, "/v2/_catalog?n=\(bad)"), .badRequest, "PAGINATION_NUMBER_INVALID")
            }
        }
    }

    func testDeletingTheLastManifestRemovesTheRepository() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let first = try await client.pushImage("shrinking", tag: "one", seed: 1)
            let second = try await client.pushImage("shrinking", tag: "two", seed: 2)
            try await client.pushImage("stays", tag: "v1", seed: 3)
            try await client.pushImage("shrinking/child", tag: "v1", seed: 4)
            assertCatalog(try await client.send(.get, "/v2/_catalog"), ["shrinking", "shrinking/child", "stays"])

            // A tag delete leaves the manifest; one manifest of two leaves the repository.
            try await client.expect(.delete, "/v2/shrinking/manifests/one", .accepted)
            try await client.expect(.delete, "/v2/shrinking/manifests/\(second.digest)", .accepted)
            assertCatalog(try await client.send(.get, "/v2/_catalog"), ["shrinking", "shrinking/child", "stays"])

            try await client.expect(.delete, "/v2/shrinking/manifests/\(first.digest)", .accepted)
            assertCatalog(try await client.send(.get, "/v2/_catalog"), ["shrinking/child", "stays"])
            assertCatalog(try await client.send(.get, "/v2/_catalog?n=1"), ["shrinking/child"],
                          link: #"</v2/_catalog?n=1&last=shrinking/child>; rel="next""#)

            // Pushed again, it is listed again.
            try await client.pushManifest("shrinking", "back", first.bytes, contentType: MT.ociManifest)
            assertCatalog(try await client.send(.get, "/v2/_catalog"), ["shrinking", "shrinking/child", "stays"])
        }
    }

    /// The catalog is kept on disk: a restart on the same storage lists the same repositories.
    func testCatalogSurvivesARestart() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-catalog-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await Registry.run(root: root) { client in
            try await client.pushImage("x/y", tag: "v1")
            try await client.pushImage("x", tag: "v1")
        }
        try await Registry.run(root: root) { client in
            assertCatalog(try await client.send(.get, "/v2/_catalog"), ["x", "x/y"])
        }
    }
}
