import BerthAuth

/// `network`: trusted proxies and allow / deny ranges, globally and per action.
///
///     network:
///       trustedproxies: ["10.0.0.5/32", "fd00::/8"]
///       allow: ["0.0.0.0/0", "::/0"]
///       deny: ["203.0.113.0/24"]
///       actions:
///         push:   { allow: ["10.20.0.0/16"] }
///         delete: { allow: ["10.20.0.0/16"] }
///
/// Every key here is checked: an unknown one is an error, not a warning, because a misspelt
/// `deny` that was merely ignored would leave the registry open where the operator meant to close it.
extension ConfigurationLoader {
    static let networkKeys = ["trustedproxies", "allow", "deny", "actions"]
    static let networkActions: [AccessAction] = [.pull, .push, .delete, .catalog, .admin]

    mutating func buildNetwork(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        guard let value = lookup(tree, "network") else { return }
        guard let section = value as? [String: Any] else {
            problems.append("network must be a mapping with trustedproxies, allow, deny and actions")
            return
        }
        for key in section.keys.sorted() where !Self.networkKeys.contains(key.lowercased()) {
            problems.append("network.\(key) is not one of \(Self.networkKeys.joined(separator: ", "))")
        }
        c.network.trustedProxies = ranges(section, "trustedproxies", label: "network.trustedproxies")
        c.network.global = lists(section, label: "network")
        guard let actions = lookup(section, "actions") else { return }
        guard let byAction = actions as? [String: Any] else {
            problems.append("network.actions must map actions (\(Self.actionNames)) to allow and deny lists")
            return
        }
        for name in byAction.keys.sorted() {
            let label = "network.actions.\(name)"
            guard let action = AccessAction(rawValue: name.lowercased()), Self.networkActions.contains(action) else {
                problems.append("\(label): \(name) is not one of \(Self.actionNames)")
                continue
            }
            guard let entry = byAction[name] as? [String: Any] else {
                problems.append("\(label) must be a mapping with allow and/or deny, like { allow: [\"10.20.0.0/16\"] }")
                continue
            }
            for key in entry.keys.sorted() where !["allow", "deny"].contains(key.lowercased()) {
                problems.append("\(label).\(key) is not one of allow, deny")
            }
            c.network.actions[action] = lists(entry, label: label)
        }
    }

    private static var actionNames: String { networkActions.map(\.rawValue).joined(separator: ", ") }

    private mutating func lists(_ node: [String: Any], label: String) -> NetworkRules.Lists {
        NetworkRules.Lists(allow: ranges(node, "allow", label: label + ".allow"),
                           deny: ranges(node, "deny", label: label + ".deny"))
    }

    /// A list of CIDR ranges (or one range as a string); each bad entry is a problem naming it.
    private mutating func ranges(_ node: [String: Any], _ key: String, label: String) -> [CIDR] {
        guard let value = lookup(node, key) else { return [] }
        let items: [Any]
        if let list = value as? [Any] { items = list } else { items = [value] }
        var found: [CIDR] = []
        for (i, item) in items.enumerated() {
            guard let text = item as? String else {
                problems.append("\(label)[\(i)] must be an address range like \"10.20.0.0/16\" (quote it), not \(Self.scalarString(item) ?? "a structure")")
                continue
            }
            do { found.append(try CIDR(parsing: text)) } catch {
                problems.append("\(label)[\(i)]: \(error)")
            }
        }
        return found
    }
}

extension BerthConfiguration {
    /// The network rules as `key: value` lines (`berth config check`).
    func describeNetwork() -> [String] {
        guard !network.isEmpty else { return ["network: (no rules: every address may do everything its credentials allow)"] }
        func line(_ key: String, _ ranges: [CIDR]) -> [String] {
            ranges.isEmpty ? [] : ["\(key): \(ranges.map(\.description).joined(separator: ", "))"]
        }
        var lines = line("network.trustedproxies", network.trustedProxies)
        lines += line("network.allow", network.global.allow) + line("network.deny", network.global.deny)
        for action in ConfigurationLoader.networkActions {
            guard let lists = network.actions[action] else { continue }
            lines += line("network.actions.\(action.rawValue).allow", lists.allow)
                + line("network.actions.\(action.rawValue).deny", lists.deny)
        }
        return lines
    }
}
