import Foundation

/// An HTTP response of the token endpoint, for the HTTP layer to send as it is.
public struct TokenResponse: Sendable {
    /// HTTP status: 200, 400, 401 or 500.
    public var status: Int
    /// `Content-Type: application/json`, `Cache-Control: no-store`, and a challenge on 401 to GET.
    public var headers: [(String, String)]
    /// The JSON body.
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The value of the first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// The Docker token endpoint (`/token`) without an HTTP framework: `GET` with Basic credentials
/// (the token API) and `POST` with a form (OAuth2 password and refresh-token grants). Grants each
/// requested scope as far as the access rules allow; scopes not allowed are left out of the
/// token, not refused. Passwords and tokens are never logged nor echoed.
public struct TokenService: Sendable {
    /// Signs the tokens handed out.
    public let issuer: TokenIssuer
    /// The users and their passwords.
    public let users: HtpasswdFile
    /// What each user may be granted.
    public let rules: AccessRules
    /// The service name clients ask tokens for (the registry's `aud`).
    public let service: String
    /// The realm of the Basic challenge.
    public let realm: String
    /// Whether requests without credentials get (rule-limited) anonymous tokens.
    public let allowAnonymous: Bool

    public init(issuer: TokenIssuer, users: HtpasswdFile, rules: AccessRules, service: String, realm: String,
                allowAnonymous: Bool) {
        self.issuer = issuer
        self.users = users
        self.rules = rules
        self.service = service
        self.realm = realm
        self.allowAnonymous = allowAnonymous
    }

    /// `GET /token?service=…&scope=…&account=…&offline_token=true` with optional Basic credentials.
    public func handleGet(query: [(String, String)], authorization: String?) async -> TokenResponse {
        let scopes: [AccessScope]
        switch requestedScopes(query) {
        case .success(let parsed): scopes = parsed
        case .failure(let problem): return registryError(400, "UNSUPPORTED", problem.description)
        }
        let user: String?
        switch Credentials(authorization: authorization) {
        case .none:
            guard allowAnonymous else { return registryError(401, "UNAUTHORIZED", "authentication required") }
            user = nil
        case .basic(let name, let password):
            guard users.verify(user: name, password: password) else {
                return registryError(401, "UNAUTHORIZED", "wrong user name or password")
            }
            user = name
        case .bearer, .malformed:
            return registryError(401, "UNAUTHORIZED", "the token endpoint takes Basic credentials")
        }
        if let user, let account = Self.value("account", in: query), !account.isEmpty, account != user {
            return registryError(400, "UNSUPPORTED", "account \(account) is not the authenticated user \(user)")
        }
        let offline = Self.value("offline_token", in: query)?.lowercased() == "true" && user != nil
        return await grant(user: user, scopes: scopes, withRefreshToken: offline) { message in
            registryError(500, "UNKNOWN", message)
        }
    }

    /// `POST /token` with a form: `grant_type=password` (username, password, scope, service,
    /// client_id, access_type=offline) or `grant_type=refresh_token` (refresh_token, scope, service).
    public func handlePost(form: [(String, String)], authorization: String?) async -> TokenResponse {
        let scopes: [AccessScope]
        switch requestedScopes(form) {
        case .success(let parsed): scopes = parsed
        case .failure(let problem): return oauthError(400, problem.isScope ? "invalid_scope" : "invalid_request", problem.description)
        }
        let failure: @Sendable (String) -> TokenResponse = { oauthError(500, "server_error", $0) }
        switch Self.value("grant_type", in: form) {
        case "password"?:
            var name = Self.value("username", in: form)
            var password = Self.value("password", in: form)
            if name == nil, password == nil, case .basic(let u, let p) = Credentials(authorization: authorization) {
                (name, password) = (u, p)
            }
            guard let name, let password, !name.isEmpty else {
                return oauthError(400, "invalid_request", "grant_type password needs username and password")
            }
            guard users.verify(user: name, password: password) else {
                return oauthError(401, "invalid_grant", "wrong user name or password")
            }
            let offline = Self.value("access_type", in: form) == "offline"
            return await grant(user: name, scopes: scopes, withRefreshToken: offline, failure: failure)
        case "refresh_token"?:
            guard let token = Self.value("refresh_token", in: form), !token.isEmpty else {
                return oauthError(400, "invalid_request", "grant_type refresh_token needs refresh_token")
            }
            let user: String
            do { user = try await issuer.userFromRefreshToken(token) } catch {
                return oauthError(401, "invalid_grant", "the refresh token is not valid: \(error)")
            }
            guard users.users.contains(user) else {
                return oauthError(401, "invalid_grant", "user \(user) of the refresh token no longer exists")
            }
            return await grant(user: user, scopes: scopes, withRefreshToken: false, failure: failure)
        case nil:
            return oauthError(400, "invalid_request", "grant_type is required")
        case let other?:
            return oauthError(400, "unsupported_grant_type", "grant_type \(other) is not supported (password and refresh_token are)")
        }
    }

    /// The access `user` (nil: anonymous) gets of `requested`: each repository scope's actions
    /// narrowed to what the rules allow, the catalog when the rules allow it, the rest left out.
    public func granted(user: String?, requested: [AccessScope]) -> [AccessScope] {
        var order: [String] = []
        var repositories: [String: Set<AccessAction>] = [:]
        var catalog = false
        var admin = false
        for scope in requested {
            switch (scope.type, scope.name) {
            case ("repository", let name):
                var wanted = Set<AccessAction>()
                for action in scope.actions { wanted.formUnion(AccessAction.parse(action) ?? []) }
                wanted.subtract(AccessAction.registryActions)
                if repositories[name] == nil { order.append(name) }
                repositories[name, default: []].formUnion(wanted.intersection(rules.actions(for: user, repository: name)))
            case ("registry", "catalog"):
                if scope.actions.contains("*") && rules.mayListCatalog(user) { catalog = true }
            case ("registry", "admin"):
                if scope.actions.contains("*") && rules.allows(.admin, for: user) { admin = true }
            default:
                continue
            }
        }
        var result = order.compactMap { name in
            repositories[name].flatMap { $0.isEmpty ? nil : AccessScope.repository(name, Array($0)) }
        }
        if catalog { result.append(.catalog) }
        if admin { result.append(.admin) }
        return result
    }

    private func grant(user: String?, scopes: [AccessScope], withRefreshToken: Bool,
                       failure: (String) -> TokenResponse) async -> TokenResponse {
        do {
            let issued = try await issuer.issue(subject: user, access: granted(user: user, requested: scopes))
            var body = TokenBody(token: issued.token, access_token: issued.token, expires_in: issued.expiresIn,
                                 issued_at: issued.issuedAt.formatted(.iso8601))
            if withRefreshToken, let user { body.refresh_token = try await issuer.refreshToken(user: user) }
            return Self.response(200, [], body)
        } catch {
            return failure("the token could not be signed")
        }
    }

    private struct TokenBody: Encodable {
        var token: String
        var access_token: String
        var expires_in: Int
        var issued_at: String
        var refresh_token: String?
    }

    private struct RegistryErrors: Encodable {
        struct Entry: Encodable { var code: String; var message: String }
        var errors: [Entry]
    }

    private struct OAuthError: Encodable {
        var error: String
        var error_description: String
    }

    private func registryError(_ status: Int, _ code: String, _ message: String) -> TokenResponse {
        let challenge = status == 401 ? [("WWW-Authenticate", "Basic realm=\(AccessControl.quoted(realm))")] : []
        return Self.response(status, challenge, RegistryErrors(errors: [.init(code: code, message: message)]))
    }

    private func oauthError(_ status: Int, _ error: String, _ description: String) -> TokenResponse {
        Self.response(status, [], OAuthError(error: error, error_description: description))
    }

    private static func response(_ status: Int, _ extra: [(String, String)], _ body: some Encodable) -> TokenResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = (try? encoder.encode(body)).map { Array($0) } ?? Array(#"{"error":"server_error"}"#.utf8)
        return TokenResponse(status: status,
                             headers: [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                       ("Pragma", "no-cache")] + extra,
                             body: bytes)
    }

    static func value(_ name: String, in pairs: [(String, String)]) -> String? {
        pairs.first { $0.0 == name }?.1
    }

    /// Why a request's parameters are refused.
    struct RequestProblem: Error, CustomStringConvertible {
        var description: String
        var isScope: Bool
    }

    /// The scopes requested (every `scope` value, each possibly several space-separated scopes),
    /// once the `service` asked for is checked to be this one.
    func requestedScopes(_ pairs: [(String, String)]) -> Result<[AccessScope], RequestProblem> {
        if let wanted = Self.value("service", in: pairs), wanted != service {
            return .failure(RequestProblem(description: "this token service issues tokens for service \(service), not \(wanted)", isScope: false))
        }
        var scopes: [AccessScope] = []
        for (name, value) in pairs where name == "scope" {
            for text in value.split(separator: " ", omittingEmptySubsequences: true) {
                guard let scope = AccessScope(parsing: String(text)) else {
                    return .failure(RequestProblem(description: "malformed scope \(text.prefix(200)) (expected type:name:actions)", isScope: true))
                }
                scopes.append(scope)
            }
        }
        return .success(scopes)
    }
}
