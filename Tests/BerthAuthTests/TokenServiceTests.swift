import BerthAuth
import Crypto
import Foundation
import XCTest

final class TokenServiceTests: XCTestCase {
    typealias F = TokenFixture
    static let realm = "Berth token service"

    private static let rules = AccessRules(rules: [
        AccessRule(users: ["alice"], repositories: ["team-a/**"], actions: [.pull, .push, .delete]),
        AccessRule(users: ["*"], repositories: ["public/**"], actions: [.pull]),
        AccessRule(users: ["anonymous"], repositories: ["public/open"], actions: [.pull]),
        AccessRule(users: ["admin"], actions: [.catalog]),
    ])

    private func service(rules: AccessRules = TokenServiceTests.rules, anonymous: Bool = true) async throws -> TokenService {
        let dir = try F.directory(self)
        var text = ""
        for (user, password) in [("alice", "wonderland"), ("admin", "root-pass")] {
            text = HtpasswdFile.adding(user: user, password: password, to: text, cost: 4)
        }
        let path = dir.appendingPathComponent("htpasswd").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let issuer = try await TokenIssuer(issuer: F.issuer, service: F.audience, signingKeyPEM: P256.Signing.PrivateKey().pemRepresentation,
                                           expiration: .seconds(300), refreshExpiration: .seconds(3600))
        return TokenService(issuer: issuer, users: try HtpasswdFile(path: path), rules: rules, service: F.audience,
                            realm: Self.realm, allowAnonymous: anonymous)
    }

    private func basic(_ user: String, _ password: String) -> String {
        "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    private func json(_ response: TokenResponse) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    /// The identity the response's token verifies to.
    private func identity(_ response: TokenResponse, _ service: TokenService) async throws -> Identity {
        XCTAssertEqual(response.status, 200, String(decoding: response.body, as: UTF8.self))
        let body = try json(response)
        let token = try XCTUnwrap(body["token"] as? String)
        XCTAssertEqual(body["access_token"] as? String, token)
        return try await service.issuer.verifier.verify(token)
    }

    func testGetWithGoodCredentialsGrantsWhatTheRulesAllow() async throws {
        let service = try await service()
        let response = await service.handleGet(query: [
            ("service", F.audience), ("account", "alice"),
            ("scope", "repository:team-a/app:pull,push"),
            ("scope", "repository:team-b/app:pull repository:public/lib:push,pull"),
        ], authorization: basic("alice", "wonderland"))
        XCTAssertEqual(response.header("content-type"), "application/json")
        XCTAssertEqual(response.header("cache-control"), "no-store")
        let body = try json(response)
        XCTAssertEqual(body["expires_in"] as? Int, 300)
        let issuedAt = try XCTUnwrap(body["issued_at"] as? String)
        let date = try XCTUnwrap(ISO8601DateFormatter().date(from: issuedAt), "issued_at \(issuedAt) is not RFC 3339")
        XCTAssertLessThan(abs(date.timeIntervalSinceNow), 5)
        XCTAssertNil(body["refresh_token"])
        let identity = try await identity(response, service)
        XCTAssertEqual(identity, Identity(user: "alice", tokenAccess: [.repository("team-a/app", [.pull, .push]), .repository("public/lib", [.pull])]))
    }

    func testWrongOrUnknownCredentialsAreRefused() async throws {
        let service = try await service()
        for (user, password) in [("alice", "wrong-password"), ("mallory", "wonderland")] {
            let response = await service.handleGet(query: [("scope", "repository:team-a/app:pull")], authorization: basic(user, password))
            XCTAssertEqual(response.status, 401)
            XCTAssertEqual(response.header("WWW-Authenticate"), #"Basic realm="Berth token service""#)
            let body = String(decoding: response.body, as: UTF8.self)
            XCTAssertTrue(body.contains(#""code":"UNAUTHORIZED""#), body)
            XCTAssertFalse(body.contains(password))
        }
        let bearer = await service.handleGet(query: [], authorization: "Bearer abc")
        XCTAssertEqual(bearer.status, 401)
        let mismatch = await service.handleGet(query: [("account", "bob")], authorization: basic("alice", "wonderland"))
        XCTAssertEqual(mismatch.status, 400)
    }

    func testAnonymousTokensWhenAllowed() async throws {
        let open = try await service(anonymous: true)
        let response = await open.handleGet(query: [("scope", "repository:public/open:pull,push"), ("scope", "repository:team-a/app:pull"),
                                                    ("offline_token", "true")], authorization: nil)
        let got1 = try await identity(response, open)
        XCTAssertEqual(got1, Identity(user: nil, tokenAccess: [.repository("public/open", [.pull])]))
        XCTAssertNil(try json(response)["refresh_token"], "no refresh token for anonymous requests")

        let closed = try await service(anonymous: false)
        let refused = await closed.handleGet(query: [("scope", "repository:public/open:pull")], authorization: nil)
        XCTAssertEqual(refused.status, 401)
        XCTAssertEqual(refused.header("WWW-Authenticate"), #"Basic realm="Berth token service""#)
    }

    func testOfflineTokenGivesARefreshToken() async throws {
        let service = try await service()
        let response = await service.handleGet(query: [("offline_token", "true"), ("scope", "repository:team-a/app:pull")],
                                               authorization: basic("alice", "wonderland"))
        let refresh = try XCTUnwrap(try json(response)["refresh_token"] as? String)
        await assertRejected("a refresh token is not an access token") { _ = try await service.issuer.verifier.verify(refresh) }
        let user = try await service.issuer.userFromRefreshToken(refresh)
        XCTAssertEqual(user, "alice")
    }

    func testCatalogScope() async throws {
        let service = try await service()
        let query = [("scope", "registry:catalog:*")]
        let admin = try await identity(await service.handleGet(query: query, authorization: basic("admin", "root-pass")), service)
        XCTAssertEqual(admin.tokenAccess, [.catalog])
        let alice = try await identity(await service.handleGet(query: query, authorization: basic("alice", "wonderland")), service)
        XCTAssertEqual(alice.tokenAccess, [])
    }

    func testNoRulesGrantAuthenticatedUsersEverythingAndAnonymousNothing() async throws {
        let service = try await service(rules: AccessRules())
        let query = [("scope", "repository:any/thing:*"), ("scope", "registry:catalog:*")]
        let alice = try await identity(await service.handleGet(query: query, authorization: basic("alice", "wonderland")), service)
        XCTAssertEqual(alice.tokenAccess, [.repository("any/thing", [.pull, .push, .delete]), .catalog])
        let anonymous = try await identity(await service.handleGet(query: query, authorization: nil), service)
        XCTAssertEqual(anonymous.tokenAccess, [])
    }

    func testBadRequests() async throws {
        let service = try await service()
        let foreign = await service.handleGet(query: [("service", "other.registry")], authorization: basic("alice", "wonderland"))
        XCTAssertEqual(foreign.status, 400)
        XCTAssertTrue(String(decoding: foreign.body, as: UTF8.self).contains("not other.registry"))
        let malformed = await service.handleGet(query: [("scope", "repository-without-colons")], authorization: basic("alice", "wonderland"))
        XCTAssertEqual(malformed.status, 400)
        XCTAssertTrue(String(decoding: malformed.body, as: UTF8.self).contains("malformed scope"))
    }

    func testPostPasswordAndRefreshTokenGrants() async throws {
        let service = try await service()
        let password = await service.handlePost(form: [
            ("grant_type", "password"), ("username", "alice"), ("password", "wonderland"), ("service", F.audience),
            ("client_id", "docker"), ("access_type", "offline"), ("scope", "repository:team-a/app:pull,push"),
        ], authorization: nil)
        let got2 = try await identity(password, service)
        XCTAssertEqual(got2, Identity(user: "alice", tokenAccess: [.repository("team-a/app", [.pull, .push])]))
        let refresh = try XCTUnwrap(try json(password)["refresh_token"] as? String)

        let refreshed = await service.handlePost(form: [
            ("grant_type", "refresh_token"), ("refresh_token", refresh), ("service", F.audience),
            ("scope", "repository:public/lib:pull repository:team-b/x:pull"),
        ], authorization: nil)
        let got3 = try await identity(refreshed, service)
        XCTAssertEqual(got3, Identity(user: "alice", tokenAccess: [.repository("public/lib", [.pull])]))

        let access = try XCTUnwrap(try json(password)["access_token"] as? String)
        let notRefresh = await service.handlePost(form: [("grant_type", "refresh_token"), ("refresh_token", access)], authorization: nil)
        XCTAssertEqual(notRefresh.status, 401)
        XCTAssertEqual(try json(notRefresh)["error"] as? String, "invalid_grant")
        XCTAssertTrue((try json(notRefresh)["error_description"] as? String ?? "").contains("not a refresh token"))
    }

    func testRefreshTokenOfARemovedUserIsRefused() async throws {
        let service = try await service()
        let login = await service.handlePost(form: [("grant_type", "password"), ("username", "alice"), ("password", "wonderland"),
                                                    ("access_type", "offline")], authorization: nil)
        let refresh = try XCTUnwrap(try json(login)["refresh_token"] as? String)
        let text = try String(contentsOfFile: service.users.path, encoding: .utf8)
        try XCTUnwrap(HtpasswdFile.removing(user: "alice", from: text)).write(toFile: service.users.path, atomically: true, encoding: .utf8)
        try await Task.sleep(for: .milliseconds(1100))  // the file is looked at again after a second
        let response = await service.handlePost(form: [("grant_type", "refresh_token"), ("refresh_token", refresh)], authorization: nil)
        XCTAssertEqual(response.status, 401)
        XCTAssertTrue((try json(response)["error_description"] as? String ?? "").contains("user alice of the refresh token no longer exists"))
    }

    func testPostErrors() async throws {
        let service = try await service()
        func check(_ form: [(String, String)], _ status: Int, _ error: String, line: UInt = #line) async throws {
            let response = await service.handlePost(form: form, authorization: nil)
            XCTAssertEqual(response.status, status, line: line)
            XCTAssertEqual(try json(response)["error"] as? String, error, line: line)
            XCTAssertFalse(String(decoding: response.body, as: UTF8.self).contains("wonderland"), line: line)
        }
        try await check([("grant_type", "password"), ("username", "alice"), ("password", "wrong")], 401, "invalid_grant")
        try await check([("grant_type", "password"), ("username", "alice")], 400, "invalid_request")
        try await check([("grant_type", "client_credentials")], 400, "unsupported_grant_type")
        try await check([("username", "alice"), ("password", "wonderland")], 400, "invalid_request")
        try await check([("grant_type", "refresh_token"), ("refresh_token", "garbage")], 401, "invalid_grant")
        try await check([("grant_type", "password"), ("username", "alice"), ("password", "wonderland"), ("scope", "bad")], 400, "invalid_scope")
        try await check([("grant_type", "password"), ("username", "alice"), ("password", "wonderland"), ("service", "x")], 400, "invalid_request")
    }
}
