import BerthAuth
import Crypto
import Foundation
import XCTest
import _CryptoExtras

final class TokenVerifierTests: XCTestCase {
    typealias F = TokenFixture

    /// An EC P-256 key, its self-signed certificate, its Docker key id, and a verifier trusting it.
    private func ecSetup() async throws -> (key: P256.Signing.PrivateKey, kid: String, verifier: JWTTokenVerifier, dir: URL) {
        let dir = try F.directory(self)
        let key = P256.Signing.PrivateKey()
        let certificate = try F.certificate(keyPEM: key.pemRepresentation, in: dir)
        let kid = try F.libtrustKeyID(certificatePEM: certificate, in: dir)
        let verifier = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: certificate, jwksJSON: nil)
        return (key, kid, verifier, dir)
    }

    private func es256(_ setup: (key: P256.Signing.PrivateKey, kid: String, verifier: JWTTokenVerifier, dir: URL),
                       _ changes: [String: Any] = [:], kid: String? = nil) throws -> String {
        try F.jws(["alg": "ES256", "typ": "JWT", "kid": kid ?? setup.kid], F.claims(changes), sign: F.es256(setup.key))
    }

    func testValidTokenGivesItsIdentityAndAccess() async throws {
        let s = try await ecSetup()
        XCTAssertTrue(s.verifier.keyIDs.contains(s.kid), "libtrust key id computed by openssl: \(s.kid), have \(s.verifier.keyIDs)")
        let identity = try await s.verifier.verify(try es256(s))
        XCTAssertEqual(identity, Identity(user: "alice", tokenAccess: [AccessScope(type: "repository", name: "team-a/app", actions: ["pull", "push"])]))
    }

    func testRFC7638ThumbprintIsAlsoAKeyID() async throws {
        let s = try await ecSetup()
        let thumbprint = F.thumbprint(s.key.publicKey)
        let identity = try await s.verifier.verify(try es256(s, kid: thumbprint))
        XCTAssertEqual(identity.user, "alice")
    }

    func testTokenWithoutAccessClaimGrantsNothingButIsNotNil() async throws {
        let s = try await ecSetup()
        var claims = F.claims()
        claims["access"] = nil
        claims["sub"] = ""
        let token = try F.jws(["alg": "ES256", "kid": s.kid], claims, sign: F.es256(s.key))
        let identity = try await s.verifier.verify(token)
        XCTAssertEqual(identity, Identity(user: nil, tokenAccess: []))
    }

    func testAudienceMayBeAnArray() async throws {
        let s = try await ecSetup()
        let identity = try await s.verifier.verify(try es256(s, ["aud": ["other", F.audience]]))
        XCTAssertEqual(identity.user, "alice")
    }

    func testTimeClaims() async throws {
        let s = try await ecSetup()
        let now = Int(Date().timeIntervalSince1970)
        await assertRejected("token expired at") { _ = try await s.verifier.verify(try self.es256(s, ["exp": now - 120])) }
        await assertRejected("token is not valid before") { _ = try await s.verifier.verify(try self.es256(s, ["nbf": now + 600])) }
        await assertRejected("issued in the future") { _ = try await s.verifier.verify(try self.es256(s, ["iat": now + 600])) }
        await assertRejected("token has no expiry (exp)") { _ = try await s.verifier.verify(try self.es256(s, ["exp": NSNull()])) }
        // Within the 60 s clock skew.
        _ = try await s.verifier.verify(try es256(s, ["exp": now - 20, "nbf": now + 20, "iat": now + 20]))
    }

    func testAudienceAndIssuerMustMatch() async throws {
        let s = try await ecSetup()
        await assertRejected("audience other.registry does not include registry.test") {
            _ = try await s.verifier.verify(try self.es256(s, ["aud": "other.registry"]))
        }
        await assertRejected("issuer evil.test is not auth.test") {
            _ = try await s.verifier.verify(try self.es256(s, ["iss": "evil.test"]))
        }
    }

    func testTamperedPayloadAndSignatureAreRejected() async throws {
        let s = try await ecSetup()
        let token = try es256(s)
        let parts = token.split(separator: ".").map(String.init)
        let forged = F.base64url(F.json(F.claims(["access": [["type": "repository", "name": "team-b/app", "actions": ["push"]]]])))
        await assertRejected("signature does not verify with key \(s.kid)") {
            _ = try await s.verifier.verify(parts[0] + "." + forged + "." + parts[2])
        }
        var signature = try XCTUnwrap(F.decode(parts[2]))
        signature[5] ^= 0x01
        await assertRejected("signature does not verify") {
            _ = try await s.verifier.verify(parts[0] + "." + parts[1] + "." + F.base64url(signature))
        }
        await assertRejected("compact JWS") { _ = try await s.verifier.verify(parts[0] + "." + parts[1]) }
    }

    func testAlgorithmNoneAndHMACConfusionAreRejected() async throws {
        let s = try await ecSetup()
        let unsigned = try F.jws(["alg": "none", "kid": s.kid], F.claims(), sign: nil)
        await assertRejected("algorithm none is not accepted") { _ = try await s.verifier.verify(unsigned) }
        // HS256 with the public key itself as the shared secret (algorithm confusion).
        let secret = SymmetricKey(data: Data(s.key.publicKey.pemRepresentation.utf8))
        let confused = try F.jws(["alg": "HS256", "kid": s.kid], F.claims()) { Data(HMAC<SHA256>.authenticationCode(for: $0, using: secret)) }
        await assertRejected("algorithm HS256 is not accepted") { _ = try await s.verifier.verify(confused) }
        // An ES256 token with an RSA algorithm in its header is checked against the wrong scheme.
        let mislabelled = try F.jws(["alg": "RS256", "kid": s.kid], F.claims(), sign: F.es256(s.key))
        await assertRejected("does not verify RS256 tokens") { _ = try await s.verifier.verify(mislabelled) }
    }

    func testUnknownOrMissingKeyID() async throws {
        let s = try await ecSetup()
        await assertRejected("unknown key id ABCD:EFGH") { _ = try await s.verifier.verify(try self.es256(s, kid: "ABCD:EFGH")) }
        // Without kid, a verifier with a single key uses it.
        let noKid = try F.jws(["alg": "ES256"], F.claims(), sign: F.es256(s.key))
        let identity = try await s.verifier.verify(noKid)
        XCTAssertEqual(identity.user, "alice")
        // With two EC keys it cannot choose.
        let other = try F.certificate(keyPEM: P256.Signing.PrivateKey().pemRepresentation, in: s.dir)
        let mine = try F.certificate(keyPEM: s.key.pemRepresentation, in: s.dir)
        let two = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: mine + other, jwksJSON: nil)
        await assertRejected("token has no key id (kid) and 2 keys could have signed it") { _ = try await two.verify(noKid) }
        _ = try await two.verify(try es256(s))
    }

    func testTokenForOneRepositoryGrantsNothingOnAnother() async throws {
        let s = try await ecSetup()
        let identity = try await s.verifier.verify(try es256(s, ["access": [["type": "repository", "name": "team-a/app", "actions": ["pull"]]]]))
        let control = AccessControl(mode: .token(realm: "https://auth.test/token", service: F.audience, verifier: s.verifier))
        XCTAssertEqual(control.actions(identity, repository: "team-a/app"), [.pull])
        XCTAssertEqual(control.actions(identity, repository: "team-b/app"), [])
        XCTAssertFalse(control.mayListCatalog(identity))
    }

    func testRSACertificateBundle() async throws {
        let dir = try F.directory(self)
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let certificate = try F.certificate(keyPEM: key.pemRepresentation, in: dir)
        let kid = try F.libtrustKeyID(certificatePEM: certificate, in: dir)
        let verifier = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: certificate, jwksJSON: nil)
        _ = try await verifier.verify(try F.jws(["alg": "RS256", "kid": kid], F.claims(), sign: F.rs256(key)))
        _ = try await verifier.verify(try F.jws(["alg": "PS256", "kid": kid], F.claims(), sign: F.ps256(key)))
        let restricted = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: certificate,
                                                    jwksJSON: nil, algorithms: ["RS256"])
        await assertRejected("algorithm PS256 is not accepted (accepted: RS256)") {
            _ = try await restricted.verify(try F.jws(["alg": "PS256", "kid": kid], F.claims(), sign: F.ps256(key)))
        }
    }

    func testJWKS() async throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let primitives = try rsa.publicKey.getKeyPrimitives()
        let ec = P256.Signing.PrivateKey()
        let point = Array(ec.publicKey.x963Representation)
        let jwks = String(decoding: F.json(["keys": [
            ["kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "n": F.base64url(primitives.modulus), "e": F.base64url(primitives.publicExponent)],
            ["kty": "EC", "kid": "ec-1", "crv": "P-256", "x": F.base64url(point[1...32]), "y": F.base64url(point[33...64])],
        ]]), as: UTF8.self)
        let verifier = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: nil, jwksJSON: jwks)
        XCTAssertEqual(verifier.keyIDs, ["ec-1", "rsa-1"])
        let fromRSA = try await verifier.verify(try F.jws(["alg": "RS256", "kid": "rsa-1"], F.claims(["sub": "bob"]), sign: F.rs256(rsa)))
        XCTAssertEqual(fromRSA.user, "bob")
        let fromEC = try await verifier.verify(try F.jws(["alg": "ES256", "kid": "ec-1"], F.claims(), sign: F.es256(ec)))
        XCTAssertEqual(fromEC.user, "alice")
        // The JWK says RS256: PS256 is refused for it; the EC key does not verify under the RSA kid.
        await assertRejected("key rsa-1 (RSA 2048-bit) does not verify PS256 tokens") {
            _ = try await verifier.verify(try F.jws(["alg": "PS256", "kid": "rsa-1"], F.claims(), sign: F.ps256(rsa)))
        }
        await assertRejected("does not verify ES256 tokens") {
            _ = try await verifier.verify(try F.jws(["alg": "ES256", "kid": "rsa-1"], F.claims(), sign: F.es256(ec)))
        }
    }

    func testConfigurationErrors() async throws {
        await assertRejected("algorithm HS256 cannot be accepted") {
            _ = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: nil,
                                           jwksJSON: #"{"keys":[]}"#, algorithms: ["HS256"])
        }
        await assertRejected("symmetric keys (kty oct) are not accepted") {
            _ = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: nil,
                                           jwksJSON: #"{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}"#)
        }
        await assertRejected("no token verification keys") {
            _ = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: nil, jwksJSON: #"{"keys":[]}"#)
        }
        let dir = try F.directory(self)
        let weak = try F.certificate(keyPEM: try F.shell("openssl genrsa -traditional 1024 2>/dev/null", in: dir), in: dir)
        await assertRejected("RSA key has 1024 bits; at least 2048 are required") {
            _ = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: weak, jwksJSON: nil)
        }
        await assertRejected("is a PRIVATE KEY, not a CERTIFICATE") {
            _ = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience,
                                           rootCertBundlePEM: P256.Signing.PrivateKey().pemRepresentation, jwksJSON: nil)
        }
    }
}
