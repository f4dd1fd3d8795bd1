import BerthStorage

/// `immutability`: tags that may never move or be deleted once they exist.
///
///     immutability:
///       - repositories: ["**"]
///         tags: ["v*.*.*"]
///       - repositories: ["prod/**"]
///         tags: ["*"]
///         except: ["latest"]
///
/// `quotas`: caps on the bytes repositories reference.
///
///     quotas:
///       - repositories: ["team-a/**"]
///         limit: 50GiB
extension ConfigurationLoader {
    static let immutabilityKeys = ["repositories", "tags", "except"]
    static let quotaKeys = ["repositories", "limit"]

    mutating func buildPolicies(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        buildImmutability(tree, &c)
        buildQuotas(tree, &c)
    }

    /// The mappings of a list-valued key, each with its label (`quotas[0]`); problems for the rest.
    private mutating func rules(_ tree: [String: Any], _ key: String, keys: [String], example: String) -> [(String, [String: Any])] {
        guard let value = lookup(tree, key) else { return [] }
        guard let list = value as? [Any] else {
            problems.append("\(key) must be a list like \(example)")
            return []
        }
        var result: [(String, [String: Any])] = []
        for (i, item) in list.enumerated() {
            let label = "\(key)[\(i)]"
            guard let dict = item as? [String: Any] else {
                problems.append("\(label) must be a mapping with \(keys.joined(separator: ", "))")
                continue
            }
            rejectUnknownKeys(dict, label: label, keys: keys)
            result.append((label, dict))
        }
        return result
    }

    mutating func buildQuotas(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        for (label, dict) in rules(tree, "quotas", keys: Self.quotaKeys, example: "{ repositories: [\"team-a/**\"], limit: 50GiB }") {
            let before = problems.count
            let repositories = patterns(dict, "repositories", label: label, check: RetentionPolicy.repositoryPatternProblem)
            if repositories.isEmpty { problems.append("\(label).repositories is required: globs like \"team-a/**\"") }
            let text = lookup(dict, "limit").flatMap(Self.scalarString)
            let limit = text.flatMap(StorageQuotas.parseSize)
            if limit == nil { problems.append("\(label).limit \(text ?? "(missing)") is not a size like 50GiB, 500MB or 1048576") }
            guard problems.count == before, let limit else { continue }
            c.quotas.quotas.append(.init(repositories: repositories, limit: limit))
        }
    }

    mutating func buildImmutability(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        for (label, dict) in rules(tree, "immutability", keys: Self.immutabilityKeys,
                                   example: "{ repositories: [\"**\"], tags: [\"v*.*.*\"] }") {
            let before = problems.count
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
        } + quotas.quotas.enumerated().map { i, quota in
            "quotas[\(i)]: \(quota.limit) bytes for \(quota.repositories.joined(separator: ", "))"
        }
    }
}
