import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

// MARK: - Referrers helpers

/// One entry of a referrers response, as decoded.
struct ReferrerDescriptor: Decodable, Equatable, CustomStringConvertible {
    var mediaType: String
    var digest: String
    var size: Int
    var artifactType: String?
    var annotations: [String: String]?

    var description: String { "\(digest) \(mediaType) \(artifactType ?? "-") \(annotations ?? [:])" }
}

private struct ReferrersIndex: Decodable {
    var schemaVersion: Int
    var mediaType: String
    var manifests: [ReferrerDescriptor]
}

/// A manifest pushed for the referrers tests: its bytes, digest and the descriptor the referrers
/// API must list for it.
struct PushedReferrer {
    var bytes: [UInt8]
    var digest: String
    var listed: ReferrerDescriptor
}

enum Referrers {
    static let signatureType = "application/vnd.example.signature.v1+json"
    static let sbomConfigType = "application/vnd.example.sbom.config.v1+json"
    static let bundleType = "application/vnd.example.bundle.v1"
    static let emptyIndexBody = #"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#

    static func annotationsJSON(_ annotations: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(annotations), as: UTF8.self)
    }

    /// An OCI image manifest with a `subject` (an artifact when `artifactType` is set).
    static func manifest(subject: String, subjectSize: Int, artifactType: String?, config: String,
                         layers: [String] = [], annotations: [String: String]? = nil) -> [UInt8] {
        var members = ["\"schemaVersion\":2", "\"mediaType\":\"\(MT.ociManifest)\""]
        if let artifactType { members.append("\"artifactType\":\"\(artifactType)\"") }
        members.append("\"config\":\(config)")
        members.append("\"layers\":[\(layers.joined(separator: ","))]")
        members.append("\"subject\":\(descriptorJSON(MT.ociManifest, subject, subjectSize))")
        if let annotations { members.append("\"annotations\":\(annotationsJSON(annotations))") }
        return bytes("{" + members.joined(separator: ",") + "}")
    }

    /// An OCI image index with a `subject` (optionally an `artifactType` and annotations).
    static func index(subject: String, subjectSize: Int, artifactType: String?, children: [String],
                      annotations: [String: String]? = nil) -> [UInt8] {
        var members = ["\"schemaVersion\":2", "\"mediaType\":\"\(MT.ociIndex)\""]
        if let artifactType { members.append("\"artifactType\":\"\(artifactType)\"") }
        members.append("\"manifests\":[\(children.joined(separator: ","))]")
        members.append("\"subject\":\(descriptorJSON(MT.ociManifest, subject, subjectSize))")
        if let annotations { members.append("\"annotations\":\(annotationsJSON(annotations))") }
        return bytes("{" + members.joined(separator: ",") + "}")
    }

    /// PUTs a manifest that has a subject at `reference` (its digest when nil), asserting 201,
    /// the digest headers and `OCI-Subject`.
    @discardableResult
    static func push(_ client: Client, _ repo: String, _ body: [UInt8], contentType: String, subject: String,
                     reference: String? = nil, file: StaticString = #filePath, line: UInt = #line) async throws -> String {
        let digest = sha256(body)
        let r = try await client.putManifest(repo, reference ?? digest, body, contentType: contentType)
        XCTAssertEqual(r.status, .created, bodyString(r), file: file, line: line)
        XCTAssertEqual(r.headers[.dockerContentDigest], digest, file: file, line: line)
        XCTAssertEqual(r.headers[.location], "/v2/\(repo)/manifests/\(digest)", file: file, line: line)
        XCTAssertEqual(r.headers[.ociSubject], subject, "OCI-Subject", file: file, line: line)
        return digest
    }

    /// Pushes a signature artifact (empty config, one layer, annotations) referring to `subject`.
    static func pushSignature(_ client: Client, _ repo: String, subject: String, subjectSize: Int, seed: UInt8 = 40,
                              file: StaticString = #filePath, line: UInt = #line) async throws -> PushedReferrer {
        try await client.pushBlob(repo, emptyJSON, file: file, line: line)
        let payload = content(50, seed: seed)
        let payloadDigest = try await client.pushBlob(repo, payload, file: file, line: line)
        let annotations = ["org.opencontainers.image.created": "2024-05-01T00:00:00Z", "org.example.seed": "\(seed)"]
        let body = manifest(subject: subject, subjectSize: subjectSize, artifactType: signatureType,
                            config: descriptorJSON(MT.ociEmpty, emptyDigest, 2),
                            layers: [descriptorJSON("application/vnd.example.signature.payload", payloadDigest, payload.count)],
                            annotations: annotations)
        let digest = try await push(client, repo, body, contentType: MT.ociManifest, subject: subject, file: file, line: line)
        return PushedReferrer(bytes: body, digest: digest,
                              listed: .init(mediaType: MT.ociManifest, digest: digest, size: body.count,
                                            artifactType: signatureType, annotations: annotations))
    }

    /// Pushes an image manifest without `artifactType` whose config has a custom media type: the
    /// referrers API must give the config's media type as its artifactType.
    static func pushSBOM(_ client: Client, _ repo: String, subject: String, subjectSize: Int,
                         file: StaticString = #filePath, line: UInt = #line) async throws -> PushedReferrer {
        let config = bytes(#"{"sbom":"spdx","packages":3}"#)
        let configDigest = try await client.pushBlob(repo, config, file: file, line: line)
        let body = manifest(subject: subject, subjectSize: subjectSize, artifactType: nil,
                            config: descriptorJSON(sbomConfigType, configDigest, config.count))
        let digest = try await push(client, repo, body, contentType: MT.ociManifest, subject: subject, file: file, line: line)
        return PushedReferrer(bytes: body, digest: digest,
                              listed: .init(mediaType: MT.ociManifest, digest: digest, size: body.count,
                                            artifactType: sbomConfigType, annotations: nil))
    }
}

/// Asserts a referrers response: 200, the OCI index content type and a matching Content-Length,
/// `OCI-Filters-Applied` exactly when `filtered`, and an index whose `manifests` are exactly
/// `expected` (in any order), each descriptor with no other members.
func assertReferrers(_ r: TestResponse, _ expected: [ReferrerDescriptor], filtered: Bool = false,
                     file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, .ok, bodyString(r), file: file, line: line)
    XCTAssertEqual(r.headers[.contentType], MT.ociIndex, file: file, line: line)
    XCTAssertEqual(r.headers[.contentLength], String(r.body.readableBytes), file: file, line: line)
    XCTAssertEqual(r.headers[.apiVersion], "registry/2.0", file: file, line: line)
    XCTAssertEqual(r.headers[.ociFiltersApplied], filtered ? "artifactType" : nil, "OCI-Filters-Applied", file: file, line: line)
    guard let index = try? JSONDecoder().decode(ReferrersIndex.self, from: Data(bodyBytes(r))),
          let raw = try? JSONSerialization.jsonObject(with: Data(bodyBytes(r))) as? [String: Any],
          let rawManifests = raw["manifests"] as? [[String: Any]] else {
        XCTFail("not a referrers index: \(bodyString(r))", file: file, line: line)
        return
    }
    XCTAssertEqual(Set(raw.keys), ["schemaVersion", "mediaType", "manifests"], file: file, line: line)
    XCTAssertEqual(index.schemaVersion, 2, file: file, line: line)
    XCTAssertEqual(index.mediaType, MT.ociIndex, file: file, line: line)
    let byDigest = { (a: ReferrerDescriptor, b: ReferrerDescriptor) in a.digest < b.digest }
    XCTAssertEqual(index.manifests.sorted(by: byDigest), expected.sorted(by: byDigest), bodyString(r), file: file, line: line)
    for entry in rawManifests {
        var keys: Set<String> = ["mediaType", "digest", "size"]
        let digest = entry["digest"] as? String
        if let match = expected.first(where: { $0.digest == digest }) {
            if match.artifactType != nil { keys.insert("artifactType") }
            if match.annotations != nil { keys.insert("annotations") }
        }
        XCTAssertEqual(Set(entry.keys), keys, "members of the descriptor of \(digest ?? "?")", file: file, line: line)
    }
}

// MARK: - Tests

/// `GET /v2/<name>/referrers/<digest>` and the `OCI-Subject` header of manifest pushes.
final class ReferrersTests: XCTestCase {
    func testReferrersListsEveryManifestWhoseSubjectIsTheDigest() async throws {
        try await Registry.run { client in
            let subject = try await client.pushImage("app", tag: "v1", seed: 1)
            let other = try await client.pushImage("app", tag: "v2", seed: 2)
            // A manifest without a subject: no OCI-Subject header.
            let plain = try await client.putManifest("app", "v2-again", other.bytes, contentType: MT.ociManifest)
            XCTAssertEqual(plain.status, .created)
            XCTAssertNil(plain.headers[.ociSubject])

            let signature = try await Referrers.pushSignature(client, "app", subject: subject.digest, subjectSize: subject.bytes.count)
            let sbom = try await Referrers.pushSBOM(client, "app", subject: subject.digest, subjectSize: subject.bytes.count)
            let otherSignature = try await Referrers.pushSignature(client, "app", subject: other.digest,
                                                                   subjectSize: other.bytes.count, seed: 41)

            let r = try await client.send(.get, "/v2/app/referrers/\(subject.digest)")
            assertReferrers(r, [signature.listed, sbom.listed])
            assertReferrers(try await client.send(.get, "/v2/app/referrers/\(other.digest)"), [otherSignature.listed])
            // Referrers of a referrer: none.
            assertReferrers(try await client.send(.get, "/v2/app/referrers/\(signature.digest)"), [])

            let head = try await client.send(.head, "/v2/app/referrers/\(subject.digest)")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.headers[.contentType], MT.ociIndex)
            XCTAssertEqual(head.headers[.contentLength], r.headers[.contentLength])
            XCTAssertEqual(head.body.readableBytes, 0)

            // The referrers themselves are ordinary manifests.
            let fetched = try await client.send(.get, "/v2/app/manifests/\(sbom.digest)")
            XCTAssertEqual(fetched.status, .ok)
            XCTAssertEqual(fetched.headers[.contentType], MT.ociManifest)
            XCTAssertEqual(bodyBytes(fetched), sbom.bytes)
        }
    }

    func testArtifactTypeFilter() async throws {
        try await Registry.run { client in
            let subject = try await client.pushImage("filter", tag: "v1")
            let signature = try await Referrers.pushSignature(client, "filter", subject: subject.digest, subjectSize: subject.bytes.count)
            let sbom = try await Referrers.pushSBOM(client, "filter", subject: subject.digest, subjectSize: subject.bytes.count)
            let base = "/v2/filter/referrers/\(subject.digest)"

            let signatures = try await client.send(.get, base + "?artifactType=application/vnd.example.signature.v1%2Bjson")
            assertReferrers(signatures, [signature.listed], filtered: true)
            // The config media type stands in for a missing artifactType when filtering, too.
            let sboms = try await client.send(.get, base + "?artifactType=application/vnd.example.sbom.config.v1%2Bjson")
            assertReferrers(sboms, [sbom.listed], filtered: true)
            let none = try await client.send(.get, base + "?artifactType=application/vnd.example.nothing")
            assertReferrers(none, [], filtered: true)
            // An empty filter filters nothing.
            assertReferrers(try await client.send(.get, base + "?artifactType="), [signature.listed, sbom.listed])
            assertReferrers(try await client.send(.get, base), [signature.listed, sbom.listed])
        }
    }

    func testNoReferrersIsAnEmptyIndex() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-referrers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await Registry.run(root: root) { client in
            let image = try await client.pushImage("lonely", tag: "v1")
            for uri in ["/v2/lonely/referrers/\(image.digest)", "/v2/lonely/referrers/\(sha256("never pushed"))",
                        "/v2/nobody/here/referrers/\(image.digest)"] {
                let r = try await client.send(.get, uri)
                assertReferrers(r, [])
                XCTAssertEqual(bodyString(r), Referrers.emptyIndexBody, uri)
            }
            // Asking about an unknown repository created nothing.
            assertError(try await client.send(.get, "/v2/nobody/here/tags/list"), .notFound, "NAME_UNKNOWN")
            let catalog = try await client.send(.get, "/v2/_catalog")
            XCTAssertEqual(bodyString(catalog), #"{"repositories":["lonely"]}"#)
        }
        for path in ["/berth/repositories/nobody", "/docker/registry/v2/repositories/nobody"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: root + path), "a read created \(path)")
        }
    }

    func testSha512ReferrerAndSubject() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            try await client.pushBlob("long", emptyJSON)
            // A subject pushed by its sha512 digest, and a referrer pushed by its sha512 digest.
            let subjectBody = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociEmpty, emptyDigest, 2), layers: [])
            let subject = sha512(subjectBody)
            let put = try await client.putManifest("long", subject, subjectBody, contentType: MT.ociManifest)
            XCTAssertEqual(put.status, .created, bodyString(put))
            XCTAssertEqual(put.headers[.dockerContentDigest], subject)
            let body = Referrers.manifest(subject: subject, subjectSize: subjectBody.count, artifactType: Referrers.signatureType,
                                          config: descriptorJSON(MT.ociEmpty, emptyDigest, 2))
            let digest = sha512(body)
            let r = try await client.putManifest("long", digest, body, contentType: MT.ociManifest)
            XCTAssertEqual(r.status, .created, bodyString(r))
            XCTAssertEqual(r.headers[.dockerContentDigest], digest)
            XCTAssertEqual(r.headers[.ociSubject], subject)
            let listed = ReferrerDescriptor(mediaType: MT.ociManifest, digest: digest, size: body.count, artifactType: Referrers.signatureType)
            assertReferrers(try await client.send(.get, "/v2/long/referrers/\(subject)"), [listed])
            assertReferrers(try await client.send(.get, "/v2/long/referrers/\(sha256(subjectBody))"), [])
            try await client.expect(.delete, "/v2/long/manifests/\(digest)", .accepted)
            assertReferrers(try await client.send(.get, "/v2/long/referrers/\(subject)"), [])
        }
    }

    func testInvalidDigestOrNameOrMethod() async throws {
        try await Registry.run { client in
            let hex64 = String(repeating: "a", count: 64)
            for digest in ["sha256:xyz", "latest", "sha256:" + hex64.uppercased(), "md5:" + String(hex64.prefix(32)), "sha512:" + hex64] {
                assertError(try await client.send(.get, "/v2/app/referrers/\(digest)"), .badRequest, "DIGEST_INVALID")
                assertHeadError(try await client.send(.head, "/v2/app/referrers/\(digest)"), .badRequest)
            }
            assertError(try await client.send(.get, "/v2/App/referrers/sha256:\(hex64)"), .badRequest, "NAME_INVALID")
            for method in [HTTPRequest.Method.put, .post, .delete] {
                let r = try await client.send(method, "/v2/app/referrers/sha256:\(hex64)")
                assertError(r, .methodNotAllowed, "UNSUPPORTED")
                XCTAssertEqual(r.headers[.allow], "GET, HEAD")
            }
        }
    }

    func testReferrerPushedBeforeItsSubject() async throws {
        try await Registry.run { client in
            // The subject's blobs are there, but the subject manifest is not pushed yet.
            let config = bytes(#"{"architecture":"arm64","os":"linux"}"#)
            let layer = content(70, seed: 9)
            let configDigest = try await client.pushBlob("early", config)
            let layerDigest = try await client.pushBlob("early", layer)
            let subjectBytes = imageManifestJSON(mediaTypeField: MT.ociManifest,
                                                 config: descriptorJSON(MT.ociConfig, configDigest, config.count),
                                                 layers: [descriptorJSON(MT.ociLayer, layerDigest, layer.count)])
            let subjectDigest = sha256(subjectBytes)
            assertError(try await client.send(.get, "/v2/early/manifests/\(subjectDigest)"), .notFound, "MANIFEST_UNKNOWN")

            let signature = try await Referrers.pushSignature(client, "early", subject: subjectDigest, subjectSize: subjectBytes.count)
            assertReferrers(try await client.send(.get, "/v2/early/referrers/\(subjectDigest)"), [signature.listed])

            let pushed = try await client.putManifest("early", "v1", subjectBytes, contentType: MT.ociManifest)
            XCTAssertEqual(pushed.status, .created, bodyString(pushed))
            XCTAssertNil(pushed.headers[.ociSubject])
            try await client.expect(.get, "/v2/early/manifests/v1", .ok)
            assertReferrers(try await client.send(.get, "/v2/early/referrers/\(subjectDigest)"), [signature.listed])
        }
    }

    func testDeletingAReferrerRemovesItFromTheList() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let subject = try await client.pushImage("del-ref", tag: "v1")
            let signature = try await Referrers.pushSignature(client, "del-ref", subject: subject.digest, subjectSize: subject.bytes.count)
            let sbomConfig = bytes(#"{"sbom":"spdx","packages":3}"#)
            try await client.pushBlob("del-ref", sbomConfig)
            // The SBOM is also tagged: deleting the tag leaves the manifest, so it stays listed.
            let sbomBody = Referrers.manifest(subject: subject.digest, subjectSize: subject.bytes.count, artifactType: nil,
                                              config: descriptorJSON(Referrers.sbomConfigType, sha256(sbomConfig), sbomConfig.count))
            let sbomDigest = try await Referrers.push(client, "del-ref", sbomBody, contentType: MT.ociManifest,
                                                      subject: subject.digest, reference: "sbom")
            let sbom = ReferrerDescriptor(mediaType: MT.ociManifest, digest: sbomDigest, size: sbomBody.count,
                                          artifactType: Referrers.sbomConfigType)
            let uri = "/v2/del-ref/referrers/\(subject.digest)"
            assertReferrers(try await client.send(.get, uri), [signature.listed, sbom])

            try await client.expect(.delete, "/v2/del-ref/manifests/\(signature.digest)", .accepted)
            assertReferrers(try await client.send(.get, uri), [sbom])

            try await client.expect(.delete, "/v2/del-ref/manifests/sbom", .accepted)
            assertReferrers(try await client.send(.get, uri), [sbom])

            try await client.expect(.delete, "/v2/del-ref/manifests/\(sbomDigest)", .accepted)
            assertReferrers(try await client.send(.get, uri), [])
            let empty = try await client.send(.get, uri)
            XCTAssertEqual(bodyString(empty), Referrers.emptyIndexBody)

            // Pushed again, it is listed again.
            try await Referrers.push(client, "del-ref", signature.bytes, contentType: MT.ociManifest, subject: subject.digest)
            assertReferrers(try await client.send(.get, uri), [signature.listed])
        }
    }

    func testReferrersOfAnotherRepositoryAreNotListed() async throws {
        try await Registry.run { client in
            // The same subject image in three repositories; the referrer only in "one".
            let subject = try await client.pushImage("one", tag: "v1")
            try await client.pushImage("two", tag: "v1")
            try await client.pushImage("one/nested", tag: "v1")
            let signature = try await Referrers.pushSignature(client, "one", subject: subject.digest, subjectSize: subject.bytes.count)

            assertReferrers(try await client.send(.get, "/v2/one/referrers/\(subject.digest)"), [signature.listed])
            assertReferrers(try await client.send(.get, "/v2/two/referrers/\(subject.digest)"), [])
            assertReferrers(try await client.send(.get, "/v2/one/nested/referrers/\(subject.digest)"), [])
        }
    }

    func testIndexCanBeAReferrer() async throws {
        try await Registry.run { client in
            let subject = try await client.pushImage("bundle", tag: "v1", seed: 1)
            let child = try await client.pushImage("bundle", tag: "child", seed: 2)
            let annotations = ["org.example.kind": "bundle"]
            let indexBody = Referrers.index(subject: subject.digest, subjectSize: subject.bytes.count,
                                            artifactType: Referrers.bundleType,
                                            children: [descriptorJSON(MT.ociManifest, child.digest, child.bytes.count)],
                                            annotations: annotations)
            let indexDigest = try await Referrers.push(client, "bundle", indexBody, contentType: MT.ociIndex, subject: subject.digest)
            // An index without artifactType: listed without one (no config to stand in).
            let bareBody = Referrers.index(subject: subject.digest, subjectSize: subject.bytes.count, artifactType: nil, children: [])
            let bareDigest = try await Referrers.push(client, "bundle", bareBody, contentType: MT.ociIndex, subject: subject.digest)

            let index = ReferrerDescriptor(mediaType: MT.ociIndex, digest: indexDigest, size: indexBody.count,
                                           artifactType: Referrers.bundleType, annotations: annotations)
            let bare = ReferrerDescriptor(mediaType: MT.ociIndex, digest: bareDigest, size: bareBody.count)
            let uri = "/v2/bundle/referrers/\(subject.digest)"
            assertReferrers(try await client.send(.get, uri), [index, bare])
            assertReferrers(try await client.send(.get, uri + "?artifactType=\(Referrers.bundleType)"), [index], filtered: true)

            let fetched = try await client.send(.get, "/v2/bundle/manifests/\(indexDigest)")
            XCTAssertEqual(fetched.status, .ok)
            XCTAssertEqual(fetched.headers[.contentType], MT.ociIndex)
            XCTAssertEqual(bodyBytes(fetched), indexBody)
        }
    }
}
