import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// Manifest PUTs the registry must refuse, and unknown manifests.
final class ManifestErrorTests: XCTestCase {
    func testMissingLayerIsManifestBlobUnknownAndNothingIsStored() async throws {
        try await Registry.run { client in
            let config = bytes("{}")
            let configDigest = try await client.pushBlob("m", config)
            let missing = sha256(content(10, seed: 42))
            let body = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociConfig, configDigest, 2),
                                         layers: [descriptorJSON(MT.ociLayer, missing, 10)])
            let r = try await client.putManifest("m", "t", body, contentType: MT.ociManifest)
            let entry = assertError(r, .badRequest, "MANIFEST_BLOB_UNKNOWN")
            XCTAssertEqual(entry?.detail?["digest"], missing)
            assertError(try await client.send(.get, "/v2/m/manifests/t"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/m/manifests/\(sha256(body))"), .notFound, "MANIFEST_UNKNOWN")
        }
    }

    func testMissingConfigIsManifestBlobUnknown() async throws {
        try await Registry.run { client in
            let body = imageManifestJSON(mediaTypeField: MT.dockerManifest,
                                         config: descriptorJSON(MT.dockerConfig, sha256("absent config"), 14), layers: [])
            assertError(try await client.putManifest("m", "t", body, contentType: MT.dockerManifest), .badRequest, "MANIFEST_BLOB_UNKNOWN")
        }
    }

    func testBlobOfAnotherRepositoryDoesNotSatisfyAManifest() async throws {
        try await Registry.run { client in
            let configDigest = try await client.pushBlob("elsewhere", emptyJSON)
            let body = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociEmpty, configDigest, 2), layers: [])
            assertError(try await client.putManifest("here", "t", body, contentType: MT.ociManifest), .badRequest, "MANIFEST_BLOB_UNKNOWN")
        }
    }

    func testIndexWithMissingChildIsManifestBlobUnknown() async throws {
        try await Registry.run { client in
            let present = try await client.pushImage("idx", tag: "child")
            let absent = sha256("no such manifest")
            for (type, childType) in [(MT.ociIndex, MT.ociManifest), (MT.dockerList, MT.dockerManifest)] {
                let index = indexJSON(mediaTypeField: type, manifests: [
                    descriptorJSON(MT.ociManifest, present.digest, present.bytes.count),
                    descriptorJSON(childType, absent, 300),
                ])
                let r = try await client.putManifest("idx", "latest", index, contentType: type)
                let entry = assertError(r, .badRequest, "MANIFEST_BLOB_UNKNOWN")
                XCTAssertEqual(entry?.detail?["digest"], absent)
            }
            assertError(try await client.send(.get, "/v2/idx/manifests/latest"), .notFound, "MANIFEST_UNKNOWN")
        }
    }

    func testIndexChildFromAnotherRepositoryIsManifestBlobUnknown() async throws {
        try await Registry.run { client in
            let image = try await client.pushImage("other", tag: "child")
            let index = indexJSON(mediaTypeField: MT.ociIndex, manifests: [descriptorJSON(MT.ociManifest, image.digest, image.bytes.count)])
            assertError(try await client.putManifest("idx", "latest", index, contentType: MT.ociIndex), .badRequest, "MANIFEST_BLOB_UNKNOWN")
        }
    }

    func testMalformedJSONIsManifestInvalid() async throws {
        try await Registry.run { client in
            for text in ["{not json", "", "[]", "{\"schemaVersion\":2,", "null"] {
                let r = try await client.putManifest("m", "t", bytes(text), contentType: MT.ociManifest)
                assertError(r, .badRequest, "MANIFEST_INVALID")
            }
        }
    }

    func testStructurallyInvalidManifestsAreManifestInvalid() async throws {
        try await Registry.run { client in
            try await client.pushBlob("m", emptyJSON)
            let config = descriptorJSON(MT.ociEmpty, emptyDigest, 2)
            let cases: [(String, [UInt8])] = [
                ("schemaVersion 1", bytes(#"{"schemaVersion":1,"config":\#(config),"layers":[]}"#)),
                ("no schemaVersion", bytes(#"{"config":\#(config),"layers":[]}"#)),
                ("no config", bytes(#"{"schemaVersion":2,"layers":[]}"#)),
                ("bad descriptor digest", bytes(#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:xyz","size":2},"layers":[]}"#)),
                ("mediaType member disagrees with Content-Type",
                 imageManifestJSON(mediaTypeField: MT.dockerManifest, config: config, layers: [])),
                ("size differs from the stored blob", bytes(#"{"schemaVersion":2,"config":{"mediaType":"x","digest":"\#(emptyDigest)","size":3},"layers":[]}"#)),
            ]
            for (name, body) in cases {
                let r = try await client.putManifest("m", "t", body, contentType: MT.ociManifest)
                XCTAssertEqual(r.status, .badRequest, name)
                assertError(r, .badRequest, "MANIFEST_INVALID")
            }
            let indexWithoutManifests = bytes(#"{"schemaVersion":2,"mediaType":"\#(MT.ociIndex)"}"#)
            assertError(try await client.putManifest("m", "i", indexWithoutManifests, contentType: MT.ociIndex), .badRequest, "MANIFEST_INVALID")
        }
    }

    func testUnsupportedContentTypeIsManifestInvalid() async throws {
        try await Registry.run { client in
            try await client.pushBlob("m", emptyJSON)
            let body = imageManifestJSON(mediaTypeField: nil, config: descriptorJSON(MT.ociEmpty, emptyDigest, 2), layers: [])
            for type in ["text/plain", "application/vnd.docker.distribution.manifest.v1+prettyjws", "application/xml"] {
                assertError(try await client.putManifest("m", "t", body, contentType: type), .badRequest, "MANIFEST_INVALID")
            }
            // Without a Content-Type or a mediaType member there is nothing to go by.
            assertError(try await client.putManifest("m", "t", body, contentType: nil), .badRequest, "MANIFEST_INVALID")
            assertError(try await client.send(.get, "/v2/m/manifests/t"), .notFound, "MANIFEST_UNKNOWN")
        }
    }

    func testBodyOverFourMiBIs413WithJSONError() async throws {
        try await Registry.run { client in
            let body = [UInt8](repeating: 0x20, count: 4 * 1024 * 1024 + 1)
            let r = try await client.putManifest("m", "huge", body, contentType: MT.ociManifest)
            assertError(r, .contentTooLarge, "MANIFEST_TOO_LARGE")
            assertError(try await client.send(.get, "/v2/m/manifests/huge"), .notFound, "MANIFEST_UNKNOWN")
        }
    }

    func testPutByDigestThatDoesNotMatchIsDigestInvalid() async throws {
        try await Registry.run { client in
            try await client.pushBlob("m", emptyJSON)
            let body = imageManifestJSON(mediaTypeField: MT.ociManifest, config: descriptorJSON(MT.ociEmpty, emptyDigest, 2), layers: [])
            let wrong = sha256(body + bytes(" "))
            let r = try await client.putManifest("m", wrong, body, contentType: MT.ociManifest)
            let entry = assertError(r, .badRequest, "DIGEST_INVALID")
            XCTAssertEqual(entry?.detail?["digest"], wrong)
            assertError(try await client.send(.get, "/v2/m/manifests/\(wrong)"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/m/manifests/\(sha256(body))"), .notFound, "MANIFEST_UNKNOWN")
            let wrong512 = sha512(body + bytes(" "))
            assertError(try await client.putManifest("m", wrong512, body, contentType: MT.ociManifest), .badRequest, "DIGEST_INVALID")
        }
    }

    func testUnknownManifestIs404ManifestUnknown() async throws {
        try await Registry.run { client in
            try await client.pushImage("known", tag: "present")
            let tag = try await client.send(.get, "/v2/known/manifests/absent")
            let entry = assertError(tag, .notFound, "MANIFEST_UNKNOWN")
            XCTAssertEqual(entry?.detail?["reference"], "absent")
            assertError(try await client.send(.get, "/v2/known/manifests/\(sha256("x"))"), .notFound, "MANIFEST_UNKNOWN")
            assertError(try await client.send(.get, "/v2/unknown/repo/manifests/latest"), .notFound, "MANIFEST_UNKNOWN")
            assertHeadError(try await client.send(.head, "/v2/known/manifests/absent"), .notFound)
        }
    }

    /// Nesting deep enough to exhaust a recursive parser is refused as invalid, and the server
    /// answers the next request.
    func testDeeplyNestedJSONIsRefused() async throws {
        try await Registry.run { client in
            let depth = 100_000
            let body = bytes(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","x":"#
                             + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}")
            let r = try await client.putManifest("deep", "v1", body, contentType: MT.ociManifest)
            assertError(r, .badRequest, "MANIFEST_INVALID")
            let after = try await client.send(.get, "/v2/")
            XCTAssertEqual(after.status, .ok)
        }
    }
}
