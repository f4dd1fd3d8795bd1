import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// Edges of the tags list's `n`/`last` pagination.
final class PaginationTests: XCTestCase {
    /// Valid tags in bytewise order: digits < upper case < '_' < lower case; '-' < '.' < digits.
    static let sortedTags = ["0", "1.0", "10", "9", "A", "B-1", "Z", "_", "_a", "a", "a-b", "a.b", "a0", "aB", "a_b", "ab", "latest", "z"]

    static func pushTags(_ client: Client, _ repo: String, _ tags: [String]) async throws {
        let image = try await client.pushImage(repo, tag: tags[0])
        for tag in tags.dropFirst() {
            try await client.pushManifest(repo, tag, image.bytes, contentType: MT.ociManifest)
        }
    }

    func testExactPageBoundary() async throws {
        try await Registry.run { client in
            try await Self.pushTags(client, "four", ["d", "b", "c", "a"])
            assertTagList(try await client.send(.get, "/v2/four/tags/list?n=2"), "four", ["a", "b"],
                          link: #"</v2/four/tags/list?n=2&last=b>; rel="next""#)
            // Exactly the remaining tags: no Link, though the page is full.
            assertTagList(try await client.send(.get, "/v2/four/tags/list?n=2&last=b"), "four", ["c", "d"])
            assertTagList(try await client.send(.get, "/v2/four/tags/list?n=4"), "four", ["a", "b", "c", "d"])
            assertTagList(try await client.send(.get, "/v2/four/tags/list?n=3"), "four", ["a", "b", "c"],
                          link: #"</v2/four/tags/list?n=3&last=c>; rel="next""#)
            assertTagList(try await client.send(.get, "/v2/four/tags/list?n=1&last=c"), "four", ["d"])
            assertTagList(try await client.send(.get, "/v2/four/tags/list?n=1&last=b"), "four", ["c"],
                          link: #"</v2/four/tags/list?n=1&last=c>; rel="next""#)
            let head = try await client.send(.head, "/v2/four/tags/list?n=2")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.headers[.link], #"</v2/four/tags/list?n=2&last=b>; rel="next""#)
            XCTAssertEqual(head.body.readableBytes, 0)
        }
    }

    func testLastBeyondTheEndOrBetweenTags() async throws {
        try await Registry.run { client in
            try await Self.pushTags(client, "edges", ["v1", "v3", "v5"])
            for query in ["last=v5", "last=v9", "last=zzz", "n=10&last=v5", "n=1&last=w"] {
                assertTagList(try await client.send(.get, "/v2/edges/tags/list?\(query)"), "edges", [])
            }
            // `last` need not be a tag: the page starts after where it would sort.
            assertTagList(try await client.send(.get, "/v2/edges/tags/list?n=1&last=v2"), "edges", ["v3"],
                          link: #"</v2/edges/tags/list?n=1&last=v3>; rel="next""#)
            assertTagList(try await client.send(.get, "/v2/edges/tags/list?n=2&last=v4"), "edges", ["v5"])
            assertTagList(try await client.send(.get, "/v2/edges/tags/list?last=v3-rc"), "edges", ["v5"])
            assertTagList(try await client.send(.get, "/v2/edges/tags/list?last=V9"), "edges", ["v1", "v3", "v5"])
            assertTagList(try await client.send(.get, "/v2/edges/tags/list?last="), "edges", ["v1", "v3", "v5"])
        }
    }

    func testMixedCaseDigitsAndPunctuationSortBytewise() async throws {
        try await Registry.run { client in
            XCTAssertEqual(Self.sortedTags.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, Self.sortedTags)
            // Pushed in a scrambled order.
            try await Self.pushTags(client, "mixed", Self.sortedTags.enumerated().sorted { ($0.offset * 7) % 18 < ($1.offset * 7) % 18 }.map(\.element))
            assertTagList(try await client.send(.get, "/v2/mixed/tags/list"), "mixed", Self.sortedTags)

            // Walk it with n=4 by the Link headers: every tag once, in order.
            var seen: [String] = []
            var uri: String? = "/v2/mixed/tags/list?n=4"
            var requests = 0
            while let next = uri, requests < 20 {
                requests += 1
                let r = try await client.send(.get, next)
                XCTAssertEqual(r.status, .ok, bodyString(r))
                let page = try JSONDecoder().decode(TagList.self, from: Data(bodyBytes(r))).tags
                XCTAssertLessThanOrEqual(page.count, 4)
                seen += page
                uri = r.headers[.link].map { String($0.dropFirst().prefix { $0 != ">" }) }
            }
            XCTAssertEqual(seen, Self.sortedTags)
            XCTAssertEqual(requests, 5)

            // `last` between upper and lower case, and between '.' and a digit.
            assertTagList(try await client.send(.get, "/v2/mixed/tags/list?n=3&last=Zz"), "mixed", ["_", "_a", "a"],
                          link: #"</v2/mixed/tags/list?n=3&last=a>; rel="next""#)
            assertTagList(try await client.send(.get, "/v2/mixed/tags/list?n=2&last=a.a"), "mixed", ["a.b", "a0"],
                          link: #"</v2/mixed/tags/list?n=2&last=a0>; rel="next""#)
        }
    }
}

/// `PUT /v2/<name>/manifests/<reference>?tag=...`: several tags in one push (OCI 1.1).
final class TagParameterTests: XCTestCase {
    func testPushByDigestWithTagParameters() async throws {
        try await Registry.run { client in
            try await client.pushBlob("tp", emptyJSON)
            let body = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociEmpty, emptyDigest, 2), layers: [])
            let digest = sha256(body)
            let r = try await client.putManifest("tp", "\(digest)?tag=a&tag=b", body, contentType: MT.ociManifest)
            XCTAssertEqual(r.status, .created, bodyString(r))
            XCTAssertEqual(r.headers[.dockerContentDigest], digest)
            XCTAssertEqual(r.headers[.location], "/v2/tp/manifests/\(digest)")
            XCTAssertEqual(r.headers[values: .ociTag].flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces) }, ["a", "b"])
            for tag in ["a", "b"] {
                let get = try await client.send(.get, "/v2/tp/manifests/\(tag)")
                XCTAssertEqual(get.status, .ok, tag)
                XCTAssertEqual(get.headers[.dockerContentDigest], digest, tag)
                XCTAssertEqual(bodyBytes(get), body, tag)
            }
            assertTagList(try await client.send(.get, "/v2/tp/tags/list"), "tp", ["a", "b"])

            // By tag, with a tag parameter too: both tags.
            let byTag = try await client.putManifest("tp", "main?tag=extra", body, contentType: MT.ociManifest)
            XCTAssertEqual(byTag.status, .created, bodyString(byTag))
            XCTAssertEqual(byTag.headers[.ociTag], "extra")
            assertTagList(try await client.send(.get, "/v2/tp/tags/list"), "tp", ["a", "b", "extra", "main"])

            // No tag parameter: no OCI-Tag header.
            let plain = try await client.putManifest("tp", "plain", body, contentType: MT.ociManifest)
            XCTAssertEqual(plain.status, .created)
            XCTAssertNil(plain.headers[.ociTag])
        }
    }

    func testInvalidTagParameterStoresNothing() async throws {
        try await Registry.run { client in
            try await client.pushBlob("bad-tp", emptyJSON)
            let body = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociEmpty, emptyDigest, 2), layers: [])
            let digest = sha256(body)
            for query in ["tag=ok&tag=-bad", "tag=.dot", "tag=", "tag=" + String(repeating: "x", count: 129), "tag=a%2Fb"] {
                let r = try await client.putManifest("bad-tp", "\(digest)?\(query)", body, contentType: MT.ociManifest)
                assertError(r, .badRequest, "TAG_INVALID")
                XCTAssertNil(r.headers[.ociTag], query)
            }
            let tooMany = (0...100).map { "tag=t\($0)" }.joined(separator: "&")
            assertError(try await client.putManifest("bad-tp", "\(digest)?\(tooMany)", body, contentType: MT.ociManifest),
                        .badRequest, "TAG_INVALID")
            // A digest that does not match the content: refused, and the tag parameter not applied.
            let wrong = sha256("something else")
            assertError(try await client.putManifest("bad-tp", "\(wrong)?tag=ok", body, contentType: MT.ociManifest),
                        .badRequest, "DIGEST_INVALID")

            // Nothing was stored: no manifest, no tag, no repository.
            assertError(try await client.send(.get, "/v2/bad-tp/manifests/\(digest)"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/bad-tp/manifests/ok"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/bad-tp/tags/list"), .notFound, "NAME_UNKNOWN")
            assertCatalog(try await client.send(.get, "/v2/_catalog"), [])

            // The largest accepted number of tag parameters works.
            let hundred = (0..<100).map { "tag=t\($0)" }.joined(separator: "&")
            let ok = try await client.putManifest("bad-tp", "\(digest)?\(hundred)", body, contentType: MT.ociManifest)
            XCTAssertEqual(ok.status, .created, bodyString(ok))
            let tags = try JSONDecoder().decode(TagList.self, from: Data(bodyBytes(try await client.send(.get, "/v2/bad-tp/tags/list"))))
            XCTAssertEqual(tags.tags, (0..<100).map { "t\($0)" }.sorted())
        }
    }
}
