import Foundation
import XCTest

/// Berth and the reference registry (`docker-registry`, distribution 2.8.2) serve each other's
/// data directories: what one stored, the other serves unchanged.
final class ReferenceRegistryInteropTests: IntegrationTestCase {
    /// Pushed into the reference registry, pulled from Berth on the same root directory.
    func testBerthServesReferenceRegistryStorage() async throws {
        let image = TestImage.random(layerCount: 3)
        let index = TestIndex(images: [
            TestImage.random(architecture: "amd64", layerCount: 1),
            TestImage.random(architecture: "arm64", layerCount: 1),
        ])
        let source = try temporaryDirectory("src")
        try OCILayout.write(source.appendingPathComponent("image"), tag: "v1", image: image)
        try OCILayout.write(source.appendingPathComponent("index"), tag: "multi", index: index)
        let root = try temporaryDirectory("root")

        let reference = try await startReferenceRegistry(root: root)
        try await Skopeo.copy("oci:\(source.path)/image:v1", "docker://\(reference.host)/interop/from-reference:v1")
        try await Skopeo.copy("oci:\(source.path)/index:multi", "docker://\(reference.host)/interop/from-reference:multi",
                              all: true)
        await reference.stop()

        let berth = try await startBerth(root: root)
        let pulled = try temporaryDirectory("pulled")
        try await Skopeo.copy("docker://\(berth.host)/interop/from-reference:v1", "oci:\(pulled.path)/image:v1")
        try assertLayout(pulled.appendingPathComponent("image"), tag: "v1", holds: image)
        try await Skopeo.copy("docker://\(berth.host)/interop/from-reference:multi", "oci:\(pulled.path)/index:multi",
                              all: true)
        try assertLayout(pulled.appendingPathComponent("index"), tag: "multi", holds: index)

        let info = try await Skopeo.inspect("docker://\(berth.host)/interop/from-reference:v1")
        XCTAssertEqual(info["Digest"] as? String, image.manifest.digest)
        XCTAssertEqual(info["RepoTags"] as? [String], ["multi", "v1"])
    }

    /// Pushed into Berth, pulled from the reference registry on Berth's root directory.
    func testReferenceRegistryServesBerthStorage() async throws {
        let image = TestImage.random(layerCount: 3)
        let index = TestIndex(images: [
            TestImage.random(architecture: "amd64", layerCount: 1),
            TestImage.random(architecture: "arm64", layerCount: 1),
        ])
        let source = try temporaryDirectory("src")
        try OCILayout.write(source.appendingPathComponent("image"), tag: "v1", image: image)
        try OCILayout.write(source.appendingPathComponent("index"), tag: "multi", index: index)
        let root = try temporaryDirectory("root")

        let berth = try await startBerth(root: root)
        try await Skopeo.copy("oci:\(source.path)/image:v1", "docker://\(berth.host)/interop/from-berth:v1")
        try await Skopeo.copy("oci:\(source.path)/index:multi", "docker://\(berth.host)/interop/from-berth:multi", all: true)
        await berth.stop()

        let reference = try await startReferenceRegistry(root: root)
        let pulled = try temporaryDirectory("pulled")
        do {
            try await Skopeo.copy("docker://\(reference.host)/interop/from-berth:v1", "oci:\(pulled.path)/image:v1")
            try assertLayout(pulled.appendingPathComponent("image"), tag: "v1", holds: image)
            try await Skopeo.copy("docker://\(reference.host)/interop/from-berth:multi", "oci:\(pulled.path)/index:multi",
                                  all: true)
            try assertLayout(pulled.appendingPathComponent("index"), tag: "multi", holds: index)

            let info = try await Skopeo.inspect("docker://\(reference.host)/interop/from-berth:v1")
            XCTAssertEqual(info["Digest"] as? String, image.manifest.digest)
            // distribution 2.8 lists tags in directory order, unsorted.
            XCTAssertEqual((info["RepoTags"] as? [String])?.sorted(), ["multi", "v1"])
        } catch {
            throw TestFailure("\(error)\ndocker-registry log:\n\(reference.log)")
        }
    }
}
