import Foundation
import XCTest

/// Berth's indexes over storage it did not write (the reference registry's), and
/// `berth index rebuild` after storage changed behind Berth's back.
final class IndexCommandTests: IntegrationTestCase {
    /// A small image written as an OCI layout under `dir/name`, for skopeo to push.
    func layout(_ dir: URL, _ name: String) throws -> (path: String, image: TestImage) {
        let image = TestImage.random(layerCount: 1, layerSize: 2000)
        try OCILayout.write(dir.appendingPathComponent(name), tag: "v", image: image)
        return ("oci:\(dir.appendingPathComponent(name).path):v", image)
    }

    func catalog(_ base: URL, file: StaticString = #filePath, line: UInt = #line) async throws -> [String] {
        let r = try await HTTP.request("GET", base.appendingPathComponent("v2/_catalog"))
        XCTAssertEqual(r.status, 200, r.text, file: file, line: line)
        XCTAssertEqual(r.header("Content-Type"), "application/json", file: file, line: line)
        guard let json = try JSONSerialization.jsonObject(with: r.body) as? [String: Any],
              let names = json["repositories"] as? [String] else {
            throw TestFailure("catalog is not {\"repositories\":[...]}: \(r.text)")
        }
        return names
    }

    func rebuild(_ root: URL, expecting count: Int, file: StaticString = #filePath, line: UInt = #line) async throws {
        let result = try await ProcessRunner.run(CommandLineTests.berth, ["index", "rebuild", "--root", root.path],
                                                 timeout: .seconds(30), allowFailure: true)
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        let last = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        XCTAssertTrue(last.hasPrefix("indexed \(count) repositories in "), "stdout: \(result.stdout)\nstderr: \(result.stderr)",
                      file: file, line: line)
    }

    /// The reference registry wrote an image under two tags and another image under a third;
    /// Berth, started on its data, lists the repositories and deletes by digest through the
    /// tags-by-digest index it builds from the layout.
    func testBerthOnReferenceRegistryDataListsAndDeletesByDigest() async throws {
        let source = try temporaryDirectory("src")
        let (a, imageA) = try layout(source, "a")
        let (b, imageB) = try layout(source, "b")
        let root = try temporaryDirectory("root")

        let reference = try await startReferenceRegistry(root: root)
        for destination in ["app:one", "app:two", "app:moved", "team/nested:v1"] {
            try await Skopeo.copy(a, "docker://\(reference.host)/\(destination)")
        }
        try await Skopeo.copy(b, "docker://\(reference.host)/app:other")
        await reference.stop()

        let berth = try await startBerth(root: root)
        let base = berth.baseURL
        let names = try await catalog(base)
        XCTAssertEqual(names, ["app", "team/nested"])
        // "moved" is pointed at the other image through Berth before the delete.
        try await Skopeo.copy(b, "docker://\(berth.host)/app:moved")

        let deleted = try await HTTP.request("DELETE", base.appendingPathComponent("v2/app/manifests/\(imageA.manifest.digest)"))
        XCTAssertEqual(deleted.status, 202, deleted.text)
        for tag in ["one", "two"] {
            let r = try await HTTP.request("GET", base.appendingPathComponent("v2/app/manifests/\(tag)"))
            XCTAssertEqual(r.status, 404, "app:\(tag) \(r.text)")
            XCTAssertEqual(r.errorCode, "MANIFEST_UNKNOWN", tag)
        }
        let other = try await HTTP.request("GET", base.appendingPathComponent("v2/app/manifests/other"),
                                           headers: ["Accept": MediaTypes.manifest])
        XCTAssertEqual(other.status, 200, other.text)
        XCTAssertEqual(other.header("Docker-Content-Digest"), imageB.manifest.digest)
        let moved = try await HTTP.request("GET", base.appendingPathComponent("v2/app/manifests/moved"),
                                           headers: ["Accept": MediaTypes.manifest])
        XCTAssertEqual(moved.status, 200, moved.text)
        XCTAssertEqual(moved.header("Docker-Content-Digest"), imageB.manifest.digest)
        let tags = try await HTTP.request("GET", base.appendingPathComponent("v2/app/tags/list"))
        XCTAssertEqual(tags.status, 200, tags.text)
        XCTAssertEqual((try JSONSerialization.jsonObject(with: tags.body) as? [String: Any])?["tags"] as? [String], ["moved", "other"])
        // The same image in another repository is untouched.
        let nested = try await HTTP.request("GET", base.appendingPathComponent("v2/team/nested/manifests/v1"))
        XCTAssertEqual(nested.status, 200, nested.text)
        XCTAssertEqual(nested.header("Docker-Content-Digest"), imageA.manifest.digest)
        let afterFirst = try await catalog(base)
        XCTAssertEqual(afterFirst, ["app", "team/nested"])

        // The last manifest of "app" goes: so does "app" from the catalog.
        let last = try await HTTP.request("DELETE", base.appendingPathComponent("v2/app/manifests/\(imageB.manifest.digest)"))
        XCTAssertEqual(last.status, 202, last.text)
        let afterLast = try await catalog(base)
        XCTAssertEqual(afterLast, ["team/nested"])
    }

    /// Migrating from the reference registry, where no repository has Berth's indexes yet: a
    /// delete in `a/b` indexes it, a push to its parent `a` then indexes `a` (rebuilding
    /// `berth/repositories/a/`, which holds `a/b`'s index too), and a later delete in `a/b` must
    /// still remove the tags of the deleted manifest.
    func testPushToAParentRepositoryKeepsTheNestedRepositorysIndex() async throws {
        let source = try temporaryDirectory("src")
        let (a, imageA) = try layout(source, "a")
        let (b, imageB) = try layout(source, "b")
        let (c, _) = try layout(source, "c")
        let root = try temporaryDirectory("root")

        let reference = try await startReferenceRegistry(root: root)
        for destination in ["parent/child:one", "parent/child:two"] {
            try await Skopeo.copy(a, "docker://\(reference.host)/\(destination)")
        }
        try await Skopeo.copy(b, "docker://\(reference.host)/parent/child:old")
        try await Skopeo.copy(c, "docker://\(reference.host)/parent:v1")
        await reference.stop()

        let berth = try await startBerth(root: root)
        let base = berth.baseURL
        let first = try await HTTP.request("DELETE", base.appendingPathComponent("v2/parent/child/manifests/\(imageB.manifest.digest)"))
        XCTAssertEqual(first.status, 202, first.text)
        try await Skopeo.copy(c, "docker://\(berth.host)/parent:v2")

        let second = try await HTTP.request("DELETE", base.appendingPathComponent("v2/parent/child/manifests/\(imageA.manifest.digest)"))
        XCTAssertEqual(second.status, 202, second.text)
        for tag in ["one", "two", "old"] {
            let r = try await HTTP.request("GET", base.appendingPathComponent("v2/parent/child/manifests/\(tag)"),
                                           headers: ["Accept": MediaTypes.manifest])
            XCTAssertEqual(r.status, 404, "parent/child:\(tag) is still served after its manifest was deleted")
            XCTAssertEqual(r.errorCode, "MANIFEST_UNKNOWN", tag)
        }
        let tags = try await HTTP.request("GET", base.appendingPathComponent("v2/parent/child/tags/list"))
        XCTAssertEqual((try JSONSerialization.jsonObject(with: tags.body) as? [String: Any])?["tags"] as? [String], [], tags.text)
        await berth.stop()

        // Not only in this process: after a restart the tags of the deleted manifest must be gone too.
        let restarted = try await startBerth(root: root)
        let one = try await HTTP.request("GET", restarted.baseURL.appendingPathComponent("v2/parent/child/manifests/one"),
                                         headers: ["Accept": MediaTypes.manifest])
        XCTAssertEqual(one.status, 404, "parent/child:one is served after a restart though its manifest was deleted")
    }

    /// The catalog is built from storage once; repositories added or removed behind Berth's back
    /// appear or go after `berth index rebuild`, which may run while Berth serves.
    func testIndexRebuildAfterStorageChangedBehindBerthsBack() async throws {
        let source = try temporaryDirectory("src")
        let (a, _) = try layout(source, "a")
        let (b, _) = try layout(source, "b")
        let root = try temporaryDirectory("root")

        let first = try await startBerth(root: root)
        try await Skopeo.copy(a, "docker://\(first.host)/made/by-berth:v1")
        try await Skopeo.copy(a, "docker://\(first.host)/doomed:v1")
        await first.stop()

        let reference = try await startReferenceRegistry(root: root)
        try await Skopeo.copy(b, "docker://\(reference.host)/made/by-reference:v1")
        await reference.stop()
        // A repository removed by hand while nothing ran.
        try FileManager.default.removeItem(at: root.appendingPathComponent("docker/registry/v2/repositories/doomed"))

        let berth = try await startBerth(root: root)
        let stale = try await catalog(berth.baseURL)
        XCTAssertEqual(stale, ["doomed", "made/by-berth"], "the catalog is built once, not at every start")

        try await rebuild(root, expecting: 2)
        let rebuilt = try await catalog(berth.baseURL)
        XCTAssertEqual(rebuilt, ["made/by-berth", "made/by-reference"])

        // The catalog directory itself lost: empty until rebuilt.
        try FileManager.default.removeItem(at: root.appendingPathComponent("berth/catalog"))
        let lost = try await catalog(berth.baseURL)
        XCTAssertEqual(lost, [])
        try await rebuild(root, expecting: 2)
        let restored = try await catalog(berth.baseURL)
        XCTAssertEqual(restored, ["made/by-berth", "made/by-reference"])
        await berth.stop()

        // And after a restart.
        let again = try await startBerth(root: root)
        let final = try await catalog(again.baseURL)
        XCTAssertEqual(final, ["made/by-berth", "made/by-reference"])
    }

    func testIndexRebuildOfEmptyStorageAndInvalidConfiguration() async throws {
        let root = try temporaryDirectory("empty")
        try await rebuild(root, expecting: 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("berth/catalog-indexed").path))

        let config = root.appendingPathComponent("bad.yml")
        try "version: 0.1\nvalidation:\n  manifests:\n    layers: partial\n".write(to: config, atomically: true, encoding: .utf8)
        let refused = try await ProcessRunner.run(CommandLineTests.berth, ["index", "rebuild", config.path, "--root", root.path],
                                                  timeout: .seconds(30), allowFailure: true)
        XCTAssertEqual(refused.status, 2, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("validation.manifests.layers partial"), refused.stderr)
    }
}
