import BerthAuth
import BerthServer
import Foundation
import XCTest

/// Base of the integration tests: checks the external tools exist (a missing one fails the
/// test), hands out temporary directories removed after the test, and stops servers the test
/// left running.
class IntegrationTestCase: XCTestCase {
    var cleanups: [@Sendable () async -> Void] = []

    override func setUp() async throws {
        try await super.setUp()
        try Tools.require(Tools.skopeo)
        try Tools.require(Tools.referenceRegistry)
    }

    override func tearDown() async throws {
        for cleanup in cleanups.reversed() { await cleanup() }
        cleanups = []
        try await super.tearDown()
    }

    /// A fresh empty directory, deleted when the test ends.
    func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("berth-it-\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        cleanups.append { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Starts Berth on `root`; it is stopped at the end of the test if the test does not stop it.
    func startBerth(root: URL, httpSecret: String? = nil,
                    configure: (inout BerthConfiguration) -> Void = { _ in }) async throws -> TestRegistry {
        let registry = try await TestRegistry.start(root: root.path, httpSecret: httpSecret, configure: configure)
        cleanups.append { await registry.stop() }
        return registry
    }

    /// Writes each image as an OCI layout (tag `v`) in a fresh directory and pushes it with skopeo
    /// to `berth` as `destination` (`repository:tag`). Returns each layout's directory, by destination.
    @discardableResult
    func push(_ images: [(destination: String, image: TestImage)], to berth: TestRegistry) async throws -> [String: URL] {
        try await push(images, toHost: berth.host)
    }

    /// The same to any registry at `host` (the reference registry, an upstream).
    @discardableResult
    func push(_ images: [(destination: String, image: TestImage)], toHost host: String) async throws -> [String: URL] {
        let source = try temporaryDirectory("layouts")
        var layouts: [String: URL] = [:]
        for (i, (destination, image)) in images.enumerated() {
            let layout = source.appendingPathComponent("\(i)")
            try OCILayout.write(layout, tag: "v", image: image)
            try await Skopeo.copy("oci:\(layout.path):v", "docker://\(host)/\(destination)")
            layouts[destination] = layout
        }
        return layouts
    }

    /// A Berth over plain HTTP with its own token service (`auth.tokenservice`), users alice
    /// (password alice-pw) and bob (bob-pw) from `TestUsers`, and `rules`.
    func startBerthWithTokenService(_ label: String, rules: [AccessRule]) async throws -> TestRegistry {
        let dir = try temporaryDirectory(label)
        let key = dir.appendingPathComponent("signing.pem").path
        try await ProcessRunner.run("/usr/bin/openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
        let htpasswd = try TestUsers.writeAliceAndBob(in: dir)
        let port = try freeLoopbackPort()
        return try await startBerth(root: try temporaryDirectory(label + "-root")) { config in
            config.httpAddress = ListenAddress(host: "127.0.0.1", port: port)
            var service = AuthSettings.TokenServiceSettings(service: label, issuer: label + "-issuer", signingKey: key, htpasswd: htpasswd)
            service.realm = "http://127.0.0.1:\(port)/token"
            config.auth.mode = .tokenService(service)
            config.auth.rules = AccessRules(rules: rules)
        }
    }

    func startReferenceRegistry(root: URL, accessLog: Bool = false, port: Int? = nil) async throws -> ReferenceRegistry {
        let registry = try await ReferenceRegistry.start(root: root.path, scratch: try temporaryDirectory("reference"), accessLog: accessLog,
                                                         port: port)
        cleanups.append { await registry.stop() }
        return registry
    }

    /// Asserts the layout at `dir` holds `image` under `tag` with identical bytes: the manifest
    /// (so its digest), the config and every layer.
    func assertLayout(_ dir: URL, tag: String, holds image: TestImage,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let top = try OCILayout.topDescriptor(dir, tag: tag)
        XCTAssertEqual(top.digest, image.manifest.digest, "manifest digest after the round trip", file: file, line: line)
        XCTAssertEqual(top.mediaType, MediaTypes.manifest, file: file, line: line)
        try assertImageBlobs(dir, image, file: file, line: line)
    }

    /// Asserts the layout holds the index under `tag`, every child manifest and all their blobs, byte for byte.
    func assertLayout(_ dir: URL, tag: String, holds index: TestIndex,
                      file: StaticString = #filePath, line: UInt = #line) throws {
        let top = try OCILayout.topDescriptor(dir, tag: tag)
        XCTAssertEqual(top.digest, index.index.digest, "index digest after the round trip", file: file, line: line)
        XCTAssertEqual(top.mediaType, MediaTypes.index, file: file, line: line)
        XCTAssertEqual(try OCILayout.blob(dir, index.index.digest), index.index.bytes, "index bytes", file: file, line: line)
        for image in index.images { try assertImageBlobs(dir, image, file: file, line: line) }
    }

    private func assertImageBlobs(_ dir: URL, _ image: TestImage, file: StaticString, line: UInt) throws {
        XCTAssertEqual(try OCILayout.blob(dir, image.manifest.digest), image.manifest.bytes,
                       "manifest bytes of \(image.architecture)", file: file, line: line)
        for blob in image.blobs {
            XCTAssertEqual(try OCILayout.blob(dir, blob.digest), blob.bytes, "bytes of \(blob.mediaType) \(blob.digest)",
                           file: file, line: line)
        }
    }
}

/// The skopeo commands the tests use. Every call uses `--insecure-policy` (no dependence on the
/// machine's policy.json) and plain HTTP to loopback registries.
enum Skopeo {
    /// `skopeo copy --preserve-digests`: nothing is converted or recompressed, so digests survive.
    static func copy(_ source: String, _ destination: String, all: Bool = false,
                     sourceCreds: String? = nil, destinationCreds: String? = nil) async throws {
        var arguments = ["--insecure-policy", "copy", "--quiet", "--preserve-digests", "--retry-times", "0"]
        if all { arguments.append("--all") }
        if let sourceCreds { arguments += ["--src-creds", sourceCreds] }
        if let destinationCreds { arguments += ["--dest-creds", destinationCreds] }
        if source.hasPrefix("docker://") { arguments.append("--src-tls-verify=false") }
        if destination.hasPrefix("docker://") { arguments.append("--dest-tls-verify=false") }
        try await ProcessRunner.run(Tools.skopeo, arguments + [source, destination], timeout: .seconds(60))
    }

    /// `skopeo inspect` (or `--raw`) as parsed JSON.
    static func inspect(_ reference: String, raw: Bool = false) async throws -> [String: Any] {
        var arguments = ["--insecure-policy", "inspect", "--tls-verify=false"]
        if raw { arguments.append("--raw") }
        let result = try await ProcessRunner.run(Tools.skopeo, arguments + [reference], timeout: .seconds(30))
        return try parseObject(result.stdout, from: "skopeo inspect \(reference)")
    }

    static func listTags(_ reference: String) async throws -> [String] {
        let result = try await ProcessRunner.run(
            Tools.skopeo, ["--insecure-policy", "list-tags", "--tls-verify=false", reference], timeout: .seconds(30))
        let json = try parseObject(result.stdout, from: "skopeo list-tags \(reference)")
        guard let tags = json["Tags"] as? [String] else { throw TestFailure("no Tags in skopeo list-tags output: \(result.stdout)") }
        return tags
    }

    private static func parseObject(_ text: String, from what: String) throws -> [String: Any] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw TestFailure("\(what) did not print a JSON object:\n\(text)")
        }
        return object
    }
}
