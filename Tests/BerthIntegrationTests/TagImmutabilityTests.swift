import BerthAuth
import BerthServer
import BerthStorage
import Foundation
import XCTest

/// Immutable tags against a running registry: skopeo cannot move them, raw API calls can neither
/// move nor delete them (nor the manifest they point at), mutable tags still move, and a user with
/// the `overwrite` action may do all of it.
final class TagImmutabilityTests: IntegrationTestCase {
    static let rules = TagImmutability(rules: [
        .init(repositories: ["**"], tags: ["v*.*.*"]),
        .init(repositories: ["prod/**"], tags: ["*"], except: ["latest"]),
    ])

    func layout(_ dir: URL, _ image: TestImage) throws -> String {
        let path = dir.appendingPathComponent(UUID().uuidString)
        try OCILayout.write(path, tag: "v", image: image)
        return "oci:\(path.path):v"
    }

    func digest(of base: URL, _ repository: String, _ tag: String, auth: String? = nil) async throws -> String? {
        var headers = ["Accept": MediaTypes.manifest]
        if let auth { headers["Authorization"] = auth }
        let r = try await HTTP.request("HEAD", base.appendingPathComponent("v2/\(repository)/manifests/\(tag)"), headers: headers)
        return r.status == 200 ? r.header("Docker-Content-Digest") : nil
    }

    func testSkopeoAndTheAPICannotMoveOrDeleteImmutableTags() async throws {
        let dir = try temporaryDirectory("immutable")
        let berth = try await startBerth(root: dir.appendingPathComponent("data")) { $0.immutability = Self.rules }
        let first = TestImage.random(layerCount: 1, layerSize: 2000)
        let second = TestImage.random(layerCount: 1, layerSize: 2000)
        let firstSource = try layout(dir, first)
        let secondSource = try layout(dir, second)
        for tag in ["v1.2.3", "latest"] { try await Skopeo.copy(firstSource, "docker://\(berth.host)/team/app:\(tag)") }
        try await Skopeo.copy(firstSource, "docker://\(berth.host)/prod/web:stable")
        let firstDigest = try await digest(of: berth.baseURL, "team/app", "v1.2.3")

        // Pushing the same image again is fine; pushing another one over the tag is refused.
        try await Skopeo.copy(firstSource, "docker://\(berth.host)/team/app:v1.2.3")
        do {
            try await Skopeo.copy(secondSource, "docker://\(berth.host)/team/app:v1.2.3")
            XCTFail("skopeo moved an immutable tag")
        } catch {
            XCTAssertTrue("\(error)".contains("immutable"), "skopeo shows the reason: \(error)")
        }
        let afterRefusal = try await digest(of: berth.baseURL, "team/app", "v1.2.3")
        XCTAssertEqual(afterRefusal, firstDigest)
        // Mutable tags move (latest here; and `latest` is excepted under prod/ as well).
        try await Skopeo.copy(secondSource, "docker://\(berth.host)/team/app:latest")
        try await Skopeo.copy(secondSource, "docker://\(berth.host)/prod/web:latest")
        try await Skopeo.copy(firstSource, "docker://\(berth.host)/prod/web:latest")
        let movedLatest = try await digest(of: berth.baseURL, "team/app", "latest")
        XCTAssertNotEqual(movedLatest, firstDigest)

        // Raw API: a PUT of another manifest to the tag (refused before its blobs are even looked
        // for), a DELETE of the tag, a DELETE of its manifest.
        let third = TestImage.random(layerCount: 1, layerSize: 500)
        let manifestURL = berth.baseURL.appendingPathComponent("v2/prod/web/manifests/stable")
        let put = try await HTTP.request("PUT", manifestURL, headers: ["Content-Type": MediaTypes.manifest], body: third.manifest.bytes)
        XCTAssertEqual(put.status, 403, put.text)
        XCTAssertTrue(put.text.contains("\"DENIED\"") && put.text.contains("immutability[1]"), put.text)
        let deleteTag = try await HTTP.request("DELETE", manifestURL)
        XCTAssertEqual(deleteTag.status, 403, deleteTag.text)
        let stable = try await digest(of: berth.baseURL, "prod/web", "stable")
        let stableDigest = try XCTUnwrap(stable)
        let deleteManifest = try await HTTP.request("DELETE", berth.baseURL.appendingPathComponent("v2/prod/web/manifests/\(stableDigest)"))
        XCTAssertEqual(deleteManifest.status, 403, deleteManifest.text)
        let stillThere = try await digest(of: berth.baseURL, "prod/web", "stable")
        XCTAssertEqual(stillThere, stableDigest)
        // A refused push stores nothing: the other manifest is not in the repository.
        let notStored = try await HTTP.request("HEAD", berth.baseURL.appendingPathComponent("v2/prod/web/manifests/\(third.manifest.digest)"))
        XCTAssertEqual(notStored.status, 404)
        // Mutable tags still delete.
        let deleteLatest = try await HTTP.request("DELETE", berth.baseURL.appendingPathComponent("v2/team/app/manifests/latest"))
        XCTAssertEqual(deleteLatest.status, 202, deleteLatest.text)

        // The pulled image is still the first one, whole.
        let pulled = dir.appendingPathComponent("pulled")
        try await Skopeo.copy("docker://\(berth.host)/team/app:v1.2.3", "oci:\(pulled.path):v")
        try assertLayout(pulled, tag: "v", holds: first)
    }

    func testUsersWithTheOverwriteActionMayMoveAndDeleteImmutableTags() async throws {
        let dir = try temporaryDirectory("overwrite")
        let htpasswd = try TestUsers.writeAliceAndBob(in: dir)
        let berth = try await startBerth(root: dir.appendingPathComponent("data")) { config in
            config.immutability = Self.rules
            config.auth.mode = .htpasswd(realm: "Berth", path: htpasswd)
            config.auth.rules = AccessRules(rules: [
                AccessRule(users: ["alice", "bob"], repositories: ["**"], actions: [.pull, .push, .delete]),
                AccessRule(users: ["alice"], repositories: ["team/**"], actions: [.overwrite]),
            ])
        }
        let first = try layout(dir, TestImage.random(layerCount: 1, layerSize: 1000))
        let second = try layout(dir, TestImage.random(layerCount: 1, layerSize: 1000))
        try await Skopeo.copy(first, "docker://\(berth.host)/team/app:v2.0.0", destinationCreds: "bob:bob-pw")
        do {
            try await Skopeo.copy(second, "docker://\(berth.host)/team/app:v2.0.0", destinationCreds: "bob:bob-pw")
            XCTFail("bob has no overwrite permission")
        } catch {}
        try await Skopeo.copy(second, "docker://\(berth.host)/team/app:v2.0.0", destinationCreds: "alice:alice-pw")
        let alice = "Basic " + Data("alice:alice-pw".utf8).base64EncodedString()
        let bob = "Basic " + Data("bob:bob-pw".utf8).base64EncodedString()
        let url = berth.baseURL.appendingPathComponent("v2/team/app/manifests/v2.0.0")
        let refused = try await HTTP.request("DELETE", url, headers: ["Authorization": bob])
        XCTAssertEqual(refused.status, 403, refused.text)
        let deleted = try await HTTP.request("DELETE", url, headers: ["Authorization": alice])
        XCTAssertEqual(deleted.status, 202, deleted.text)
        let gone = try await digest(of: berth.baseURL, "team/app", "v2.0.0", auth: alice)
        XCTAssertNil(gone)
    }
}
