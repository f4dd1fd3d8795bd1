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

    /// The actions the network rules check (none: only the global lists apply).
    var networkActions: [AccessAction] {
        switch self {
        case .repository(_, let actions): actions
        case .catalog: [.catalog]
        case .admin: [.admin]
        case .authenticated, .none: []
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
    /// Checks the network rules, authenticates the request and checks it may do what its route
    /// does; returns who it is.
    func authorize(_ route: Route, _ request: Request, context: Context, trace: inout RequestTrace) async throws -> Identity {
        if networkRules != nil { try admitNetwork(Requirement(route, request.method), trace: &trace) }
        // The common case of an open registry costs nothing per request.
        if access.isOpen, settings.rateLimiter == nil, !settings.readOnly { return .anonymous }
        let requirement = Requirement(route, request.method)
        let access = self.access.logging(to: context.logger)
        let identity = try await access.identify(authorization: request.headers[.authorization],
                                                 wanted: requirement.scope, client: trace.client.text)
        if let limiter = settings.rateLimiter {
            try limiter.admit(client: clientKey(identity, trace.client), bytes: request.contentLength ?? 0)
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
    func clientKey(_ identity: Identity, _ client: ClientAddress) -> String {
        identity.user.map { "user:\($0)" } ?? "ip:\(client.text)"
    }

    /// Who the request comes from: the connection's peer or, when that is a trusted proxy, the
    /// client it forwards for. Without `network` settings the headers are not even read.
    func clientAddress(_ request: Request, _ context: Context) -> ClientAddress {
        let peer = context.remoteAddress?.ipAddress
        // `address` stays unread here: nothing is refused without network rules.
        guard let network = settings.network else { return ClientAddress(address: nil, text: peer ?? "") }
        return network.clientAddress(peer: peer, xForwardedFor: request.headers[values: .xForwardedFor],
                                     forwarded: request.headers[values: .forwarded])
    }

    /// Refuses requests the network rules do not let through with 403 `DENIED` naming the rule,
    /// before credentials are looked at. `requirement` nil: a request of no action (`/token`,
    /// an unknown path), which only the global lists govern.
    func admitNetwork(_ requirement: Requirement?, trace: inout RequestTrace) throws(RegistryError) {
        guard let networkRules,
              let refusal = networkRules.refusal(for: trace.client, actions: requirement?.networkActions ?? []) else { return }
        trace.networkDenied = refusal.action?.rawValue ?? "other"
        throw RegistryError(.denied, refusal.message)
    }
}
