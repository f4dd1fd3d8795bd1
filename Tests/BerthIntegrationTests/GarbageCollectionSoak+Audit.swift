import Foundation

/// Reads a storage root directly (the reference registry's layout) and works out, without any of
/// Berth's code, what is reachable: tagged manifests, index children, referrers of kept
/// manifests, and the config and layers of all of them. Then lists what is missing and what is
/// left over that a collection with no grace period should have removed.
struct SoakStorageAudit {
    /// Digests reachable from some tag, with every file checked.
    var reachable = Set<String>()
    var blobFiles = 0
    var tags = 0
    /// Kept referrers: repository, subject and the referrer's digest (the referrers API must list them).
    var referrers: [(repository: String, subject: String, digest: String)] = []
    /// Reachable content that is missing, corrupt or not linked where a pull needs it.
    var broken: [String] = []
    /// Blob files, manifest links and layer links nothing reachable uses.
    var leftovers: [String] = []

    let v2: URL
    private let files = FileManager.default

    init(root: String) {
        v2 = URL(fileURLWithPath: root).appendingPathComponent("docker/registry/v2")
    }

    mutating func run() {
        for repository in StorageConsistencyAudit.repositoryNames(under: v2) { audit(repository) }
        let blobs = blobDigests()
        blobFiles = blobs.count
        for digest in blobs.subtracting(reachable).sorted() { leftovers.append("blob \(digest) is reachable from no tag") }
        for digest in reachable.subtracting(blobs).sorted() { broken.append("reachable \(digest) has no blob file") }
    }

    // MARK: - Reading the layout

    private func children(_ url: URL) -> [String] { (try? files.contentsOfDirectory(atPath: url.path)) ?? [] }

    private func link(_ url: URL) -> String? {
        guard let data = files.contents(atPath: url.path) else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `sha256:<hex>` for every `<dir>/sha256/<hex>/link` that exists.
    private func links(_ dir: URL) -> Set<String> {
        Set(children(dir.appendingPathComponent("sha256")).filter {
            files.fileExists(atPath: dir.appendingPathComponent("sha256/\($0)/link").path)
        }.map { "sha256:\($0)" })
    }

    private func blobDigests() -> Set<String> {
        let root = v2.appendingPathComponent("blobs/sha256")
        var digests = Set<String>()
        for prefix in children(root) {
            for hex in children(root.appendingPathComponent(prefix))
            where files.fileExists(atPath: root.appendingPathComponent("\(prefix)/\(hex)/data").path) {
                digests.insert("sha256:\(hex)")
            }
        }
        return digests
    }

    /// A blob's bytes when its file exists and hashes to its digest.
    private func content(_ digest: String) -> Data? {
        let hex = digest.dropFirst("sha256:".count)
        guard let data = files.contents(atPath: v2.appendingPathComponent("blobs/sha256/\(hex.prefix(2))/\(hex)/data").path),
              Blob.digest(data) == digest else { return nil }
        return data
    }

    // MARK: - One repository

    private mutating func audit(_ name: String) {
        let dir = v2.appendingPathComponent("repositories/\(name)")
        let revisions = links(dir.appendingPathComponent("_manifests/revisions"))
        let layerLinks = links(dir.appendingPathComponent("_layers"))
        var parsed: [String: SoakReferences] = [:]
        for digest in revisions {
            if let data = content(digest), let references = SoakReferences(data) { parsed[digest] = references }
        }

        var pending: [String] = []
        for tag in children(dir.appendingPathComponent("_manifests/tags")) {
            tags += 1
            guard let digest = link(dir.appendingPathComponent("_manifests/tags/\(tag)/current/link")) else {
                broken.append("\(name):\(tag) has no current link")
                continue
            }
            guard revisions.contains(digest) else {
                broken.append("\(name):\(tag) points at \(digest), which the repository does not hold")
                continue
            }
            pending.append(digest)
        }
        // Referrers are found by their subject, as the referrers API would list them.
        var referrers: [String: [String]] = [:]
        for (digest, references) in parsed {
            if let subject = references.subject { referrers[subject, default: []].append(digest) }
        }
        var kept = Set<String>()
        var usedBlobs = Set<String>()
        while let digest = pending.popLast() {
            guard kept.insert(digest).inserted else { continue }
            reachable.insert(digest)
            guard let references = parsed[digest] else {
                broken.append("manifest \(digest) in \(name) is missing, corrupt or unreadable")
                continue
            }
            for child in references.children {
                guard revisions.contains(child.digest) else {
                    broken.append("index \(digest) in \(name) lists \(child.digest), which the repository does not hold")
                    continue
                }
                pending.append(child.digest)
            }
            for referrer in referrers[digest] ?? [] {
                self.referrers.append((name, digest, referrer))
                pending.append(referrer)
            }
            for blob in references.blobs {
                reachable.insert(blob.digest)
                usedBlobs.insert(blob.digest)
                if !layerLinks.contains(blob.digest) {
                    broken.append("blob \(blob.digest) of \(digest) is not linked in \(name)")
                } else if content(blob.digest)?.count != blob.size {
                    broken.append("blob \(blob.digest) of \(digest) in \(name) is missing, corrupt or not \(blob.size) bytes")
                }
            }
        }
        for digest in revisions.subtracting(kept).sorted() { leftovers.append("manifest \(digest) in \(name) is reachable from no tag") }
        for digest in layerLinks.subtracting(usedBlobs).sorted() { leftovers.append("layer link \(digest) in \(name) is used by no kept manifest") }
    }
}
