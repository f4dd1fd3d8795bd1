/// The one parser for `/v2/...` paths. Repository names may contain `blobs`, `manifests`,
/// `tags` or `uploads` as components, so the path is matched from its right end, where the
/// endpoint's fixed words are, and everything to their left is the name.
enum Route: Equatable, Sendable {
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

    enum AdminEndpoint: String, Sendable {
        /// Garbage collection: the last run (GET), a run now (POST).
        case gc
        /// Storage usage per repository.
        case storage
        /// Integrity scrub: the current or last run (GET), a background run now (POST).
        case scrub
    }

    /// nil when the path is not an API endpoint.
    init?(path: String) {
        if path.hasPrefix("/admin/api/") {
            guard let endpoint = AdminEndpoint(rawValue: String(path.dropFirst(11))) else { return nil }
            self = .admin(endpoint)
            return
        }
        guard path == "/v2" || path.hasPrefix("/v2/") else { return nil }
        let rest = path.dropFirst(path == "/v2" ? 3 : 4)
        if rest.isEmpty { self = .base; return }
        if rest == "_catalog" { self = .catalog; return }
        let s = rest.split(separator: "/", omittingEmptySubsequences: false)
        let n = s.count
        func name(dropping k: Int) -> String? {
            guard n > k else { return nil }
            let joined = s[0..<(n - k)].joined(separator: "/")
            return joined.isEmpty ? nil : joined
        }
        if n >= 3, s[n - 2] == "tags", s[n - 1] == "list", let name = name(dropping: 2) {
            self = .tags(name: name)
        } else if n >= 4, s[n - 3] == "blobs", s[n - 2] == "uploads", let name = name(dropping: 3) {
            self = s[n - 1].isEmpty ? .uploads(name: name) : .upload(name: name, id: String(s[n - 1]))
        } else if n >= 3, s[n - 2] == "blobs", s[n - 1] == "uploads", let name = name(dropping: 2) {
            self = .uploads(name: name)
        } else if n >= 3, s[n - 2] == "manifests", !s[n - 1].isEmpty, let name = name(dropping: 2) {
            self = .manifest(name: name, reference: String(s[n - 1]))
        } else if n >= 3, s[n - 2] == "blobs", !s[n - 1].isEmpty, let name = name(dropping: 2) {
            self = .blob(name: name, digest: String(s[n - 1]))
        } else if n >= 3, s[n - 2] == "referrers", !s[n - 1].isEmpty, let name = name(dropping: 2) {
            self = .referrers(name: name, digest: String(s[n - 1]))
        } else {
            return nil
        }
    }

    /// The endpoint without names or digests (bounded, for metric labels).
    var pattern: String {
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
    var repository: String? {
        switch self {
        case .base, .catalog, .admin: nil
        case .tags(let name), .manifest(let name, _), .blob(let name, _), .uploads(let name), .upload(let name, _),
             .referrers(let name, _): name
        }
    }

    /// Methods each endpoint answers (for 405 and `Allow`).
    var allowedMethods: [String] {
        switch self {
        case .base, .catalog, .tags, .referrers: ["GET", "HEAD"]
        case .manifest: ["GET", "HEAD", "PUT", "DELETE"]
        case .blob: ["GET", "HEAD", "DELETE"]
        case .uploads: ["POST"]
        case .upload: ["GET", "PATCH", "PUT", "DELETE"]
        case .admin(.gc), .admin(.scrub): ["GET", "POST"]
        case .admin(.storage): ["GET"]
        }
    }
}
