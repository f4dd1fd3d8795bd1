/// BerthUI: the web interface at `/ui/`. Server-rendered pages (Mustache templates compiled into
/// the binary, a stylesheet and one small script served from `/ui/static/`, nothing external)
/// over the registry's indexes: the catalog, repository overviews, tags by digest and referrers.
/// Sign-in uses the API's htpasswd users and access rules; sessions are signed cookies and every
/// state-changing form carries a CSRF token. `/ui/api/...` serves the same data as JSON.
import BerthAPI
import BerthAuth
import BerthCore
import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// What the UI takes from the server's configuration.
public struct UISettings: Sendable {
    /// `storage.delete.enabled`: whether deletes are offered at all.
    public var deleteEnabled: Bool
    /// `storage.maintenance.readonly.enabled`: no deletes, no collections.
    public var readOnly: Bool
    /// `network`: allow and deny lists apply to the UI as to the API (nil: none).
    public var network: NetworkRules?
    /// Whether the server speaks TLS (session cookies are then `Secure`).
    public var secure: Bool

    public init(deleteEnabled: Bool, readOnly: Bool = false, network: NetworkRules? = nil, secure: Bool = false) {
        self.deleteEnabled = deleteEnabled
        self.readOnly = readOnly
        self.network = network.flatMap { $0.restrictsAccess ? $0 : nil }
        self.secure = secure
    }
}

/// The web UI, served by the registry API's responder (`PageResponder`): `handles` says whether a
/// request is the UI's; `respond` answers it and never throws: every failure becomes an HTML error
/// page (or a JSON error under `/ui/api/`).
public struct WebUI: PageResponder {
    public let route = "/ui"
    let storage: RegistryStorage
    let authentication: UIAuthentication
    let settings: UISettings
    let signer: SessionSigner
    let renderer: PageRenderer
    let admin: (any AdminOperations)?
    let events: (any EventSink)?

    /// `secret` is the server's http secret (session cookies are signed with a key derived from it).
    public init(storage: RegistryStorage, authentication: UIAuthentication, settings: UISettings, secret: String,
                admin: (any AdminOperations)? = nil, events: (any EventSink)? = nil) throws {
        self.storage = storage
        self.authentication = authentication
        self.settings = settings
        self.signer = SessionSigner(secret: secret)
        self.renderer = try PageRenderer()
        self.admin = admin
        self.events = events
    }

    /// `/ui` and everything under it, and `GET /` from a browser (which is sent to `/ui/`).
    public func handles(_ request: Request) -> Bool {
        let path = request.uri.path
        if path == "/ui" || path.hasPrefix("/ui/") { return true }
        return path == "/" && request.method == .get && (request.headers[.accept] ?? "").contains("text/html")
    }

    public func respond(to request: Request, peer: String?, logger: Logger) async -> Response {
        if let refusal = networkRefusal(request, peer: peer) {
            return PageRenderer.response(status: .forbidden, contentType: "text/plain; charset=utf-8", body: refusal, viewer: nil)
        }
        let viewer = viewer(for: request)
        let path = request.uri.path
        let isAPI = path.hasPrefix("/ui/api/")
        do {
            if isAPI { return try await UIAPIRoutes(ui: self, viewer: viewer).respond(request) }
            return try await UIRouter(ui: self, viewer: viewer, logger: logger).respond(request)
        } catch {
            let (status, message) = Self.explain(error)
            if status == .internalServerError {
                logger.error("web UI request failed", metadata: ["path": "\(path.prefix(200))", "error": "\(error)"])
            }
            if isAPI { return UIAPIRoutes.error(status, message, viewer: viewer) }
            let page = ErrorPage(nav: navigation(viewer), title: status.reasonPhrase, status: status.code, message: message)
            return renderer.page("error", page, status: status, viewer: viewer)
        }
    }

    /// The status and message an error page shows.
    static func explain(_ error: any Error) -> (HTTPResponse.Status, String) {
        switch error {
        case let error as UIError: (error.status, error.message)
        case let error as RegistryError: (HTTPResponse.Status(code: error.code.httpStatus), error.message)
        // Hummingbird's own (a form body over its limit, say).
        case let error as any HTTPResponseError where error.status.code < 500:
            (error.status, "the request was refused: \(error.status.reasonPhrase.lowercased())")
        default: (.internalServerError, "the server could not answer this request; its log says why")
        }
    }

    private func networkRefusal(_ request: Request, peer: String?) -> String? {
        guard let network = settings.network else { return nil }
        let client = network.clientAddress(peer: peer, xForwardedFor: request.headers[values: .xForwardedFor],
                                           forwarded: request.headers[values: .forwarded])
        return network.refusal(for: client, actions: [.pull])?.message
    }

    /// The session from the cookie, or a new anonymous one (set on the response). A signed-in
    /// user who has since been removed from the htpasswd file is anonymous again.
    func viewer(for request: Request) -> Viewer {
        var session = signer.session(cookieHeader: request.headers[values: .cookie].joined(separator: "; "))
        if let user = session?.user, case .users(let file, _) = authentication, !file.users.contains(user) { session = nil }
        guard let session else { return viewer(Session.fresh(user: nil), newCookie: true) }
        return viewer(session, newCookie: false)
    }

    func viewer(_ session: Session, newCookie: Bool) -> Viewer {
        Viewer(session: session, authentication: authentication, csrfToken: signer.csrfToken(session),
               setCookie: newCookie ? signer.setCookie(session, secure: settings.secure) : nil)
    }

    func navigation(_ viewer: Viewer) -> Navigation {
        Navigation(user: viewer.user, canSignIn: viewer.canSignIn,
                   mayAdminister: viewer.mayAdminister && admin != nil, csrfToken: viewer.csrfToken)
    }
}

/// A failure with the status and message the page shows.
struct UIError: Error {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let forwarded = Self("Forwarded")!
}
