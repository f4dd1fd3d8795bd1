import Crypto
import Foundation
import JWTKit
import _CryptoExtras

/// Verifies bearer tokens of the Docker token specification: JWTs signed with an asymmetric key
/// of the token service (from a root certificate bundle and/or a JWKS), for this registry
/// (`aud`) from that service (`iss`), within their validity, with an `access` claim.
public struct JWTTokenVerifier: TokenVerifier {
    /// The algorithms a verifier may accept: RSA PKCS#1 v1.5 and PSS, ECDSA, EdDSA. HMAC and
    /// `none` never are.
    public static let asymmetricAlgorithms: [String] = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                                         "ES256", "ES384", "ES512", "EdDSA"]
    /// Clock difference tolerated for `exp`, `nbf` and `iat`.
    public static let clockSkew: TimeInterval = 60

    /// The expected `iss`.
    public let issuer: String
    /// The `aud` the token must name (the registry's service name).
    public let audience: String
    /// The algorithms accepted.
    public let algorithms: Set<String>

    struct Key: Sendable {
        /// RFC 7638 thumbprint: the same for every `kid` a key is registered under.
        var thumbprint: String
        var kind: String
        var verifiers: [String: any JWTAlgorithm]
    }

    private let keys: [String: Key]
    /// `token_use` the tokens must carry: nil for access tokens (absent or `access`).
    let expectedUse: String?

    /// Loads the keys: the public key of each certificate (or `PUBLIC KEY` block) in
    /// `rootCertBundlePEM`, registered under its Docker (libtrust) key id and its RFC 7638
    /// thumbprint, and each key of `jwksJSON` under its `kid` (its thumbprint when it has none).
    /// `algorithms` narrows the accepted algorithms (default: every asymmetric one).
    public init(issuer: String, audience: String, rootCertBundlePEM: String?, jwksJSON: String?,
                algorithms: [String] = []) async throws {
        var entries: [(kids: [String], key: PublicKeyMaterial, algorithms: Set<String>?)] = []
        if let bundle = rootCertBundlePEM {
            let blocks = try PEM.blocks(bundle)
            for (index, block) in blocks.enumerated() {
                let spki: [UInt8]
                switch block.label {
                case "CERTIFICATE", "TRUSTED CERTIFICATE": spki = try Certificate.subjectPublicKeyInfo(block.der)
                case "PUBLIC KEY": spki = block.der
                default:
                    throw TokenKeyError("root certificate bundle block \(index + 1) is a \(block.label), not a CERTIFICATE")
                }
                let key: PublicKeyMaterial
                do { key = try PublicKeyMaterial(spki: spki) } catch {
                    throw TokenKeyError("root certificate bundle block \(index + 1): \(error.description)")
                }
                entries.append(([key.libtrustKeyID, key.jwkThumbprint], key, nil))
            }
            if blocks.isEmpty { throw TokenKeyError("the root certificate bundle holds no PEM certificate") }
        }
        if let jwks = jwksJSON {
            entries += try JWKSet.parse(jwks).map { (kids: [$0.kid], key: $0.key, algorithms: $0.algorithms) }
        }
        try await self.init(issuer: issuer, audience: audience, keys: entries, algorithms: algorithms, expectedUse: nil)
    }

    init(issuer: String, audience: String, keys entries: [(kids: [String], key: PublicKeyMaterial, algorithms: Set<String>?)],
         algorithms: [String], expectedUse: String?) async throws {
        for name in algorithms where !Self.asymmetricAlgorithms.contains(name) {
            throw TokenKeyError("algorithm \(name) cannot be accepted: only \(Self.asymmetricAlgorithms.joined(separator: ", ")) are")
        }
        let allowed = Set(algorithms.isEmpty ? Self.asymmetricAlgorithms : algorithms)
        var keys: [String: Key] = [:]
        for entry in entries {
            let usable = allowed.intersection(entry.algorithms ?? allowed)
            let key = Key(thumbprint: entry.key.jwkThumbprint, kind: entry.key.kind,
                          verifiers: try await entry.key.verifiers(allowed: usable))
            for kid in entry.kids {
                if let existing = keys[kid], existing.thumbprint != key.thumbprint {
                    throw TokenKeyError("key id \(kid) names two different keys")
                }
                keys[kid] = key
            }
        }
        guard !keys.isEmpty else { throw TokenKeyError("no token verification keys: give a root certificate bundle or a JWKS") }
        self.issuer = issuer
        self.audience = audience
        self.algorithms = allowed
        self.keys = keys
        self.expectedUse = expectedUse
    }

    /// The key ids tokens may name in `kid`.
    public var keyIDs: [String] { keys.keys.sorted() }

    /// The identity a valid token stands for: `sub` (nil when absent or empty) and its `access`
    /// claim (`[]` when absent). Throws `TokenRejection` with the reason otherwise.
    public func verify(_ token: String) async throws -> Identity {
        let claims = try self.claims(of: token, at: Date())
        let user = claims.sub.flatMap { $0.isEmpty ? nil : $0 }
        return Identity(user: user, tokenAccess: (claims.access ?? []).map(\.scope))
    }

    /// The checked claims of `token` at time `now`.
    func claims(of token: String, at now: Date) throws(TokenRejection) -> TokenClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw TokenRejection("token is not a compact JWS (header.payload.signature)") }
        guard let headerData = Base64URL.decode(parts[0]),
              let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw TokenRejection("token header is not base64url-encoded JSON")
        }
        guard let alg = header["alg"] as? String else { throw TokenRejection("token header has no algorithm (alg)") }
        if alg.lowercased() == "none" { throw TokenRejection("algorithm none is not accepted") }
        if alg.uppercased().hasPrefix("HS") {
            throw TokenRejection("algorithm \(alg) is not accepted: HMAC (shared-secret) tokens are refused")
        }
        guard algorithms.contains(alg) else {
            throw TokenRejection("algorithm \(alg) is not accepted (accepted: \(algorithms.sorted().joined(separator: ", ")))")
        }
        if header["crit"] != nil { throw TokenRejection("token header has critical extensions (crit), which are not supported") }
        let (kid, key) = try selectKey(kid: header["kid"], alg: alg)
        guard let algorithm = key.verifiers[alg] else {
            throw TokenRejection("key \(kid) (\(key.kind)) does not verify \(alg) tokens")
        }
        guard let signature = Base64URL.decode(parts[2]), !signature.isEmpty else {
            throw TokenRejection("token signature is not base64url")
        }
        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        guard (try? algorithm.verify(signature, signs: signingInput)) == true else {
            throw TokenRejection("signature does not verify with key \(kid)")
        }
        guard let payload = Base64URL.decode(parts[1]) else { throw TokenRejection("token payload is not base64url") }
        let claims: TokenClaims
        do { claims = try JSONDecoder().decode(TokenClaims.self, from: payload) } catch let DecodingError.typeMismatch(_, context) {
            throw TokenRejection("claim \(Self.path(context)) has the wrong type")
        } catch let DecodingError.keyNotFound(key, context) {
            throw TokenRejection("claim \(Self.path(context)).\(key.stringValue) is missing")
        } catch {
            throw TokenRejection("token payload is not a JSON object of claims")
        }
        try check(claims, at: now.timeIntervalSince1970)
        return claims
    }

    private func selectKey(kid: Any?, alg: String) throws(TokenRejection) -> (String, Key) {
        if let kid {
            guard let kid = kid as? String else { throw TokenRejection("key id (kid) is not a string") }
            guard let key = keys[kid] else { throw TokenRejection("unknown key id \(kid)") }
            return (kid, key)
        }
        var candidates: [String: (String, Key)] = [:]
        for (kid, key) in keys where key.verifiers[alg] != nil { candidates[key.thumbprint] = (kid, key) }
        guard candidates.count == 1, let only = candidates.first?.value else {
            throw TokenRejection(candidates.isEmpty ? "token has no key id (kid) and no key verifies \(alg)"
                                 : "token has no key id (kid) and \(candidates.count) keys could have signed it")
        }
        return only
    }

    private func check(_ claims: TokenClaims, at now: TimeInterval) throws(TokenRejection) {
        if let use = claims.tokenUse, use != (expectedUse ?? "access") {
            throw TokenRejection(use == "refresh" ? "a refresh token is not an access token" : "token_use \(use) is not \(expectedUse ?? "access")")
        }
        if let expectedUse, claims.tokenUse != expectedUse { throw TokenRejection("token is not a \(expectedUse) token") }
        guard let iss = claims.iss else { throw TokenRejection("token has no issuer (iss)") }
        guard iss == issuer else { throw TokenRejection("issuer \(iss) is not \(issuer)") }
        guard let aud = claims.aud, !aud.isEmpty else { throw TokenRejection("token has no audience (aud)") }
        guard aud.contains(audience) else { throw TokenRejection("audience \(aud.joined(separator: ", ")) does not include \(audience)") }
        guard let exp = claims.exp else { throw TokenRejection("token has no expiry (exp)") }
        guard now < exp + Self.clockSkew else { throw TokenRejection("token expired at \(Self.time(exp))") }
        if let nbf = claims.nbf, nbf > now + Self.clockSkew {
            throw TokenRejection("token is not valid before \(Self.time(nbf))")
        }
        if let iat = claims.iat, iat > now + Self.clockSkew {
            throw TokenRejection("token is issued in the future, at \(Self.time(iat))")
        }
    }

    static func time(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// Public keys from a JSON Web Key Set (RFC 7517).
enum JWKSet {
    struct Entry {
        var kid: String
        var key: PublicKeyMaterial
        var algorithms: Set<String>?
    }

    static func parse(_ json: String) throws(TokenKeyError) -> [Entry] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any],
              let keys = object["keys"] as? [[String: Any]] else {
            throw TokenKeyError("the JWKS is not a JSON object with a \"keys\" array")
        }
        var entries: [Entry] = []
        for (index, jwk) in keys.enumerated() {
            let label = (jwk["kid"] as? String).map { "JWKS key \($0)" } ?? "JWKS key \(index + 1)"
            if let use = jwk["use"] as? String, use != "sig" { continue }
            let key: PublicKeyMaterial
            do { key = try material(jwk) } catch { throw TokenKeyError("\(label): \(error.description)") }
            var algorithms: Set<String>?
            if let alg = jwk["alg"] as? String {
                guard JWTTokenVerifier.asymmetricAlgorithms.contains(alg), key.algorithms.contains(alg) else {
                    throw TokenKeyError("\(label): algorithm \(alg) cannot be used with a \(key.kind) key")
                }
                algorithms = [alg]
            }
            entries.append(Entry(kid: jwk["kid"] as? String ?? key.jwkThumbprint, key: key, algorithms: algorithms))
        }
        return entries
    }

    private static func material(_ jwk: [String: Any]) throws(TokenKeyError) -> PublicKeyMaterial {
        func field(_ name: String) throws(TokenKeyError) -> Data {
            guard let text = jwk[name] as? String, let data = Base64URL.decode(text), !data.isEmpty else {
                throw TokenKeyError("member \(name) is missing or not base64url")
            }
            return data
        }
        do {
            switch jwk["kty"] as? String {
            case "RSA":
                let n = try field("n")
                let e = try field("e")
                let key = try _RSA.Signing.PublicKey(n: n, e: e)
                return try PublicKeyMaterial(spki: Array(key.derRepresentation))
            case "EC":
                let x = try field("x")
                let y = try field("y")
                let point = Data([4]) + x + y
                switch jwk["crv"] as? String {
                case "P-256": return .p256(try P256.Signing.PublicKey(x963Representation: point))
                case "P-384": return .p384(try P384.Signing.PublicKey(x963Representation: point))
                case "P-521": return .p521(try P521.Signing.PublicKey(x963Representation: point))
                default: throw TokenKeyError("unsupported EC curve \(jwk["crv"] ?? "(none)")")
                }
            case "OKP":
                guard jwk["crv"] as? String == "Ed25519" else { throw TokenKeyError("unsupported OKP curve \(jwk["crv"] ?? "(none)")") }
                return .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: try field("x")))
            case "oct":
                throw TokenKeyError("symmetric keys (kty oct) are not accepted")
            case let kty:
                throw TokenKeyError("unsupported key type \(kty ?? "(none)")")
            }
        } catch let error as TokenKeyError {
            throw error
        } catch {
            throw TokenKeyError("invalid key: \(error)")
        }
    }
}
