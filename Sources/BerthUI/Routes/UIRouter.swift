import BerthCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Dispatches one page request. Reading pages are GET; changing state is POST, and every POST
/// must carry the session's CSRF token (and the session cookie is SameSite=Strict besides).
struct UIRouter {
    let ui: WebUI
    let viewer: Viewer
    let logger: Logger

    func respond(_ request: Request) async throws -> Response {
        let path = request.uri.path
        let method = request.method
        switch (path, method) {
        case ("/", _), ("/ui", _):
            return PageRenderer.redirect("/ui/", status: .found, viewer: viewer)
        case ("/ui/static/berth.css", .get):
            return PageRenderer.response(status: .ok, contentType: "text/css; charset=utf-8",
                                         body: LayoutTemplate.stylesheet, viewer: nil, cache: true)
        case ("/ui/static/copy.js", .get):
            return PageRenderer.response(status: .ok, contentType: "text/javascript; charset=utf-8",
                                         body: LayoutTemplate.script, viewer: nil, cache: true)
        case ("/ui/login", .get):
            return signInPage(next: FormData.query(request)["next"], error: nil)
        case ("/ui/login", .post):
            return try await signIn(try await checkedForm(request))
        case ("/ui/logout", .post):
            _ = try await checkedForm(request)
            let session = Session.fresh(user: nil)
            return PageRenderer.redirect("/ui/", viewer: ui.viewer(session, newCookie: true))
        default:
            break
        }
        if viewer.mustSignIn {
            let next = path + (request.uri.query.map { "?" + $0 } ?? "")
            return PageRenderer.redirect("/ui/login?next=\(Formatting.query(next))", viewer: viewer)
        }
        let browse = BrowsePages(ui: ui, viewer: viewer, host: request.head.authority ?? "localhost")
        let manage = ManagePages(ui: ui, viewer: viewer)
        switch (path, method) {
        case ("/ui/", .get):
            return try await browse.repositories(FormData.query(request))
        case ("/ui/repository", .get):
            return try await browse.repository(FormData.query(request))
        case ("/ui/manifest", .get):
            return try await browse.manifest(FormData.query(request))
        case ("/ui/delete", .get):
            return try await manage.confirmDelete(FormData.query(request))
        case ("/ui/delete", .post):
            return try await manage.delete(try await checkedForm(request))
        case ("/ui/admin", .get):
            return try await manage.admin(FormData.query(request), message: nil)
        case ("/ui/admin/gc", .post):
            return try await manage.collectGarbage(try await checkedForm(request))
        case ("/ui/", _), ("/ui/repository", _), ("/ui/manifest", _), ("/ui/delete", _), ("/ui/admin", _),
             ("/ui/admin/gc", _), ("/ui/login", _), ("/ui/logout", _):
            throw UIError(.methodNotAllowed, "\(method) is not allowed on \(path)")
        default:
            throw UIError(.notFound, "there is no page at \(path.prefix(200))")
        }
    }

    /// The form of a POST, refused with 403 unless it carries this session's CSRF token.
    func checkedForm(_ request: Request) async throws -> FormData {
        let form = try await FormData.body(request)
        guard ui.signer.checkCSRF(form["csrf"], viewer.session) else {
            throw UIError(.forbidden, "the form is stale or did not come from this site (CSRF token mismatch); reload the page and try again")
        }
        return form
    }

    func signInPage(next: String?, error: String?, status: HTTPResponse.Status = .ok) -> Response {
        let page = SignInPage(nav: ui.navigation(viewer), next: Self.safeNext(next), error: error, unavailable: !viewer.canSignIn)
        return ui.renderer.page("signin", page, status: status, viewer: viewer)
    }

    /// Checks the user's password against the htpasswd file; success starts a new session (a new
    /// nonce, so a CSRF token seen before sign-in is worthless after it).
    func signIn(_ form: FormData) async throws -> Response {
        guard case .users(let file, _) = ui.authentication else {
            return signInPage(next: form["next"], error: nil)
        }
        let user = form["username"] ?? ""
        let password = form["password"] ?? ""
        guard !user.isEmpty, file.verify(user: user, password: password) else {
            logger.notice("web UI sign-in failed", metadata: ["user": "\(user.prefix(100))"])
            return signInPage(next: form["next"], error: "Wrong user name or password.", status: .unauthorized)
        }
        let session = Session.fresh(user: user)
        return PageRenderer.redirect(Self.safeNext(form["next"]), viewer: ui.viewer(session, newCookie: true))
    }

    /// Only paths of the UI itself: never another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/ui/"), !next.hasPrefix("//"), !next.contains("\\") else { return "/ui/" }
        return next
    }
}
