import BerthCore
import Foundation
import Logging

/// Credentials from an `Authorization` header.
public enum Credentials: Sendable, Equatable {
    case none
    case basic(user: String, password: String)
    case bearer(String)
    /// Present but unreadable (unknown scheme, bad base64, no colon).
    case malformed

    public init(authorization: String?) {
        guard let header = authorization?.trimmingCharacters(in: .whitespaces), !header.isEmpty else {
            self = .none
            return
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { self = .malformed; return }
        let value = parts[1].trimmingCharacters(in: .whitespaces)
        switch parts[0].lowercased() {
        case "basic":
            guard let data = Data(base64Encoded: value), let text = String(data: data, encoding: .utf8),
                  let colon = text.firstIndex(of: ":") else {
                self = .malformed
                return
            }
            self = .basic(user: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
        case "bearer":
            self = value.isEmpty ? .malformed : .bearer(value)
        default:
            self = .malformed
        }
    }
}

/// Verifies bearer tokens (Docker token specification JWTs) and says what they grant.
public protocol TokenVerifier: Sendable {
    /// The identity a token stands for, with its `access` claim; throws `TokenRejection` saying why not.
    func verify(_ token: String) async throws -> Identity
}

/// Why a token was refused (logged for the operator; the client sees `invalid_token`).
public struct TokenRejection: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Decides, per request, who is asking and whether they may: the registry's one access check.
public struct AccessControl: Sendable {
    public enum Mode: Sendable {
        /// No authentication: everyone may do everything.
        case open
        /// Basic authentication against an htpasswd file; access from the rules.
        case htpasswd(realm: String, file: HtpasswdFile)
        /// Bearer tokens from a token service; access from each token's claims.
        case token(realm: String, service: String, verifier: any TokenVerifier)
    }

    public let mode: Mode
    public let rules: AccessRules
    private(set) var logger: Logger

    public init(mode: Mode, rules: AccessRules = AccessRules(), logger: Logger = Logger(label: "berth.auth")) {
        self.mode = mode
        self.rules = rules
        self.logger = logger
    }

    public static let open = AccessControl(mode: .open)

    /// The same checks, logging through `logger` (a request's, so that refusals name its request id).
    public func logging(to logger: Logger) -> AccessControl {
        var copy = self
        copy.logger = logger
        return copy
    }

    public var isOpen: Bool { if case .open = mode { true } else { false } }

    /// Checks the request's credentials. Wrong or unreadable credentials are refused here (401
    /// with a challenge for `wanted`); missing ones give the anonymous identity, which `require`
    /// challenges unless rules let anonymous requests through.
    public func identify(authorization: String?, wanted: AccessScope?, client: String = "") async throws(RegistryError) -> Identity {
        let credentials = Credentials(authorization: authorization)
        switch mode {
        case .open:
            return .anonymous
        case .htpasswd(_, let file):
            switch credentials {
            case .none:
                return .anonymous
            case .basic(let user, let password):
                if file.verify(user: user, password: password) { return Identity(user: user) }
                logger.notice("authentication failed: wrong password or unknown user",
                              metadata: ["user": "\(user.prefix(100))", "client": "\(client)"])
                throw unauthorized("wrong user name or password", wanted: wanted)
            case .bearer:
                throw unauthorized("this registry authenticates with Basic credentials (htpasswd), not bearer tokens", wanted: wanted)
            case .malformed:
                throw unauthorized("the Authorization header is not valid Basic credentials", wanted: wanted)
            }
        case .token(_, _, let verifier):
            switch credentials {
            case .none:
                return .anonymous
            case .bearer(let token):
                do {
                    return try await verifier.verify(token)
                } catch {
                    logger.notice("bearer token refused", metadata: ["reason": "\(error)", "client": "\(client)"])
                    throw unauthorized("the bearer token is not valid: \(error)", wanted: wanted, error: "invalid_token")
                }
            case .basic, .malformed:
                throw unauthorized("this registry needs a bearer token from its token service", wanted: wanted)
            }
        }
    }

    /// What `identity` may do on `repository`.
    public func actions(_ identity: Identity, repository: String) -> Set<AccessAction> {
        switch mode {
        case .open:
            return [.pull, .push, .delete]
        case .htpasswd:
            return rules.actions(for: identity.user, repository: repository)
        case .token:
            guard let access = identity.tokenAccess else {
                return rules.grantsAnonymous ? rules.actions(for: nil, repository: repository) : []
            }
            var granted = Set<AccessAction>()
            for scope in access where scope.type == "repository" && scope.name == repository {
                for action in scope.actions { granted.formUnion(AccessAction.parse(action) ?? []) }
            }
            return granted.subtracting(AccessAction.registryActions)
        }
    }

    /// Whether `identity` may list the catalog.
    public func mayListCatalog(_ identity: Identity) -> Bool {
        switch mode {
        case .open: true
        case .htpasswd: rules.mayListCatalog(identity.user)
        case .token: identity.tokenAccess?.contains { $0.type == "registry" && $0.name == "catalog" } ?? false
        }
    }

    /// Whether `identity` may use the admin API.
    public func mayAdminister(_ identity: Identity) -> Bool {
        switch mode {
        case .open: true
        case .htpasswd: rules.allows(.admin, for: identity.user)
        case .token: identity.tokenAccess?.contains { $0.type == "registry" && $0.name == "admin" } ?? false
        }
    }

    /// Whether a repository appears in `identity`'s catalog: those it may pull. Tokens carry
    /// no per-repository rights for the catalog, so there the rules decide (every repository
    /// when there are none).
    public func listsInCatalog(_ identity: Identity, repository: String) -> Bool {
        switch mode {
        case .open: true
        case .htpasswd: rules.actions(for: identity.user, repository: repository).contains(.pull)
        case .token: rules.isEmpty || rules.actions(for: identity.user, repository: repository).contains(.pull)
        }
    }

    /// Refuses unless `identity` may do all of `needed` on `repository`: 401 with a challenge for
    /// anonymous requests and tokens lacking the scope, 403 `DENIED` for users the rules refuse.
    public func require(_ needed: [AccessAction], on repository: String, identity: Identity) throws(RegistryError) {
        let granted = actions(identity, repository: repository)
        guard !Set(needed).isSubset(of: granted) else { return }
        let wanted = AccessScope.repository(repository, needed.contains(.push) ? needed + [.pull] : needed)
        let missing = needed.filter { !granted.contains($0) }.map(\.rawValue).joined(separator: ", ")
        try refuse(wanted, identity: identity, what: "\(missing) access to repository \(repository)")
    }

    /// Refuses unless `identity` may list the catalog.
    public func requireCatalog(_ identity: Identity) throws(RegistryError) {
        guard !mayListCatalog(identity) else { return }
        try refuse(.catalog, identity: identity, what: "access to the catalog")
    }

    /// Refuses unless `identity` may use the admin API.
    public func requireAdmin(_ identity: Identity) throws(RegistryError) {
        guard !mayAdminister(identity) else { return }
        try refuse(.admin, identity: identity, what: "access to the admin API")
    }

    /// Refuses anonymous requests when the registry needs authentication (`GET /v2/`).
    public func requireAuthenticated(_ identity: Identity) throws(RegistryError) {
        if isOpen || identity.user != nil || identity.tokenAccess != nil { return }
        throw unauthorized("authentication required", wanted: nil)
    }

    private func refuse(_ wanted: AccessScope, identity: Identity, what: String) throws(RegistryError) {
        switch mode {
        case .open:
            return
        case .htpasswd:
            if identity.user == nil { throw unauthorized("authentication required for \(what)", wanted: wanted) }
            logger.notice("access denied", metadata: ["user": "\(identity.user ?? "")", "scope": "\(wanted)"])
            throw RegistryError(.denied, "user \(identity.user ?? "") has no \(what): no access rule grants it")
        case .token:
            if identity.tokenAccess == nil { throw unauthorized("authentication required for \(what)", wanted: wanted) }
            throw unauthorized("the token does not grant \(what); request a token with scope \(wanted)", wanted: wanted,
                               error: "insufficient_scope")
        }
    }

    /// The `WWW-Authenticate` challenge for `wanted` (nil: none in particular).
    public func challenge(wanted: AccessScope?, error: String? = nil) -> String? {
        switch mode {
        case .open:
            return nil
        case .htpasswd(let realm, _):
            return "Basic realm=\(Self.quoted(realm)),charset=\"UTF-8\""
        case .token(let realm, let service, _):
            var parts = ["realm=\(Self.quoted(realm))", "service=\(Self.quoted(service))"]
            if let wanted { parts.append("scope=\(Self.quoted(wanted.description))") }
            if let error { parts.append("error=\(Self.quoted(error))") }
            return "Bearer " + parts.joined(separator: ",")
        }
    }

    private func unauthorized(_ message: String, wanted: AccessScope?, error: String? = nil) -> RegistryError {
        var e = RegistryError(.unauthorized, message)
        if let challenge = challenge(wanted: wanted, error: error) { e.headers["WWW-Authenticate"] = challenge }
        return e
    }

    static func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
