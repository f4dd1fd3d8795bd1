import BerthServer
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import XCTest

/// The client handed to a test by `ApplicationProtocol.test(.router)`.
typealias Client = any TestClientProtocol

// MARK: - The application under test

enum Registry {
    /// Builds the real Berth application on a fresh temporary root directory, runs `body` against
    /// it through HummingbirdTesting's router framework, and removes the directory afterwards.
    /// `root`, when given, is used instead (and left in place: the caller owns it), so several
    /// runs can share one storage as restarts would; `configure` adjusts the configuration;
    /// `framework: .live` runs a real server on loopback (with Berth's channel handlers).
    static func run<T: Sendable>(
        deleteEnabled: Bool = false,
        root givenRoot: String? = nil,
        configure: (inout BerthConfiguration) -> Void = { _ in },
        framework: TestingSetup = .router,
        _ body: @Sendable (Client) async throws -> T
    ) async throws -> T {
        let root = givenRoot ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("berth-api-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if givenRoot == nil { try? FileManager.default.removeItem(atPath: root) } }

        var config = BerthConfiguration()
        config.rootDirectory = root
        config.httpAddress = ListenAddress(host: "127.0.0.1", port: 0)
        config.deleteEnabled = deleteEnabled
        config.httpSecret = "berth-api-tests-secret"
        configure(&config)
        // Upload purging stays at its defaults: the purger must end promptly at shutdown
        // (RoutingTests.testApplicationShutsDownPromptlyWithDefaultUploadPurging).

        var logger = Logger(label: "berth-api-tests")
        logger.logLevel = .error
        let app = try await BerthServer.buildApplication(config, logger: logger)
        return try await app.test(framework, body)
    }
}

// MARK: - Bytes and digests

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func buffer(_ b: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: b) }

func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

/// Deterministic pseudo-random content of `count` bytes.
func content(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(count)
    var x = UInt32(seed) &* 2_654_435_761 &+ 1
    for _ in 0..<count {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5
        out.append(UInt8(truncatingIfNeeded: x))
    }
    return out
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

func sha256(_ b: [UInt8]) -> String { "sha256:" + hex(SHA256.hash(data: b)) }
func sha512(_ b: [UInt8]) -> String { "sha512:" + hex(SHA512.hash(data: b)) }
func sha256(_ s: String) -> String { sha256(bytes(s)) }

func bodyBytes(_ r: TestResponse) -> [UInt8] { Array(r.body.readableBytesView) }
func bodyString(_ r: TestResponse) -> String { String(buffer: r.body) }

// MARK: - Media types and descriptors

enum MT {
    static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    static let ociIndex = "application/vnd.oci.image.index.v1+json"
    static let ociConfig = "application/vnd.oci.image.config.v1+json"
    static let ociLayer = "application/vnd.oci.image.layer.v1.tar+gzip"
    static let ociEmpty = "application/vnd.oci.empty.v1+json"
    static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
}

/// The OCI empty descriptor's content and digest.
let emptyJSON = bytes("{}")
let emptyDigest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

/// A descriptor written with keys in an unusual order and irregular spacing, as raw JSON text.
func descriptorJSON(_ mediaType: String, _ digest: String, _ size: Int, extra: String = "") -> String {
    "{ \"size\" :\(size),\n\t\"digest\":   \"\(digest)\" ,\"mediaType\":\"\(mediaType)\"\(extra) }"
}

/// An image manifest (OCI or Docker schema 2) as non-canonical JSON: keys out of the usual order,
/// extra whitespace, trailing newline. `mediaTypeField` nil omits the `mediaType` member.
func imageManifestJSON(mediaTypeField: String?, config: String, layers: [String],
                       artifactType: String? = nil, annotations: String? = nil) -> [UInt8] {
    var members: [String] = []
    members.append("  \"layers\" : [\n    \(layers.joined(separator: " ,\n    "))\n  ]")
    members.append("\"config\":\(config)")
    if let artifactType { members.append("\"artifactType\":   \"\(artifactType)\"") }
    if let mediaTypeField { members.append("   \"mediaType\" :\"\(mediaTypeField)\"") }
    if let annotations { members.append("\"annotations\":\(annotations)") }
    members.append("\"schemaVersion\"    :  2")
    return bytes("{\n" + members.joined(separator: ",\n") + "\n}\n")
}

/// An index / manifest list as non-canonical JSON.
func indexJSON(mediaTypeField: String?, manifests: [String]) -> [UInt8] {
    var members: [String] = ["\"manifests\":[ \(manifests.joined(separator: ",  "))]"]
    if let mediaTypeField { members.append("\"mediaType\":  \"\(mediaTypeField)\"") }
    members.append("  \"schemaVersion\":2")
    return bytes("{ " + members.joined(separator: " ,\n ") + "   }")
}

// MARK: - Requests

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ uri: String, headers: HTTPFields = [:],
              body: [UInt8]? = nil) async throws -> TestResponse {
        try await execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
    }

    /// Sends a request and asserts the response status; returns the response.
    @discardableResult
    func expect(_ method: HTTPRequest.Method, _ uri: String, _ status: HTTPResponse.Status,
                file: StaticString = #filePath, line: UInt = #line) async throws -> TestResponse {
        let r = try await send(method, uri)
        XCTAssertEqual(r.status, status, "\(method) \(uri): \(bodyString(r))", file: file, line: line)
        return r
    }

    /// GETs `uri` and asserts a 200 with exactly `expected` as the body.
    func expectBody(_ uri: String, _ expected: [UInt8], file: StaticString = #filePath, line: UInt = #line) async throws {
        let r = try await send(.get, uri)
        XCTAssertEqual(r.status, .ok, "GET \(uri): \(bodyString(r))", file: file, line: line)
        XCTAssertTrue(bodyBytes(r) == expected, "GET \(uri): body differs (\(r.body.readableBytes) bytes, expected \(expected.count))",
                      file: file, line: line)
    }

    /// Pushes a blob monolithically (`POST ?digest=`), asserting 201; returns its sha256 digest.
    @discardableResult
    func pushBlob(_ repo: String, _ data: [UInt8], file: StaticString = #filePath, line: UInt = #line) async throws -> String {
        let digest = sha256(data)
        let r = try await send(.post, "/v2/\(repo)/blobs/uploads/?digest=\(digest)", body: data)
        XCTAssertEqual(r.status, .created, "pushing blob \(digest) into \(repo): \(bodyString(r))", file: file, line: line)
        XCTAssertEqual(r.headers[.location], "/v2/\(repo)/blobs/\(digest)", file: file, line: line)
        XCTAssertEqual(r.headers[.dockerContentDigest], digest, file: file, line: line)
        return digest
    }

    func putManifest(_ repo: String, _ reference: String, _ body: [UInt8], contentType: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let contentType { headers[.contentType] = contentType }
        return try await send(.put, "/v2/\(repo)/manifests/\(reference)", headers: headers, body: body)
    }

    /// Pushes a manifest asserting 201 and the digest headers; returns its sha256 digest.
    @discardableResult
    func pushManifest(_ repo: String, _ reference: String, _ body: [UInt8], contentType: String,
                      file: StaticString = #filePath, line: UInt = #line) async throws -> String {
        let digest = sha256(body)
        let r = try await putManifest(repo, reference, body, contentType: contentType)
        XCTAssertEqual(r.status, .created, "pushing manifest to \(repo):\(reference): \(bodyString(r))", file: file, line: line)
        XCTAssertEqual(r.headers[.dockerContentDigest], digest, file: file, line: line)
        XCTAssertEqual(r.headers[.location], "/v2/\(repo)/manifests/\(digest)", file: file, line: line)
        return digest
    }

    /// Pushes a config and one layer, then an OCI image manifest referencing them; returns
    /// the manifest's bytes and digest.
    @discardableResult
    func pushImage(_ repo: String, tag: String, seed: UInt8 = 1,
                   file: StaticString = #filePath, line: UInt = #line) async throws -> (bytes: [UInt8], digest: String) {
        let config = bytes("{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":\(seed)}")
        let layer = content(100 + Int(seed), seed: seed)
        let configDigest = try await pushBlob(repo, config, file: file, line: line)
        let layerDigest = try await pushBlob(repo, layer, file: file, line: line)
        let manifest = imageManifestJSON(
            mediaTypeField: MT.ociManifest,
            config: descriptorJSON(MT.ociConfig, configDigest, config.count),
            layers: [descriptorJSON(MT.ociLayer, layerDigest, layer.count)])
        let digest = try await pushManifest(repo, tag, manifest, contentType: MT.ociManifest, file: file, line: line)
        return (manifest, digest)
    }

    /// Starts an upload session asserting 202; returns its Location.
    func startUpload(_ repo: String, file: StaticString = #filePath, line: UInt = #line) async throws -> String {
        let r = try await send(.post, "/v2/\(repo)/blobs/uploads/")
        XCTAssertEqual(r.status, .accepted, bodyString(r), file: file, line: line)
        guard let location = r.headers[.location] else {
            XCTFail("no Location on upload start", file: file, line: line)
            return ""
        }
        return location
    }
}

/// `location` with a query parameter appended.
func appending(_ location: String, _ query: String) -> String {
    location + (location.contains("?") ? "&" : "?") + query
}

// MARK: - Header names

extension HTTPField.Name {
    static let dockerContentDigest = Self("Docker-Content-Digest")!
    static let dockerUploadUUID = Self("Docker-Upload-UUID")!
    static let apiVersion = Self("Docker-Distribution-API-Version")!
    static let link = Self("Link")!
    static let allow = Self("Allow")!
    static let ociSubject = Self("OCI-Subject")!
    static let ociTag = Self("OCI-Tag")!
    static let ociFiltersApplied = Self("OCI-Filters-Applied")!
}

// MARK: - Tags list bodies

struct TagList: Decodable, Equatable {
    var name: String
    var tags: [String]
}

/// Asserts a 200 tags list response with exactly `name` and `tags` (in that order), and
/// the `Link` header `link` (nil: none).
func assertTagList(_ r: TestResponse, _ name: String, _ tags: [String], link: String? = nil,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, .ok, bodyString(r), file: file, line: line)
    XCTAssertEqual(r.headers[.contentType], "application/json", file: file, line: line)
    XCTAssertEqual(r.headers[.contentLength], String(r.body.readableBytes), file: file, line: line)
    XCTAssertEqual(r.headers[.link], link, file: file, line: line)
    XCTAssertEqual(try? JSONDecoder().decode(TagList.self, from: Data(bodyBytes(r))), TagList(name: name, tags: tags),
                   bodyString(r), file: file, line: line)
}

// MARK: - Error bodies

struct ErrorBody: Decodable {
    struct Entry: Decodable {
        var code: String
        var message: String
        var detail: [String: String]?
    }
    var errors: [Entry]
}

/// Asserts that `r` is an error response: the status, a JSON body with exactly one error of
/// `code` and a non-empty message, the JSON content type and the API version header.
@discardableResult
func assertError(_ r: TestResponse, _ status: HTTPResponse.Status, _ code: String,
                 file: StaticString = #filePath, line: UInt = #line) -> ErrorBody.Entry? {
    XCTAssertEqual(r.status, status, "body: \(bodyString(r))", file: file, line: line)
    XCTAssertEqual(r.headers[.contentType], "application/json; charset=utf-8", file: file, line: line)
    XCTAssertEqual(r.headers[.apiVersion], "registry/2.0", file: file, line: line)
    guard let decoded = try? JSONDecoder().decode(ErrorBody.self, from: Data(bodyBytes(r))) else {
        XCTFail("error body is not {\"errors\":[...]} JSON: \(bodyString(r))", file: file, line: line)
        return nil
    }
    XCTAssertEqual(decoded.errors.count, 1, file: file, line: line)
    XCTAssertEqual(decoded.errors.first?.code, code, "body: \(bodyString(r))", file: file, line: line)
    XCTAssertFalse(decoded.errors.first?.message.isEmpty ?? true, file: file, line: line)
    if let length = r.headers[.contentLength] {
        XCTAssertEqual(Int(length), r.body.readableBytes, file: file, line: line)
    }
    return decoded.errors.first
}

/// For HEAD: the status only (a HEAD response has no body).
func assertHeadError(_ r: TestResponse, _ status: HTTPResponse.Status,
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, status, file: file, line: line)
    XCTAssertEqual(r.body.readableBytes, 0, file: file, line: line)
}
