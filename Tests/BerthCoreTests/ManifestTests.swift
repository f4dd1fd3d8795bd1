import BerthCore
import XCTest

final class ManifestTests: XCTestCase {
    let d1 = "sha256:" + String(repeating: "1", count: 64)
    let d2 = "sha256:" + String(repeating: "2", count: 64)

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testImageManifestReferencesConfigAndLayers() throws {
        let json = """
            {"schemaVersion":2,"mediaType":"\(MediaType.ociManifest)",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(d1)","size":10},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(d2)","size":20}],
             "subject":{"mediaType":"\(MediaType.ociManifest)","digest":"\(d1)","size":5}}
            """
        let m = try ParsedManifest.parse(bytes(json), contentType: MediaType.ociManifest)
        XCTAssertEqual(m.mediaType, MediaType.ociManifest)
        XCTAssertEqual(m.requiredBlobs.map(\.digest.description), [d1, d2])
        XCTAssertEqual(m.subject?.digest.description, d1)
        XCTAssertFalse(m.isIndex)
    }

    func testIndexReferencesChildren() throws {
        let json = #"{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"\#(d1)","size":1}]}"#
        let m = try ParsedManifest.parse(bytes(json), contentType: MediaType.ociIndex + "; charset=utf-8")
        XCTAssertTrue(m.isIndex)
        XCTAssertEqual(m.manifests.map(\.digest.description), [d1])
        XCTAssertTrue(m.requiredBlobs.isEmpty)
    }

    func testMediaTypeFromJSONWhenHeaderIsGeneric() throws {
        let json = #"{"schemaVersion":2,"mediaType":"\#(MediaType.dockerManifest)","config":{"mediaType":"c","digest":"\#(d1)","size":1},"layers":[]}"#
        XCTAssertEqual(try ParsedManifest.parse(bytes(json), contentType: nil).mediaType, MediaType.dockerManifest)
    }

    func testForeignLayersAreNotRequired() throws {
        let json = """
            {"schemaVersion":2,"mediaType":"\(MediaType.dockerManifest)","config":{"mediaType":"c","digest":"\(d1)","size":1},
             "layers":[{"mediaType":"\(MediaType.dockerForeignLayer)","digest":"\(d2)","size":3,"urls":["https://example.com/l"]}]}
            """
        XCTAssertEqual(try ParsedManifest.parse(bytes(json), contentType: MediaType.dockerManifest).requiredBlobs.count, 1)
    }

    func testInvalidManifests() {
        let cases: [(String, String?)] = [
            ("not json", MediaType.ociManifest),
            ("[]", MediaType.ociManifest),
            (#"{"schemaVersion":1}"#, MediaType.ociManifest),
            (#"{"schemaVersion":2,"layers":[]}"#, MediaType.ociManifest),  // no config
            (#"{"schemaVersion":2}"#, MediaType.ociIndex),  // no manifests
            (#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"sha256:zz","size":1},"layers":[]}"#, MediaType.ociManifest),
            (#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"\#(d1)","size":-1},"layers":[]}"#, MediaType.ociManifest),
            (#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"\#(d1)","size":1},"layers":[]}"#, "text/plain"),
            (#"{"schemaVersion":2,"config":{"mediaType":"c","digest":"\#(d1)","size":1},"layers":[]}"#, nil),
            (#"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex)","config":{"mediaType":"c","digest":"\#(d1)","size":1}}"#, MediaType.ociManifest),
        ]
        for (json, type) in cases {
            XCTAssertThrowsError(try ParsedManifest.parse(bytes(json), contentType: type), json) { error in
                XCTAssertEqual((error as? RegistryError)?.code, .manifestInvalid, json)
            }
        }
    }

    func testInferMediaType() {
        XCTAssertEqual(ParsedManifest.inferMediaType(bytes(#"{"mediaType":"a/b"}"#)), "a/b")
        XCTAssertEqual(ParsedManifest.inferMediaType(bytes(#"{"schemaVersion":2,"manifests":[]}"#)), MediaType.ociIndex)
        XCTAssertEqual(ParsedManifest.inferMediaType(bytes(#"{"schemaVersion":2,"config":{}}"#)), MediaType.ociManifest)
    }
}
