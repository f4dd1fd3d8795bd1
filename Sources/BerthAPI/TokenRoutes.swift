import BerthAuth
import BerthCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /token` (Docker token API) and `POST /token` (OAuth2 password and refresh-token grants)
/// of Berth's own token service (`auth.tokenservice`).
struct TokenRoutes {
    let service: TokenService
    /// Form bodies are small; anything bigger is refused before it is read whole.
    static let maxFormBytes = 64 * 1024

    func respond(_ request: Request, context: RegistryContext) async throws -> Response {
        let authorization = request.headers[.authorization]
        let answer: TokenResponse
        switch request.method {
        case .get, .head:
            let query = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
            answer = await service.handleGet(query: query, authorization: authorization)
        case .post:
            if let length = request.contentLength, length > Self.maxFormBytes {
                throw RegistryError(.sizeInvalid, "token request body exceeds \(Self.maxFormBytes) bytes")
            }
            var request = request
            let body = try await request.collectBody(upTo: Self.maxFormBytes)
            answer = await service.handlePost(form: Self.parseForm(String(buffer: body)), authorization: authorization)
        default:
            throw RegistryError(.unsupported, "the token endpoint answers GET and POST", headers: ["Allow": "GET, POST"])
        }
        var headers = HTTPFields()
        for (name, value) in answer.headers {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        headers[.contentLength] = String(answer.body.count)
        return Response(status: .init(code: answer.status), headers: headers,
                        body: request.method == .head ? .init() : .init(byteBuffer: ByteBuffer(bytes: answer.body)))
    }

    /// `application/x-www-form-urlencoded` pairs, `+` as space, percent-decoded.
    static func parseForm(_ text: String) -> [(String, String)] {
        text.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s)
            }
            guard let key = parts.first, !key.isEmpty else { return nil }
            return (decode(key), parts.count > 1 ? decode(parts[1]) : "")
        }
    }
}
