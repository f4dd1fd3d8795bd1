/// BerthProxy: the pull-through cache (`proxy`): an upstream registry client that speaks its
/// authentication (anonymous, basic, bearer tokens with scopes) and the cache in front of storage.
import AsyncHTTPClient
import BerthCore
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The upstream cannot be reached or failed (connection errors, 5xx, timeouts).
struct UpstreamUnavailable: Error, CustomStringConvertible {
    let description: String
}

/// One upstream registry: `remoteurl` with optional credentials.
public final class UpstreamRegistry: Sendable {
    public let remoteURL: String
    let username: String?
    let password: String?
    let http: HTTPClient
    let logger: Logger
    private let tokens = Mutex<[String: (token: String, expires: ContinuousClock.Instant)]>([:])

    public static let manifestTypes = [
        "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json",
    ].joined(separator: ", ")

    public init(remoteURL: String, username: String?, password: String?, http: HTTPClient, logger: Logger) {
        self.remoteURL = remoteURL.hasSuffix("/") ? String(remoteURL.dropLast()) : remoteURL
        self.username = username
        self.password = password
        self.http = http
        self.logger = logger
    }

    public struct Answer: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: HTTPClientResponse.Body
    }

    /// Sends a request for `repository`, answering a 401 the way the upstream asks (basic
    /// credentials, or a bearer token for `repository:<name>:<actions>` from its token service).
    /// `path` is absolute on the registry (`/v2/...`) or a full URL (an upload's `Location`).
    /// `body` makes a request that is sent once: it is only retried after a 401 when `replay`
    /// gives it again.
    public func send(_ method: HTTPMethod, _ path: String, repository: String, actions: String = "pull",
                     accept: String? = nil, headers: [(String, String)] = [],
                     body: (@Sendable () -> HTTPClientRequest.Body)? = nil) async throws -> Answer {
        let scope = "repository:\(repository):\(actions)"
        var authorization = cachedToken(scope).map { "Bearer \($0)" }
        for attempt in 0..<2 {
            let answer = try await plain(method, path, accept: accept, headers: headers, body: body?(), authorization: authorization)
            guard answer.status == 401, attempt == 0,
                  let challenge = answer.headers.first(name: "WWW-Authenticate") else { return answer }
            _ = try? await answer.body.collect(upTo: 64 << 10)
            authorization = try await authorize(challenge, scope: scope)
        }
        throw UpstreamUnavailable(description: "\(remoteURL) kept refusing \(path) after authenticating; check the credentials")
    }

    /// A `Location` (absolute, or relative to the registry) as a full URL.
    public func absolute(_ location: String) -> String {
        location.hasPrefix("http://") || location.hasPrefix("https://") ? location : remoteURL + location
    }

    private func plain(_ method: HTTPMethod, _ path: String, accept: String?, headers: [(String, String)],
                       body: HTTPClientRequest.Body?, authorization: String?) async throws -> Answer {
        var request = HTTPClientRequest(url: absolute(path))
        request.method = method
        if let accept { request.headers.add(name: "Accept", value: accept) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = body }
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        do {
            let response = try await http.execute(request, timeout: .seconds(60))
            if response.status.code >= 500 {
                throw UpstreamUnavailable(description: "\(remoteURL) answered \(response.status.code) to \(method) \(path)")
            }
            return Answer(status: Int(response.status.code), headers: response.headers, body: response.body)
        } catch let error as UpstreamUnavailable {
            throw error
        } catch {
            throw UpstreamUnavailable(description: "\(remoteURL) cannot be reached for \(method) \(path): \(error)")
        }
    }

    private func basic() -> String? {
        guard let username, let password else { return nil }
        return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    private func cachedToken(_ scope: String) -> String? {
        tokens.withLock { cache in
            guard let entry = cache[scope], entry.expires > .now else { return nil }
            return entry.token
        }
    }

    /// The `Authorization` value a 401's challenge asks for.
    private func authorize(_ challenge: String, scope: String) async throws -> String? {
        let (scheme, parameters) = Self.parseChallenge(challenge)
        if scheme == "basic" { return basic() }
        guard scheme == "bearer", let realm = parameters["realm"], var components = URLComponents(string: realm) else {
            return basic()
        }
        var query = components.queryItems ?? []
        if let service = parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: parameters["scope"] ?? scope))
        components.queryItems = query
        var request = HTTPClientRequest(url: components.url?.absoluteString ?? realm)
        if let basic = basic() { request.headers.add(name: "Authorization", value: basic) }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(30))
        } catch {
            throw UpstreamUnavailable(description: "the token service \(realm) of \(remoteURL) cannot be reached: \(error)")
        }
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .ok,
              let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
              let token = (json["token"] as? String) ?? (json["access_token"] as? String) else {
            throw UpstreamUnavailable(description: "the token service \(realm) of \(remoteURL) refused a token for \(scope): HTTP \(response.status.code); check proxy.username and proxy.password")
        }
        let lifetime = max(30, (json["expires_in"] as? Int) ?? 60) - 10
        tokens.withLock { $0[scope] = (token, .now + .seconds(lifetime)) }
        return "Bearer \(token)"
    }

    /// `Bearer realm="…",service="…",scope="…"` as a lower-case scheme and its parameters.
    static func parseChallenge(_ header: String) -> (String, [String: String]) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else { return (trimmed.lowercased(), [:]) }
        let scheme = trimmed[..<space].lowercased()
        var parameters: [String: String] = [:]
        var rest = Substring(trimmed[trimmed.index(after: space)...])
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let equals = rest.firstIndex(of: "=") else { break }
            let name = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                while let c = rest.first, c != "\"" {
                    if c == "\\", let next = rest.dropFirst().first { value.append(next); rest = rest.dropFirst(2); continue }
                    value.append(c)
                    rest = rest.dropFirst()
                }
                rest = rest.dropFirst()
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = String(rest[..<end]).trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            parameters[name] = value
        }
        return (scheme, parameters)
    }
}
