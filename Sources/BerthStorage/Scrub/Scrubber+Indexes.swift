import BerthCore
import Foundation
import NIOCore

/// Tags, Berth's indexes, and which tags and manifests each problem affects.
extension ScrubRun {
    // MARK: - Tags

    mutating func checkTag(_ tag: Tag, _ scan: inout RepositoryScan) async throws {
        let name = scan.name
        report.tagsChecked += 1
        let current = StoragePath.tagCurrentLink(name, tag)
        let text: String
        do {
            text = try await driver.getString(current.path, maxBytes: 1024)
        } catch StorageDriverError.notFound {
            report.note("\(name):\(tag) has a tag directory without current/link (a push or delete of it was interrupted): it is listed but does not resolve; push or delete the tag")
            return
        }
        guard let digest = try? Digest(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            var finding = ScrubFinding(kind: .linkMalformed, path: current.path, repositories: [name.value],
                                       message: "tag \(name):\(tag) holds \(Self.quote(text)), not a digest: pulls of the tag fail. Push the tag again, or delete it; repair cannot tell what it should point at")
            finding.tags = ["\(name):\(tag)"]
            record(finding)
            return
        }
        scan.tags.append((tag.value, digest))
        /// Whether the tag still points at `digest` after a pause (a push or delete may be moving it).
        func stillPoints() async throws -> Bool {
            try await settle()
            return (try? await storage.readLink(current)) == digest
        }
        if try await !driver.exists(StoragePath.manifestRevisionLink(name, digest).path) {
            if try await setAsideByCollection("manifest", digest, in: name) { return }
            guard try await stillPoints(), try await !driver.exists(StoragePath.manifestRevisionLink(name, digest).path) else { return }
            var finding = ScrubFinding(kind: .tagDangling, path: current.path, digest: digest.description, repositories: [name.value],
                                       message: "tag \(name):\(tag) points at \(digest), which \(name) does not hold: pulls of the tag fail. Push the tag again, or delete it; repair leaves it, since only a push can say what it should point at")
            finding.tags = ["\(name):\(tag)"]
            record(finding)
            return
        }
        let indexLink = StoragePath.tagIndexLink(name, tag, digest)
        // The tag's index/ is only its history (nothing reads it to resolve the tag), written just
        // after current/link: a push stopped between the two leaves it without the current digest.
        if try await !driver.exists(indexLink.path), try await stillPoints(), try await !driver.exists(indexLink.path) {
            if options.repair { try await storage.writeLink(indexLink, to: digest) }
            report.note("\(name):\(tag)'s index/ (the tag's history) lacks its current digest \(digest), as a push stopped midway leaves it\(options.repair ? "; written" : "; repair writes it")")
        }
        let marker = StoragePath.digestTag(name, digest, tag).path
        if scan.indexed, try await !driver.exists(marker), try await stillPoints(), try await !driver.exists(marker) {
            var finding = ScrubFinding(kind: .indexMismatch, path: marker, digest: digest.description, repositories: [name.value],
                                       message: "tags-by-digest index of \(name) lacks \(tag) → \(digest): deleting that manifest by digest would leave the tag behind. Repair (or `berth index rebuild`) rebuilds the index")
            finding.tags = ["\(name):\(tag)"]
            indexProblem(finding, repository: name)
        }
    }

    // MARK: - Indexes

    /// Entries of the referrers index must decode to the descriptor of the manifest they name.
    /// Entries whose manifest is gone are legitimate (a push that stopped midway) and skipped,
    /// as the referrers API skips them.
    mutating func checkReferrerEntries(_ scan: inout RepositoryScan) async throws {
        let root = StoragePath.repositoryIndex(scan.name).path + "/_referrers"
        for algorithm in (try? await driver.list(root)) ?? [] {
            for subject in (try? await driver.list(root + "/" + algorithm)) ?? [] {
                let dir = root + "/" + algorithm + "/" + subject
                for entry in (try? await driver.list(dir)) ?? [] {
                    let path = dir + "/" + entry
                    guard let bytes = try? await driver.getContent(path, maxBytes: 1 << 20) else { continue }
                    let named = try? Digest(parsing: entry.replacingOccurrences(of: "-", with: ":"))
                    let decoded = try? JSONDecoder().decode(Descriptor.self, from: Data(bytes.readableBytesView))
                    if let decoded, decoded.digest == named { continue }
                    if let named, try await !driver.exists(StoragePath.manifestRevisionLink(scan.name, named).path) { continue }
                    indexProblem(ScrubFinding(kind: .indexMismatch, path: path, digest: named?.description, repositories: [scan.name.value],
                                              message: "referrers index entry of \(scan.name) for subject \(algorithm):\(subject) is unreadable or names another manifest: the referrers API skips it. Repair (or `berth index rebuild`) rebuilds the index"),
                                 repository: scan.name)
                }
            }
        }
    }

    /// Catalog entries of repositories without manifests: a delete of the last manifest that
    /// stopped midway leaves one. Not a problem (listing it is harmless); repair removes it.
    mutating func checkStaleCatalog(_ withManifests: Set<RepositoryName>) async throws {
        guard catalogIndexed else { return }
        for entry in (try? await driver.list(StoragePath.catalog.path)) ?? [] {
            guard let name = StoragePath.repositoryName(catalogFileName: entry), !withManifests.contains(name),
                  try await storage.manifestDigests(in: name).isEmpty else { continue }
            report.note("the catalog lists \(name), which holds no manifest (a delete stopped midway)\(options.repair ? "; removed" : "; repair removes it")")
            rebuildCatalog = true
        }
    }

    mutating func indexProblem(_ finding: ScrubFinding, repository: RepositoryName? = nil, catalog: Bool = false) {
        if let repository { reindex.insert(repository) }
        if catalog { rebuildCatalog = true }
        if let index = record(finding) { indexFindings.append(index) }
    }

    /// Rebuilds the indexes found wrong, with the code `berth index rebuild` runs.
    mutating func rebuildIndexes() async throws {
        for name in reindex.sorted(by: { $0.value < $1.value }) { try await storage.buildIndex(name) }
        if rebuildCatalog { try await storage.rebuildCatalog() }
        for index in indexFindings { report.markRepaired(index, "rebuilt the index") }
    }

    // MARK: - What a problem affects

    /// Adds to each problem the manifests and tags of the repository that are, or reach, the
    /// broken content (an index's tag is affected by a layer of one of its children).
    mutating func attribute(_ scan: RepositoryScan) {
        var indices: [Digest: [Int]] = scan.problems
        for (digest, index) in blobProblems { if let index { indices[digest, default: []].append(index) } }
        guard !indices.isEmpty else { return }
        let problems = Set(indices.keys)
        var memo: [Digest: Set<Digest>] = [:]
        func broken(_ manifest: Digest, depth: Int) -> Set<Digest> {
            if let known = memo[manifest] { return known }
            var found = problems.contains(manifest) ? Set([manifest]) : []
            for reference in scan.references[manifest] ?? [] {
                if problems.contains(reference) { found.insert(reference) }
                if depth < 8, scan.references[reference] != nil { found.formUnion(broken(reference, depth: depth + 1)) }
            }
            memo[manifest] = found
            return found
        }
        let name = scan.name.value
        var touched = Set<Int>()
        for manifest in scan.manifests {
            for digest in broken(manifest, depth: 0) {
                for index in indices[digest] ?? [] {
                    Self.appendOnce(&report.findings[index].manifests, "\(name)@\(manifest)")
                    touched.insert(index)
                }
            }
        }
        for (tag, digest) in scan.tags {
            for problem in broken(digest, depth: 0) {
                for index in indices[problem] ?? [] {
                    Self.appendOnce(&report.findings[index].tags, "\(name):\(tag)")
                    touched.insert(index)
                }
            }
        }
        for index in touched { Self.appendOnce(&report.findings[index].repositories, name) }
    }

    static func appendOnce(_ list: inout [String], _ value: String) {
        if !list.contains(value), list.count < 100 { list.append(value) }
    }
}
