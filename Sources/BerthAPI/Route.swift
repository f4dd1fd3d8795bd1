/// The one parser for `/v2/...` paths. Repository names may contain `blobs`, `manifests`,
/// `tags` or `uploads` as components, so the path is matched from its right end, where the
/// endpoint's fixed words are, and everything to their left is the name.
package enum Route: Equatable, Sendable {
    case base
    case catalog
    case tags(name: String)
    case manifest(name: String, reference: String)
    case blob(name: String, digest: String)
    case uploads(name: String)
    case upload(name: String, id: String)
    case referrers(name: String, digest: String)
    /// `/admin/api/<endpoint>`: Berth's own admin API (AdminRoutes.swift).
    case admin(AdminEndpoint)

    package enum AdminEndpoint: String, Sendable {
        /// Garbage collection: the last run (GET), a run now (POST).
        case gc
        /// Storage usage per repository.
        case storage
        /// Integrity scrub: the current or last run (GET), a background run now (POST).
        case scrub
        /// Replication rules: each rule's status (GET), a full run now (POST).
        case replication
    }

    /// nil when the path is not an API endpoint. The path is read as bytes, not Characters: a
    /// combining mark after a '/' must not hide the separator (Swift would join the two).
    package init?(path: String) {
        let bytes = Array(path.utf8)
        func text(_ s: ArraySlice<UInt8>) -> String { String(decoding: s, as: UTF8.self) }
        if bytes.starts(with: "/admin/api/".utf8) {
            guard let endpoint = AdminEndpoint(rawValue: text(bytes.dropFirst(11))) else { return nil }
            self = .admin(endpoint)
            return
        }
        guard bytes.elementsEqual("/v2".utf8) || bytes.starts(with: "/v2/".utf8) else { return nil }
        let rest = bytes.dropFirst(4)
        if rest.isEmpty { self = .base; return }
        if rest.elementsEqual("_catalog".utf8) { self = .catalog; return }
        let s = rest.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        let n = s.count
        func isWord(_ i: Int, _ word: String) -> Bool { s[i].elementsEqual(word.utf8) }
        func last() -> String { text(s[n - 1]) }
        // Everything left of the last k components: one contiguous part of the path.
        func name(dropping k: Int) -> String? {
            guard n > k, s[n - k - 1].endIndex > rest.startIndex else { return nil }
            return text(rest[rest.startIndex..<s[n - k - 1].endIndex])
        }
        if n >= 3, isWord(n - 2, "tags"), isWord(n - 1, "list"), let name = name(dropping: 2) {
            self = .tags(name: name)
        } else if n >= 4, isWord(n - 3, "blobs"), isWord(n - 2, "uploads"), let name = name(dropping: 3) {
            self = s[n - 1].isEmpty ? .uploads(name: name) : .upload(name: name, id: last())
        } else if n >= 3, isWord(n - 2, "blobs"), isWord(n - 1, "uploads"), let name = name(dropping: 2) {
            self = .uploads(name: name)
        } else if n >= 3, isWord(n - 2, "manifests"), !s[n - 1].isEmpty, let name = name(dropping: 2) {
            self = .manifest(name: name, reference: last())
        } else if n >= 3, isWord(n - 2, "blobs"), !s[n - 1].isEmpty, let name = name(dropping: 2) {
            self = .blob(name: name, digest: last())
        } else if n >= 3, isWord(n - 2, "referrers"), !s[n - 1].isEmpty, let name = name(dropping: 2) {
            self = .referrers(name: name, digest: last())
        } else {
            return nil
        }
    }

    /// The endpoint without names or digests (bounded, for metric labels).
    package var pattern: String {
        switch self {
        case .base: "/v2/"
        case .catalog: "/v2/_catalog"
        case .tags: "/v2/<name>/tags/list"
        case .manifest: "/v2/<name>/manifests/<reference>"
        case .blob: "/v2/<name>/blobs/<digest>"
        case .uploads: "/v2/<name>/blobs/uploads/"
        case .upload: "/v2/<name>/blobs/uploads/<id>"
        case .referrers: "/v2/<name>/referrers/<digest>"
        case .admin(let endpoint): "/admin/api/\(endpoint.rawValue)"
        }
    }

    /// The repository named in the path, if any.
    package var repository: String? {
        switch self {
        case .base, .catalog, .admin: nil
        case .tags(let name), .manifest(let name, _), .blob(let name, _), .uploads(let name), .upload(let name, _),
             .referrers(let name, _): name
        }
    }

    /// Methods each endpoint answers (for 405 and `Allow`).
    package var allowedMethods: [String] {
        switch self {
        case .base, .catalog, .tags, .referrers: ["GET", "HEAD"]
        case .manifest: ["GET", "HEAD", "PUT", "DELETE"]
        case .blob: ["GET", "HEAD", "DELETE"]
        case .uploads: ["POST"]
        case .upload: ["GET", "PATCH", "PUT", "DELETE"]
        case .admin(.gc), .admin(.scrub), .admin(.replication): ["GET", "POST"]
        case .admin(.storage): ["GET"]
        }
    }
}
