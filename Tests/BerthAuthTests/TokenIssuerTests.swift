import BerthAuth
import Crypto
import Foundation
import XCTest
import _CryptoExtras

final class TokenIssuerTests: XCTestCase {
    typealias F = TokenFixture

    private func issuer(_ pem: String) async throws -> TokenIssuer {
        try await TokenIssuer(issuer: F.issuer, service: F.audience, signingKeyPEM: pem, expiration: .seconds(300),
                              refreshExpiration: .seconds(86_400))
    }

    func testES256RoundTripWithClaimsAndKeyID() async throws {
        let dir = try F.directory(self)
        let key = P256.Signing.PrivateKey()
        let issuer = try await issuer(key.pemRepresentation)
        XCTAssertEqual(issuer.algorithm, "ES256")
        let certificate = try F.certificate(keyPEM: key.pemRepresentation, in: dir)
        XCTAssertEqual(issuer.keyID, try F.libtrustKeyID(certificatePEM: certificate, in: dir))

        let scopes = [AccessScope.repository("team-a/app", [.pull, .push]), .catalog]
        let issued = try await issuer.issue(subject: "alice", access: scopes)
        XCTAssertEqual(issued.expiresIn, 300)
        XCTAssertLessThan(abs(issued.issuedAt.timeIntervalSinceNow), 5)
        let identity = try await issuer.verifier.verify(issued.token)
        XCTAssertEqual(identity, Identity(user: "alice", tokenAccess: scopes))

        let header = try F.header(issued.token)
        XCTAssertEqual(header["alg"] as? String, "ES256")
        XCTAssertEqual(header["kid"] as? String, issuer.keyID)
        let claims = try F.payload(issued.token)
        XCTAssertEqual(claims["iss"] as? String, F.issuer)
        XCTAssertEqual(claims["aud"] as? String, F.audience)
        XCTAssertEqual(claims["sub"] as? String, "alice")
        let iat = try XCTUnwrap(claims["iat"] as? Int)
        XCTAssertEqual(claims["exp"] as? Int, iat + 300)
        XCTAssertEqual(claims["nbf"] as? Int, iat)
        XCTAssertFalse(try XCTUnwrap(claims["jti"] as? String).isEmpty)
        let other = try await issuer.issue(subject: "alice", access: scopes)
        XCTAssertNotEqual(try F.payload(other.token)["jti"] as? String, claims["jti"] as? String)

        // The signature checks with swift-crypto directly (JWS raw r||s), and a registry trusting
        // the certificate of the key accepts the token.
        let parts = issued.token.split(separator: ".")
        let signature = try P256.Signing.ECDSASignature(rawRepresentation: try XCTUnwrap(F.decode(String(parts[2]))))
        XCTAssertTrue(key.publicKey.isValidSignature(signature, for: Data("\(parts[0]).\(parts[1])".utf8)))
        let registry = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: certificate, jwksJSON: nil)
        let got1 = try await registry.verify(issued.token)
        XCTAssertEqual(got1, identity)
        let fromPublicKey = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience,
                                                       rootCertBundlePEM: issuer.publicKeyPEM, jwksJSON: nil)
        let got2 = try await fromPublicKey.verify(issued.token)
        XCTAssertEqual(got2, identity)
    }

    func testSEC1KeyFromOpenSSL() async throws {
        let dir = try F.directory(self)
        // `ecparam -genkey` writes an EC PARAMETERS block before the SEC1 EC PRIVATE KEY.
        let pem = try F.shell("openssl ecparam -name prime256v1 -genkey", in: dir)
        XCTAssertTrue(pem.contains("BEGIN EC PRIVATE KEY"))
        let issuer = try await issuer(pem)
        let issued = try await issuer.issue(subject: nil, access: [])
        let got3 = try await issuer.verifier.verify(issued.token)
        XCTAssertEqual(got3, Identity(user: nil, tokenAccess: []))
        XCTAssertNil(try F.payload(issued.token)["sub"], "anonymous tokens have no sub")
    }

    func testRS256RoundTripPKCS1AndPKCS8() async throws {
        let dir = try F.directory(self)
        for command in ["openssl genrsa -traditional 2048 2>/dev/null", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null"] {
            let pem = try F.shell(command, in: dir)
            let issuer = try await issuer(pem)
            XCTAssertEqual(issuer.algorithm, "RS256")
            let issued = try await issuer.issue(subject: "bob", access: [.repository("x", [.pull])])
            XCTAssertEqual(try F.header(issued.token)["alg"] as? String, "RS256")
            let got4 = try await issuer.verifier.verify(issued.token)
            XCTAssertEqual(got4, Identity(user: "bob", tokenAccess: [.repository("x", [.pull])]))
            let certificate = try F.certificate(keyPEM: pem, in: dir)
            let registry = try await JWTTokenVerifier(issuer: F.issuer, audience: F.audience, rootCertBundlePEM: certificate,
                                                      jwksJSON: nil, algorithms: ["RS256"])
            let got5 = try await registry.verify(issued.token)
            XCTAssertEqual(got5.user, "bob")
        }
    }

    func testUnsuitableKeysAreRefusedClearly() async throws {
        let dir = try F.directory(self)
        await assertRejected("at least 2048 are required") {
            _ = try await self.issuer(try F.shell("openssl genrsa -traditional 1024 2>/dev/null", in: dir))
        }
        await assertRejected("only P-256 (ES256) is supported") {
            _ = try await self.issuer(P384.Signing.PrivateKey().pemRepresentation)
        }
        await assertRejected("holds no private key (found: PUBLIC KEY)") {
            _ = try await self.issuer(P256.Signing.PrivateKey().publicKey.pemRepresentation)
        }
        await assertRejected("holds no private key (found: nothing)") { _ = try await self.issuer("not a key") }
    }

    func testRefreshTokensAreNotAccessTokens() async throws {
        let issuer = try await issuer(P256.Signing.PrivateKey().pemRepresentation)
        let refresh = try await issuer.refreshToken(user: "alice")
        await assertRejected("a refresh token is not an access token") { _ = try await issuer.verifier.verify(refresh) }
        let user = try await issuer.userFromRefreshToken(refresh)
        XCTAssertEqual(user, "alice")
        let access = try await issuer.issue(subject: "alice", access: [])
        await assertRejected("token is not a refresh token") { _ = try await issuer.userFromRefreshToken(access.token) }
        // Another issuer's refresh token (different key) is refused.
        let stranger = try await self.issuer(P256.Signing.PrivateKey().pemRepresentation)
        let foreign = try await stranger.refreshToken(user: "alice")
        await assertRejected("unknown key id") { _ = try await issuer.userFromRefreshToken(foreign) }
    }
}
