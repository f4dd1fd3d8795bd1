import BerthAPI
import XCTest

/// The `/v2/...` path parser on its own; RoutingTests has the HTTP side.
final class RouteTests: XCTestCase {
    func testEndpointsAreMatchedFromTheRight() {
        XCTAssertEqual(Route(path: "/v2/"), .base)
        XCTAssertEqual(Route(path: "/v2"), .base)
        XCTAssertEqual(Route(path: "/v2/_catalog"), .catalog)
        XCTAssertEqual(Route(path: "/v2/a/blobs/b/tags/list"), .tags(name: "a/blobs/b"))
        XCTAssertEqual(Route(path: "/v2/a/manifests/tags/list"), .tags(name: "a/manifests"))
        XCTAssertEqual(Route(path: "/v2/a/blobs/uploads"), .uploads(name: "a"))
        XCTAssertEqual(Route(path: "/v2/a/blobs/uploads/"), .uploads(name: "a"))
        XCTAssertEqual(Route(path: "/v2/a/blobs/uploads/x1"), .upload(name: "a", id: "x1"))
        XCTAssertEqual(Route(path: "/v2/a/b/manifests/latest"), .manifest(name: "a/b", reference: "latest"))
        XCTAssertEqual(Route(path: "/v2/a/referrers/sha256:x"), .referrers(name: "a", digest: "sha256:x"))
        XCTAssertEqual(Route(path: "/v2///tags/list"), .tags(name: "/"))
        XCTAssertEqual(Route(path: "/admin/api/gc"), .admin(.gc))
        for path in ["/v2//tags/list", "/v2/a/manifests/", "/v2/a", "/v3/", "/admin/api/x", "/v2x", ""] {
            XCTAssertNil(Route(path: path), path)
        }
    }

    /// Swift compares and splits Strings by Character, and a combining mark after '/' joins it
    /// into one Character: the separator vanished and "/v2/a/manifests/\u{301}x" was no route,
    /// while the spec's pattern (bytes) reads a manifest reference. Found by the route fuzz target.
    func testFuzzRegressionCombiningMarkAfterASlash() {
        XCTAssertEqual(Route(path: "/v2/a/manifests/\u{301}x"), .manifest(name: "a", reference: "\u{301}x"))
        XCTAssertEqual(Route(path: "/v2/\u{301}/blobs/uploads/"), .uploads(name: "\u{301}"))
        XCTAssertEqual(Route(path: "/v2/\u{301}a/tags/list"), .tags(name: "\u{301}a"))
    }
}
