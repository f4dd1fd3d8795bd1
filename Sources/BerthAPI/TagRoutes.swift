import BerthCore
import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v2/<name>/tags/list` with `n`/`last` pagination.
struct TagRoutes {
    let api: RegistryAPI

    struct Page: Encodable {
        var name: String
        var tags: [String]
    }

    func list(_ request: Request, name: String, head: Bool) async throws -> Response {
        let repository = try api.repository(name)
        var limit: Int? = nil
        if let n = request.query("n") {
            guard let value = Int(n), value >= 0 else {
                throw RegistryError(.paginationNumberInvalid, "n must be a non-negative integer, not \(n.prefix(40))")
            }
            limit = value
        }
        var tags = try await api.storage.listTags(in: repository)
        if let last = request.query("last") {
            tags = Array(tags.drop { !last.utf8.lexicographicallyPrecedes($0.utf8) })
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let limit, tags.count > limit {
            tags = Array(tags.prefix(limit))
            if let lastReturned = tags.last {
                let last = lastReturned.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? lastReturned
                headers[.link] = "</v2/\(repository.value)/tags/list?n=\(limit)&last=\(last)>; rel=\"next\""
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = try encoder.encode(Page(name: repository.value, tags: tags))
        headers[.contentLength] = String(data.count)
        return Response(status: .ok, headers: headers, body: head ? .init() : .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
