import BerthCore
import Foundation

/// What the planner needs to know of one repository, read from storage beforehand.
public struct RetentionSnapshot: Sendable, Equatable {
    public struct TagState: Sendable, Equatable {
        public var name: String
        public var digest: Digest
        /// When the tag was last pushed (its current link was written).
        public var pushed: Date

        public init(name: String, digest: Digest, pushed: Date) {
            self.name = name
            self.digest = digest
            self.pushed = pushed
        }
    }

    public struct ManifestState: Sendable, Equatable {
        public var digest: Digest
        /// When the manifest was last pushed (its revision link was written).
        public var pushed: Date
        /// The manifests an index lists; nil when the manifest could not be read, so that what
        /// it needs is unknown.
        public var children: [Digest]?
        /// The manifest it refers to (`subject`), if any.
        public var subject: Digest?

        public init(digest: Digest, pushed: Date, children: [Digest]? = [], subject: Digest? = nil) {
            self.digest = digest
            self.pushed = pushed
            self.children = children
            self.subject = subject
        }
    }

    public var repository: String
    public var tags: [TagState]
    /// Every manifest of the repository; only needed for `delete.untaggedolderthan`.
    public var manifests: [ManifestState]

    public init(repository: String, tags: [TagState], manifests: [ManifestState] = []) {
        self.repository = repository
        self.tags = tags
        self.manifests = manifests
    }
}

/// Why the plan deletes something.
public enum RetentionRule: Sendable, Equatable, CustomStringConvertible {
    /// No keep rule keeps the tag (and the policy has no age limit).
    case notKept
    /// No keep rule keeps the tag, and it is older than the limit.
    case notKeptAndOlderThan(Duration)
    /// The policy has no keep rule and the tag is older than the limit.
    case olderThan(Duration)
    /// The manifest has no tag, nothing kept needs it, and it is older than the limit.
    case untaggedOlderThan(Duration)

    public var description: String {
        switch self {
        case .notKept: "not kept by any keep rule"
        case .notKeptAndOlderThan(let d): "not kept by any keep rule and older than \(RetentionPolicy.format(d))"
        case .olderThan(let d): "older than \(RetentionPolicy.format(d))"
        case .untaggedOlderThan(let d): "untagged and older than \(RetentionPolicy.format(d))"
        }
    }
}

/// What one policy deletes in one repository.
public struct RetentionPlan: Sendable, Equatable {
    public struct TagDeletion: Sendable, Equatable {
        public var tag: String
        public var digest: Digest
        public var pushed: Date
        public var rule: RetentionRule
    }

    public struct ManifestDeletion: Sendable, Equatable {
        public var digest: Digest
        public var pushed: Date
        public var rule: RetentionRule
    }

    public var repository: String
    /// Position of the applied policy in `retention.policies`.
    public var policyIndex: Int
    /// Sorted by tag.
    public var tags: [TagDeletion] = []
    /// In an order safe to delete in: an index before its children, a referrer before its subject.
    public var manifests: [ManifestDeletion] = []
    /// Deletions the plan refused, in words (a policy that would delete every tag).
    public var warnings: [String] = []
}

/// Plans retention for one repository: pure, so every rule is tested without storage.
public enum RetentionPlanner {
    public static func plan(_ snapshot: RetentionSnapshot, policy: RetentionPolicy, policyIndex: Int, now: Date) -> RetentionPlan {
        var plan = RetentionPlan(repository: snapshot.repository, policyIndex: policyIndex)
        let tags = tagDeletions(snapshot.tags, policy: policy, now: now)
        if !tags.isEmpty, tags.count == snapshot.tags.count, !policy.allowEmpty {
            plan.warnings.append(
                "policies[\(policyIndex)] would delete all \(tags.count) tags of \(snapshot.repository); none deleted (set allowempty: true to allow it)")
        } else {
            plan.tags = tags
        }
        if let limit = policy.deleteUntaggedOlderThan {
            let (manifests, warning) = untaggedDeletions(snapshot, olderThan: limit, now: now)
            plan.manifests = manifests
            if let warning { plan.warnings.append(warning) }
        }
        return plan
    }

    /// The tags any keep rule keeps.
    static func keptTags(_ tags: [RetentionSnapshot.TagState], policy: RetentionPolicy) -> Set<String> {
        var kept = Set<String>()
        if let n = policy.keepNewest {
            // Newest first; equal push times are ordered by name, so runs agree with each other.
            let newest = tags.sorted { a, b in
                a.pushed != b.pushed ? a.pushed > b.pushed : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
            }
            kept.formUnion(newest.prefix(max(n, 0)).map(\.name))
        }
        for tag in tags where policy.keepTags.contains(where: { Glob.matches($0, tag.name) }) {
            kept.insert(tag.name)
        }
        if let n = policy.keepSemver {
            // N distinct versions: `v1.2.3` and `1.2.3` are one version, and both tags are kept.
            var byVersion: [SemanticVersion: [String]] = [:]
            for tag in tags {
                if let version = SemanticVersion(tag.name) { byVersion[version, default: []].append(tag.name) }
            }
            for version in byVersion.keys.sorted(by: >).prefix(max(n, 0)) {
                kept.formUnion(byVersion[version] ?? [])
            }
        }
        return kept
    }

    static func tagDeletions(_ tags: [RetentionSnapshot.TagState], policy: RetentionPolicy,
                             now: Date) -> [RetentionPlan.TagDeletion] {
        guard policy.deletesTags else { return [] }
        let kept = policy.hasKeepRules ? keptTags(tags, policy: policy) : []
        var deletions: [RetentionPlan.TagDeletion] = []
        for tag in tags where !kept.contains(tag.name) {
            let rule: RetentionRule
            switch (policy.hasKeepRules, policy.deleteOlderThan) {
            case (_, let limit?) where !isOlder(tag.pushed, than: limit, now: now):
                continue
            case (true, let limit?): rule = .notKeptAndOlderThan(limit)
            case (true, nil): rule = .notKept
            case (false, let limit?): rule = .olderThan(limit)
            case (false, nil): continue
            }
            deletions.append(.init(tag: tag.name, digest: tag.digest, pushed: tag.pushed, rule: rule))
        }
        return deletions.sorted { $0.tag.utf8.lexicographicallyPrecedes($1.tag.utf8) }
    }

    /// Strictly older: a tag exactly `limit` old stays.
    static func isOlder(_ pushed: Date, than limit: Duration, now: Date) -> Bool {
        now.timeIntervalSince(pushed) > limit.timeInterval
    }

    /// Untagged manifests older than `limit`, except what a surviving manifest needs: the children
    /// of an index (a multi-platform image stays whole) and referrers of what survives
    /// (signatures, SBOMs), transitively. "Untagged" means before this run's tag deletions, so
    /// an image untagged now goes no earlier than the next run.
    static func untaggedDeletions(_ snapshot: RetentionSnapshot, olderThan limit: Duration,
                                  now: Date) -> ([RetentionPlan.ManifestDeletion], String?) {
        let tagged = Set(snapshot.tags.map(\.digest))
        let byDigest = Dictionary(snapshot.manifests.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })
        var referrers: [Digest: [Digest]] = [:]
        for m in snapshot.manifests {
            if let subject = m.subject { referrers[subject, default: []].append(m.digest) }
        }
        var surviving = Set<Digest>()
        var pending = snapshot.manifests
            .filter { tagged.contains($0.digest) || !isOlder($0.pushed, than: limit, now: now) }
            .map(\.digest)
        // Tags may point at manifests the snapshot does not list (a push in flight); keep what they need too.
        pending += tagged.filter { byDigest[$0] == nil }
        var unknownNeeds = false
        while let digest = pending.popLast() {
            guard surviving.insert(digest).inserted else { continue }
            if let m = byDigest[digest] {
                if let children = m.children { pending += children } else { unknownNeeds = true }
            }
            pending += referrers[digest] ?? []
        }
        if unknownNeeds {
            return ([], "\(snapshot.repository): a manifest that stays could not be read, so which manifests it needs is unknown; no untagged manifest deleted")
        }
        let doomed = snapshot.manifests.filter { !surviving.contains($0.digest) }
        let deletions = deletionOrder(doomed).map {
            RetentionPlan.ManifestDeletion(digest: $0.digest, pushed: $0.pushed, rule: .untaggedOlderThan(limit))
        }
        return (deletions, nil)
    }

    /// Parents before what they reference, so that an interrupted run never leaves an index
    /// without a child or a referrer without its subject. Otherwise by digest, for stable output.
    static func deletionOrder(_ manifests: [RetentionSnapshot.ManifestState]) -> [RetentionSnapshot.ManifestState] {
        let doomed = Set(manifests.map(\.digest))
        var referencedBy: [Digest: Int] = [:]
        for m in manifests {
            for target in Set((m.children ?? []) + (m.subject.map { [$0] } ?? [])) where doomed.contains(target) {
                referencedBy[target, default: 0] += 1
            }
        }
        let byDigest = Dictionary(manifests.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })
        var ready = manifests.filter { referencedBy[$0.digest, default: 0] == 0 }
        var ordered: [RetentionSnapshot.ManifestState] = []
        while !ready.isEmpty {
            ready.sort { $0.digest.description > $1.digest.description }
            guard let next = ready.popLast() else { break }
            ordered.append(next)
            for target in Set((next.children ?? []) + (next.subject.map { [$0] } ?? [])) where doomed.contains(target) {
                referencedBy[target, default: 0] -= 1
                if referencedBy[target] == 0, let m = byDigest[target] { ready.append(m) }
            }
        }
        return ordered
    }
}
