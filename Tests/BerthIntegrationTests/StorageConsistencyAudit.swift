import Crypto
import Foundation

/// Checks a storage root for damage a crash could leave, reading the reference registry's layout
/// directly, without any of Berth's code:
/// - every blob's `data` file hashes to the digest its path names;
/// - every layer and manifest-revision link names its own digest and a blob that exists;
/// - every tag's current link names a manifest the repository holds, whose content parses, and
///   whose config and layers (or index children) exist and are linked in the repository;
/// - no file outside the layout: temporary files belong in `_uploads/` (purged by age) or in
///   Berth's own `berth/` area (its `tmp/` is cleared at start-up), nowhere else.
///
/// Unlike `SoakStorageAudit` it says nothing about leftovers a collection should remove: after a
/// crash, unreferenced content is expected; damaged or half-written content never is.
struct StorageConsistencyAudit {
    /// What is wrong, one line each; empty when the storage is sound.
    private(set) var problems: [String] = []
    private(set) var blobsChecked = 0
    private(set) var tagsChecked = 0

    let root: URL
    private var v2: URL { root.appendingPathComponent("docker/registry/v2") }
    private let files = FileManager.default

    init(root: URL) { self.root = root }

    /// Audits the root once (call it while no server writes to it).
    static func run(root: URL) -> StorageConsistencyAudit {
        var audit = StorageConsistencyAudit(root: root)
        audit.checkBlobs()
        audit.checkRepositories()
        audit.checkStrayFiles()
        return audit
    }

    // MARK: - Blobs

    private mutating func checkBlobs() {
        let dir = v2.appendingPathComponent("blobs/sha256")
        for prefix in children(dir) {
            for hex in children(dir.appendingPathComponent(prefix)) {
                let data = dir.appendingPathComponent("\(prefix)/\(hex)/data")
                // A directory without `data` is what a crash between mkdir and rename leaves: harmless.
                guard files.fileExists(atPath: data.path) else { continue }
                blobsChecked += 1
                if !hex.hasPrefix(prefix) { problems.append("blob \(hex) is filed under \(prefix)/") }
                guard let digest = Self.sha256(of: data) else {
                    problems.append("blob \(hex): its data file cannot be read")
                    continue
                }
                if digest != "sha256:\(hex)" {
                    problems.append("blob sha256:\(hex) holds content with digest \(digest) (truncated or corrupt, \(size(data)) bytes)")
                }
            }
        }
    }

    private func blobExists(_ digest: String) -> Bool {
        let hex = digest.dropFirst("sha256:".count)
        return files.fileExists(atPath: v2.appendingPathComponent("blobs/sha256/\(hex.prefix(2))/\(hex)/data").path)
    }

    private func blobContent(_ digest: String) -> Data? {
        let hex = digest.dropFirst("sha256:".count)
        return files.contents(atPath: v2.appendingPathComponent("blobs/sha256/\(hex.prefix(2))/\(hex)/data").path)
    }

    // MARK: - Repositories

    private mutating func checkRepositories() {
        for name in Self.repositoryNames(under: v2) {
            let dir = v2.appendingPathComponent("repositories/\(name)")
            let layers = checkLinks(dir.appendingPathComponent("_layers/sha256"), what: "layer link in \(name)")
            let revisions = checkLinks(dir.appendingPathComponent("_manifests/revisions/sha256"), what: "manifest revision in \(name)")
            for tag in children(dir.appendingPathComponent("_manifests/tags")) {
                tagsChecked += 1
                let current = dir.appendingPathComponent("_manifests/tags/\(tag)/current/link")
                guard let digest = linkTarget(current) else {
                    problems.append("\(name):\(tag) has no readable current link (a half-written or half-deleted tag)")
                    continue
                }
                guard revisions.contains(digest) else {
                    problems.append("\(name):\(tag) points at \(digest), which the repository does not hold")
                    continue
                }
                checkManifest(digest, of: "\(name):\(tag)", layers: layers, revisions: revisions)
            }
        }
    }

    /// Digests of the `<dir>/<hex>/link` files, each checked to name its own digest and an existing blob.
    private mutating func checkLinks(_ dir: URL, what: String) -> Set<String> {
        var found = Set<String>()
        for hex in children(dir) {
            let link = dir.appendingPathComponent("\(hex)/link")
            guard files.fileExists(atPath: link.path) else { continue }  // an emptied directory: harmless
            let expected = "sha256:\(hex)"
            guard let target = linkTarget(link) else {
                problems.append("\(what) \(expected): the link file is empty or unreadable")
                continue
            }
            if target != expected { problems.append("\(what) \(expected) names \(target)") }
            if !blobExists(expected) { problems.append("\(what) \(expected) has no blob") }
            found.insert(expected)
        }
        return found
    }

    private mutating func checkManifest(_ digest: String, of reference: String, layers: Set<String>, revisions: Set<String>) {
        guard let data = blobContent(digest),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            problems.append("manifest \(digest) of \(reference) is missing or does not parse")
            return
        }
        for child in (json["manifests"] as? [[String: Any]]) ?? [] {
            guard let childDigest = child["digest"] as? String else { continue }
            if !revisions.contains(childDigest) {
                problems.append("index \(digest) of \(reference) lists \(childDigest), which the repository does not hold")
            }
        }
        let config = (json["config"] as? [String: Any]).map { [$0] } ?? []
        for descriptor in config + ((json["layers"] as? [[String: Any]]) ?? []) {
            guard let blob = descriptor["digest"] as? String, let size = descriptor["size"] as? Int else {
                problems.append("manifest \(digest) of \(reference) has a descriptor without digest or size")
                continue
            }
            if !layers.contains(blob) && !revisions.contains(blob) {
                problems.append("blob \(blob) of \(reference) is not linked in its repository")
            }
            let hex = blob.dropFirst("sha256:".count)
            let file = v2.appendingPathComponent("blobs/sha256/\(hex.prefix(2))/\(hex)/data")
            if size != self.size(file) {
                problems.append("blob \(blob) of \(reference) has \(self.size(file)) bytes, not \(size)")
            }
        }
    }

    // MARK: - Stray files

    /// Regular files below `docker/registry/v2` must be where the layout puts them.
    private mutating func checkStrayFiles() {
        let hex = "[0-9a-f]{64}"
        let allowed = [
            "^blobs/sha256/[0-9a-f]{2}/\(hex)/data$",
            "^repositories/.+/_layers/sha256/\(hex)/link$",
            "^repositories/.+/_manifests/revisions/sha256/\(hex)/link$",
            "^repositories/.+/_manifests/tags/[^/]+/current/link$",
            "^repositories/.+/_manifests/tags/[^/]+/index/sha256/\(hex)/link$",
            // Upload sessions: purged by age (storage.maintenance.uploadpurging).
            "^repositories/.+/_uploads/[0-9a-f-]{36}/.+$",
        ].compactMap { try? NSRegularExpression(pattern: $0) }
        guard let walker = files.enumerator(atPath: v2.path) else { return }
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            guard files.fileExists(atPath: v2.appendingPathComponent(relative).path, isDirectory: &isDirectory),
                  !isDirectory.boolValue else { continue }
            let range = NSRange(relative.startIndex..., in: relative)
            if !allowed.contains(where: { $0.firstMatch(in: relative, range: range) != nil }) {
                problems.append("stray file docker/registry/v2/\(relative) (\(size(v2.appendingPathComponent(relative))) bytes)")
            }
        }
    }

    // MARK: - Reading

    private func children(_ url: URL) -> [String] { ((try? files.contentsOfDirectory(atPath: url.path)) ?? []).sorted() }

    private func linkTarget(_ url: URL) -> String? {
        guard let data = files.contents(atPath: url.path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    private func size(_ url: URL) -> Int {
        ((try? files.attributesOfItem(atPath: url.path))?[.size] as? NSNumber)?.intValue ?? -1
    }

    /// Repository names (paths below `repositories/`) with a `_manifests` or `_layers` directory.
    static func repositoryNames(under v2: URL) -> [String] {
        var found: [String] = []
        var pending = [""]
        while let name = pending.popLast() {
            let url = v2.appendingPathComponent("repositories/\(name)")
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
            if entries.contains("_manifests") || entries.contains("_layers") { found.append(name) }
            for entry in entries where !entry.hasPrefix("_") { pending.append(name.isEmpty ? entry : "\(name)/\(entry)") }
        }
        return found.sorted()
    }

    /// The file's sha256 digest, read in pieces (blobs may be large).
    static func sha256(of url: URL) -> String? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
