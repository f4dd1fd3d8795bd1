import BerthServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

/// The web UI's routes in-process (the browser tests in BerthIntegrationTests drive it in
/// Chromium): headers, cookies, the overview cache following pushes and deletes, CSRF, `ui.enabled`.
final class WebUITests: XCTestCase {
    static let html: HTTPFields = [.accept: "text/html"]

    /// The session cookie (`name=value`) a response sets.
    static func cookie(_ r: TestResponse) throws -> String {
        let header = try XCTUnwrap(r.headers[.setCookie], "no Set-Cookie")
        return String(header.prefix { $0 != ";" })
    }

    /// The CSRF token in a page's forms.
    static func csrf(_ page: String) throws -> String {
        let marker = #"name="csrf" value=""#
        let start = try XCTUnwrap(page.range(of: marker), "no CSRF field in the page").upperBound
        return String(page[start...].prefix { $0 != "\"" })
    }

    func testPagesCarrySecurityHeadersAndASignedSessionCookie() async throws {
        try await Registry.run { client in
            let root = try await client.send(.get, "/", headers: Self.html)
            XCTAssertEqual(root.status, .found)
            XCTAssertEqual(root.headers[.location], "/ui/")
            let page = try await client.send(.get, "/ui/")
            XCTAssertEqual(page.status, .ok)
            XCTAssertEqual(page.headers[.contentType], "text/html; charset=utf-8")
            let csp = try XCTUnwrap(page.headers[HTTPField.Name("Content-Security-Policy")!])
            XCTAssertTrue(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), csp)
            XCTAssertEqual(page.headers[HTTPField.Name("X-Frame-Options")!], "DENY")
            // Served through the API's responder: request ids (and the access log, metrics) as for the API.
            XCTAssertNotNil(page.headers[HTTPField.Name("X-Request-Id")!])
            let setCookie = try XCTUnwrap(page.headers[.setCookie])
            XCTAssertTrue(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Strict") && setCookie.contains("Path=/ui"), setCookie)
            XCTAssertFalse(bodyString(page).contains("http://") && bodyString(page).contains("<script src=\"http"), "external resources")
            let css = try await client.send(.get, "/ui/static/berth.css")
            XCTAssertEqual(css.headers[.contentType], "text/css; charset=utf-8")
            let js = try await client.send(.get, "/ui/static/copy.js")
            XCTAssertEqual(js.status, .ok)
            // A tampered cookie is not accepted: a new session is issued.
            let tampered = try await client.send(.get, "/ui/", headers: [.cookie: try Self.cookie(page) + "x"])
            XCTAssertNotNil(tampered.headers[.setCookie])
            let kept = try await client.send(.get, "/ui/", headers: [.cookie: try Self.cookie(page)])
            XCTAssertNil(kept.headers[.setCookie])
            // The registry API is untouched.
            try await client.expect(.get, "/v2/", .ok)
            let apiRoot = try await client.send(.get, "/")
            XCTAssertEqual(apiRoot.status, .notFound)
        }
    }

    func testPagesFollowPushesAndDeletesAndPostsNeedTheCSRFToken() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let firstPush = try await client.pushImage("shop/cart", tag: "v1", seed: 1)
            let first = bodyString(try await client.send(.get, "/ui/repository?name=shop/cart"))
            XCTAssertTrue(first.contains(#"id="tag-v1""#))
            XCTAssertTrue(first.contains("1 tag "), first)
            // A push after the overview was computed shows up at once (the cache is invalidated).
            let second = try await client.pushImage("shop/cart", tag: "v2", seed: 2)
            let page = try await client.send(.get, "/ui/repository?name=shop/cart")
            let body = bodyString(page)
            XCTAssertTrue(body.contains(#"id="tag-v2""#) && body.contains("2 tags"), body)
            XCTAssertTrue(body.contains(String(second.digest.prefix(19))))
            let session = try Self.cookie(page)
            // The confirmation page's form carries the session's token.
            let confirm = try await client.send(.get, "/ui/delete?name=shop/cart&reference=v1", headers: [.cookie: session])
            XCTAssertTrue(bodyString(confirm).contains("Delete tag?"), bodyString(confirm))
            let token = try Self.csrf(bodyString(confirm))
            let form: HTTPFields = [.cookie: session, .contentType: "application/x-www-form-urlencoded"]

            let forged = try await client.send(.post, "/ui/delete", headers: form, body: bytes("name=shop%2Fcart&reference=v1&csrf=x"))
            XCTAssertEqual(forged.status, .forbidden)
            let noCookie = try await client.send(.post, "/ui/delete", headers: [.contentType: "application/x-www-form-urlencoded"],
                                                 body: bytes("name=shop%2Fcart&reference=v1&csrf=\(token)"))
            XCTAssertEqual(noCookie.status, .forbidden)
            try await client.expect(.get, "/v2/shop/cart/manifests/v1", .ok)

            let deleted = try await client.send(.post, "/ui/delete", headers: form, body: bytes("name=shop%2Fcart&reference=v1&csrf=\(token)"))
            XCTAssertEqual(deleted.status, .seeOther, bodyString(deleted))
            XCTAssertEqual(deleted.headers[.location], "/ui/repository?name=shop/cart")
            try await client.expect(.get, "/v2/shop/cart/manifests/v1", .notFound)
            let after = bodyString(try await client.send(.get, "/ui/repository?name=shop/cart"))
            XCTAssertFalse(after.contains(#"id="tag-v1""#))
            // Deleting the last manifests by digest removes the repository from the list.
            let untagged = try await client.send(.post, "/ui/delete", headers: form,
                                                 body: bytes("name=shop%2Fcart&reference=\(firstPush.digest)&csrf=\(token)"))
            XCTAssertEqual(untagged.headers[.location], "/ui/repository?name=shop/cart")
            let gone = try await client.send(.post, "/ui/delete", headers: form,
                                             body: bytes("name=shop%2Fcart&reference=\(second.digest)&csrf=\(token)"))
            XCTAssertEqual(gone.headers[.location], "/ui/")
            let list = try await client.send(.get, "/ui/")
            XCTAssertFalse(bodyString(list).contains("shop/cart"))
        }
    }

    func testTheListIsPagedAndSearchable() async throws {
        try await Registry.run { client in
            for i in 0..<53 { try await client.pushImage(String(format: "app-%02d", i), tag: "v1", seed: UInt8(i % 7 + 1)) }
            let first = bodyString(try await client.send(.get, "/ui/"))
            XCTAssertTrue(first.contains("53 repositories") && first.contains("Page 1 of 2"), first)
            XCTAssertTrue(first.contains(">app-49</a>") && !first.contains(">app-50</a>"))
            XCTAssertTrue(first.contains(#"href="/ui/?q=&amp;page=2""#), "the next-page link")
            let second = bodyString(try await client.send(.get, "/ui/?page=2"))
            XCTAssertTrue(second.contains(">app-52</a>") && !second.contains(">app-00</a>"))
            let search = bodyString(try await client.send(.get, "/ui/?q=APP-1"))
            XCTAssertTrue(search.contains("10 repositories") && !search.contains("Page 1"), search)
            let none = bodyString(try await client.send(.get, "/ui/?q=%3Cscript%3E"))
            XCTAssertTrue(none.contains("No repositories match “&lt;script&gt;”"), none)
        }
    }

    func testRateLimitsCountPageRequests() async throws {
        try await Registry.run(configure: { config in
            config.rateLimit.requestsPerSecond = 0.5
            config.rateLimit.burst = 2
        }) { client in
            for _ in 0..<2 { try await client.expect(.get, "/ui/login", .ok) }
            let limited = try await client.send(.post, "/ui/login", body: bytes("username=a&password=b"))
            XCTAssertEqual(limited.status, .tooManyRequests)
        }
    }

    func testDeletesAreNotOfferedWhenDisabledAndTheUICanBeTurnedOff() async throws {
        try await Registry.run(deleteEnabled: false) { client in
            try await client.pushImage("ro/app", tag: "v1")
            let page = try await client.send(.get, "/ui/repository?name=ro/app")
            XCTAssertFalse(bodyString(page).contains("a class=\"button danger delete\""))
            let confirm = try await client.send(.get, "/ui/delete?name=ro/app&reference=v1")
            XCTAssertEqual(confirm.status, .methodNotAllowed)
            XCTAssertTrue(bodyString(confirm).contains("storage.delete.enabled"))
        }
        try await Registry.run(configure: { $0.uiEnabled = false }) { client in
            let page = try await client.send(.get, "/ui/")
            XCTAssertEqual(page.status, .notFound)
            XCTAssertTrue(page.headers[.contentType]?.hasPrefix("application/json") ?? false)
        }
    }
}
