import BerthAuth
import BerthCore
import HTTPTypes
import Hummingbird

/// What a request needs before its route runs.
enum Requirement: Equatable {
    /// Only valid credentials (`GET /v2/`).
    case authenticated
    /// These actions on this repository.
    case repository(String, [AccessAction])
    /// Listing repositories.
    case catalog
    /// The admin API.
    case admin
    /// Nothing (the method is not allowed anyway; the route answers 405).
    case none

    init(_ route: Route, _ method: HTTPRequest.Method) {
        switch (route, method) {
        case (.base, _): self = .authenticated
        case (.catalog, _): self = .catalog
        case (.admin, _): self = .admin
        case (.blob(let name, _), .delete), (.manifest(let name, _), .delete):
            self = .repository(name, [.delete])
        case (.blob(let name, _), _), (.tags(let name), _), (.referrers(let name, _), _):
            self = [.get, .head].contains(method) ? .repository(name, [.pull]) : .none
        case (.manifest(let name, _), .put), (.uploads(let name), _), (.upload(let name, _), _):
            self = .repository(name, [.push])
        case (.manifest(let name, _), _):
            self = [.get, .head].contains(method) ? .repository(name, [.pull]) : .none
        }
    }

    var isWrite: Bool {
        if case .repository(_, let actions) = self { return actions.contains(.push) || actions.contains(.delete) }
        return false
    }

    /// The scope a token for this request must carry (for challenges).
    var scope: AccessScope? {
        switch self {
        case .repository(let name, let actions): .repository(name, actions.contains(.push) ? actions + [.pull] : actions)
        case .catalog: .catalog
        case .admin: .admin
        case .authenticated, .none: nil
        }
    }
}

extension RegistryAPI {
    /// Authenticates the request and checks it may do what its route does; returns who it is.
    func authorize(_ route: Route, _ request: Request, context: Context) async throws -> Identity {
        // The common case of an open registry costs nothing per request.
        if access.isOpen, settings.rateLimiter == nil, !settings.readOnly { return .anonymous }
        let requirement = Requirement(route, request.method)
        let access = self.access.logging(to: context.logger)
        let client = context.remoteAddress?.ipAddress ?? ""
        let identity = try await access.identify(authorization: request.headers[.authorization],
                                                 wanted: requirement.scope, client: client)
        if let limiter = settings.rateLimiter {
            try limiter.admit(client: clientKey(identity, context), bytes: request.contentLength ?? 0)
        }
        switch requirement {
        case .authenticated:
            try access.requireAuthenticated(identity)
        case .catalog:
            try access.requireCatalog(identity)
        case .admin:
            try access.requireAdmin(identity)
        case .repository(let name, let actions):
            try access.require(actions, on: name, identity: identity)
            if requirement.isWrite, settings.readOnly {
                throw RegistryError(.unsupported, "the registry is in read-only mode (storage.maintenance.readonly.enabled): pulls work, pushes and deletes are refused")
            }
        case .none:
            break
        }
        return identity
    }

    /// Whom rate limits count against: the user, or the address of anonymous requests.
    func clientKey(_ identity: Identity, _ context: Context) -> String {
        identity.user.map { "user:\($0)" } ?? "ip:\(context.remoteAddress?.ipAddress ?? "")"
    }
}
