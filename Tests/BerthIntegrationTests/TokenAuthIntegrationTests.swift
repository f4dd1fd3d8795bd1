import BerthAuth
import BerthServer
import Crypto
import Foundation
import XCTest

/// Berth's own token service (`auth.tokenservice`) over real TLS: skopeo logs in through the
/// Docker token dance; every refusal is checked for its exact status, error and challenge.
final class TokenAuthIntegrationTests: IntegrationTestCase {
    struct Setup {
        var berth: HTTPSBerth
        var pki: TestPKI
        var base: String
        var certDir: String
        var service = "berth-tests"
    }

    /// A TLS registry with the token service, users alice (push/pull/delete team-a/**) and bob
    /// (pull team-a/**), anonymous pulls of public/**, catalog for both.
    func start() async throws -> Setup {
        let dir = try temporaryDirectory("token")
        let pki = try await TestPKI.make(in: try temporaryDirectory("token-pki"))
        let key = dir.appendingPathComponent("signing.pem").path
        try await ProcessRunner.run("/usr/bin/openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
        let htpasswd = try TestUsers.writeAliceAndBob(in: dir)
        let certDir = try pki.clientCertDirectory(in: dir)

        let port = try freeLoopbackPort()
        let base = "https://127.0.0.1:\(port)"
        let root = try temporaryDirectory("token-root").path
        let berth = try await HTTPSBerth.start(root: root, tls: pki.settings(pki.serverA)) { config in
            config.httpAddress = ListenAddress(host: "127.0.0.1", port: port)
            var service = AuthSettings.TokenServiceSettings(service: "berth-tests", issuer: "berth-test-issuer",
                                                            signingKey: key, htpasswd: htpasswd)
            service.realm = base + "/token"
            service.anonymous = true
            config.auth.mode = .tokenService(service)
            config.auth.rules = AccessRules(rules: [
                AccessRule(users: ["alice"], repositories: ["team-a/**"], actions: [.pull, .push, .delete]),
                AccessRule(users: ["bob"], repositories: ["team-a/**"], actions: [.pull]),
                AccessRule(users: ["anonymous"], repositories: ["public/**"], actions: [.pull]),
                AccessRule(users: ["alice", "bob"], actions: [.catalog]),
            ])
        }
        cleanups.append { await berth.stop() }
        return Setup(berth: berth, pki: pki, base: base, certDir: certDir.path)
    }

    func curl(_ s: Setup, _ method: String, _ path: String, token: String? = nil, user: String? = nil,
              body: String? = nil) async throws -> HTTP.Response {
        let scratch = try temporaryDirectory("curl")
        let headers = scratch.appendingPathComponent("h").path
        let out = scratch.appendingPathComponent("b").path
        var arguments = ["-s", "--cacert", s.pki.ca, "-X", method, "-D", headers, "-o", out, "-w", "%{http_code}"]
        if let token { arguments += ["-H", "Authorization: Bearer \(token)"] }
        if let user { arguments += ["-u", user] }
        if let body { arguments += ["--data-binary", body] }
        let result = try await ProcessRunner.run("/usr/bin/curl", arguments + [s.base + path], timeout: .seconds(20), allowFailure: true)
        // The last header block (after any interim response), as name to value.
        var fields: [String: String] = [:]
        let head = (try? String(contentsOfFile: headers, encoding: .utf8)) ?? ""
        for line in head.components(separatedBy: "\r\n\r\n").filter({ !$0.isEmpty }).last?.split(separator: "\r\n") ?? [] {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTP.Response(status: Int(result.stdout) ?? 0, headers: fields,
                             body: FileManager.default.contents(atPath: out) ?? Data())
    }

    func token(_ s: Setup, user: String?, scopes: [String], service: String? = nil) async throws -> String {
        let query = (["service=\(service ?? s.service)"] + scopes.map { "scope=\($0)" }).joined(separator: "&")
        let answer = try await curl(s, "GET", "/token?\(query)", user: user)
        XCTAssertEqual(answer.status, 200, answer.text)
        let json = try JSONSerialization.jsonObject(with: Data(answer.text.utf8)) as? [String: Any]
        return try XCTUnwrap(json?["token"] as? String, answer.text)
    }

    func testSkopeoPushesAndPullsThroughTheTokenService() async throws {
        let s = try await start()
        let image = TestImage.random(layerCount: 2)
        let source = try temporaryDirectory("src")
        try OCILayout.write(source, tag: "v1", image: image)
        let target = "docker://127.0.0.1:\(s.berth.port)/team-a/app:v1"
        func skopeo(_ arguments: [String]) async throws -> ProcessResult {
            try await ProcessRunner.run(Tools.skopeo, ["--insecure-policy"] + arguments, timeout: .seconds(60), allowFailure: true)
        }
        let wrong = try await skopeo(["copy", "--dest-cert-dir", s.certDir, "--dest-creds", "alice:nope",
                                      "oci:\(source.path):v1", target])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.lowercased().contains("unauthorized"), wrong.stderr)
        let readOnly = try await skopeo(["copy", "--dest-cert-dir", s.certDir, "--dest-creds", "bob:bob-pw",
                                         "oci:\(source.path):v1", target])
        XCTAssertNotEqual(readOnly.status, 0, "a pull-only user pushed")
        let pushed = try await skopeo(["copy", "--preserve-digests", "--dest-cert-dir", s.certDir, "--dest-creds", "alice:alice-pw",
                                       "oci:\(source.path):v1", target])
        XCTAssertEqual(pushed.status, 0, pushed.stderr)
        let pulled = try temporaryDirectory("pulled").appendingPathComponent("layout")
        let pull = try await skopeo(["copy", "--src-cert-dir", s.certDir, "--src-creds", "bob:bob-pw", target, "oci:\(pulled.path):v1"])
        XCTAssertEqual(pull.status, 0, pull.stderr)
        try assertLayout(pulled, tag: "v1", holds: image)
        let anonymous = try await skopeo(["inspect", "--cert-dir", s.certDir, target])
        XCTAssertNotEqual(anonymous.status, 0, "an anonymous pull of team-a succeeded")
    }

    func testChallengesAndRefusalsCarryTheExactScope() async throws {
        let s = try await start()
        let base = try await curl(s, "GET", "/v2/")
        XCTAssertEqual(base.status, 401)
        XCTAssertEqual(base.errorCode, "UNAUTHORIZED")
        XCTAssertEqual(base.header("WWW-Authenticate"), #"Bearer realm="\#(s.base)/token",service="berth-tests""#)
        let tags = try await curl(s, "GET", "/v2/team-a/app/tags/list")
        XCTAssertEqual(tags.status, 401)
        XCTAssertEqual(tags.header("WWW-Authenticate"),
                       #"Bearer realm="\#(s.base)/token",service="berth-tests",scope="repository:team-a/app:pull""#)
        let upload = try await curl(s, "POST", "/v2/team-a/app/blobs/uploads/")
        XCTAssertTrue(upload.header("WWW-Authenticate")?.contains(#"scope="repository:team-a/app:pull,push""#) ?? false, "\(upload.headers)")

        // alice pushes a blob with a push token; bob's pull token cannot push or delete.
        let alicePush = try await token(s, user: "alice:alice-pw", scopes: ["repository:team-a/app:pull,push,delete"])
        let started = try await curl(s, "POST", "/v2/team-a/app/blobs/uploads/", token: alicePush)
        XCTAssertEqual(started.status, 202, started.text)
        let bobToken = try await token(s, user: "bob:bob-pw", scopes: ["repository:team-a/app:pull,push,delete"])
        let bobPush = try await curl(s, "POST", "/v2/team-a/app/blobs/uploads/", token: bobToken)
        XCTAssertEqual(bobPush.status, 401)
        XCTAssertEqual(bobPush.errorCode, "UNAUTHORIZED")
        XCTAssertTrue(bobPush.header("WWW-Authenticate")?.contains(#"error="insufficient_scope""#) ?? false, "\(bobPush.headers)")
        let bobDelete = try await curl(s, "DELETE", "/v2/team-a/app/manifests/sha256:\(String(repeating: "0", count: 64))", token: bobToken)
        XCTAssertEqual(bobDelete.status, 401)
        XCTAssertTrue(bobDelete.header("WWW-Authenticate")?.contains(#"scope="repository:team-a/app:delete""#) ?? false)
        let bobPull = try await curl(s, "GET", "/v2/team-a/app/tags/list", token: bobToken)
        XCTAssertEqual(bobPull.errorCode, "NAME_UNKNOWN", "a pull token for team-a/app must get past access control: \(bobPull.text)")

        // A token for repository A is worth nothing on B.
        let other = try await curl(s, "GET", "/v2/team-a/other/tags/list", token: bobToken)
        XCTAssertEqual(other.status, 401)
        XCTAssertTrue(other.header("WWW-Authenticate")?.contains(#"error="insufficient_scope""#) ?? false)

        // Tampered, foreign-audience and unsigned tokens are invalid tokens.
        var parts = bobToken.split(separator: ".").map(String.init)
        let payload = try XCTUnwrap(Data(base64Encoded: Self.padded(parts[1])))
        let widened = String(decoding: payload, as: UTF8.self).replacingOccurrences(of: "\"pull\"", with: "\"pull\",\"push\"")
        parts[1] = Self.base64URL(Data(widened.utf8))
        let tampered = try await curl(s, "POST", "/v2/team-a/app/blobs/uploads/", token: parts.joined(separator: "."))
        XCTAssertEqual(tampered.status, 401)
        XCTAssertTrue(tampered.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) ?? false, "\(tampered.headers)")
        let unsigned = Self.base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + parts[1] + "."
        let none = try await curl(s, "GET", "/v2/team-a/app/tags/list", token: unsigned)
        XCTAssertEqual(none.status, 401)
        XCTAssertTrue(none.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) ?? false)
        let foreign = try await curl(s, "GET", "/token?service=another-registry&scope=repository:team-a/app:pull", user: "bob:bob-pw")
        XCTAssertEqual(foreign.status, 400, foreign.text)
    }

    func testTokenEndpointAndCatalogFiltering() async throws {
        let s = try await start()
        let wrong = try await curl(s, "GET", "/token?service=berth-tests&scope=repository:team-a/app:pull", user: "alice:nope")
        XCTAssertEqual(wrong.status, 401)
        XCTAssertFalse(wrong.text.contains("nope"))
        let unknown = try await curl(s, "GET", "/token?service=berth-tests", user: "mallory:x")
        XCTAssertEqual(unknown.status, 401)

        // Anonymous tokens reach public/** only.
        let anonymous = try await token(s, user: nil, scopes: ["repository:public/base:pull", "repository:team-a/app:pull"])
        let publicTags = try await curl(s, "GET", "/v2/public/base/tags/list", token: anonymous)
        XCTAssertEqual(publicTags.errorCode, "NAME_UNKNOWN", publicTags.text)
        let privateTags = try await curl(s, "GET", "/v2/team-a/app/tags/list", token: anonymous)
        XCTAssertEqual(privateTags.status, 401)

        // OAuth2 password grant with a refresh token, then the refresh grant.
        let form = "grant_type=password&username=alice&password=alice-pw&service=berth-tests&client_id=tests&access_type=offline&scope=registry:catalog:*"
        let granted = try await curl(s, "POST", "/token", body: form)
        XCTAssertEqual(granted.status, 200, granted.text)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(granted.text.utf8)) as? [String: Any])
        let refresh = try XCTUnwrap(json["refresh_token"] as? String)
        let refreshed = try await curl(s, "POST", "/token",
                                       body: "grant_type=refresh_token&refresh_token=\(refresh)&service=berth-tests&scope=registry:catalog:*")
        XCTAssertEqual(refreshed.status, 200, refreshed.text)
        let refusedRefresh = try await curl(s, "POST", "/token", body: "grant_type=refresh_token&refresh_token=garbage&service=berth-tests")
        XCTAssertEqual(refusedRefresh.status, 401)

        // The catalog lists only what the caller may pull.
        let alicePush = try await token(s, user: "alice:alice-pw", scopes: ["repository:team-a/app:pull,push"])
        try await pushTinyImage(s, "team-a/app", token: alicePush)
        let aliceCatalog = try await token(s, user: "alice:alice-pw", scopes: ["registry:catalog:*"])
        let catalog = try await curl(s, "GET", "/v2/_catalog", token: aliceCatalog)
        XCTAssertEqual(catalog.text, #"{"repositories":["team-a/app"]}"#)
        let noCatalog = try await curl(s, "GET", "/v2/_catalog", token: alicePush)
        XCTAssertEqual(noCatalog.status, 401)
        XCTAssertTrue(noCatalog.header("WWW-Authenticate")?.contains(#"scope="registry:catalog:*""#) ?? false)
    }

    /// `auth.token` with an external issuer's certificate bundle: its tokens are accepted, expired
    /// ones, ones for another service and ones from another key are not.
    func testExternalIssuerTokensFromTheRootCertBundle() async throws {
        let dir = try temporaryDirectory("ext")
        let key = dir.appendingPathComponent("issuer.key").path
        let cert = dir.appendingPathComponent("issuer.crt").path
        try await ProcessRunner.run("/usr/bin/openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
        try await ProcessRunner.run("/usr/bin/openssl", ["req", "-x509", "-new", "-key", key, "-out", cert, "-days", "2",
                                                         "-subj", "/CN=token-issuer"])
        let pki = try await TestPKI.make(in: try temporaryDirectory("ext-pki"))
        let berth = try await HTTPSBerth.start(root: try temporaryDirectory("ext-root").path, tls: pki.settings(pki.serverA)) { config in
            var token = AuthSettings.TokenSettings(realm: "https://auth.example.com/token", service: "berth-tests", issuer: "ext-issuer")
            token.rootCertBundle = cert
            config.auth.mode = .token(token)
        }
        cleanups.append { await berth.stop() }
        let s = Setup(berth: berth, pki: pki, base: "https://127.0.0.1:\(berth.port)", certDir: "")
        let pem = try String(contentsOfFile: key, encoding: .utf8)
        let access = [AccessScope.repository("team-a/app", [.pull])]
        func issued(service: String = "berth-tests", pem: String) async throws -> String {
            let issuer = try await TokenIssuer(issuer: "ext-issuer", service: service, signingKeyPEM: pem,
                                               expiration: .seconds(300), refreshExpiration: .seconds(600))
            return try await issuer.issue(subject: "ci", access: access).token
        }
        let good = try await curl(s, "GET", "/v2/team-a/app/tags/list", token: try await issued(pem: pem))
        XCTAssertEqual(good.errorCode, "NAME_UNKNOWN", good.text)
        let challenge = try await curl(s, "GET", "/v2/team-a/app/tags/list")
        XCTAssertEqual(challenge.header("WWW-Authenticate"),
                       #"Bearer realm="https://auth.example.com/token",service="berth-tests",scope="repository:team-a/app:pull""#)
        // An expired token, signed by the right key (made by hand: the issuer only makes valid ones).
        let signer = try P256.Signing.PrivateKey(pemRepresentation: pem)
        let now = Int(Date().timeIntervalSince1970)
        let header = #"{"alg":"ES256","typ":"JWT","kid":"\#(TokenKeyID.libtrust(publicKeyDER: signer.publicKey.derRepresentation))"}"#
        let claims = #"{"iss":"ext-issuer","sub":"ci","aud":"berth-tests","iat":\#(now - 900),"nbf":\#(now - 900),"exp":\#(now - 300),"access":[{"type":"repository","name":"team-a/app","actions":["pull"]}]}"#
        let input = Self.base64URL(Data(header.utf8)) + "." + Self.base64URL(Data(claims.utf8))
        let signature = try signer.signature(for: Data(input.utf8)).rawRepresentation
        let stale = input + "." + Self.base64URL(signature)
        var fresh = claims.replacingOccurrences(of: "\(now - 300)", with: "\(now + 300)")
        fresh = Self.base64URL(Data(header.utf8)) + "." + Self.base64URL(Data(fresh.utf8))
        let handMade = fresh + "." + Self.base64URL(try signer.signature(for: Data(fresh.utf8)).rawRepresentation)
        let accepted = try await curl(s, "GET", "/v2/team-a/app/tags/list", token: handMade)
        XCTAssertEqual(accepted.errorCode, "NAME_UNKNOWN", "the hand-made valid token must pass: \(accepted.text)")
        let expired = try await curl(s, "GET", "/v2/team-a/app/tags/list", token: stale)
        XCTAssertEqual(expired.status, 401)
        XCTAssertTrue(expired.header("WWW-Authenticate")?.contains(#"error="invalid_token""#) ?? false, "\(expired.headers)")
        let audience = try await curl(s, "GET", "/v2/team-a/app/tags/list", token: try await issued(service: "elsewhere", pem: pem))
        XCTAssertEqual(audience.status, 401)
        let otherKey = dir.appendingPathComponent("other.key").path
        try await ProcessRunner.run("/usr/bin/openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", otherKey])
        let forged = try await curl(s, "GET", "/v2/team-a/app/tags/list",
                                    token: try await issued(pem: try String(contentsOfFile: otherKey, encoding: .utf8)))
        XCTAssertEqual(forged.status, 401)
        XCTAssertEqual(forged.errorCode, "UNAUTHORIZED")
    }

    private func pushTinyImage(_ s: Setup, _ repo: String, token: String) async throws {
        let config = #"{"architecture":"amd64","os":"linux"}"#
        let digest = Blob.digest(Data(config.utf8))
        let blob = try await curl(s, "POST", "/v2/\(repo)/blobs/uploads/?digest=\(digest)", token: token, body: config)
        XCTAssertEqual(blob.status, 201, blob.text)
        let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(digest)","size":\#(config.utf8.count)},"layers":[]}"#
        let scratch = try temporaryDirectory("m")
        let file = scratch.appendingPathComponent("m.json").path
        try manifest.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try await ProcessRunner.run("/usr/bin/curl", [
            "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", s.pki.ca, "-X", "PUT",
            "-H", "Authorization: Bearer \(token)", "-H", "Content-Type: application/vnd.oci.image.manifest.v1+json",
            "--data-binary", "@\(file)", "\(s.base)/v2/\(repo)/manifests/v1"])
        XCTAssertEqual(result.stdout, "201")
    }

    static func padded(_ s: String) -> String {
        let base = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        return base + String(repeating: "=", count: (4 - base.count % 4) % 4)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
