import BerthCore
import Foundation
import NIOCore

/// Setting content aside during a collection, putting it back, and recovering what a collection
/// that crashed had set aside. Links removed are first written to a journal
/// (`/berth/gc/set-aside/<repository>`, synced), so that a crash between their removal and the
/// final decision can always put them back; the next collection (or server start) does.
extension RegistryStorage {
    // MARK: - Removing and putting back

    func removeLink(_ removal: GCReport.Removal, in repository: RepositoryName,
                            manifests: [Digest: ManifestReferences]) async throws {
        guard let digest = try? Digest(parsing: removal.digest) else { return }
        await descriptors?.forget(digest, in: repository)
        if removal.kind == "layer-link" {
            try await driver.delete(Self.parentDirectory(of: StoragePath.layerLink(repository, digest).path))
            return
        }
        try await driver.delete(Self.parentDirectory(of: StoragePath.manifestRevisionLink(repository, digest).path))
        if let subject = manifests[digest]?.subject {
            try await driver.delete(StoragePath.referrer(repository, subject: subject, digest).path)
        }
        // Only when empty: a tag pushed onto this manifest meanwhile keeps its entry.
        try await driver.removeEmptyDirectory(StoragePath.digestTags(repository, digest).path)
    }

    func restoreLink(_ removal: GCReport.Removal, digest: Digest, in repository: RepositoryName) async throws {
        if removal.kind == "layer-link" {
            try await writeLink(.layerLink(repository, digest), to: digest)
            return
        }
        if let bytes = try? await driver.getContent(StoragePath.blobData(digest).path, maxBytes: Self.maxManifestBytes),
           let manifest = try? ParsedManifest.parse(bytes.readableBytesView, contentType: try await mediaType(of: digest, bytes: bytes)) {
            try await recordReferrer(digest, size: Int64(bytes.readableBytes), manifest, in: repository)
        }
        try await writeLink(.manifestRevisionLink(repository, digest), to: digest)
        try await addToCatalog(repository)
    }

    /// Records, durably, the links about to be removed from `repository` (before any is).
    func journalSetAside(_ removals: [GCReport.Removal], in repository: RepositoryName) async throws {
        guard !removals.isEmpty else { return }
        let text = removals.map { "\($0.kind) \($0.digest)\n" }.joined()
        try await driver.putContent(StoragePath.gcSetAsideJournal(repository).path, ByteBuffer(string: text))
    }

    /// Drops the journals once every decision of the run is final.
    func clearSetAsideJournals() async throws {
        try await driver.delete(StoragePath.gcSetAside.path)
    }

    /// Whether a collection stopped midway left content set aside.
    func hasInterruptedCollection() async throws -> Bool {
        for dir in [StoragePath.gcQuarantine, StoragePath.gcSetAside] where !((try? await driver.list(dir.path)) ?? []).isEmpty {
            return true
        }
        return false
    }

    /// Puts back what a collection that stopped midway had set aside: blobs from the quarantine
    /// first (a manifest's referrers entry is rewritten from its content), then the journalled
    /// links whose content, and for a manifest all it references, still exists (content already
    /// deleted was a final decision). The next
    /// collection decides afresh. Returns how many items were put back.
    func recoverInterruptedCollection() async throws -> Int {
        var count = 0
        for name in (try? await driver.list(StoragePath.gcQuarantine.path)) ?? [] {
            let text = name.replacingOccurrences(of: "-", with: ":")
            guard let digest = try? Digest(parsing: text) else { continue }
            do {
                try await driver.move(from: StoragePath.gcQuarantineEntry(digest).path, to: StoragePath.blobData(digest).path)
                count += 1
            } catch StorageDriverError.notFound {
                continue
            }
        }
        for name in (try? await driver.list(StoragePath.gcSetAside.path)) ?? [] {
            guard let repository = StoragePath.repositoryName(catalogFileName: name) else { continue }
            let journal = StoragePath.gcSetAsideJournal(repository).path
            let text = (try? await driver.getString(journal, maxBytes: 64 << 20)) ?? ""
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, let digest = try? Digest(parsing: String(parts[1])),
                      try await driver.exists(StoragePath.blobData(digest).path) else { continue }
                let removal = GCReport.Removal(kind: String(parts[0]), repository: repository.value, digest: digest.description)
                if removal.kind != "layer-link", try await !referencesAreStored(digest) { continue }
                try await restoreLink(removal, digest: digest, in: repository)
                count += 1
            }
            try await driver.delete(journal)
        }
        return count
    }

    /// Whether everything manifest `digest` references (config, layers, children) is still stored.
    /// A collection stopped while deleting may have removed some of it already: that was its final
    /// decision (nothing pinned the content), so a manifest missing part of it stays collected
    /// instead of coming back broken.
    private func referencesAreStored(_ digest: Digest) async throws -> Bool {
        guard let bytes = try? await driver.getContent(StoragePath.blobData(digest).path, maxBytes: Self.maxManifestBytes),
              let manifest = try? ParsedManifest.parse(bytes.readableBytesView, contentType: try await mediaType(of: digest, bytes: bytes))
        else { return true }  // unreadable: restored as it was, for the next collection (or scrub) to judge
        for reference in (manifest.config.map { [$0] } ?? []) + manifest.layers + manifest.manifests where !reference.isExternal {
            if try await !driver.exists(StoragePath.blobData(reference.digest).path) { return false }
        }
        return true
    }

    /// Recovers an interrupted collection at start-up, unless a collection is running (it
    /// recovers itself). Returns how many items were put back.
    public func recoverInterruptedCollection(owner: String) async throws -> Int {
        guard try await hasInterruptedCollection() else { return 0 }
        do {
            return try await withGCLock(owner: owner) { try await recoverInterruptedCollection() }
        } catch is GCError {
            return 0
        }
    }
}
