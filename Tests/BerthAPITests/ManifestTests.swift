import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// PUT/GET/HEAD of every manifest kind Berth accepts, by tag and by digest.
final class ManifestTests: XCTestCase {
    /// GET and HEAD by `reference` return exactly `body`, `contentType` and `digest`.
    static func assertServed(_ client: Client, _ repo: String, _ reference: String, _ body: [UInt8],
                             contentType: String, digest: String,
                             file: StaticString = #filePath, line: UInt = #line) async throws {
        let get = try await client.send(.get, "/v2/\(repo)/manifests/\(reference)")
        XCTAssertEqual(get.status, .ok, "GET \(reference): \(bodyString(get))", file: file, line: line)
        XCTAssertEqual(get.headers[.contentType], contentType, file: file, line: line)
        XCTAssertEqual(get.headers[.dockerContentDigest], digest, file: file, line: line)
        XCTAssertEqual(get.headers[.contentLength], String(body.count), file: file, line: line)
        XCTAssertEqual(get.headers[.apiVersion], "registry/2.0", file: file, line: line)
        XCTAssertEqual(bodyString(get), String(decoding: body, as: UTF8.self), file: file, line: line)
        let computed = digest.hasPrefix("sha512:") ? sha512(bodyBytes(get)) : sha256(bodyBytes(get))
        XCTAssertEqual(computed, digest, "Docker-Content-Digest is not the digest of the bytes served", file: file, line: line)

        let head = try await client.send(.head, "/v2/\(repo)/manifests/\(reference)")
        XCTAssertEqual(head.status, .ok, file: file, line: line)
        XCTAssertEqual(head.headers[.contentType], contentType, file: file, line: line)
        XCTAssertEqual(head.headers[.dockerContentDigest], digest, file: file, line: line)
        XCTAssertEqual(head.headers[.contentLength], String(body.count), file: file, line: line)
        XCTAssertEqual(head.body.readableBytes, 0, file: file, line: line)
    }

    func testOCIImageManifestByTagAndDigest() async throws {
        try await Registry.run { client in
            let (body, digest) = try await client.pushImage("library/app", tag: "v1")
            // The pushed text really is non-canonical, so an exact match proves no re-encoding.
            XCTAssertTrue(String(decoding: body, as: UTF8.self).contains("\"schemaVersion\"    :  2"))
            try await Self.assertServed(client, "library/app", "v1", body, contentType: MT.ociManifest, digest: digest)
            try await Self.assertServed(client, "library/app", digest, body, contentType: MT.ociManifest, digest: digest)
        }
    }

    func testPutByDigestCreatesNoTag() async throws {
        try await Registry.run { client in
            let config = bytes("{\"a\":1}")
            let configDigest = try await client.pushBlob("bydigest", config)
            let body = imageManifestJSON(mediaTypeField: nil, config: descriptorJSON(MT.ociConfig, configDigest, config.count), layers: [])
            let digest = sha256(body)
            try await client.pushManifest("bydigest", digest, body, contentType: MT.ociManifest)
            // No mediaType member: the Content-Type it was pushed with is served.
            try await Self.assertServed(client, "bydigest", digest, body, contentType: MT.ociManifest, digest: digest)
            let tags = try await client.send(.get, "/v2/bydigest/tags/list")
            XCTAssertEqual(tags.status, .ok)
            assertTagList(tags, "bydigest", [])
        }
    }

    func testOCIIndexWithChildrenPushedFirst() async throws {
        try await Registry.run { client in
            let amd = try await client.pushImage("multi", tag: "amd64", seed: 1)
            let arm = try await client.pushImage("multi", tag: "arm64", seed: 2)
            let platform = #", "platform" : {"os":"linux", "architecture":"amd64"}"#
            let index = indexJSON(mediaTypeField: MT.ociIndex, manifests: [
                descriptorJSON(MT.ociManifest, amd.digest, amd.bytes.count, extra: platform),
                descriptorJSON(MT.ociManifest, arm.digest, arm.bytes.count),
            ])
            let digest = try await client.pushManifest("multi", "latest", index, contentType: MT.ociIndex)
            try await Self.assertServed(client, "multi", "latest", index, contentType: MT.ociIndex, digest: digest)
            try await Self.assertServed(client, "multi", digest, index, contentType: MT.ociIndex, digest: digest)

            // Without a mediaType member, by digest.
            let bare = indexJSON(mediaTypeField: nil, manifests: [descriptorJSON(MT.ociManifest, arm.digest, arm.bytes.count)])
            let bareDigest = try await client.pushManifest("multi", sha256(bare), bare, contentType: MT.ociIndex)
            try await Self.assertServed(client, "multi", bareDigest, bare, contentType: MT.ociIndex, digest: bareDigest)
        }
    }

    func testDockerSchema2ManifestAndManifestList() async throws {
        try await Registry.run { client in
            let config = bytes(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#)
            let layer = content(500, seed: 4)
            let configDigest = try await client.pushBlob("docker/img", config)
            let layerDigest = try await client.pushBlob("docker/img", layer)
            let manifest = imageManifestJSON(
                mediaTypeField: MT.dockerManifest,
                config: descriptorJSON(MT.dockerConfig, configDigest, config.count),
                layers: [descriptorJSON(MT.dockerLayer, layerDigest, layer.count)])
            let digest = try await client.pushManifest("docker/img", "1.0", manifest, contentType: MT.dockerManifest)
            try await Self.assertServed(client, "docker/img", "1.0", manifest, contentType: MT.dockerManifest, digest: digest)
            try await Self.assertServed(client, "docker/img", digest, manifest, contentType: MT.dockerManifest, digest: digest)

            let list = indexJSON(mediaTypeField: MT.dockerList, manifests: [
                descriptorJSON(MT.dockerManifest, digest, manifest.count, extra: #","platform":{"architecture":"amd64","os":"linux"}"#),
            ])
            let listDigest = try await client.pushManifest("docker/img", "multi", list, contentType: MT.dockerList)
            try await Self.assertServed(client, "docker/img", "multi", list, contentType: MT.dockerList, digest: listDigest)
            try await Self.assertServed(client, "docker/img", listDigest, list, contentType: MT.dockerList, digest: listDigest)
        }
    }

    func testDockerManifestListWithoutMediaTypeMemberKeepsItsContentType() async throws {
        try await Registry.run { client in
            let image = try await client.pushImage("dl", tag: "child")
            let list = indexJSON(mediaTypeField: nil, manifests: [descriptorJSON(MT.ociManifest, image.digest, image.bytes.count)])
            let digest = try await client.pushManifest("dl", "list", list, contentType: MT.dockerList)
            try await Self.assertServed(client, "dl", "list", list, contentType: MT.dockerList, digest: digest)
        }
    }

    func testOCIArtifactManifestWithEmptyConfig() async throws {
        try await Registry.run { client in
            XCTAssertEqual(sha256(emptyJSON), emptyDigest)
            try await client.pushBlob("artifacts", emptyJSON)
            let payload = bytes("signature payload")
            let payloadDigest = try await client.pushBlob("artifacts", payload)
            let manifest = imageManifestJSON(
                mediaTypeField: MT.ociManifest,
                config: descriptorJSON(MT.ociEmpty, emptyDigest, 2),
                layers: [descriptorJSON("application/vnd.example.signature.v1", payloadDigest, payload.count)],
                artifactType: "application/vnd.example.signature.v1+json",
                annotations: #"{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}"#)
            let digest = try await client.pushManifest("artifacts", "sig", manifest, contentType: MT.ociManifest)
            try await Self.assertServed(client, "artifacts", "sig", manifest, contentType: MT.ociManifest, digest: digest)
            try await Self.assertServed(client, "artifacts", digest, manifest, contentType: MT.ociManifest, digest: digest)
        }
    }

    func testSHA512ManifestDigest() async throws {
        try await Registry.run { client in
            let image = try await client.pushImage("s512", tag: "base")
            let body = imageManifestJSON(mediaTypeField: MT.ociManifest,
                                         config: descriptorJSON(MT.ociEmpty, emptyDigest, 2), layers: [])
            try await client.pushBlob("s512", emptyJSON)
            let digest = sha512(body)
            let put = try await client.putManifest("s512", digest, body, contentType: MT.ociManifest)
            XCTAssertEqual(put.status, .created, bodyString(put))
            XCTAssertEqual(put.headers[.dockerContentDigest], digest)
            XCTAssertEqual(put.headers[.location], "/v2/s512/manifests/\(digest)")
            try await Self.assertServed(client, "s512", digest, body, contentType: MT.ociManifest, digest: digest)
            XCTAssertNotEqual(image.digest, digest)
        }
    }

    func testRetaggingMovesTheTagOnly() async throws {
        try await Registry.run { client in
            let first = try await client.pushImage("retag", tag: "latest", seed: 1)
            let second = try await client.pushImage("retag", tag: "latest", seed: 2)
            try await Self.assertServed(client, "retag", "latest", second.bytes, contentType: MT.ociManifest, digest: second.digest)
            try await Self.assertServed(client, "retag", first.digest, first.bytes, contentType: MT.ociManifest, digest: first.digest)
        }
    }

    func testManifestIsAlsoServedAsABlobOfItsRepository() async throws {
        try await Registry.run { client in
            let image = try await client.pushImage("asblob", tag: "t")
            let r = try await client.send(.get, "/v2/asblob/blobs/\(image.digest)")
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(bodyBytes(r), image.bytes)
            XCTAssertEqual(r.headers[.dockerContentDigest], image.digest)
        }
    }

    func testManifestOfOneRepositoryIsNotVisibleInAnother() async throws {
        try await Registry.run { client in
            let image = try await client.pushImage("one", tag: "t")
            assertError(try await client.send(.get, "/v2/two/manifests/t"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/two/manifests/\(image.digest)"), .notFound, "MANIFEST_UNKNOWN")
        }
    }

    func testManifestOfExactlyFourMiBIsAccepted() async throws {
        try await Registry.run { client in
            try await client.pushBlob("big", emptyJSON)
            // Exactly 4 MiB: the limit itself is allowed.
            let limit = 4 * 1024 * 1024
            let skeleton = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociEmpty, emptyDigest, 2),
                                             layers: [], annotations: #"{"pad":""}"#)
            var text = String(decoding: skeleton, as: UTF8.self)
            let padding = String(repeating: "x", count: limit - skeleton.count)
            text = text.replacingOccurrences(of: #""pad":"""#, with: "\"pad\":\"\(padding)\"")
            let body = bytes(text)
            XCTAssertEqual(body.count, limit)
            let digest = try await client.pushManifest("big", "edge", body, contentType: MT.ociManifest)
            let get = try await client.send(.get, "/v2/big/manifests/edge")
            XCTAssertEqual(get.status, .ok)
            XCTAssertEqual(get.headers[.dockerContentDigest], digest)
            XCTAssertEqual(get.body.readableBytes, limit)
        }
    }
}
