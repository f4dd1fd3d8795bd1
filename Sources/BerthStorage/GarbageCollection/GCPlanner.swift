import BerthCore
import Foundation

/// What the collector read of one repository: its manifests, tags and layer links, with times.
public struct RepositorySnapshot: Sendable, Equatable {
    public struct Manifest: Sendable, Equatable {
        public var digest: Digest
        /// When its revision link was last written (each push of it rewrites the link).
        public var modified: Date
        /// Config and layers (for an image manifest).
        public var blobs: [Digest]
        /// Child manifests (for an index).
        public var children: [Digest]
        public var subject: Digest?
        /// False when the content is missing or does not parse: then what it references is
        /// unknown, so it is kept and nothing is decided from it.
        public var readable: Bool

        public init(digest: Digest, modified: Date, blobs: [Digest] = [], children: [Digest] = [],
                    subject: Digest? = nil, readable: Bool = true) {
            self.digest = digest
            self.modified = modified
            self.blobs = blobs
            self.children = children
            self.subject = subject
            self.readable = readable
        }
    }

    public var name: RepositoryName
    public var manifests: [Digest: Manifest]
    /// Tag name to the digest it points at.
    public var tags: [String: Digest]
    /// Blobs linked into the repository, with the time the link was written.
    public var layerLinks: [Digest: Date]

    public init(name: RepositoryName, manifests: [Manifest] = [], tags: [String: Digest] = [:], layerLinks: [Digest: Date] = [:]) {
        self.name = name
        self.manifests = Dictionary(manifests.map { ($0.digest, $0) }, uniquingKeysWith: { a, _ in a })
        self.tags = tags
        self.layerLinks = layerLinks
    }
}

/// What the collector will do to one repository.
public struct RepositoryPlan: Sendable, Equatable {
    public var keptManifests: Set<Digest>
    /// Manifests whose revision links go (sorted).
    public var removedManifests: [Digest]
    /// Layer links that go (sorted).
    public var removedLayerLinks: [Digest]
    /// Every digest this repository keeps alive: kept manifests, what they reference, kept links.
    public var referenced: Set<Digest>
}

/// The collector's decisions, with no I/O (tested on their own).
///
/// A manifest is kept when it is a root or reachable from one. Roots: tagged manifests; with
/// `deleteUntagged` false, also every manifest without a subject; and always manifests whose
/// link is younger than the grace period, digests a pin names, and manifests that cannot be read.
/// From a kept manifest the collector follows index children and referrers (manifests whose
/// subject it is), so multi-arch images stay whole and signatures follow their image; a referrer
/// whose subject is not kept goes. A layer link stays when a kept manifest of the repository
/// references the blob, or the link is recent or pinned, or the repository holds a manifest that
/// cannot be read (which may reference any of them). A blob stays when any repository keeps it
/// alive, or it is recent or pinned.
public enum GCPlanner {
    public static func plan(_ repository: RepositorySnapshot, deleteUntagged: Bool, cutoff: Date,
                            pinned: Set<Digest>) -> RepositoryPlan {
        let manifests = repository.manifests
        var referrers: [Digest: [Digest]] = [:]
        for m in manifests.values {
            if let subject = m.subject { referrers[subject, default: []].append(m.digest) }
        }
        var pending: [Digest] = []
        for m in manifests.values {
            let isRoot = !m.readable || m.modified >= cutoff || pinned.contains(m.digest)
                || (!deleteUntagged && m.subject == nil)
            if isRoot { pending.append(m.digest) }
        }
        for digest in repository.tags.values where manifests[digest] != nil { pending.append(digest) }

        var kept = Set<Digest>()
        while let digest = pending.popLast() {
            guard let m = manifests[digest], kept.insert(digest).inserted else { continue }
            pending += m.children.filter { manifests[$0] != nil }
            pending += referrers[digest] ?? []
        }

        var referenced = Set<Digest>()
        for digest in kept {
            referenced.insert(digest)
            guard let m = manifests[digest] else { continue }
            referenced.formUnion(m.blobs)
            referenced.formUnion(m.children)
        }
        var removedLinks: [Digest] = []
        let unreadable = manifests.values.contains { !$0.readable }
        for (digest, modified) in repository.layerLinks {
            if referenced.contains(digest) { continue }
            if unreadable || modified >= cutoff || pinned.contains(digest) {
                referenced.insert(digest)  // a link kept for any of these reasons keeps its blob too
            } else {
                removedLinks.append(digest)
            }
        }
        let removed = manifests.keys.filter { !kept.contains($0) }
        return RepositoryPlan(keptManifests: kept, removedManifests: removed.sorted(by: Self.order),
                              removedLayerLinks: removedLinks.sorted(by: Self.order), referenced: referenced)
    }

    /// What pins read at the end of a run protect among what the run set aside: the digests they
    /// name and, for a named manifest, what it keeps alive (children, config and layers,
    /// referrers), recursively, as if the pin had been there when the run began. A push pins only
    /// what its manifest names directly: an index's children, not their layers. Times of
    /// `manifests` do not matter.
    public static func protected(by pinned: Set<Digest>, manifests: some Sequence<RepositorySnapshot.Manifest>) -> Set<Digest> {
        var byDigest: [Digest: RepositorySnapshot.Manifest] = [:]
        var referrers: [Digest: [Digest]] = [:]
        for m in manifests {
            byDigest[m.digest] = m
            if let subject = m.subject { referrers[subject, default: []].append(m.digest) }
        }
        var result = Set<Digest>()
        var pending = Array(pinned)
        while let digest = pending.popLast() {
            guard result.insert(digest).inserted, let m = byDigest[digest] else { continue }
            pending += m.blobs + m.children + (referrers[digest] ?? [])
        }
        return result
    }

    /// A stored blob as the collector sees it.
    public struct Blob: Sendable, Equatable {
        public var digest: Digest
        public var size: Int64
        public var modified: Date
        public init(digest: Digest, size: Int64, modified: Date) {
            self.digest = digest
            self.size = size
            self.modified = modified
        }
    }

    /// Blobs nothing keeps alive, that are older than the cutoff and not pinned.
    public static func unreachableBlobs(_ blobs: [Blob], referenced: Set<Digest>, cutoff: Date, pinned: Set<Digest>) -> [Blob] {
        blobs.filter { !referenced.contains($0.digest) && $0.modified < cutoff && !pinned.contains($0.digest) }
            .sorted { order($0.digest, $1.digest) }
    }

    static func order(_ a: Digest, _ b: Digest) -> Bool { a.description < b.description }
}
