import BerthAuth
import BerthServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import XCTest

/// htpasswd authentication, access rules, read-only mode and rate limits, through the real
/// application: each refusal with its exact status, error code and challenge.
final class AuthTests: XCTestCase {
    static let users = [("alice", "alice-pw"), ("bob", "bob-pw"), ("carol", "carol-pw")]
    static let rules = AccessRules(rules: [
        AccessRule(users: ["alice"], repositories: ["team-a/**"], actions: [.pull, .push, .delete]),
        AccessRule(groups: ["readers"], repositories: ["team-a/**"], actions: [.pull]),
        AccessRule(users: ["*"], repositories: ["shared/*"], actions: [.pull, .push]),
        AccessRule(users: ["anonymous"], repositories: ["public/**"], actions: [.pull]),
        AccessRule(users: ["alice", "bob"], actions: [.catalog]),
    ], groups: ["readers": ["bob"]])

    /// A registry with htpasswd users and (by default) the rules above.
    func withRegistry<T: Sendable>(rules: AccessRules = AuthTests.rules,
                                   configure: @escaping @Sendable (inout BerthConfiguration) -> Void = { _ in },
                                   _ body: @Sendable (Client) async throws -> T) async throws -> T {
        let dir = NSTemporaryDirectory() + "berth-auth-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = ""
        for (user, password) in Self.users { text = HtpasswdFile.adding(user: user, password: password, to: text, cost: 4) }
        try text.write(toFile: dir + "/htpasswd", atomically: true, encoding: .utf8)
        return try await Registry.run(deleteEnabled: true, configure: { config in
            config.auth.mode = .htpasswd(realm: "Berth Tests", path: dir + "/htpasswd")
            config.auth.rules = rules
            configure(&config)
        }, body)
    }

    func testBaseNeedsValidCredentials() async throws {
        try await withRegistry { client in
            let anonymous = try await client.send(.get, "/v2/")
            assertError(anonymous, .unauthorized, "UNAUTHORIZED")
            XCTAssertEqual(anonymous.headers[.wwwAuthenticate], #"Basic realm="Berth Tests",charset="UTF-8""#)
            assertError(try await client.send(.get, "/v2/", as: ("alice", "wrong")), .unauthorized, "UNAUTHORIZED")
            assertError(try await client.send(.get, "/v2/", as: ("mallory", "alice-pw")), .unauthorized, "UNAUTHORIZED")
            let malformed = try await client.send(.get, "/v2/", headers: [.authorization: "Basic !!!notbase64"])
            assertError(malformed, .unauthorized, "UNAUTHORIZED")
            let bearer = try await client.send(.get, "/v2/", headers: [.authorization: "Bearer abc"])
            assertError(bearer, .unauthorized, "UNAUTHORIZED")
            XCTAssertNotNil(bearer.headers[.wwwAuthenticate])
            let ok = try await client.send(.get, "/v2/", as: ("alice", "alice-pw"))
            XCTAssertEqual(ok.status, .ok)
            // A cached success does not let a wrong password through afterwards.
            assertError(try await client.send(.get, "/v2/", as: ("alice", "alice-pw2")), .unauthorized, "UNAUTHORIZED")
        }
    }

    func testRulesDecidePushPullAndDelete() async throws {
        try await withRegistry { client in
            let image = try await client.pushImage("team-a/app", tag: "v1", as: ("alice", "alice-pw"))
            // bob (group readers) may pull but not push or delete.
            let pulled = try await client.send(.get, "/v2/team-a/app/manifests/v1", as: ("bob", "bob-pw"),
                                               headers: [.accept: MT.ociManifest])
            XCTAssertEqual(pulled.status, .ok)
            XCTAssertEqual(bodyBytes(pulled), image.bytes)
            let push = try await client.send(.post, "/v2/team-a/app/blobs/uploads/", as: ("bob", "bob-pw"))
            let denied = assertError(push, .forbidden, "DENIED")
            XCTAssertTrue(denied?.message.contains("push") ?? false, denied?.message ?? "")
            assertError(try await client.send(.delete, "/v2/team-a/app/manifests/\(image.digest)", as: ("bob", "bob-pw")),
                        .forbidden, "DENIED")
            // carol has no rule for team-a at all.
            assertError(try await client.send(.get, "/v2/team-a/app/tags/list", as: ("carol", "carol-pw")), .forbidden, "DENIED")
            assertError(try await client.send(.get, "/v2/team-a/app/manifests/v1", as: ("carol", "carol-pw")), .forbidden, "DENIED")
            // Every user may push to shared/*, nobody may delete there.
            try await client.pushImage("shared/tool", tag: "1", as: ("carol", "carol-pw"))
            assertError(try await client.send(.delete, "/v2/shared/tool/manifests/1", as: ("carol", "carol-pw")), .forbidden, "DENIED")
            // alice may delete in team-a.
            let deleted = try await client.send(.delete, "/v2/team-a/app/manifests/\(image.digest)", as: ("alice", "alice-pw"))
            XCTAssertEqual(deleted.status, .accepted, bodyString(deleted))
        }
    }

    func testAnonymousRequestsAreChallengedUnlessARuleAllowsThem() async throws {
        try await withRegistry { client in
            let anonymousPush = try await client.send(.post, "/v2/public/base/blobs/uploads/")
            assertError(anonymousPush, .unauthorized, "UNAUTHORIZED")
            XCTAssertEqual(anonymousPush.headers[.wwwAuthenticate], #"Basic realm="Berth Tests",charset="UTF-8""#)
            // Anonymous pull of public/** is allowed: the answer is about the content, not the caller.
            assertError(try await client.send(.get, "/v2/public/base/manifests/latest"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/team-a/app/manifests/latest"), .unauthorized, "UNAUTHORIZED")
        }
    }

    func testCatalogListsOnlyWhatTheCallerMayPull() async throws {
        try await withRegistry { client in
            try await client.pushImage("team-a/one", tag: "1", as: ("alice", "alice-pw"))
            try await client.pushImage("shared/two", tag: "1", as: ("alice", "alice-pw"))
            try await client.pushImage("shared/three", tag: "1", as: ("carol", "carol-pw"))
            let alice = try await client.send(.get, "/v2/_catalog", as: ("alice", "alice-pw"))
            XCTAssertEqual(bodyString(alice), #"{"repositories":["shared/three","shared/two","team-a/one"]}"#)
            let bob = try await client.send(.get, "/v2/_catalog?n=1", as: ("bob", "bob-pw"))
            XCTAssertEqual(bodyString(bob), #"{"repositories":["shared/three"]}"#)
            XCTAssertEqual(bob.headers[.link], #"</v2/_catalog?n=1&last=shared/three>; rel="next""#)
            assertError(try await client.send(.get, "/v2/_catalog", as: ("carol", "carol-pw")), .forbidden, "DENIED")
            assertError(try await client.send(.get, "/v2/_catalog"), .unauthorized, "UNAUTHORIZED")
        }
    }

    /// A mount from a repository the caller may not pull falls back to an upload session and
    /// links nothing; from one it may pull, it mounts.
    func testMountWithoutPullRightsRevealsNothing() async throws {
        try await withRegistry { client in
            let secret = content(300, seed: 9)
            let digest = try await client.pushBlob("team-a/secret", secret, as: ("alice", "alice-pw"))
            let mount = try await client.send(.post, "/v2/shared/x/blobs/uploads/?mount=\(digest)&from=team-a/secret",
                                              as: ("carol", "carol-pw"))
            XCTAssertEqual(mount.status, .accepted, bodyString(mount))
            let anonymousMount = try await client.send(.post, "/v2/shared/x/blobs/uploads/?mount=\(digest)", as: ("carol", "carol-pw"))
            XCTAssertEqual(anonymousMount.status, .accepted, bodyString(anonymousMount))
            assertError(try await client.send(.get, "/v2/shared/x/blobs/\(digest)", as: ("carol", "carol-pw")), .notFound, "BLOB_UNKNOWN")
            let allowed = try await client.send(.post, "/v2/team-a/copy/blobs/uploads/?mount=\(digest)&from=team-a/secret",
                                                as: ("alice", "alice-pw"))
            XCTAssertEqual(allowed.status, .created, bodyString(allowed))
        }
    }

    func testReadOnlyModeRefusesWritesAndServesPulls() async throws {
        let dir = NSTemporaryDirectory() + "berth-ro-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try await Registry.run(deleteEnabled: true, root: dir) { client in try await client.pushImage("ro/app", tag: "v1") }
        try await Registry.run(deleteEnabled: true, root: dir, configure: { $0.readOnly = true }) { client in
            let pulled = try await client.send(.get, "/v2/ro/app/manifests/v1", headers: [.accept: MT.ociManifest])
            XCTAssertEqual(bodyBytes(pulled), image.bytes)
            let push = try await client.send(.post, "/v2/ro/app/blobs/uploads/")
            let error = assertError(push, .methodNotAllowed, "UNSUPPORTED")
            XCTAssertTrue(error?.message.contains("read-only") ?? false)
            assertError(try await client.send(.delete, "/v2/ro/app/manifests/\(image.digest)"), .methodNotAllowed, "UNSUPPORTED")
            assertError(try await client.putManifest("ro/app", "v2", image.bytes, contentType: MT.ociManifest), .methodNotAllowed, "UNSUPPORTED")
        }
    }

    func testRateLimitAnswers429WithRetryAfter() async throws {
        try await Registry.run(configure: { config in
            config.rateLimit.requestsPerSecond = 0.5
            config.rateLimit.burst = 3
        }) { client in
            for _ in 0..<3 {
                let r = try await client.send(.get, "/v2/")
                XCTAssertEqual(r.status, .ok)
            }
            let limited = try await client.send(.get, "/v2/")
            assertError(limited, .tooManyRequests, "TOOMANYREQUESTS")
            XCTAssertEqual(limited.headers[HTTPField.Name("Retry-After")!], "2")
        }
    }
}

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ uri: String, as user: (String, String), headers: HTTPFields = [:],
              body: [UInt8]? = nil) async throws -> TestResponse {
        var headers = headers
        headers[.authorization] = "Basic " + Data("\(user.0):\(user.1)".utf8).base64EncodedString()
        return try await send(method, uri, headers: headers, body: body)
    }

    @discardableResult
    func pushBlob(_ repo: String, _ data: [UInt8], as user: (String, String)) async throws -> String {
        let digest = sha256(data)
        let r = try await send(.post, "/v2/\(repo)/blobs/uploads/?digest=\(digest)", as: user, body: data)
        XCTAssertEqual(r.status, .created, "pushing \(digest) into \(repo) as \(user.0): \(bodyString(r))")
        return digest
    }

    /// Pushes a small image as `user`, asserting every step succeeds.
    @discardableResult
    func pushImage(_ repo: String, tag: String, as user: (String, String)) async throws -> (bytes: [UInt8], digest: String) {
        let config = bytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"repo\":\"\(repo)\"}")
        let layer = content(200, seed: UInt8(truncatingIfNeeded: repo.utf8.count))
        let configDigest = try await pushBlob(repo, config, as: user)
        let layerDigest = try await pushBlob(repo, layer, as: user)
        let manifest = imageManifestJSON(mediaTypeField: MT.ociManifest,
                                         config: descriptorJSON(MT.ociConfig, configDigest, config.count),
                                         layers: [descriptorJSON(MT.ociLayer, layerDigest, layer.count)])
        let r = try await send(.put, "/v2/\(repo)/manifests/\(tag)", as: user, headers: [.contentType: MT.ociManifest], body: manifest)
        XCTAssertEqual(r.status, .created, "pushing \(repo):\(tag) as \(user.0): \(bodyString(r))")
        return (manifest, sha256(manifest))
    }
}
