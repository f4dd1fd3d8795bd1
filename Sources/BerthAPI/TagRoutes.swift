import BerthAuth
import BerthCore
import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v2/<name>/tags/list` and `GET /v2/_catalog`, both with `n`/`last` pagination.
struct TagRoutes {
    let api: RegistryAPI

    struct TagList: Encodable {
        var name: String
        var tags: [String]
    }

    struct Catalog: Encodable {
        var repositories: [String]
    }

    /// The repositories `identity` may pull, paginated.
    func catalog(_ request: Request, head: Bool, identity: Identity) async throws -> Response {
        let limit = try Self.limit(request)
        var names = try await api.storage.catalog()
        if !api.access.isOpen { names = names.filter { api.access.listsInCatalog(identity, repository: $0) } }
        let page = Page.of(names, after: request.query("last"), limit: limit)
        var headers: HTTPFields = [.contentType: "application/json"]
        if page.hasMore, let limit, let last = page.names.last {
            headers[.link] = Self.nextLink("/v2/_catalog", n: limit, last: last)
        }
        return try Self.json(Catalog(repositories: page.names), headers: headers, head: head)
    }

    static func limit(_ request: Request) throws(RegistryError) -> Int? {
        guard let n = request.query("n") else { return nil }
        guard let value = Int(n), value >= 0 else {
            throw RegistryError(.paginationNumberInvalid, "n must be a non-negative integer, not \(n.prefix(40))")
        }
        return value
    }

    static func nextLink(_ path: String, n: Int, last: String) -> String {
        let escaped = last.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? last
        return "<\(path)?n=\(n)&last=\(escaped)>; rel=\"next\""
    }

    static func json(_ value: some Encodable, headers: HTTPFields, head: Bool) throws -> Response {
        var headers = headers
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        headers[.contentLength] = String(data.count)
        return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func list(_ request: Request, name: String, head: Bool) async throws -> Response {
        let repository = try api.repository(name)
        let limit = try Self.limit(request)
        let tags: [String]
        if let pullThrough = api.pullThrough, pullThrough.mirrors(repository), let upstream = await pullThrough.upstreamTags(in: repository) {
            tags = upstream.sorted()
        } else {
            tags = try await api.storage.listTags(in: repository)
        }
        let page = Page.of(tags, after: request.query("last"), limit: limit)
        var headers: HTTPFields = [.contentType: "application/json"]
        if page.hasMore, let limit, let last = page.names.last {
            headers[.link] = Self.nextLink("/v2/\(repository.value)/tags/list", n: limit, last: last)
        }
        return try Self.json(TagList(name: repository.value, tags: page.names), headers: headers, head: head)
    }
}
