import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Plain HTTP to a `berth serve` process for the crash and disk-full tests: the shared `HTTP`
/// helper with transport failures as `Unreachable` (the server was killed), and `curl` for bodies
/// that must arrive slowly.
struct RegistryHTTPClient: Sendable {
    var base: URL

    /// A failure to reach the registry at all (it was killed): the operation is in flight.
    struct Unreachable: Error {}

    func url(_ pathAndQuery: String) -> URL { URL(string: base.absoluteString + pathAndQuery)! }

    /// `HTTP.request` against `base`, with any transport failure as `Unreachable`.
    func request(_ method: String, _ pathAndQuery: String, headers: [String: String] = [:], body: Data? = nil) async throws -> HTTP.Response {
        do {
            return try await HTTP.request(method, url(pathAndQuery), headers: headers, body: body, timeout: 60)
        } catch {
            throw Unreachable()
        }
    }

    /// `PATCH` with curl, sending `body` at about `bytesPerSecond`: slow enough that a kill
    /// lands in the middle of the chunk.
    func slowPatch(_ location: String, offset: Int, body: Data, bytesPerSecond: Int, scratch: URL) async throws -> HTTP.Response {
        let file = scratch.appendingPathComponent("chunk-\(UUID().uuidString)")
        let headersFile = scratch.appendingPathComponent("headers-\(UUID().uuidString)")
        try body.write(to: file)
        defer {
            try? FileManager.default.removeItem(at: file)
            try? FileManager.default.removeItem(at: headersFile)
        }
        let result = try await ProcessRunner.run("/usr/bin/curl", [
            "-sS", "-X", "PATCH", "--limit-rate", String(bytesPerSecond), "--data-binary", "@\(file.path)",
            "-H", "Content-Type: application/octet-stream", "-H", "Content-Range: \(offset)-\(offset + body.count - 1)",
            "-H", "Expect:", "-D", headersFile.path, "-o", "/dev/null", "-w", "%{http_code}", url(location).absoluteString,
        ], timeout: .seconds(60), allowFailure: true)
        guard result.status == 0, let status = Int(result.stdout) else { throw Unreachable() }
        var headers: [String: String] = [:]
        let text = (try? String(contentsOf: headersFile, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTP.Response(status: status, headers: headers, body: Data())
    }

    /// `GET` of a blob: its bytes, or nil on 404.
    func blob(_ repository: String, _ digest: String) async throws -> Data? {
        let response = try await request("GET", "/v2/\(repository)/blobs/\(digest)")
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw TestFailure("GET blob \(digest) in \(repository): \(response.status) \(response.text)") }
        return response.body
    }

    /// `GET` of a manifest by tag or digest: its bytes, or nil on 404.
    func manifest(_ repository: String, _ reference: String) async throws -> Data? {
        let response = try await request("GET", "/v2/\(repository)/manifests/\(reference)",
                                         headers: ["Accept": MediaTypes.manifest])
        if response.status == 404 { return nil }
        guard response.status == 200 else {
            throw TestFailure("GET manifest \(repository):\(reference): \(response.status) \(response.text)")
        }
        return response.body
    }
}
