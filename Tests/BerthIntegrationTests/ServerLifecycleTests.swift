import Foundation
import XCTest

/// Starting and stopping Berth as `berth serve` does: its services run in one ServiceGroup, and
/// SIGTERM / SIGINT shut that group down gracefully.
final class ServerLifecycleTests: IntegrationTestCase {
    /// A graceful shutdown (what SIGTERM triggers) of an idle registry completes promptly, also
    /// while the upload purger is waiting for its first run (60 s after start).
    func testGracefulShutdownIsPrompt() async throws {
        let root = try temporaryDirectory("root")
        let berth = try await startBerth(root: root)
        let ping = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/"), timeout: 5)
        XCTAssertEqual(ping.status, 200)

        let clock = ContinuousClock()
        let start = clock.now
        let graceful = await berth.stop(grace: .seconds(5))
        XCTAssertTrue(graceful, "Berth had not shut down 5 s after a graceful shutdown (SIGTERM) was triggered")
        XCTAssertLessThan(clock.now - start, .seconds(5))
    }

    /// `storage.maintenance.uploadpurging.enabled: false` is a valid setting; Berth must keep serving.
    func testServesWithUploadPurgingDisabled() async throws {
        let root = try temporaryDirectory("root")
        let image = TestImage.random(layerCount: 1, layerSize: 20_000)
        let source = try temporaryDirectory("src")
        try OCILayout.write(source, tag: "v1", image: image)

        let berth: TestRegistry
        do {
            berth = try await startBerth(root: root) { $0.uploadPurging.enabled = false }
        } catch {
            XCTFail("""
                Berth with upload purging disabled did not keep running: UploadPurger.run() returns at once when \
                purging is disabled, and a service that returns cancels the application's whole ServiceGroup. \
                \(error)
                """)
            return
        }

        try await Task.sleep(for: .milliseconds(500))
        let ping: HTTP.Response
        do {
            ping = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/"), timeout: 5)
        } catch {
            XCTFail("""
                Berth with upload purging disabled stopped serving right after start (\(error)): \
                UploadPurger.run() returns at once when disabled, and a service that returns cancels the \
                whole application's ServiceGroup
                """)
            return
        }
        XCTAssertEqual(ping.status, 200)
        try await Skopeo.copy("oci:\(source.path):v1", "docker://\(berth.host)/purging/disabled:v1")
        let info = try await Skopeo.inspect("docker://\(berth.host)/purging/disabled:v1")
        XCTAssertEqual(info["Digest"] as? String, image.manifest.digest)
    }
}
