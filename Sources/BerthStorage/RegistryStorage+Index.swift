import BerthCore
import Foundation
import NIOCore
import Synchronization

/// What this process already knows to exist in storage, so the indexes are checked once, not on
/// every request. Losing it only costs a `stat` again.
final class IndexState: Sendable {
    private let indexed = Mutex<Set<RepositoryName>>([])
    private let catalogBuiltFlag = Mutex(false)
    let listings: ListingCache
    /// What the web UI shows of each repository (Browse/).
    let overviews = OverviewCache()

    init(counters: CacheCounters? = nil) { listings = ListingCache(counters: counters) }

    /// Whether this process has seen the catalog built (it never becomes unbuilt).
    var catalogBuilt: Bool {
        get { catalogBuiltFlag.withLock { $0 } }
        set { catalogBuiltFlag.withLock { $0 = newValue } }
    }
    static let limit = 100_000

    func isIndexed(_ n: RepositoryName) -> Bool { indexed.withLock { $0.contains(n) } }
    func setIndexed(_ n: RepositoryName, _ value: Bool) {
        indexed.withLock {
            if value {
                if $0.count >= Self.limit { $0.removeAll(keepingCapacity: true) }
                $0.insert(n)
            } else {
                $0.remove(n)
            }
        }
    }
}

/// Berth's per-repository indexes (which tags point at a digest; which manifests refer to a
/// subject). Push and delete keep them current; a repository written by the reference registry
/// is indexed from its layout the first time Berth needs it.
extension RegistryStorage {
    /// Builds the repository's indexes from the reference layout unless they exist already.
    /// A repository without manifests has nothing to index; `forWrite` marks it indexed (a push
    /// is about to create it), while reads leave no trace of names that were merely asked for.
    func ensureIndexed(_ repository: RepositoryName, forWrite: Bool = false) async throws {
        if index.isIndexed(repository) { return }
        if try await driver.exists(StoragePath.repositoryIndexed(repository).path) {
            index.setIndexed(repository, true)
            return
        }
        guard try await driver.exists(StoragePath.manifestRevisions(repository).path) else {
            if forWrite {
                try await driver.putMarker(StoragePath.repositoryIndexed(repository).path)
                index.setIndexed(repository, true)
            }
            return
        }
        try await buildIndex(repository)
    }

    /// (Re)builds one repository's indexes from its tags and manifests.
    func buildIndex(_ repository: RepositoryName) async throws {
        index.setIndexed(repository, false)
        // Only this repository's own entries (`_…`): nested repositories keep their indexes here too.
        let indexRoot = StoragePath.repositoryIndex(repository).path
        for child in (try? await driver.list(indexRoot)) ?? [] where child.hasPrefix("_") {
            try await driver.delete(indexRoot + "/" + child)
        }
        for name in (try? await listTags(in: repository)) ?? [] {
            guard let tag = try? Tag(name), let digest = try? await readLink(.tagCurrentLink(repository, tag)) else { continue }
            try await driver.putMarker(StoragePath.digestTag(repository, digest, tag).path)
        }
        for digest in try await manifestDigests(in: repository) {
            guard let bytes = try? await driver.getContent(StoragePath.blobData(digest).path, maxBytes: Self.maxManifestBytes),
                  let manifest = try? ParsedManifest.parse(bytes.readableBytesView,
                                                           contentType: try await mediaType(of: digest, bytes: bytes)) else { continue }
            try await recordReferrer(digest, size: Int64(bytes.readableBytes), manifest, in: repository)
        }
        try await driver.putMarker(StoragePath.repositoryIndexed(repository).path)
        index.setIndexed(repository, true)
    }

    /// Every manifest stored in a repository (its revision links).
    func manifestDigests(in repository: RepositoryName) async throws -> [Digest] {
        try await digests(under: StoragePath.manifestRevisions(repository).path)
    }

    /// The digests named by `<root>/<algorithm>/<hex>` directories (revision and layer links).
    func digests(under root: String) async throws -> [Digest] {
        var digests: [Digest] = []
        for algorithm in (try? await driver.list(root)) ?? [] {
            for hex in (try? await driver.list(root + "/" + algorithm)) ?? [] {
                if let d = try? Digest(parsing: "\(algorithm):\(hex)") { digests.append(d) }
            }
        }
        return digests
    }

    // MARK: - Tags by digest

    /// Points `tag` at `digest`: the reverse-index entry first, then the reference layout's
    /// current link, then its history entry, then the old digest's entry goes. The current link
    /// comes before the history entry because the tag's directory is what lists it: written the
    /// other way round, a crash in between left a tag that `tags/list` showed and no pull found.
    /// `exclusive` (an immutable tag) only creates the tag: if another push created it meanwhile
    /// with another digest, this one is refused.
    func moveTag(_ tag: Tag, to digest: Digest, in repository: RepositoryName, exclusive: Bool = false) async throws {
        let previous = try? await readLink(.tagCurrentLink(repository, tag))
        try await driver.putMarker(StoragePath.digestTag(repository, digest, tag).path)
        if exclusive, let previous, previous != digest {
            // Another push created the tag after this one's early check.
            try await driver.delete(StoragePath.digestTag(repository, digest, tag).path)
            try await refuseMovingImmutable(tag, to: digest, in: repository)
        }
        if exclusive, previous == nil {
            let created = try await driver.putContentIfAbsent(StoragePath.tagCurrentLink(repository, tag).path,
                                                              ByteBuffer(string: digest.description))
            if !created, (try? await readLink(.tagCurrentLink(repository, tag))) != digest {
                try await driver.delete(StoragePath.digestTag(repository, digest, tag).path)
                try await refuseMovingImmutable(tag, to: digest, in: repository)
            }
            try await writeTagIndexLink(tag, digest, in: repository)
            return
        }
        try await writeLink(.tagCurrentLink(repository, tag), to: digest)
        try await writeTagIndexLink(tag, digest, in: repository)
        if let previous, previous != digest {
            try await driver.delete(StoragePath.digestTag(repository, previous, tag).path)
        }
    }

    /// The tag's history entry, written after its current link. A delete of the tag that runs
    /// between the two removes the tag's directory, which writing the entry then creates again,
    /// holding no current link: a tag that lists would show and no pull could resolve. So when
    /// the current link is gone afterwards, the entry and the directories that only it holds are
    /// taken away again (directories are only removed when empty, so a push that has just
    /// written the tag anew keeps it): the delete, the later operation, wins.
    private func writeTagIndexLink(_ tag: Tag, _ digest: Digest, in repository: RepositoryName) async throws {
        let entry = StoragePath.tagIndexLink(repository, tag, digest).path
        try await writeLink(.tagIndexLink(repository, tag, digest), to: digest)
        guard try await !driver.exists(StoragePath.tagCurrentLink(repository, tag).path) else { return }
        var directory = Self.parentDirectory(of: entry)
        try await driver.delete(directory)
        let tagDirectory = StoragePath.tag(repository, tag).path
        while directory != tagDirectory {
            directory = Self.parentDirectory(of: directory)
            try await driver.removeEmptyDirectory(directory)
        }
    }

    /// Tags currently pointing at `digest`, from the reverse index (each checked against its link).
    func tags(pointingAt digest: Digest, in repository: RepositoryName) async throws -> [Tag] {
        let names = (try? await driver.list(StoragePath.digestTags(repository, digest).path)) ?? []
        var tags: [Tag] = []
        for name in names {
            guard let tag = try? Tag(name), (try? await readLink(.tagCurrentLink(repository, tag))) == digest else { continue }
            tags.append(tag)
        }
        return tags
    }

    // MARK: - Referrers

    /// The descriptor the referrers API lists for a manifest: its own artifactType, or for an
    /// image manifest without one, its config's media type.
    static func referrerDescriptor(_ digest: Digest, size: Int64, _ manifest: ParsedManifest) -> Descriptor {
        var artifactType = manifest.artifactType
        if artifactType == nil, !manifest.isIndex { artifactType = manifest.config?.mediaType }
        return Descriptor(mediaType: manifest.mediaType, digest: digest, size: size,
                          artifactType: artifactType, annotations: manifest.annotations)
    }

    func recordReferrer(_ digest: Digest, size: Int64, _ manifest: ParsedManifest, in repository: RepositoryName) async throws {
        guard let subject = manifest.subject?.digest else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(Self.referrerDescriptor(digest, size: size, manifest))
        // Written before the revision link, whose sync makes it durable too.
        try await driver.putContent(StoragePath.referrer(repository, subject: subject, digest).path, ByteBuffer(bytes: json), durable: false)
    }

    /// Manifests in the repository whose subject is `subject`, optionally only those of one
    /// artifact type. Entries whose manifest is gone (a push that crashed midway) are skipped.
    public func referrers(of subject: Digest, in repository: RepositoryName, artifactType: String? = nil) async throws -> [Descriptor] {
        try await ensureIndexed(repository)
        let dir = StoragePath.referrers(repository, subject: subject).path
        let names = (try? await driver.list(dir)) ?? []
        var found: [Descriptor] = []
        for name in names.sorted() {
            guard let data = try? await driver.getContent(dir + "/" + name, maxBytes: 1 << 20),
                  let descriptor = try? JSONDecoder().decode(Descriptor.self, from: Data(data.readableBytesView)),
                  try await driver.exists(StoragePath.manifestRevisionLink(repository, descriptor.digest).path) else { continue }
            if let artifactType, descriptor.artifactType != artifactType { continue }
            found.append(descriptor)
        }
        return found
    }
}
