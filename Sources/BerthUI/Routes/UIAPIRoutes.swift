import BerthCore
import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/ui/api/...`: the data behind the pages as JSON, read-only, with the same access rules.
/// Browsers use the session cookie; scripts may send Basic credentials of an htpasswd user.
///
/// - `GET /ui/api/repositories[?q=TEXT][&page=N][&perPage=N]`: `{total, page, pages, repositories: [{name, tagCount, totalBytes, lastPush}]}`
/// - `GET /ui/api/repository?name=NAME`: the overview: `{name, totalBytes, lastPush, tags: [{name, digest, mediaType, size, pushedAt, platforms}]}`
/// - `GET /ui/api/manifest?name=NAME&reference=TAG|DIGEST`: `{digest, mediaType, size, artifactType, config, layers, manifests, subject, tags, referrers, configuration}`
/// - `GET /ui/api/session`: `{user, mayAdminister, csrfToken}`
struct UIAPIRoutes {
    let ui: WebUI
    let viewer: Viewer

    func respond(_ request: Request) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            throw UIError(.methodNotAllowed, "the UI's JSON API is read-only (GET); changes go through the registry API")
        }
        var viewer = self.viewer
        if let authorization = request.headers[.authorization] {
            viewer = try basicViewer(authorization)
        }
        let query = FormData.query(request)
        let path = request.uri.path
        if path == "/ui/api/session" {
            return Self.json(SessionInfo(user: viewer.user, mayAdminister: viewer.mayAdminister, csrfToken: viewer.csrfToken), viewer: viewer)
        }
        if viewer.mustSignIn {
            throw UIError(.unauthorized, "sign in first (POST /ui/login) or send Basic credentials")
        }
        switch path {
        case "/ui/api/repositories":
            let names = try await ui.visibleRepositories(viewer, matching: query["q"] ?? "")
            let perPage = min(max(Int(query["perPage"] ?? "") ?? 100, 1), 1000)
            let pager = Pager(count: names.count, page: Int(query["page"] ?? "") ?? 1, perPage: perPage)
            var rows: [RepositorySummary] = []
            for name in names[pager.range] {
                guard let overview = try? await ui.overview(name) else { continue }
                rows.append(RepositorySummary(name: name, tagCount: overview.tagCount, totalBytes: overview.totalBytes,
                                              lastPush: overview.lastPush))
            }
            return Self.json(RepositoryList(total: names.count, page: pager.page, pages: pager.pages, repositories: rows), viewer: viewer)
        case "/ui/api/repository":
            let name = try ui.pullableRepository(query["name"], viewer)
            return Self.json(try await ui.overview(name.value), viewer: viewer)
        case "/ui/api/manifest":
            let name = try ui.pullableRepository(query["name"], viewer)
            let details = try await ui.storage.manifestDetails(try Reference(parsing: query["reference"] ?? ""), in: name)
            return Self.json(ManifestInfo(details), viewer: viewer)
        default:
            throw UIError(.notFound, "no such endpoint: \(path.prefix(200)); see /ui/api/repositories, /ui/api/repository, /ui/api/manifest, /ui/api/session")
        }
    }

    /// A viewer for Basic credentials (scripts). Wrong credentials are refused, not ignored.
    private func basicViewer(_ authorization: String) throws -> Viewer {
        guard case .users(let file, _) = ui.authentication else { return viewer }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", let data = Data(base64Encoded: String(parts[1])),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":"),
              file.verify(user: String(text[..<colon]), password: String(text[text.index(after: colon)...])) else {
            throw UIError(.unauthorized, "wrong user name or password")
        }
        return Viewer(session: Session(user: String(text[..<colon]), nonce: viewer.session.nonce, expires: viewer.session.expires),
                      authentication: ui.authentication, csrfToken: viewer.csrfToken, setCookie: nil)
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, viewer: Viewer?) -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return PageRenderer.response(status: status, contentType: "application/json", body: body, viewer: viewer)
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, viewer: Viewer) -> Response {
        json(["error": message], status: status, viewer: viewer)
    }
}

struct SessionInfo: Encodable {
    var user: String?
    var mayAdminister: Bool
    var csrfToken: String
}

struct RepositorySummary: Encodable {
    var name: String
    var tagCount: Int
    var totalBytes: Int64
    var lastPush: Date?
}

struct RepositoryList: Encodable {
    var total: Int
    var page: Int
    var pages: Int
    var repositories: [RepositorySummary]
}

struct ManifestInfo: Encodable {
    struct Child: Encodable {
        var descriptor: Descriptor
        var platform: Platform?
    }

    var digest: String
    var mediaType: String
    var size: Int64
    var artifactType: String?
    var config: Descriptor?
    var layers: [Descriptor]
    var manifests: [Child]
    var subject: Descriptor?
    var annotations: [String: String]?
    var tags: [String]
    var referrers: [Descriptor]
    var configuration: ImageConfiguration?

    init(_ d: ManifestDetails) {
        digest = d.digest.description
        mediaType = d.mediaType
        size = d.size
        artifactType = d.manifest.artifactType
        config = d.manifest.config
        layers = d.manifest.layers
        manifests = d.children.map { Child(descriptor: $0.descriptor, platform: $0.platform) }
        subject = d.manifest.subject
        annotations = d.manifest.annotations
        tags = d.tags
        referrers = d.referrers
        configuration = d.configuration
    }
}
