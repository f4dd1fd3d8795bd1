import Foundation
import XCTest

/// Pushes to and pulls from an in-process Berth with the real `skopeo`.
final class SkopeoTests: IntegrationTestCase {
    /// A three-layer OCI image goes in and comes back out byte for byte: same manifest digest,
    /// same config and layer digests, same bytes.
    func testCopyMultiLayerImageRoundTrip() async throws {
        let image = TestImage.random(layerCount: 3)
        let source = try temporaryDirectory("src")
        try OCILayout.write(source, tag: "v1", image: image)
        let berth = try await startBerth(root: try temporaryDirectory("root"))

        try await Skopeo.copy("oci:\(source.path):v1", "docker://\(berth.host)/repo/name:v1")

        let pulled = try temporaryDirectory("pulled").appendingPathComponent("layout")
        try await Skopeo.copy("docker://\(berth.host)/repo/name:v1", "oci:\(pulled.path):v1")
        try assertLayout(pulled, tag: "v1", holds: image)

        // The same content by digest, and the registry's own view of it.
        let byDigest = try temporaryDirectory("by-digest").appendingPathComponent("layout")
        try await Skopeo.copy("docker://\(berth.host)/repo/name@\(image.manifest.digest)", "oci:\(byDigest.path):v1")
        try assertLayout(byDigest, tag: "v1", holds: image)

        let manifest = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/repo/name/manifests/v1"),
                                              headers: ["Accept": MediaTypes.manifest])
        XCTAssertEqual(manifest.status, 200)
        XCTAssertEqual(manifest.body, image.manifest.bytes)
        XCTAssertEqual(manifest.header("Docker-Content-Digest"), image.manifest.digest)
        XCTAssertEqual(manifest.header("Content-Type"), MediaTypes.manifest)
    }

    /// `copy --all` of a linux/amd64 + linux/arm64 index keeps the index and both children intact.
    func testCopyAllMultiPlatformIndexRoundTrip() async throws {
        let index = TestIndex(images: [
            TestImage.random(architecture: "amd64", layerCount: 2),
            TestImage.random(architecture: "arm64", layerCount: 2),
        ])
        let source = try temporaryDirectory("src")
        try OCILayout.write(source, tag: "multi", index: index)
        let berth = try await startBerth(root: try temporaryDirectory("root"))

        try await Skopeo.copy("oci:\(source.path):multi", "docker://\(berth.host)/multi/arch:multi", all: true)

        let pulled = try temporaryDirectory("pulled").appendingPathComponent("layout")
        try await Skopeo.copy("docker://\(berth.host)/multi/arch:multi", "oci:\(pulled.path):multi", all: true)
        try assertLayout(pulled, tag: "multi", holds: index)

        // Berth serves the index with its media type, and each child by digest.
        let raw = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/multi/arch/manifests/multi"),
                                         headers: ["Accept": MediaTypes.index])
        XCTAssertEqual(raw.status, 200)
        XCTAssertEqual(raw.header("Content-Type"), MediaTypes.index)
        XCTAssertEqual(raw.header("Docker-Content-Digest"), index.index.digest)
        XCTAssertEqual(raw.body, index.index.bytes)
        for image in index.images {
            let child = try await HTTP.request(
                "GET", berth.baseURL.appendingPathComponent("v2/multi/arch/manifests/\(image.manifest.digest)"),
                headers: ["Accept": MediaTypes.manifest])
            XCTAssertEqual(child.status, 200, "child \(image.architecture)")
            XCTAssertEqual(child.body, image.manifest.bytes, "child \(image.architecture)")
        }
    }

    /// `skopeo inspect` reads digest, layers and architecture (from the config blob) through
    /// Berth; `skopeo list-tags` lists every tag, sorted.
    func testInspectAndListTags() async throws {
        let image = TestImage.random(architecture: "arm64", layerCount: 2)
        let source = try temporaryDirectory("src")
        try OCILayout.write(source, tag: "v1", image: image)
        let berth = try await startBerth(root: try temporaryDirectory("root"))

        try await Skopeo.copy("oci:\(source.path):v1", "docker://\(berth.host)/tools/inspect:v2")
        try await Skopeo.copy("oci:\(source.path):v1", "docker://\(berth.host)/tools/inspect:v10")

        let info = try await Skopeo.inspect("docker://\(berth.host)/tools/inspect:v2")
        XCTAssertEqual(info["Digest"] as? String, image.manifest.digest)
        XCTAssertEqual(info["Layers"] as? [String], image.layers.map(\.digest))
        XCTAssertEqual(info["Architecture"] as? String, "arm64")
        XCTAssertEqual(info["Os"] as? String, "linux")
        XCTAssertEqual(info["RepoTags"] as? [String], ["v10", "v2"])

        let raw = try await Skopeo.inspect("docker://\(berth.host)/tools/inspect:v10", raw: true)
        XCTAssertEqual(raw["mediaType"] as? String, MediaTypes.manifest)
        XCTAssertEqual((raw["layers"] as? [[String: Any]])?.compactMap { $0["digest"] as? String }, image.layers.map(\.digest))

        // Bytewise order, as the reference registry lists them: "v10" before "v2".
        let tags = try await Skopeo.listTags("docker://\(berth.host)/tools/inspect")
        XCTAssertEqual(tags, ["v10", "v2"])
    }
}
