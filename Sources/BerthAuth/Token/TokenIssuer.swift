import Crypto
import Foundation
import JWTKit
import _CryptoExtras

/// An access token as the token endpoint hands it out.
public struct IssuedToken: Sendable, Equatable {
    /// The signed JWT.
    public var token: String
    /// Seconds until it expires.
    public var expiresIn: Int
    /// When it was issued.
    public var issuedAt: Date

    public init(token: String, expiresIn: Int, issuedAt: Date) {
        self.token = token
        self.expiresIn = expiresIn
        self.issuedAt = issuedAt
    }
}

/// Signs the tokens of Berth's own token service: Docker token-spec access tokens (ES256 with an
/// EC P-256 key, RS256 with an RSA key) and long-lived refresh tokens for `offline_token`.
public struct TokenIssuer: Sendable {
    /// `iss` of the tokens.
    public let issuer: String
    /// `aud` of access tokens: the registry's service name.
    public let service: String
    /// Lifetime of access tokens.
    public let expiration: Duration
    /// Lifetime of refresh tokens.
    public let refreshExpiration: Duration
    /// The `kid` of the tokens: the Docker (libtrust) key id of the public key.
    public let keyID: String
    /// `ES256` or `RS256`.
    public let algorithm: String
    /// The public key as a PEM `PUBLIC KEY`, for registries verifying these tokens.
    public let publicKeyPEM: String

    private let keys: JWTKeyCollection
    private let accessVerifier: JWTTokenVerifier
    private let refreshVerifier: JWTTokenVerifier

    /// The `aud` of refresh tokens (the token service itself), never the registry's.
    var refreshAudience: String { issuer + "#refresh" }

    /// Loads the signing key: an EC P-256 private key (PKCS#8 or SEC1 PEM) signs ES256, an RSA
    /// private key of at least 2048 bits (PKCS#1 or PKCS#8 PEM) RS256.
    public init(issuer: String, service: String, signingKeyPEM: String, expiration: Duration,
                refreshExpiration: Duration) async throws {
        guard expiration > .zero, refreshExpiration > .zero else {
            throw TokenKeyError("token lifetimes must be positive")
        }
        let keys = JWTKeyCollection()
        let publicKey: PublicKeyMaterial
        switch try SigningKey(pem: signingKeyPEM) {
        case .p256(let key):
            publicKey = .p256(key.publicKey)
            keyID = publicKey.libtrustKeyID
            algorithm = "ES256"
            let signer = try ES256PrivateKey(backing: key)
            await keys.add(ecdsa: signer, kid: JWKIdentifier(string: keyID))
        case .rsa(let key):
            publicKey = .rsa(key.publicKey)
            keyID = publicKey.libtrustKeyID
            algorithm = "RS256"
            let signer = try Insecure.RSA.PrivateKey(backing: key)
            await keys.add(rsa: signer, digestAlgorithm: .sha256, kid: JWKIdentifier(string: keyID))
        }
        self.issuer = issuer
        self.service = service
        self.expiration = expiration
        self.refreshExpiration = refreshExpiration
        self.keys = keys
        publicKeyPEM = "-----BEGIN PUBLIC KEY-----\n"
            + Data(publicKey.spkiDER).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
            + "\n-----END PUBLIC KEY-----\n"
        let entry = (kids: [keyID], key: publicKey, algorithms: Set([algorithm]) as Set<String>?)
        accessVerifier = try await JWTTokenVerifier(issuer: issuer, audience: service, keys: [entry],
                                                    algorithms: [algorithm], expectedUse: nil)
        refreshVerifier = try await JWTTokenVerifier(issuer: issuer, audience: issuer + "#refresh", keys: [entry],
                                                     algorithms: [algorithm], expectedUse: "refresh")
    }

    /// Verifies this issuer's access tokens (same key, issuer and audience); refuses its refresh tokens.
    public var verifier: any TokenVerifier { accessVerifier }

    /// An access token for `subject` (nil: anonymous, `sub` is then omitted) granting `access`.
    public func issue(subject: String?, access: [AccessScope]) async throws -> IssuedToken {
        let now = Date()
        let seconds = Self.seconds(expiration)
        let issuedAt = now.timeIntervalSince1970.rounded(.down)
        let claims = TokenClaims(iss: issuer, sub: subject.flatMap { $0.isEmpty ? nil : $0 }, aud: [service],
                                 exp: issuedAt + Double(seconds), nbf: issuedAt, iat: issuedAt, jti: Self.randomID(),
                                 access: access.map(AccessClaim.init))
        let token = try await keys.sign(claims, kid: JWKIdentifier(string: keyID))
        return IssuedToken(token: token, expiresIn: seconds, issuedAt: Date(timeIntervalSince1970: issuedAt))
    }

    /// A long-lived refresh token for `user` (`offline_token`), exchanged at the token endpoint for
    /// access tokens; registries refuse it as a bearer token.
    public func refreshToken(user: String) async throws -> String {
        guard !user.isEmpty else { throw TokenKeyError("refresh tokens are for named users only") }
        let now = Date().timeIntervalSince1970.rounded(.down)
        let claims = TokenClaims(iss: issuer, sub: user, aud: [refreshAudience], exp: now + Double(Self.seconds(refreshExpiration)),
                                 nbf: now, iat: now, jti: Self.randomID(), access: nil, tokenUse: "refresh")
        return try await keys.sign(claims, kid: JWKIdentifier(string: keyID))
    }

    /// The user a refresh token of this issuer was made for; throws `TokenRejection` for anything
    /// else (access tokens, expired or foreign tokens).
    public func userFromRefreshToken(_ token: String) async throws -> String {
        let claims = try refreshVerifier.claims(of: token, at: Date())
        guard let user = claims.sub, !user.isEmpty else { throw TokenRejection("refresh token names no user") }
        return user
    }

    static func seconds(_ duration: Duration) -> Int {
        max(1, Int(duration.components.seconds))
    }

    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

/// A private key for signing tokens.
enum SigningKey {
    case p256(P256.Signing.PrivateKey)
    case rsa(_RSA.Signing.PrivateKey)

    init(pem: String) throws(TokenKeyError) {
        let blocks = try PEM.blocks(pem)
        if blocks.contains(where: { $0.label == "ENCRYPTED PRIVATE KEY" }) {
            throw TokenKeyError("the signing key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem)")
        }
        let candidates = blocks.filter { $0.label.hasSuffix("PRIVATE KEY") }
        guard candidates.count == 1, let block = candidates.first else {
            let found = blocks.map(\.label).joined(separator: ", ")
            throw TokenKeyError(candidates.isEmpty ? "the signing key PEM holds no private key (found: \(found.isEmpty ? "nothing" : found))"
                                : "the signing key PEM holds \(candidates.count) private keys; give one")
        }
        let der = Data(block.der)
        switch block.label {
        case "EC PRIVATE KEY":
            if let key = try? P256.Signing.PrivateKey(derRepresentation: der) { self = .p256(key); return }
            throw Self.unsupportedEC(der)
        case "RSA PRIVATE KEY":
            guard let key = try? _RSA.Signing.PrivateKey(unsafeDERRepresentation: der) else {
                throw TokenKeyError("the signing key is not a readable RSA private key")
            }
            self = try Self.checked(key)
        case "PRIVATE KEY":
            if let key = try? P256.Signing.PrivateKey(derRepresentation: der) { self = .p256(key); return }
            if let key = try? _RSA.Signing.PrivateKey(unsafeDERRepresentation: der) { self = try Self.checked(key); return }
            throw Self.unsupportedEC(der)
        default:
            throw TokenKeyError("unsupported signing key type \(block.label); use an EC P-256 (ES256) or RSA (RS256) key")
        }
    }

    private static func checked(_ key: _RSA.Signing.PrivateKey) throws(TokenKeyError) -> SigningKey {
        guard key.keySizeInBits >= 2048 else {
            throw TokenKeyError("the RSA signing key has \(key.keySizeInBits) bits; at least 2048 are required")
        }
        return .rsa(key)
    }

    private static func unsupportedEC(_ der: Data) -> TokenKeyError {
        if (try? P384.Signing.PrivateKey(derRepresentation: der)) != nil {
            return TokenKeyError("the EC signing key is on P-384; only P-256 (ES256) is supported")
        }
        if (try? P521.Signing.PrivateKey(derRepresentation: der)) != nil {
            return TokenKeyError("the EC signing key is on P-521; only P-256 (ES256) is supported")
        }
        return TokenKeyError("the signing key is neither an EC P-256 nor an RSA private key (Ed25519 and others are not supported)")
    }
}
