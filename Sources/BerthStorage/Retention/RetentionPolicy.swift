import BerthCore
import Foundation

/// One retention policy (`retention.policies[i]`): which repositories it governs, which tags it
/// keeps, and what it deletes.
///
/// A tag is kept when any keep rule keeps it. With a keep rule, every other tag is a candidate;
/// with only `deleteOlderThan`, every tag is. Of the candidates, only those older than
/// `deleteOlderThan` (when set) are deleted. A policy that would delete every tag of a
/// repository deletes none unless `allowEmpty`.
public struct RetentionPolicy: Sendable, Equatable {
    /// Repository globs (`*` within a component, `**` across, `?`), as in access rules.
    public var repositories: [String]
    /// `keep.newest`: the N most recently pushed tags.
    public var keepNewest: Int?
    /// `keep.tags`: tag globs (`*`, `?`).
    public var keepTags: [String]
    /// `keep.semver`: the tags of the N highest semantic versions.
    public var keepSemver: Int?
    /// `delete.olderthan`: only tags pushed longer ago than this are deleted.
    public var deleteOlderThan: Duration?
    /// `delete.untaggedolderthan`: untagged manifests pushed longer ago than this are deleted.
    public var deleteUntaggedOlderThan: Duration?
    /// `allowempty`: the policy may delete every tag of a repository.
    public var allowEmpty: Bool

    public init(repositories: [String], keepNewest: Int? = nil, keepTags: [String] = [], keepSemver: Int? = nil,
                deleteOlderThan: Duration? = nil, deleteUntaggedOlderThan: Duration? = nil, allowEmpty: Bool = false) {
        self.repositories = repositories
        self.keepNewest = keepNewest
        self.keepTags = keepTags
        self.keepSemver = keepSemver
        self.deleteOlderThan = deleteOlderThan
        self.deleteUntaggedOlderThan = deleteUntaggedOlderThan
        self.allowEmpty = allowEmpty
    }

    public func governs(_ repository: String) -> Bool {
        repositories.contains { Glob.matches($0, repository) }
    }

    public var hasKeepRules: Bool { keepNewest != nil || !keepTags.isEmpty || keepSemver != nil }

    /// Whether the policy can delete any tag at all.
    public var deletesTags: Bool { hasKeepRules || deleteOlderThan != nil }

    /// The policy in configuration syntax (YAML flow style), for `berth config check` and reports.
    public var summary: String {
        var keep: [String] = []
        if let n = keepNewest { keep.append("newest: \(n)") }
        if !keepTags.isEmpty { keep.append("tags: [\(keepTags.joined(separator: ", "))]") }
        if let n = keepSemver { keep.append("semver: \(n)") }
        var delete: [String] = []
        if let d = deleteOlderThan { delete.append("olderthan: \(Self.format(d))") }
        if let d = deleteUntaggedOlderThan { delete.append("untaggedolderthan: \(Self.format(d))") }
        var parts = ["repositories: [\(repositories.joined(separator: ", "))]"]
        if !keep.isEmpty { parts.append("keep: {\(keep.joined(separator: ", "))}") }
        if !delete.isEmpty { parts.append("delete: {\(delete.joined(separator: ", "))}") }
        if allowEmpty { parts.append("allowempty: true") }
        return parts.joined(separator: ", ")
    }

    /// A duration the way configuration writes it (`720h`, `90m`, `45s`).
    public static func format(_ d: Duration) -> String {
        let seconds = d.components.seconds
        if seconds > 0, seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds > 0, seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    /// Why a repository glob can never match a name, or nil when it is usable. Names are
    /// lower-case letters, digits and `._-/`; anything else (upper case, brackets) is a mistake.
    public static func repositoryPatternProblem(_ pattern: String) -> String? {
        if pattern.isEmpty { return "is empty" }
        if let bad = pattern.first(where: { !($0.isASCII && ($0.isLowercase || $0.isNumber || "._-/*?".contains($0))) }) {
            return "contains \"\(bad)\"; repository names are lower-case letters, digits and . _ - /, and globs add only * and ?"
        }
        if pattern.hasPrefix("/") || pattern.hasSuffix("/") || pattern.contains("//") {
            return "has an empty path component"
        }
        return nil
    }

    /// Why a tag glob can never match a tag, or nil when it is usable.
    public static func tagPatternProblem(_ pattern: String) -> String? {
        if pattern.isEmpty { return "is empty" }
        if let bad = pattern.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || "._-*?".contains($0))) }) {
            return "contains \"\(bad)\"; tags are letters, digits and . _ -, and globs add only * and ?"
        }
        return nil
    }
}

/// The configured policies, in order: the first that governs a repository applies to it.
public struct RetentionPolicies: Sendable, Equatable {
    public var policies: [RetentionPolicy]

    public init(_ policies: [RetentionPolicy] = []) { self.policies = policies }

    public var isEmpty: Bool { policies.isEmpty }

    /// The policy for a repository and its position in the list, or nil: the repository is left alone.
    public func policy(for repository: String) -> (index: Int, policy: RetentionPolicy)? {
        policies.enumerated().first { $0.element.governs(repository) }.map { ($0.offset, $0.element) }
    }
}

extension Duration {
    /// The duration in seconds, for comparing with `Date` intervals.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
