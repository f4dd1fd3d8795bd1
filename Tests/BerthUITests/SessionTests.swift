@testable import BerthUI
import Foundation
import XCTest

/// Session cookies and CSRF tokens (Session/Session.swift).
final class SessionTests: XCTestCase {
    let signer = SessionSigner(secret: "s3cret")

    func testCookieRoundTripsAndRejectsTampering() throws {
        let session = Session.fresh(user: "alice")
        let value = signer.cookieValue(session)
        XCTAssertEqual(signer.session(cookieHeader: "other=1; berth_session=\(value)"), session)
        // Another user name with the same signature, a changed expiry, another key: refused.
        let parts = value.split(separator: ".").map(String.init)
        var forged = parts
        forged[1] = SessionSigner.base64url(Data("admin".utf8))
        XCTAssertNil(signer.session(cookieHeader: "berth_session=" + forged.joined(separator: ".")))
        forged = parts
        forged[2] = String(Int(parts[2])! + 1000)
        XCTAssertNil(signer.session(cookieHeader: "berth_session=" + forged.joined(separator: ".")))
        XCTAssertNil(SessionSigner(secret: "other").session(cookieHeader: "berth_session=\(value)"))
        XCTAssertNil(signer.session(cookieHeader: "berth_session=garbage"))
        XCTAssertNil(signer.session(cookieHeader: nil))
    }

    func testExpiredSessionsAreRefused() {
        let session = Session.fresh(user: "bob", now: Date(timeIntervalSinceNow: -Double(Session.lifetime) - 10))
        XCTAssertNil(signer.session(cookieHeader: "berth_session=\(signer.cookieValue(session))"))
    }

    func testSetCookieIsHttpOnlyStrictAndSecureUnderTLS() {
        let header = signer.setCookie(Session.fresh(user: nil), secure: true)
        for part in ["Path=/ui", "HttpOnly", "SameSite=Strict", "Secure"] { XCTAssertTrue(header.contains(part), header) }
        XCTAssertFalse(signer.setCookie(Session.fresh(user: nil), secure: false).contains("Secure"))
    }

    func testCSRFTokensBelongToOneSession() {
        let a = Session.fresh(user: "alice"), b = Session.fresh(user: "alice")
        XCTAssertTrue(signer.checkCSRF(signer.csrfToken(a), a))
        XCTAssertFalse(signer.checkCSRF(signer.csrfToken(b), a))
        XCTAssertFalse(signer.checkCSRF(nil, a))
        XCTAssertFalse(signer.checkCSRF("", a))
    }

    func testSignInOnlyReturnsToUIPaths() {
        XCTAssertEqual(UIRouter.safeNext("/ui/repository?name=a"), "/ui/repository?name=a")
        for hostile in ["https://evil.example/", "//evil.example/ui/", "/ui\\..", "/v2/", nil] {
            XCTAssertEqual(UIRouter.safeNext(hostile), "/ui/", "\(hostile ?? "nil")")
        }
    }
}
