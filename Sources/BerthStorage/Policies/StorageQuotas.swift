import BerthCore
import Foundation

/// Storage quotas (`quotas` in the configuration):
///
///     quotas:
///       - repositories: ["team-a/**"]
///         limit: 50GiB
///
/// A quota caps the bytes the repositories it covers reference together: each repository counts
/// every blob its manifests reference (configs, layers, the manifests themselves) once, so a
/// layer shared by two repositories counts in both, as users expect. A repository falls under the
/// first quota that matches it. Usage is recomputed from storage (cached while a repository's
/// manifests are unchanged), so every node sees the same figure and deletes free quota at once.
public struct StorageQuotas: Sendable, Equatable {
    public struct Quota: Sendable, Equatable {
        public var repositories: [String]
        public var limit: Int64

        public init(repositories: [String], limit: Int64) {
            self.repositories = repositories
            self.limit = limit
        }

        public func covers(_ repository: String) -> Bool { repositories.contains { Glob.matches($0, repository) } }
    }

    public var quotas: [Quota]

    public init(_ quotas: [Quota] = []) { self.quotas = quotas }

    public static let none = StorageQuotas()

    public var isEmpty: Bool { quotas.isEmpty }

    /// The quota governing `repository` and its position in the list.
    public func quota(for repository: String) -> (index: Int, quota: Quota)? {
        quotas.enumerated().first { $0.element.covers(repository) }.map { ($0.offset, $0.element) }
    }

    /// Parses sizes like `50GiB`, `500MB`, `1.5TiB`, `1048576` (bytes). Decimal units are powers
    /// of 1000, binary ones of 1024.
    public static func parseSize(_ text: String) -> Int64? {
        let s = text.trimmingCharacters(in: .whitespaces)
        let digits = s.prefix { $0.isNumber || $0 == "." }
        guard !digits.isEmpty, let value = Double(digits), value >= 0 else { return nil }
        let unit = s.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let factors: [String: Double] = [
            "": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
            "ki": 1024, "kib": 1024, "mi": 1_048_576, "mib": 1_048_576, "gi": 1_073_741_824, "gib": 1_073_741_824,
            "ti": 1_099_511_627_776, "tib": 1_099_511_627_776,
        ]
        guard let factor = factors[unit] else { return nil }
        let bytes = value * factor
        guard bytes < 9.2e18 else { return nil }
        return Int64(bytes)
    }
}
