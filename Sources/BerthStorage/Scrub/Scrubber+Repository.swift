import BerthCore
import Foundation
import NIOCore

/// Checking one repository: its layer links, manifests, tags and indexes.
extension ScrubRun {
    /// What one repository's check collected, to say which tags and manifests a problem affects.
    struct RepositoryScan {
        let name: RepositoryName
        let indexed: Bool
        /// Every manifest the repository holds, and each readable one's config, layers and children.
        var manifests: [Digest] = []
        var references: [Digest: [Digest]] = [:]
        var tags: [(tag: String, digest: Digest)] = []
        /// Problems found in this repository, by the digest they are about.
        var problems: [Digest: [Int]] = [:]
        /// Index children the repository lacks, judged once the tags are known.
        var missingChildren: [(index: Digest, child: Digest)] = []
    }

    /// Checks a repository; returns whether it holds manifests.
    mutating func checkRepository(_ name: RepositoryName, children: [String]) async throws -> Bool {
        report.repositoriesChecked += 1
        var scan = RepositoryScan(name: name, indexed: try await driver.exists(StoragePath.repositoryIndexed(name).path))
        if children.contains("_layers") {
            for digest in try await linkedLayers(name) { try await checkLayerLink(digest, &scan) }
        }
        let manifests = children.contains("_manifests") ? try await storage.manifestDigests(in: name) : []
        scan.manifests = manifests
        for digest in manifests { try await checkManifest(digest, &scan) }
        for tagName in (try? await driver.list(StoragePath.tags(name).path)) ?? [] {
            guard let tag = try? Tag(tagName) else { continue }
            try await checkTag(tag, &scan)
        }
        try await checkMissingChildren(&scan)
        if scan.indexed { try await checkReferrerEntries(&scan) }
        if !manifests.isEmpty, catalogIndexed, try await !driver.exists(StoragePath.catalogEntry(name).path) {
            try await settle()
            if try await !driver.exists(StoragePath.catalogEntry(name).path), try await !storage.manifestDigests(in: name).isEmpty {
                indexProblem(ScrubFinding(kind: .indexMismatch, path: StoragePath.catalogEntry(name).path, repositories: [name.value],
                                          message: "the catalog lacks repository \(name), so /v2/_catalog does not list it; repair (or `berth index rebuild`) rebuilds the catalog"),
                             catalog: true)
            }
        }
        if !scan.indexed, !manifests.isEmpty {
            report.note("repository \(name) has no Berth indexes yet; Berth builds them the first time it needs them")
        }
        attribute(scan)
        return !manifests.isEmpty
    }

    // MARK: - Links

    /// Reads a layer or manifest link; reports (and on repair rewrites) one that does not hold the
    /// digest its path names. Returns false when the link is gone.
    mutating func checkLink(_ link: StoragePath, _ digest: Digest, _ what: String, in name: RepositoryName) async throws -> Bool {
        let text: String
        do {
            text = try await driver.getString(link.path, maxBytes: 1024)
        } catch StorageDriverError.notFound {
            return false
        }
        guard (try? Digest(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines))) != digest else { return true }
        var finding = ScrubFinding(kind: .linkMalformed, path: link.path, digest: digest.description, repositories: [name.value],
                                   message: "\(what) in \(name) holds \(Self.quote(text)) instead of \(digest), the digest its path names: Berth goes by the path, the reference registry reads the content. Repair rewrites it")
        if options.repair {
            try await storage.writeLink(link, to: digest)
            finding.repaired = true
            finding.repair = "rewrote the link to \(digest)"
        }
        record(finding)
        return true
    }

    mutating func checkLayerLink(_ digest: Digest, _ scan: inout RepositoryScan) async throws {
        let link = StoragePath.layerLink(scan.name, digest)
        guard try await checkLink(link, digest, "layer link", in: scan.name) else { return }
        let blob = StoragePath.blobData(digest).path
        if quarantined.contains(digest) {
            // Without the link, a client asking whether the blob exists is told to upload it, and
            // the upload stores the content again; with it, a cached size could say it is there.
            try await unlinkLayer(link, digest)
            if let index = blobProblems[digest] ?? nil {
                report.findings[index].repair = (report.findings[index].repair ?? "") + "; removed its layer link from \(scan.name)"
            }
            return
        }
        guard blobProblems[digest] == nil, try await driver.statIfExists(blob) == nil else { return }
        if try await setAsideByCollection(digest) { return }
        try await settle()  // a collection or an unlink may be removing the link right now
        guard try await driver.exists(link.path), try await driver.statIfExists(blob) == nil else { return }
        var finding = ScrubFinding(kind: .linkDangling, path: link.path, digest: digest.description, repositories: [scan.name.value],
                                   message: "layer link in \(scan.name) points at \(digest), whose content is not stored: pulls of it fail. Push the image again; repair removes the link, so that the push uploads the blob instead of skipping it")
        if options.repair {
            try await unlinkLayer(link, digest)
            finding.repaired = true
            finding.repair = "removed the layer link"
        }
        if let index = record(finding) { scan.problems[digest, default: []].append(index) }
    }

    /// Removes a layer link whose content is gone; puts it back if a push stored the content meanwhile.
    func unlinkLayer(_ link: StoragePath, _ digest: Digest) async throws {
        try await driver.delete(RegistryStorage.parentDirectory(of: link.path))
        if try await driver.exists(StoragePath.blobData(digest).path) { try await storage.writeLink(link, to: digest) }
    }

    /// Whether a garbage collection holds the content in its quarantine (it puts it back, or
    /// deletes it with its links).
    mutating func setAsideByCollection(_ digest: Digest) async throws -> Bool {
        guard try await driver.exists(StoragePath.gcQuarantineEntry(digest).path) else { return false }
        report.note("blob \(digest) is set aside by a garbage collection (/berth/gc/quarantine); counted as present")
        return true
    }

    /// Whether a garbage collection journalled this link as set aside (`kind`: `layer-link` or
    /// `manifest`): a running collection puts it back or deletes it for good; one that stopped
    /// midway has it put back when `berth serve` starts.
    mutating func setAsideByCollection(_ kind: String, _ digest: Digest, in name: RepositoryName) async throws -> Bool {
        guard let journal = try? await driver.getString(StoragePath.gcSetAsideJournal(name).path, maxBytes: 64 << 20),
              journal.split(separator: "\n").contains(Substring("\(kind) \(digest)")) else { return false }
        report.note("\(kind) \(digest) of \(name) is set aside by a garbage collection (/berth/gc/set-aside); counted as present")
        return true
    }

    // MARK: - Manifests

    mutating func checkManifest(_ digest: Digest, _ scan: inout RepositoryScan) async throws {
        let name = scan.name
        let link = StoragePath.manifestRevisionLink(name, digest)
        guard try await checkLink(link, digest, "manifest revision link", in: name) else { return }
        report.manifestsChecked += 1
        if blobProblems[digest] != nil { return }  // reported with the blob; attributed below
        let path = StoragePath.blobData(digest).path
        let bytes: ByteBuffer
        do {
            bytes = try await driver.getContent(path, maxBytes: RegistryStorage.maxManifestBytes)
        } catch StorageDriverError.notFound {
            if try await setAsideByCollection(digest) { return }
            try await settle()
            guard try await driver.exists(link.path), try await driver.statIfExists(path) == nil else { return }
            let finding = ScrubFinding(kind: .linkDangling, path: link.path, digest: digest.description, repositories: [name.value],
                                       message: "manifest \(name)@\(digest) is linked but its content is not stored: pulls of it fail. Push the image again (the same manifest stores the content again) or delete the manifest; repair leaves the link, since tags may point at it")
            if let index = record(finding) { scan.problems[digest, default: []].append(index) }
            return
        } catch StorageDriverError.tooLarge {
            record(ScrubFinding(kind: .manifestUnparseable, path: path, digest: digest.description, repositories: [name.value],
                                message: "manifest \(name)@\(digest) is larger than \(RegistryStorage.maxManifestBytes) bytes, so Berth cannot serve it: delete it"))
            return
        }
        let manifest: ParsedManifest
        let mediaType = try await storage.mediaType(of: digest, bytes: bytes)
        do {
            manifest = try ParsedManifest.parse(bytes.readableBytesView, contentType: mediaType)
        } catch {
            let finding = ScrubFinding(kind: .manifestUnparseable, path: path, digest: digest.description, repositories: [name.value],
                                       message: "manifest \(name)@\(digest) hashes right but does not parse (\(error.message)): it was stored by another tool. Delete it, or push a valid manifest in its place")
            if let index = record(finding) { scan.problems[digest, default: []].append(index) }
            return
        }
        scan.references[digest] = ((manifest.config.map { [$0] } ?? []) + manifest.layers + manifest.manifests).map(\.digest)
        let required = storage.validation.requireLayers ? manifest.requiredBlobs : manifest.config.map { [$0] } ?? []
        for (i, descriptor) in required.enumerated() {
            let role = i == 0 && manifest.config != nil ? "config" : "layer"
            try await checkReference(descriptor, role: role, of: digest, &scan)
        }
        if storage.validation.requireIndexChildren {
            for child in manifest.manifests where try await !driver.exists(StoragePath.manifestRevisionLink(name, child.digest).path) {
                scan.missingChildren.append((digest, child.digest))
            }
        }
        if let subject = manifest.subject?.digest, scan.indexed {
            let entry = StoragePath.referrer(name, subject: subject, digest).path
            if try await !driver.exists(entry) {
                try await settle()  // a delete removes the entry just before the link
                if try await driver.exists(link.path), try await !driver.exists(entry) {
                    indexProblem(ScrubFinding(kind: .indexMismatch, path: entry, digest: digest.description, repositories: [name.value],
                                              message: "referrers index of \(name) lacks \(digest), whose subject is \(subject): the referrers API does not list it. Repair (or `berth index rebuild`) rebuilds the index"),
                                 repository: name)
                }
            }
        }
    }

    /// A child deleted by digest leaves its index incomplete. Deleting is allowed, so an index no
    /// tag reaches that lacks a child is only a note; a tag's index lacking one is a broken image.
    mutating func checkMissingChildren(_ scan: inout RepositoryScan) async throws {
        guard !scan.missingChildren.isEmpty else { return }
        var reachable = Set<Digest>()
        var pending = scan.tags.map(\.digest)
        while let next = pending.popLast() {
            guard reachable.insert(next).inserted else { continue }
            pending += scan.references[next] ?? []
        }
        let name = scan.name
        for (index, child) in scan.missingChildren {
            let childLink = StoragePath.manifestRevisionLink(name, child)
            if try await setAsideByCollection("manifest", child, in: name) { continue }
            guard reachable.contains(index) else {
                report.note("index \(name)@\(index), which no tag reaches, lacks child manifest \(child) (deleted by digest); a collection with --delete-untagged removes it")
                continue
            }
            try await settle()
            guard try await driver.exists(StoragePath.manifestRevisionLink(name, index).path), try await !driver.exists(childLink.path) else { continue }
            let finding = ScrubFinding(kind: .referenceMissing, path: childLink.path, digest: child.description, repositories: [name.value],
                                       message: "index \(name)@\(index) lists child manifest \(child), which \(name) does not hold (deleted by digest?): pulls of that platform fail. Push the image again")
            if let i = record(finding) { scan.problems[child, default: []].append(i) }
        }
    }

    mutating func checkReference(_ descriptor: Descriptor, role: String, of manifest: Digest, _ scan: inout RepositoryScan) async throws {
        let name = scan.name, digest = descriptor.digest
        if let problem = blobProblems[digest] {
            // Reported with the blob. A data file shorter than a descriptor says was cut short.
            if let index = problem, report.findings[index].kind == .blobCorrupt,
               let size = report.findings[index].size, size < descriptor.size {
                report.reclassify(index, as: .blobTruncated,
                                  message: "blob \(digest) holds \(size) of the \(descriptor.size) bytes \(name)@\(manifest) says it has (a crash or a full disk cut its write short): pulls of it fail. Repair quarantines it; then push the images that use it again")
            }
            return
        }
        var info = try await driver.statIfExists(StoragePath.blobData(digest).path)
        var linked = try await storage.isBlobLinked(digest, in: name)
        if info == nil || !linked {
            if info == nil, try await setAsideByCollection(digest) { return }
            if !linked, try await setAsideByCollection("layer-link", digest, in: name) { return }
            try await settle()
            guard try await driver.exists(StoragePath.manifestRevisionLink(name, manifest).path) else { return }
            info = try await driver.statIfExists(StoragePath.blobData(digest).path)
            linked = try await storage.isBlobLinked(digest, in: name)
        }
        if info == nil || !linked {
            let stored = info == nil ? "is not stored" : "is stored but not linked into \(name), so Berth answers 404 for it there"
            let finding = ScrubFinding(kind: .referenceMissing,
                                       path: info == nil ? StoragePath.blobData(digest).path : StoragePath.layerLink(name, digest).path,
                                       digest: digest.description, repositories: [name.value],
                                       message: "\(role) \(digest) of manifest \(name)@\(manifest) \(stored): pulls of the image fail. Push the image again")
            if let index = record(finding) { scan.problems[digest, default: []].append(index) }
        } else if let info, info.size != descriptor.size {
            let finding = ScrubFinding(kind: .sizeMismatch, path: StoragePath.blobData(digest).path, digest: digest.description,
                                       repositories: [name.value],
                                       message: "manifest \(name)@\(manifest) says \(role) \(digest) has \(descriptor.size) bytes, but the stored blob, whose content matches its digest, has \(info.size): clients reject the pull. Push a corrected manifest")
            if let index = record(finding) { scan.problems[digest, default: []].append(index) }
        }
    }
}
