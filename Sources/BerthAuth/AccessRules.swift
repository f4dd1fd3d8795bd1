import BerthCore

/// Access rules from configuration:
///
///     access:
///       - { users: [alice], groups: [ci], repositories: ["team-a/**"], actions: [pull, push, delete] }
///       - { users: ["*"], repositories: ["public/**"], actions: [pull] }
///       - { users: [anonymous], repositories: ["public/**"], actions: [pull] }
///       - { users: [admin], actions: [catalog, admin] }
///
/// With no rules every authenticated user may do everything (as the reference registry with
/// htpasswd). With any rule, access is denied unless a rule grants it. `*` among users means any
/// authenticated user, `anonymous` a request without credentials. Repository patterns are globs:
/// `*` matches within one path component, `**` across components, `?` one character.
public struct AccessRule: Sendable, Equatable {
    public var users: [String]
    public var groups: [String]
    public var repositories: [String]
    public var actions: Set<AccessAction>

    public init(users: [String] = [], groups: [String] = [], repositories: [String] = [], actions: Set<AccessAction>) {
        self.users = users
        self.groups = groups
        self.repositories = repositories
        self.actions = actions
    }
}

public struct AccessRules: Sendable, Equatable {
    public static let anonymousUser = "anonymous"

    public var rules: [AccessRule]
    /// Group name to member user names.
    public var groups: [String: [String]]

    public init(rules: [AccessRule] = [], groups: [String: [String]] = [:]) {
        self.rules = rules
        self.groups = groups
    }

    public var isEmpty: Bool { rules.isEmpty }

    /// What `user` (nil: anonymous) may do on `repository`.
    public func actions(for user: String?, repository: String) -> Set<AccessAction> {
        if rules.isEmpty { return user == nil ? [] : [.pull, .push, .delete] }
        var granted = Set<AccessAction>()
        for rule in rules where applies(rule, to: user) {
            let repositoryActions = rule.actions.subtracting(AccessAction.registryActions)
            guard !repositoryActions.isEmpty, !granted.isSuperset(of: repositoryActions) else { continue }
            if rule.repositories.contains(where: { Glob.matches($0, repository) }) { granted.formUnion(repositoryActions) }
        }
        return granted
    }

    /// Whether `user` may list the catalog (`registry:catalog:*`); the list is still filtered to
    /// repositories the user may pull.
    public func mayListCatalog(_ user: String?) -> Bool { allows(.catalog, for: user) }

    /// Whether `user` may use a registry-wide action (`catalog`, `admin`): with no rules every
    /// authenticated user may, otherwise only those a rule names.
    public func allows(_ registryAction: AccessAction, for user: String?) -> Bool {
        if rules.isEmpty { return user != nil }
        return rules.contains { $0.actions.contains(registryAction) && applies($0, to: user) }
    }

    /// Whether any rule lets anonymous requests do anything (then requests without credentials
    /// are not challenged up front).
    public var grantsAnonymous: Bool {
        rules.contains { $0.users.contains(Self.anonymousUser) }
    }

    private func applies(_ rule: AccessRule, to user: String?) -> Bool {
        guard let user else { return rule.users.contains(Self.anonymousUser) }
        if rule.users.contains(user) || rule.users.contains("*") { return true }
        return rule.groups.contains { groups[$0]?.contains(user) ?? false }
    }

    /// Problems with the rules (unknown groups, empty lists), for configuration checks.
    public func problems() -> [String] {
        var found: [String] = []
        for (i, rule) in rules.enumerated() {
            let label = "access[\(i)]"
            if rule.users.isEmpty && rule.groups.isEmpty { found.append("\(label) names no users or groups") }
            if rule.actions.isEmpty { found.append("\(label) grants no actions") }
            if rule.actions.contains(where: { !AccessAction.registryActions.contains($0) }) && rule.repositories.isEmpty {
                found.append("\(label) grants repository actions but names no repositories")
            }
            for group in rule.groups where groups[group] == nil {
                found.append("\(label) names group \(group), which auth.groups does not define")
            }
            for pattern in rule.repositories where pattern.isEmpty {
                found.append("\(label) has an empty repository pattern")
            }
        }
        return found
    }
}
