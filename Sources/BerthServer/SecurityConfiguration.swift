import BerthAuth

/// `http.tls`: serve HTTPS.
public struct TLSSettings: Sendable, Equatable {
    /// PEM certificate chain (leaf first).
    public var certificate: String
    /// PEM private key.
    public var key: String
    /// PEM CA bundles; when set, clients must present a certificate they signed (mutual TLS).
    public var clientCAs: [String] = []
    /// `tls1.2` (default) or `tls1.3`.
    public var minimumVersion: MinimumVersion = .tls12

    public enum MinimumVersion: String, Sendable, Equatable {
        case tls12 = "tls1.2"
        case tls13 = "tls1.3"
    }

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }
}

/// `auth` and `access`: who may use the registry and what they may do.
public struct AuthSettings: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        case none
        /// `auth.htpasswd`: Basic authentication.
        case htpasswd(realm: String, path: String)
        /// `auth.token`: bearer tokens from an external token service.
        case token(TokenSettings)
        /// `auth.tokenservice`: Berth issues and checks its own tokens.
        case tokenService(TokenServiceSettings)
    }

    /// `auth.token` (the reference registry's keys).
    public struct TokenSettings: Sendable, Equatable {
        public var realm: String
        public var service: String
        public var issuer: String
        /// PEM certificates whose keys sign tokens.
        public var rootCertBundle: String?
        /// A JSON Web Key Set file with the signing keys.
        public var jwks: String?
        /// Allowed `alg` values; empty: every asymmetric algorithm the keys support.
        public var signingAlgorithms: [String] = []

        public init(realm: String, service: String, issuer: String) {
            self.realm = realm
            self.service = service
            self.issuer = issuer
        }
    }

    /// `auth.tokenservice` (Berth's own): `GET`/`POST /token`, users from an htpasswd file.
    public struct TokenServiceSettings: Sendable, Equatable {
        /// Where clients fetch tokens: the absolute URL of `/token` as clients reach it (required).
        public var realm: String?
        public var service: String
        public var issuer: String
        /// PEM private key, EC P-256 (ES256) or RSA (RS256).
        public var signingKey: String
        /// htpasswd file of the users.
        public var htpasswd: String
        /// Lifetime of access tokens.
        public var expiration: Duration = .seconds(300)
        /// Lifetime of refresh (offline) tokens.
        public var refreshExpiration: Duration = .seconds(30 * 24 * 3600)
        /// Whether requests without credentials get tokens (rules for `anonymous` decide their access).
        public var anonymous = false

        public init(service: String, issuer: String, signingKey: String, htpasswd: String) {
            self.service = service
            self.issuer = issuer
            self.signingKey = signingKey
            self.htpasswd = htpasswd
        }
    }

    public var mode: Mode = .none
    public var rules = AccessRules()

    public init() {}
}

/// `http.ratelimit`: per-client limits (user, or address for anonymous requests).
public struct RateLimitSettings: Sendable, Equatable {
    /// Requests per second, sustained; 0: unlimited.
    public var requestsPerSecond: Double = 0
    /// Requests allowed in a burst above the sustained rate.
    public var burst: Int = 0
    /// Request and response body bytes per second; 0: unlimited.
    public var bytesPerSecond: Double = 0

    public init() {}

    public var isEnabled: Bool { requestsPerSecond > 0 || bytesPerSecond > 0 }
}
