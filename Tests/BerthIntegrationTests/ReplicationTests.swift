import BerthAuth
import BerthReplication
import BerthServer
import Foundation
import XCTest

/// Replication rules pushing to the reference registry, `berth sync` and `berth copy`.
final class ReplicationTests: IntegrationTestCase {
    func rule(_ remote: String, repositories: [String] = ["team/**"], tags: [String] = ["v*"]) -> ReplicationSettings.Rule {
        var rule = ReplicationSettings.Rule(name: "backup", remoteURL: "http://\(remote)")
        rule.repositories = repositories
        rule.tags = tags
        return rule
    }

    /// Waits up to `seconds` for `repository:tag` to appear at `host` with `digest`.
    func waitFor(_ host: String, _ repository: String, _ tag: String, digest: String, seconds: Int = 20) async throws {
        let url = URL(string: "http://\(host)/v2/\(repository)/manifests/\(tag)")!
        let deadline = ContinuousClock.now + .seconds(seconds)
        var last = ""
        while ContinuousClock.now < deadline {
            let answer = try? await HTTP.request("HEAD", url, headers: ["Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"])
            if answer?.header("Docker-Content-Digest") == digest { return }
            last = "status \(answer?.status ?? 0)"
            try await Task.sleep(for: .milliseconds(200))
        }
        throw TestFailure("\(repository):\(tag) did not reach \(host) within \(seconds) s (\(last))")
    }

    func testAPushAppearsOnTheRemoteWithinSeconds() async throws {
        let remote = try await startReferenceRegistry(root: try temporaryDirectory("remote"))
        let debugPort = try freeLoopbackPort()
        let berth = try await startBerth(root: try temporaryDirectory("berth")) { config in
            config.replication = ReplicationSettings(rules: [self.rule(remote.host)], interval: .seconds(3600))
            config.observability.debugAddress = ListenAddress(host: "127.0.0.1", port: debugPort)
            config.observability.prometheusEnabled = true
        }
        let image = TestImage.random(layerCount: 2, layerSize: 300_000)
        let layouts = try temporaryDirectory("layouts")
        try OCILayout.write(layouts.appendingPathComponent("src"), tag: "v", image: image)
        let started = ContinuousClock.now
        try await Skopeo.copy("oci:\(layouts.path)/src:v", "docker://\(berth.host)/team/app:v1")
        try await Skopeo.copy("oci:\(layouts.path)/src:v", "docker://\(berth.host)/other/app:v1")
        try await Skopeo.copy("oci:\(layouts.path)/src:v", "docker://\(berth.host)/team/app:latest")
        try await waitFor(remote.host, "team/app", "v1", digest: image.manifest.digest, seconds: 10)
        print("replication: team/app:v1 reached the remote \(ContinuousClock.now - started) after the push began")
        let pulled = layouts.appendingPathComponent("pulled")
        try await Skopeo.copy("docker://\(remote.host)/team/app:v1", "oci:\(pulled.path):v")
        try assertLayout(pulled, tag: "v", holds: image)
        try await Task.sleep(for: .milliseconds(500))
        let other = try await HTTP.request("GET", remote.baseURL.appendingPathComponent("v2/other/app/tags/list"))
        XCTAssertNotEqual(other.status, 200, "other/* is not selected by the rule")
        let tags = try await Skopeo.listTags("docker://\(remote.host)/team/app")
        XCTAssertEqual(tags, ["v1"], "latest is not selected by the tag glob v*")

        // The status per rule: the admin API and the metrics.
        let status = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("admin/api/replication"))
        XCTAssertEqual(status.status, 200, status.text)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: status.body) as? [String: Any])
        let rule = try XCTUnwrap((json["rules"] as? [[String: Any]])?.first)
        XCTAssertEqual(rule["rule"] as? String, "backup")
        XCTAssertEqual(rule["imagesReplicated"] as? Int, 1)
        XCTAssertEqual(rule["imagesFailed"] as? Int, 0)
        XCTAssertNotNil(rule["lastSuccess"])
        let metrics = try await HTTP.request("GET", URL(string: "http://127.0.0.1:\(debugPort)/metrics")!).text
        XCTAssertTrue(metrics.contains(#"berth_replication_images_total{outcome="replicated",rule="backup"} 1"#)
                      || metrics.contains(#"berth_replication_images_total{rule="backup",outcome="replicated"} 1"#), metrics)
        XCTAssertTrue(metrics.contains("berth_replication_last_success_timestamp_seconds"), metrics)
        let run = try await HTTP.request("POST", berth.baseURL.appendingPathComponent("admin/api/replication"))
        XCTAssertEqual(run.status, 202, run.text)
    }

    func testADownRemoteReceivesEverythingOnceItIsBack() async throws {
        let remoteRoot = try temporaryDirectory("remote")
        let port = try freeLoopbackPort()
        let remoteHost = "127.0.0.1:\(port)"
        let berth = try await startBerth(root: try temporaryDirectory("berth")) { config in
            config.replication = ReplicationSettings(rules: [self.rule(remoteHost)], interval: .seconds(2))
        }
        let images = (0..<3).map { _ in TestImage.random(layerCount: 1, layerSize: 100_000) }
        try await push(images.enumerated().map { ("team/app\($0.offset):v\($0.offset)", $0.element) }, to: berth)
        try await Task.sleep(for: .seconds(1))  // the pushes' own attempts fail: nobody listens yet
        _ = try await startReferenceRegistry(root: remoteRoot, port: port)
        for (i, image) in images.enumerated() {
            try await waitFor(remoteHost, "team/app\(i)", "v\(i)", digest: image.manifest.digest, seconds: 30)
        }
    }

    /// A remote Berth with its token service, pushed to as alice; a rule with `deletes` removes
    /// there what is deleted here.
    func testATokenAuthenticatedRemoteAndReplicatedDeletes() async throws {
        let remote = try await startBerthWithTokenService("token-remote", rules: [
            AccessRule(users: ["alice"], repositories: ["**"], actions: [.pull, .push, .delete]),
        ])
        let berth = try await startBerth(root: try temporaryDirectory("berth")) { config in
            var rule = self.rule(remote.host)
            rule.username = "alice"
            rule.password = "alice-pw"
            rule.deletes = true
            config.replication = ReplicationSettings(rules: [rule], interval: .seconds(3600))
        }
        let image = TestImage.random(layerCount: 1, layerSize: 100_000)
        let layouts = try temporaryDirectory("layouts")
        try OCILayout.write(layouts.appendingPathComponent("src"), tag: "v", image: image)
        try await Skopeo.copy("oci:\(layouts.path)/src:v", "docker://\(berth.host)/team/app:v1")
        let pulled = layouts.appendingPathComponent("pulled")
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            do {
                try await Skopeo.copy("docker://\(remote.host)/team/app:v1", "oci:\(pulled.path):v", sourceCreds: "alice:alice-pw")
                break
            } catch where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(300))
            }
        }
        try assertLayout(pulled, tag: "v", holds: image)

        let deleted = try await HTTP.request("DELETE", berth.baseURL.appendingPathComponent("v2/team/app/manifests/\(image.manifest.digest)"))
        XCTAssertEqual(deleted.status, 202, deleted.text)
        let gone = ContinuousClock.now + .seconds(15)
        var tags: [String] = ["v1"]
        while ContinuousClock.now < gone {
            let result = try await ProcessRunner.run(Tools.skopeo, ["--insecure-policy", "list-tags", "--tls-verify=false", "--creds", "alice:alice-pw",
                                                                    "docker://\(remote.host)/team/app"], timeout: .seconds(30), allowFailure: true)
            tags = result.status == 0 && result.stdout.contains("\"v1\"") ? ["v1"] : []
            if tags.isEmpty { break }
            try await Task.sleep(for: .milliseconds(300))
        }
        XCTAssertEqual(tags, [], "the delete reached the remote")
    }

    func testBerthSyncAndBerthCopy() async throws {
        let remote = try await startReferenceRegistry(root: try temporaryDirectory("remote"))
        let root = try temporaryDirectory("berth")
        let berth = try await startBerth(root: root)
        let layouts = try temporaryDirectory("layouts")
        let index = TestIndex(images: [TestImage.random(architecture: "amd64", layerCount: 1, layerSize: 50_000),
                                       TestImage.random(architecture: "arm64", layerCount: 1, layerSize: 50_000)])
        try OCILayout.write(layouts.appendingPathComponent("index"), tag: "v", index: index)
        try await Skopeo.copy("oci:\(layouts.path)/index:v", "docker://\(berth.host)/team/multi:v2", all: true)

        // berth sync: the rule, once, from the same storage.
        let config = root.appendingPathComponent("sync.yml")
        try """
            version: 0.1
            storage:
              filesystem:
                rootdirectory: \(root.path)
            replication:
              rules:
                - name: once
                  remoteurl: http://\(remote.host)
                  repositories: ["team/**"]
                  prefix: synced
            """.write(to: config, atomically: true, encoding: .utf8)
        let sync = try await ProcessRunner.run(CommandLineTests.berth, ["sync", config.path], timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(sync.status, 0, sync.stdout + sync.stderr)
        XCTAssertTrue(sync.stdout.contains("once → http://\(remote.host): 1 images copied"), sync.stdout)
        let synced = layouts.appendingPathComponent("synced")
        try await Skopeo.copy("docker://\(remote.host)/synced/team/multi:v2", "oci:\(synced.path):v", all: true)
        try assertLayout(synced, tag: "v", holds: index)
        let again = try await ProcessRunner.run(CommandLineTests.berth, ["sync", config.path], timeout: .seconds(60))
        XCTAssertTrue(again.stdout.contains("0 images copied"), "a second run finds nothing to do: \(again.stdout)")

        // berth copy: between two registries, every platform.
        let copy = try await ProcessRunner.run(CommandLineTests.berth, [
            "copy", "--all", "--src-insecure", "--dest-insecure",
            "docker://\(berth.host)/team/multi:v2", "docker://\(remote.host)/copied/multi:latest",
        ], timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(copy.status, 0, copy.stdout + copy.stderr)
        XCTAssertTrue(copy.stdout.contains("3 manifests"), copy.stdout)
        let copied = layouts.appendingPathComponent("copied")
        try await Skopeo.copy("docker://\(remote.host)/copied/multi:latest", "oci:\(copied.path):v", all: true)
        try assertLayout(copied, tag: "v", holds: index)
        let missing = try await ProcessRunner.run(CommandLineTests.berth, [
            "copy", "--src-insecure", "--dest-insecure", "docker://\(berth.host)/team/none:v1", "docker://\(remote.host)/x/y:z",
        ], timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("was not found"), missing.stderr)
    }
}
