import BerthStorage

/// `immutability`: tags that may never move or be deleted once they exist.
///
///     immutability:
///       - repositories: ["**"]
///         tags: ["v*.*.*"]
///       - repositories: ["prod/**"]
///         tags: ["*"]
///         except: ["latest"]
extension ConfigurationLoader {
    static let immutabilityKeys = ["repositories", "tags", "except"]

    mutating func buildPolicies(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        guard let value = lookup(tree, "immutability") else { return }
        guard let list = value as? [Any] else {
            problems.append("immutability must be a list of rules like { repositories: [\"**\"], tags: [\"v*.*.*\"] }")
            return
        }
        for (i, item) in list.enumerated() {
            let label = "immutability[\(i)]"
            guard let dict = item as? [String: Any] else {
                problems.append("\(label) must be a mapping with repositories, tags and except")
                continue
            }
            let before = problems.count
            rejectUnknownKeys(dict, label: label, keys: Self.immutabilityKeys)
            let repositories = patterns(dict, "repositories", label: label, check: RetentionPolicy.repositoryPatternProblem)
            let tags = patterns(dict, "tags", label: label, check: RetentionPolicy.tagPatternProblem)
            let except = patterns(dict, "except", label: label, check: RetentionPolicy.tagPatternProblem)
            if repositories.isEmpty { problems.append("\(label).repositories is required: globs like \"**\" or \"prod/**\"") }
            if tags.isEmpty { problems.append("\(label).tags is required: tag globs like \"v*.*.*\" or \"*\"") }
            guard problems.count == before else { continue }
            c.immutability.rules.append(.init(repositories: repositories, tags: tags, except: except))
        }
    }
}

extension BerthConfiguration {
    /// The policies as `key: value` lines.
    func describePolicies() -> [String] {
        immutability.rules.enumerated().map { i, rule in
            var line = "immutability[\(i)]: tags \(rule.tags.joined(separator: ", ")) of \(rule.repositories.joined(separator: ", "))"
            if !rule.except.isEmpty { line += " except \(rule.except.joined(separator: ", "))" }
            return line
        }
    }
}
