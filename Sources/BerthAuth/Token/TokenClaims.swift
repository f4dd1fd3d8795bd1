import Foundation
import JWTKit

/// One entry of a token's `access` claim: `{"type":"repository","name":"team/app","actions":["pull"]}`.
struct AccessClaim: Codable, Sendable, Equatable {
    var type: String
    var name: String
    var actions: [String]

    init(_ scope: AccessScope) {
        type = scope.type
        name = scope.name
        actions = scope.actions
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(String.self, forKey: .type)
        name = try c.decode(String.self, forKey: .name)
        actions = try c.decodeIfPresent([String].self, forKey: .actions) ?? []
    }

    var scope: AccessScope { AccessScope(type: type, name: name, actions: actions) }
}

/// The claims of Docker token-spec JWTs (and of Berth's refresh tokens).
struct TokenClaims: JWTPayload, Equatable {
    var iss: String?
    var sub: String?
    /// A single string or an array in JSON; written as a string when there is one.
    var aud: [String]?
    var exp: Double?
    var nbf: Double?
    var iat: Double?
    var jti: String?
    var access: [AccessClaim]?
    /// `refresh` for Berth's refresh tokens; absent (or `access`) for access tokens.
    var tokenUse: String?

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, nbf, iat, jti, access
        case tokenUse = "token_use"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(iss, forKey: .iss)
        try c.encodeIfPresent(sub, forKey: .sub)
        if let aud, aud.count == 1 { try c.encode(aud[0], forKey: .aud) } else { try c.encodeIfPresent(aud, forKey: .aud) }
        try c.encodeIfPresent(exp.map { Int64($0) }, forKey: .exp)
        try c.encodeIfPresent(nbf.map { Int64($0) }, forKey: .nbf)
        try c.encodeIfPresent(iat.map { Int64($0) }, forKey: .iat)
        try c.encodeIfPresent(jti, forKey: .jti)
        try c.encodeIfPresent(access, forKey: .access)
        try c.encodeIfPresent(tokenUse, forKey: .tokenUse)
    }

    /// Checks are made by `JWTTokenVerifier`, which reports each failure precisely.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

extension TokenClaims {
    /// Reads `aud` as a string or an array.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iss = try c.decodeIfPresent(String.self, forKey: .iss)
        sub = try c.decodeIfPresent(String.self, forKey: .sub)
        if let one = try? c.decodeIfPresent(String.self, forKey: .aud) {
            aud = [one]
        } else {
            aud = try c.decodeIfPresent([String].self, forKey: .aud)
        }
        exp = try c.decodeIfPresent(Double.self, forKey: .exp)
        nbf = try c.decodeIfPresent(Double.self, forKey: .nbf)
        iat = try c.decodeIfPresent(Double.self, forKey: .iat)
        jti = try c.decodeIfPresent(String.self, forKey: .jti)
        access = try c.decodeIfPresent([AccessClaim].self, forKey: .access)
        tokenUse = try c.decodeIfPresent(String.self, forKey: .tokenUse)
    }
}
