import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// Deletes through the tags-by-digest index (`storage.delete.enabled: true`): a manifest delete
/// removes exactly the tags pointing at it, including after the index was rebuilt from the
/// reference layout.
final class DeleteIndexTests: XCTestCase {
    static func temporaryRoot() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("berth-delete-index-\(UUID().uuidString)").path
    }

    /// Asserts `repo:tag` resolves to `digest` (nil: MANIFEST_UNKNOWN).
    static func assertTag(_ client: Client, _ repo: String, _ tag: String, _ digest: String?,
                          file: StaticString = #filePath, line: UInt = #line) async throws {
        let r = try await client.send(.get, "/v2/\(repo)/manifests/\(tag)")
        if let digest {
            XCTAssertEqual(r.status, .ok, "\(repo):\(tag): \(bodyString(r))", file: file, line: line)
            XCTAssertEqual(r.headers[.dockerContentDigest], digest, "\(repo):\(tag)", file: file, line: line)
        } else {
            assertError(r, .notFound, "MANIFEST_UNKNOWN", file: file, line: line)
        }
    }

    func testDeleteByDigestRemovesEveryTagPointingAtIt() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let doomed = try await client.pushImage("d", tag: "one", seed: 1)
            let kept = try await client.pushImage("d", tag: "other", seed: 2)
            for tag in ["two", "three", "moved"] {
                try await client.pushManifest("d", tag, doomed.bytes, contentType: MT.ociManifest)
            }
            // "moved" pointed at the doomed manifest, then at the kept one.
            try await client.pushManifest("d", "moved", kept.bytes, contentType: MT.ociManifest)
            assertTagList(try await client.send(.get, "/v2/d/tags/list"), "d", ["moved", "one", "other", "three", "two"])

            let r = try await client.send(.delete, "/v2/d/manifests/\(doomed.digest)")
            XCTAssertEqual(r.status, .accepted, bodyString(r))
            XCTAssertEqual(r.headers[.contentLength], "0")

            for tag in ["one", "two", "three"] { try await Self.assertTag(client, "d", tag, nil) }
            try await Self.assertTag(client, "d", "moved", kept.digest)
            try await Self.assertTag(client, "d", "other", kept.digest)
            assertTagList(try await client.send(.get, "/v2/d/tags/list"), "d", ["moved", "other"])
            assertError(try await client.send(.get, "/v2/d/manifests/\(doomed.digest)"), .notFound, "MANIFEST_UNKNOWN")
        }
    }

    func testTagDeleteRemovesOnlyThatTagAndKeepsTheIndexRight() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let image = try await client.pushImage("t", tag: "a", seed: 1)
            try await client.pushManifest("t", "b", image.bytes, contentType: MT.ociManifest)
            try await client.pushManifest("t", "c", image.bytes, contentType: MT.ociManifest)

            try await client.expect(.delete, "/v2/t/manifests/a", .accepted)
            try await Self.assertTag(client, "t", "a", nil)
            try await Self.assertTag(client, "t", "b", image.digest)
            try await Self.assertTag(client, "t", "c", image.digest)
            try await client.expect(.get, "/v2/t/manifests/\(image.digest)", .ok)
            assertTagList(try await client.send(.get, "/v2/t/tags/list"), "t", ["b", "c"])

            // The manifest delete then removes the remaining tags.
            try await client.expect(.delete, "/v2/t/manifests/\(image.digest)", .accepted)
            try await Self.assertTag(client, "t", "b", nil)
            try await Self.assertTag(client, "t", "c", nil)
            assertTagList(try await client.send(.get, "/v2/t/tags/list"), "t", [])

            // Pushed again under one tag: the deleted tags do not come back.
            try await client.pushManifest("t", "a", image.bytes, contentType: MT.ociManifest)
            assertTagList(try await client.send(.get, "/v2/t/tags/list"), "t", ["a"])
            try await Self.assertTag(client, "t", "b", nil)
        }
    }

    func testTagMovedAwayAndBackGoesWithTheManifestItPointsAt() async throws {
        try await Registry.run(deleteEnabled: true) { client in
            let first = try await client.pushImage("m", tag: "x", seed: 1)
            let second = try await client.pushImage("m", tag: "y", seed: 2)
            try await client.pushManifest("m", "x", second.bytes, contentType: MT.ociManifest)
            try await client.pushManifest("m", "x", first.bytes, contentType: MT.ociManifest)

            // x points at the first manifest again: deleting the second leaves it.
            try await client.expect(.delete, "/v2/m/manifests/\(second.digest)", .accepted)
            try await Self.assertTag(client, "m", "x", first.digest)
            try await Self.assertTag(client, "m", "y", nil)
            try await client.expect(.delete, "/v2/m/manifests/\(first.digest)", .accepted)
            try await Self.assertTag(client, "m", "x", nil)
            assertTagList(try await client.send(.get, "/v2/m/tags/list"), "m", [])
        }
    }

    /// Storage whose Berth indexes are missing (written by the reference registry, or by a Berth
    /// before it kept them): the index is rebuilt from the layout when first needed.
    func testIndexesAreRebuiltFromTheLayout() async throws {
        let root = Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (doomed, kept, signature) = try await Registry.run(root: root) { client in
            let doomed = try await client.pushImage("legacy", tag: "one", seed: 1)
            try await client.pushManifest("legacy", "two", doomed.bytes, contentType: MT.ociManifest)
            let kept = try await client.pushImage("legacy", tag: "three", seed: 2)
            let signature = try await Referrers.pushSignature(client, "legacy", subject: kept.digest, subjectSize: kept.bytes.count)
            return (doomed, kept, signature)
        }
        try FileManager.default.removeItem(atPath: root + "/berth/repositories")

        try await Registry.run(deleteEnabled: true, root: root) { client in
            assertReferrers(try await client.send(.get, "/v2/legacy/referrers/\(kept.digest)"), [signature.listed])
            try await client.expect(.delete, "/v2/legacy/manifests/\(doomed.digest)", .accepted)
            try await Self.assertTag(client, "legacy", "one", nil)
            try await Self.assertTag(client, "legacy", "two", nil)
            try await Self.assertTag(client, "legacy", "three", kept.digest)
            assertTagList(try await client.send(.get, "/v2/legacy/tags/list"), "legacy", ["three"])
        }
    }

    /// Indexing a repository on demand must not wipe the indexes of the repositories nested
    /// under its name: Berth keeps `a`'s index in `berth/repositories/a/` and `a/b`'s in
    /// `berth/repositories/a/b/`, and rebuilding `a` deletes the whole `berth/repositories/a` tree.
    func testIndexingAParentRepositoryKeepsTheIndexesOfNestedRepositories() async throws {
        let root = Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (child, signature) = try await Registry.run(root: root) { client in
            try await client.pushImage("a", tag: "v1", seed: 1)
            let child = try await client.pushImage("a/b", tag: "v1", seed: 2)
            try await client.pushManifest("a/b", "v1-alias", child.bytes, contentType: MT.ociManifest)
            let signature = try await Referrers.pushSignature(client, "a/b", subject: child.digest, subjectSize: child.bytes.count)
            return (child, signature)
        }
        // "a" as the reference registry (or an older Berth) would have left it: no Berth index.
        try FileManager.default.removeItem(atPath: root + "/berth/repositories/a/_indexed")
        try FileManager.default.removeItem(atPath: root + "/berth/repositories/a/_digest_tags")

        try await Registry.run(deleteEnabled: true, root: root) { client in
            let uri = "/v2/a/b/referrers/\(child.digest)"
            assertReferrers(try await client.send(.get, uri), [signature.listed])
            // Any request that indexes "a" ...
            assertReferrers(try await client.send(.get, "/v2/a/referrers/\(child.digest)"), [])
            // ... leaves "a/b"'s referrers and tags-by-digest index intact.
            assertReferrers(try await client.send(.get, uri), [signature.listed])
            try await client.expect(.delete, "/v2/a/b/manifests/\(child.digest)", .accepted)
            try await Self.assertTag(client, "a/b", "v1", nil)
            try await Self.assertTag(client, "a/b", "v1-alias", nil)
            assertTagList(try await client.send(.get, "/v2/a/b/tags/list"), "a/b", [])
        }
    }
}
