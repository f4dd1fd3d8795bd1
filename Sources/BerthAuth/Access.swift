/// BerthAuth: who a request comes from (htpasswd users, bearer tokens) and what it may do
/// (scopes, access rules). Pure logic over strings and bytes; the API target applies it to routes.

/// An action on a resource, as in the Docker token specification's scopes.
public enum AccessAction: String, Sendable, Hashable, CaseIterable, Comparable {
    case pull, push, delete
    /// Move or delete tags that `immutability` protects (never implied by `*`).
    case overwrite
    /// `registry:catalog:*`: listing repositories.
    case catalog
    /// `registry:admin:*`: the admin API (garbage collection, storage usage).
    case admin

    public static func < (a: Self, b: Self) -> Bool { a.order < b.order }

    /// Actions on the registry as a whole rather than on a repository.
    public static let registryActions: Set<AccessAction> = [.catalog, .admin]
    private var order: Int { Self.allCases.firstIndex(of: self)! }

    /// Parses one action name; `*` stands for every repository action.
    public static func parse(_ text: some StringProtocol) -> Set<AccessAction>? {
        switch text.lowercased() {
        case "*": [.pull, .push, .delete]
        case "pull": [.pull]
        case "push": [.push]
        case "delete": [.delete]
        case "overwrite": [.overwrite]
        case "catalog": [.catalog]
        case "admin": [.admin]
        default: nil
        }
    }
}

/// A resource and the actions wanted on (or granted for) it: `repository:team/app:pull,push`
/// or `registry:catalog:*`.
public struct AccessScope: Sendable, Hashable, CustomStringConvertible {
    public var type: String
    public var name: String
    public var actions: [String]

    public init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    public static func repository(_ name: String, _ actions: [AccessAction]) -> AccessScope {
        AccessScope(type: "repository", name: name, actions: actions.sorted().map(\.rawValue))
    }

    public static let catalog = AccessScope(type: "registry", name: "catalog", actions: ["*"])
    public static let admin = AccessScope(type: "registry", name: "admin", actions: ["*"])

    /// Parses `type:name:actions`. The name may hold colons (a registry host with a port), so
    /// the type ends at the first colon and the actions start after the last.
    public init?(parsing text: String) {
        guard let first = text.firstIndex(of: ":"), let last = text.lastIndex(of: ":"), first < last else { return nil }
        type = String(text[..<first])
        name = String(text[text.index(after: first)..<last])
        actions = text[text.index(after: last)...].split(separator: ",").map { String($0) }.filter { !$0.isEmpty }
        guard !type.isEmpty, !name.isEmpty, type.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x41 && $0 <= 0x5a) }) else {
            return nil
        }
    }

    public var description: String { "\(type):\(name):\(actions.joined(separator: ","))" }
}

/// Who a request comes from, once its credentials were checked.
public struct Identity: Sendable, Equatable {
    /// nil for anonymous requests.
    public var user: String?
    /// Access a bearer token carries (its `access` claim); nil for users authorised by rules.
    public var tokenAccess: [AccessScope]?

    public init(user: String?, tokenAccess: [AccessScope]? = nil) {
        self.user = user
        self.tokenAccess = tokenAccess
    }

    public static let anonymous = Identity(user: nil)
}
