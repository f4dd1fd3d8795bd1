import BerthServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// `validation.manifests.indexes.platforms: none` and `validation.manifests.layers: none`:
/// sparse indexes and images are accepted; a missing config never is.
final class SparseManifestTests: XCTestCase {
    static let missingChild = sha256("a child manifest that was never pushed")
    static let missingLayer = sha256("a layer that was never pushed")

    static func sparseIndex(child: String) -> [UInt8] {
        indexJSON(mediaTypeField: MT.ociIndex, manifests: [
            descriptorJSON(MT.ociManifest, child, 512, extra: #", "platform": {"architecture": "s390x", "os": "linux"}"#),
        ])
    }

    /// An image whose config is pushed and whose one layer is not.
    static func sparseImage(_ client: Client, _ repo: String) async throws -> [UInt8] {
        let config = bytes(#"{"architecture":"amd64","os":"linux","sparse":true}"#)
        let configDigest = try await client.pushBlob(repo, config)
        return imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociConfig, configDigest, config.count),
                                 layers: [descriptorJSON(MT.ociLayer, missingLayer, 4096)])
    }

    /// An image whose config is missing and whose layer is pushed.
    static func configlessImage(_ client: Client, _ repo: String) async throws -> (body: [UInt8], config: String) {
        let layer = content(64, seed: 3)
        let layerDigest = try await client.pushBlob(repo, layer)
        let config = sha256("a config that was never pushed")
        let body = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociConfig, config, 77),
                                     layers: [descriptorJSON(MT.ociLayer, layerDigest, layer.count)])
        return (body, config)
    }

    static func assertRefused(_ r: TestResponse, missing digest: String, file: StaticString = #filePath, line: UInt = #line) {
        let entry = assertError(r, .badRequest, "MANIFEST_BLOB_UNKNOWN", file: file, line: line)
        XCTAssertEqual(entry?.detail?["digest"], digest, file: file, line: line)
    }

    func testDefaultsRefuseSparseIndexesAndImages() async throws {
        try await Registry.run { client in
            let index = Self.sparseIndex(child: Self.missingChild)
            Self.assertRefused(try await client.putManifest("strict", "idx", index, contentType: MT.ociIndex), missing: Self.missingChild)
            let image = try await Self.sparseImage(client, "strict")
            Self.assertRefused(try await client.putManifest("strict", "img", image, contentType: MT.ociManifest), missing: Self.missingLayer)
            let configless = try await Self.configlessImage(client, "strict")
            Self.assertRefused(try await client.putManifest("strict", "cfg", configless.body, contentType: MT.ociManifest),
                               missing: configless.config)
            assertError(try await client.send(.get, "/v2/strict/tags/list"), .notFound, "NAME_UNKNOWN")
        }
    }

    func testSparseIndexesWhenPlatformsIsNone() async throws {
        try await Registry.run(configure: { $0.manifestValidation.requireIndexChildren = false }) { client in
            let index = Self.sparseIndex(child: Self.missingChild)
            let digest = try await client.pushManifest("sparse", "idx", index, contentType: MT.ociIndex)
            let get = try await client.send(.get, "/v2/sparse/manifests/idx")
            XCTAssertEqual(get.status, .ok)
            XCTAssertEqual(get.headers[.contentType], MT.ociIndex)
            XCTAssertEqual(get.headers[.dockerContentDigest], digest)
            XCTAssertEqual(bodyBytes(get), index)
            // The missing child itself is still unknown.
            assertError(try await client.send(.get, "/v2/sparse/manifests/\(Self.missingChild)"), .notFound, "MANIFEST_UNKNOWN")
            // Layers are still required: the two settings are independent.
            let image = try await Self.sparseImage(client, "sparse")
            Self.assertRefused(try await client.putManifest("sparse", "img", image, contentType: MT.ociManifest), missing: Self.missingLayer)
        }
    }

    func testSparseImagesWhenLayersIsNone() async throws {
        try await Registry.run(configure: { $0.manifestValidation.requireLayers = false }) { client in
            let image = try await Self.sparseImage(client, "sparse")
            let digest = try await client.pushManifest("sparse", "img", image, contentType: MT.ociManifest)
            try await client.expectBody("/v2/sparse/manifests/\(digest)", image)
            assertError(try await client.send(.get, "/v2/sparse/blobs/\(Self.missingLayer)"), .notFound, "BLOB_UNKNOWN")

            // The config is always required.
            let configless = try await Self.configlessImage(client, "sparse")
            Self.assertRefused(try await client.putManifest("sparse", "cfg", configless.body, contentType: MT.ociManifest),
                               missing: configless.config)
            assertError(try await client.send(.get, "/v2/sparse/manifests/cfg"), .notFound, "MANIFEST_UNKNOWN")
            // ... and its size is still checked.
            let config = bytes(#"{"architecture":"amd64","os":"linux","sparse":true}"#)
            let wrongSize = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociConfig, sha256(config), config.count + 1),
                                              layers: [descriptorJSON(MT.ociLayer, Self.missingLayer, 4096)])
            assertError(try await client.putManifest("sparse", "size", wrongSize, contentType: MT.ociManifest), .badRequest, "MANIFEST_INVALID")
            // Indexes still need their children.
            let index = Self.sparseIndex(child: Self.missingChild)
            Self.assertRefused(try await client.putManifest("sparse", "idx", index, contentType: MT.ociIndex), missing: Self.missingChild)
        }
    }

    func testBothSettingsTogether() async throws {
        try await Registry.run(configure: {
            $0.manifestValidation.requireIndexChildren = false
            $0.manifestValidation.requireLayers = false
        }) { client in
            let image = try await Self.sparseImage(client, "both")
            let imageDigest = try await client.pushManifest("both", "img", image, contentType: MT.ociManifest)
            // An index over the sparse image and a missing child.
            let index = indexJSON(mediaTypeField: MT.ociIndex, manifests: [
                descriptorJSON(MT.ociManifest, imageDigest, image.count), descriptorJSON(MT.ociManifest, Self.missingChild, 512),
            ])
            try await client.pushManifest("both", "idx", index, contentType: MT.ociIndex)
            assertTagList(try await client.send(.get, "/v2/both/tags/list"), "both", ["idx", "img"])
            let configless = try await Self.configlessImage(client, "both")
            Self.assertRefused(try await client.putManifest("both", "cfg", configless.body, contentType: MT.ociManifest),
                               missing: configless.config)
        }
    }
}
