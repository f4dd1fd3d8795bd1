import BerthStorage
import Foundation

/// `retention`: policies that delete old tags and untagged manifests, applied by
/// `berth retention apply` and, every `interval`, by the server:
///
///     retention:
///       interval: 24h
///       dryrun: false
///       policies:
///         - repositories: ["team-a/**", "tools/*"]
///           keep: { newest: 10, tags: ["latest", "v*"], semver: 5 }
///           delete: { olderthan: 720h, untaggedolderthan: 24h }
///           allowempty: false
public struct RetentionSettings: Sendable, Equatable {
    /// How often the server applies the policies; nil: never by itself.
    public var interval: Duration?
    /// Scheduled runs only log what they would delete.
    public var dryRun = false
    public var policies = RetentionPolicies()

    public init(interval: Duration? = nil, dryRun: Bool = false, policies: RetentionPolicies = .init()) {
        self.interval = interval
        self.dryRun = dryRun
        self.policies = policies
    }
}

extension ConfigurationLoader {
    static let retentionPolicyKeys = ["repositories", "keep", "delete", "allowempty"]
    static let retentionKeepKeys = ["newest", "tags", "semver"]
    static let retentionDeleteKeys = ["olderthan", "untaggedolderthan"]

    mutating func buildRetention(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        var settings = RetentionSettings()
        if let v = duration(tree, "retention.interval"), v != .zero {
            if v < .seconds(1) { problems.append("retention.interval must be at least 1s, or 0 for never") }
            else { settings.interval = v }
        }
        if let v = bool(tree, "retention.dryrun") { settings.dryRun = v }
        if let value = lookup(tree, "retention.policies") {
            if let list = value as? [Any] {
                for (i, item) in list.enumerated() {
                    if let policy = retentionPolicy(item, label: "retention.policies[\(i)]") { settings.policies.policies.append(policy) }
                }
            } else {
                problems.append("retention.policies must be a list of policies like { repositories: [\"team-a/**\"], keep: { newest: 10 } }")
            }
        }
        if let catchAll = settings.policies.policies.firstIndex(where: { $0.repositories.contains("**") }),
           catchAll < settings.policies.policies.count - 1 {
            warnings.append("retention.policies[\(catchAll)] governs every repository (\"**\"), so the policies after it never apply")
        }
        if settings.interval != nil, settings.policies.isEmpty {
            warnings.append("retention.interval has no effect without retention.policies")
        }
        c.retention = settings
    }

    private mutating func retentionPolicy(_ item: Any, label: String) -> RetentionPolicy? {
        guard let dict = item as? [String: Any] else {
            problems.append("\(label) must be a mapping with repositories, keep, delete and allowempty")
            return nil
        }
        let before = problems.count
        let keep = section(dict, "keep", label: label, keys: Self.retentionKeepKeys)
        let delete = section(dict, "delete", label: label, keys: Self.retentionDeleteKeys)
        rejectUnknownKeys(dict, label: label, keys: Self.retentionPolicyKeys)

        var policy = RetentionPolicy(repositories: patterns(dict, "repositories", label: label,
                                                            check: RetentionPolicy.repositoryPatternProblem))
        if policy.repositories.isEmpty, problems.count == before {
            problems.append("\(label).repositories is required: the repositories the policy governs, as globs like \"team-a/**\" (\"**\" for all)")
        }
        policy.keepNewest = count(keep, "newest", label: "\(label).keep")
        policy.keepTags = patterns(keep, "tags", label: "\(label).keep", check: RetentionPolicy.tagPatternProblem)
        policy.keepSemver = count(keep, "semver", label: "\(label).keep")
        policy.deleteOlderThan = age(delete, "olderthan", label: "\(label).delete")
        policy.deleteUntaggedOlderThan = age(delete, "untaggedolderthan", label: "\(label).delete")
        if let v = bool(dict, "allowempty", label: "\(label).allowempty") { policy.allowEmpty = v }
        guard problems.count == before else { return nil }
        if !policy.deletesTags, policy.deleteUntaggedOlderThan == nil {
            warnings.append("\(label) deletes nothing: give it keep rules, delete.olderthan or delete.untaggedolderthan")
        }
        return policy
    }

    /// A nested mapping of a policy (`keep`, `delete`), empty when absent.
    private mutating func section(_ dict: [String: Any], _ key: String, label: String, keys: [String]) -> [String: Any] {
        guard let value = lookup(dict, key) else { return [:] }
        guard let nested = value as? [String: Any] else {
            problems.append("\(label).\(key) must be a mapping of \(keys.joined(separator: ", "))")
            return [:]
        }
        rejectUnknownKeys(nested, label: "\(label).\(key)", keys: keys)
        return nested
    }

    /// Unknown keys in a policy are errors, not warnings: a misspelt keep rule would delete what it meant to keep.
    mutating func rejectUnknownKeys(_ dict: [String: Any], label: String, keys: [String]) {
        for key in dict.keys.sorted() where !keys.contains(key.lowercased()) {
            problems.append("\(label).\(key) is not one of \(keys.joined(separator: ", "))")
        }
    }

    mutating func patterns(_ dict: [String: Any], _ key: String, label: String,
                                   check: (String) -> String?) -> [String] {
        guard let value = lookup(dict, key) else { return [] }
        let items: [Any] = value as? [Any] ?? [value]
        var patterns: [String] = []
        for item in items {
            guard let pattern = Self.scalarString(item) else {
                problems.append("\(label).\(key) must be a list of globs")
                continue
            }
            if let problem = check(pattern) { problems.append("\(label).\(key): pattern \"\(pattern)\" \(problem)") }
            else { patterns.append(pattern) }
        }
        return patterns
    }

    private mutating func count(_ dict: [String: Any], _ key: String, label: String) -> Int? {
        guard let value = lookup(dict, key) else { return nil }
        guard let text = Self.scalarString(value), let n = Int(text), n >= 0 else {
            problems.append("\(label).\(key) must be a whole number of tags, 0 or more, not \(Self.scalarString(value) ?? "a structure")")
            return nil
        }
        return n
    }

    private mutating func age(_ dict: [String: Any], _ key: String, label: String) -> Duration? {
        guard let value = lookup(dict, key) else { return nil }
        guard let text = Self.scalarString(value), let d = GoDuration.parse(text) else {
            problems.append("\(label).\(key) \(Self.scalarString(value) ?? "(a structure)") is not a duration like 720h, 90m or 0")
            return nil
        }
        return d
    }
}

extension BerthConfiguration {
    /// The retention settings as `key: value` lines.
    func describeRetention() -> [String] {
        guard !retention.policies.isEmpty else { return ["retention.policies: (none)"] }
        var lines = [
            "retention.interval: " + (retention.interval.map(GoDuration.format) ?? "(not set: only `berth retention apply` applies the policies)"),
            "retention.dryrun: \(retention.dryRun)",
        ]
        for (i, policy) in retention.policies.policies.enumerated() {
            lines.append("retention.policies[\(i)]: \(policy.summary)")
        }
        return lines
    }
}
