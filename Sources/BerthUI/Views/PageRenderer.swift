import HTTPTypes
import Hummingbird
import Mustache
import NIOCore

/// Renders the Mustache templates (parsed once at start-up) into responses carrying the UI's
/// security headers: a Content-Security-Policy that allows nothing from other origins and no
/// inline code, no framing, no caching and no referrer.
struct PageRenderer: Sendable {
    private let library: MustacheLibrary

    init() throws {
        var library = MustacheLibrary()
        let templates: [(String, String)] = [
            ("layout", LayoutTemplate.layout), ("pager", LayoutTemplate.pager),
            ("repositories", BrowseTemplates.repositories), ("repository", BrowseTemplates.repository),
            ("manifest", BrowseTemplates.manifest), ("signin", ManageTemplates.signIn),
            ("confirm-delete", ManageTemplates.confirmDelete), ("admin", ManageTemplates.admin),
            ("error", ManageTemplates.error),
        ]
        for (name, text) in templates { try library.register(text, named: name) }
        self.library = library
    }

    static let contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    /// The rendered page; a template the library lacks is a programming error, answered 500.
    func render(_ template: String, _ model: Any) -> String {
        library.render(model, withTemplate: template) ?? "template \(template) is missing"
    }

    func page(_ template: String, _ model: Any, status: HTTPResponse.Status = .ok, viewer: Viewer) -> Response {
        Self.response(status: status, contentType: "text/html; charset=utf-8", body: render(template, model), viewer: viewer)
    }

    static func response(status: HTTPResponse.Status, contentType: String, body: String, viewer: Viewer?,
                         cache: Bool = false) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.contentLength] = String(body.utf8.count)
        headers[.cacheControl] = cache ? "public, max-age=3600" : "no-store"
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "no-referrer"
        if let cookie = viewer?.setCookie { headers[.setCookie] = cookie }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func redirect(_ location: String, status: HTTPResponse.Status = .seeOther, viewer: Viewer?) -> Response {
        var response = response(status: status, contentType: "text/plain; charset=utf-8", body: "", viewer: viewer)
        response.headers[.location] = location
        return response
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = Self("X-Content-Type-Options")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}
