import BerthServer
import BerthStorage
import Foundation
import XCTest

/// A quota against a running registry and skopeo: a push over it fails with a clear message and
/// leaves nothing referenced, the repository keeps serving, and after the image is deleted and
/// garbage collected the same push fits.
final class QuotaTests: IntegrationTestCase {
    func testSkopeoPushOverQuotaFailsCleanlyAndFitsAfterDeleteAndCollection() async throws {
        let dir = try temporaryDirectory("quota")
        let root = dir.appendingPathComponent("data")
        let berth = try await startBerth(root: root) { config in
            config.quotas = StorageQuotas([.init(repositories: ["team-a/**"], limit: 300_000)])
            config.garbageCollection.options = .init(deleteUntagged: true, gracePeriod: .zero, pinWindow: .zero)
        }
        let first = TestImage.random(layerCount: 2, layerSize: 100_000)
        let second = TestImage.random(layerCount: 2, layerSize: 100_000)
        let paths = [first, second].map { _ in dir.appendingPathComponent(UUID().uuidString) }
        try OCILayout.write(paths[0], tag: "v", image: first)
        try OCILayout.write(paths[1], tag: "v", image: second)

        try await Skopeo.copy("oci:\(paths[0].path):v", "docker://\(berth.host)/team-a/app:one")
        do {
            try await Skopeo.copy("oci:\(paths[1].path):v", "docker://\(berth.host)/team-a/app:two")
            XCTFail("the second image does not fit the quota")
        } catch {
            XCTAssertTrue("\(error)".contains("quota"), "skopeo shows why: \(error)")
        }
        // Nothing of the refused image is referenced; the first still pulls whole.
        let tags = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/team-a/app/tags/list"))
        XCTAssertTrue(tags.text.contains("\"one\"") && !tags.text.contains("\"two\""), tags.text)
        let refused = try await HTTP.request("HEAD", berth.baseURL.appendingPathComponent("v2/team-a/app/manifests/\(second.manifest.digest)"))
        XCTAssertEqual(refused.status, 404)
        let pulled = dir.appendingPathComponent("pulled")
        try await Skopeo.copy("docker://\(berth.host)/team-a/app:one", "oci:\(pulled.path):v")
        try assertLayout(pulled, tag: "v", holds: first)
        let usage = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("admin/api/storage"))
        let quota = try XCTUnwrap(((try JSONSerialization.jsonObject(with: usage.body) as? [String: Any])?["quotas"] as? [[String: Any]])?.first)
        XCTAssertEqual(quota["limitBytes"] as? Int, 300_000)
        XCTAssertLessThanOrEqual(quota["usedBytes"] as? Int ?? .max, 300_000)

        // Deleting the tag leaves the manifest (still referenced); a collection removes it.
        let deleted = try await HTTP.request("DELETE", berth.baseURL.appendingPathComponent("v2/team-a/app/manifests/one"))
        XCTAssertEqual(deleted.status, 202, deleted.text)
        do {
            try await Skopeo.copy("oci:\(paths[1].path):v", "docker://\(berth.host)/team-a/app:two")
            XCTFail("the untagged first image still counts until it is collected")
        } catch {}
        let gc = try await HTTP.request("POST", berth.baseURL.appendingPathComponent("admin/api/gc"))
        XCTAssertEqual(gc.status, 200, gc.text)
        try await Skopeo.copy("oci:\(paths[1].path):v", "docker://\(berth.host)/team-a/app:two")
        let pulledAgain = dir.appendingPathComponent("pulled-two")
        try await Skopeo.copy("docker://\(berth.host)/team-a/app:two", "oci:\(pulledAgain.path):v")
        try assertLayout(pulledAgain, tag: "v", holds: second)
    }
}
