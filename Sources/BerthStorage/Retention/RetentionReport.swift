import Foundation

/// What a retention run deleted (or, in a dry run, would delete), repository by repository.
public struct RetentionReport: Sendable, Codable, Equatable {
    /// One tag or untagged manifest deleted.
    public struct Deletion: Sendable, Codable, Equatable {
        /// nil for an untagged manifest.
        public var tag: String?
        public var digest: String
        /// When the tag or manifest was last pushed.
        public var pushed: Date
        /// The rule that deleted it, in words.
        public var rule: String
    }

    /// A planned deletion that did not happen, and why.
    public struct Skip: Sendable, Codable, Equatable {
        public var tag: String?
        public var digest: String
        public var reason: String
    }

    /// One repository a policy governs.
    public struct Repository: Sendable, Codable, Equatable {
        public var name: String
        /// Position of the applied policy in `retention.policies`.
        public var policy: Int
        public var tags: [Deletion] = []
        public var manifests: [Deletion] = []
        public var skipped: [Skip] = []
        public var warnings: [String] = []
        /// Set when the repository could not be processed; the run went on with the others.
        public var error: String?

        public init(name: String, policy: Int) {
            self.name = name
            self.policy = policy
        }
    }

    public var dryRun: Bool
    public var repositories: [Repository] = []

    public init(dryRun: Bool) { self.dryRun = dryRun }

    public var tagsDeleted: Int { repositories.reduce(0) { $0 + $1.tags.count } }
    public var manifestsDeleted: Int { repositories.reduce(0) { $0 + $1.manifests.count } }
    public var failedRepositories: Int { repositories.filter { $0.error != nil }.count }

    /// One line for logs and the command line.
    public var summary: String {
        let verb = dryRun ? "would delete" : "deleted"
        var line = "retention \(verb) \(tagsDeleted) tag(s) and \(manifestsDeleted) untagged manifest(s) in \(repositories.count) repositor\(repositories.count == 1 ? "y" : "ies") governed by a policy"
        let skipped = repositories.reduce(0) { $0 + $1.skipped.count }
        if skipped > 0 { line += "; \(skipped) skipped" }
        if failedRepositories > 0 { line += "; \(failedRepositories) repositor\(failedRepositories == 1 ? "y" : "ies") failed" }
        if dryRun { line += " (dry run: nothing was changed)" }
        return line
    }
}
