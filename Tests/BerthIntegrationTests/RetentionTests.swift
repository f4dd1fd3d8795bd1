import BerthServer
import Foundation
import XCTest

/// `berth retention apply` against a registry serving images pushed with skopeo, and the
/// server's scheduled runs. Push times are set on the link files, so no test waits for time to pass.
final class RetentionTests: IntegrationTestCase {
    static let policies = """
        retention:
          policies:
            - repositories: ["team/*"]
              keep:
                newest: 1
                tags: ["latest", "multi"]
                semver: 2
              delete:
                olderthan: 24h
                untaggedolderthan: 1h
        """

    /// Writes one image as an OCI layout for skopeo; returns its source reference.
    func layout(_ dir: URL, _ image: TestImage) throws -> String {
        let path = dir.appendingPathComponent(UUID().uuidString)
        try OCILayout.write(path, tag: "v", image: image)
        return "oci:\(path.path):v"
    }

    func manifests(_ root: URL, _ repository: String) -> URL {
        root.appendingPathComponent("docker/registry/v2/repositories/\(repository)/_manifests")
    }

    /// Makes a tag look last pushed `hours` ago.
    func age(_ root: URL, _ repository: String, tag: String, hours: Double) throws {
        let link = manifests(root, repository).appendingPathComponent("tags/\(tag)/current/link")
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-hours * 3600)], ofItemAtPath: link.path)
    }

    /// Makes every manifest of a repository look pushed `hours` ago.
    func ageManifests(_ root: URL, _ repository: String, hours: Double) throws {
        let revisions = manifests(root, repository).appendingPathComponent("revisions/sha256")
        for hex in try FileManager.default.contentsOfDirectory(atPath: revisions.path) {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-hours * 3600)],
                                                  ofItemAtPath: revisions.appendingPathComponent("\(hex)/link").path)
        }
    }

    func tags(_ base: URL, _ repository: String) async throws -> [String] {
        let r = try await HTTP.request("GET", base.appendingPathComponent("v2/\(repository)/tags/list"))
        XCTAssertEqual(r.status, 200, r.text)
        return (try JSONSerialization.jsonObject(with: r.body) as? [String: Any])?["tags"] as? [String] ?? []
    }

    func manifestStatus(_ base: URL, _ repository: String, _ digest: String) async throws -> Int {
        try await HTTP.request("GET", base.appendingPathComponent("v2/\(repository)/manifests/\(digest)"),
                               headers: ["Accept": "\(MediaTypes.manifest), \(MediaTypes.index)"]).status
    }

    func apply(_ config: URL, _ arguments: [String] = []) async throws -> ProcessResult {
        let result = try await ProcessRunner.run(CommandLineTests.berth, ["retention", "apply", config.path] + arguments,
                                                 timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        return result
    }

    func testDryRunChangesNothingThenApplyDeletesAndKeepsMultiPlatformImagesWhole() async throws {
        let source = try temporaryDirectory("src")
        let root = try temporaryDirectory("root")
        let berth = try await startBerth(root: root)
        let base = berth.baseURL
        let images = (0..<5).map { _ in TestImage.random(layerCount: 1, layerSize: 1000) }
        let (v100, dev1, dev2, shared, scratch) = (images[0], images[1], images[2], images[3], images[4])
        let pushes: [(String, TestImage)] = [("v1.0.0", v100), ("dev-1", dev1), ("dev-2", dev2), ("v1.1.0", shared), ("v2.0.0", shared),
                                             ("latest", shared), ("dev-3", shared), ("new-feature", shared), ("scratch", scratch)]
        for (tag, image) in pushes { try await Skopeo.copy(try layout(source, image), "docker://\(berth.host)/team/app:\(tag)") }
        let index = TestIndex(images: [TestImage.random(architecture: "amd64", layerCount: 1, layerSize: 1000),
                                       TestImage.random(architecture: "arm64", layerCount: 1, layerSize: 1000)])
        let indexSource = source.appendingPathComponent("index")
        try OCILayout.write(indexSource, tag: "multi", index: index)
        try await Skopeo.copy("oci:\(indexSource.path):multi", "docker://\(berth.host)/team/app:multi", all: true)
        try await Skopeo.copy(try layout(source, v100), "docker://\(berth.host)/other/app:old")

        // The untagged manifest of a deleted tag, and the ages every rule looks at.
        let untag = try await HTTP.request("DELETE", base.appendingPathComponent("v2/team/app/manifests/scratch"))
        XCTAssertEqual(untag.status, 202, untag.text)
        try ageManifests(root, "team/app", hours: 48)
        for (tag, hours) in [("v1.0.0", 100.0), ("dev-1", 50), ("dev-2", 30), ("v1.1.0", 90), ("v2.0.0", 80), ("latest", 200),
                             ("dev-3", 10), ("new-feature", 1), ("multi", 300)] {
            try age(root, "team/app", tag: tag, hours: hours)
        }
        try age(root, "other/app", tag: "old", hours: 10_000)
        let config = root.appendingPathComponent("config.yml")
        try "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: \(root.path)\n\(Self.policies)\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let allTags = ["dev-1", "dev-2", "dev-3", "latest", "multi", "new-feature", "v1.0.0", "v1.1.0", "v2.0.0"]
        let before = try await tags(base, "team/app")
        XCTAssertEqual(before, allTags)

        let dry = try await apply(config, ["--dry-run"])
        for tag in ["v1.0.0", "dev-1", "dev-2"] {
            XCTAssertTrue(dry.stdout.contains("would delete tag team/app:\(tag) "), "\(tag) in:\n\(dry.stdout)")
        }
        XCTAssertTrue(dry.stdout.contains("would delete manifest team/app@\(scratch.manifest.digest) pushed "), dry.stdout)
        XCTAssertTrue(dry.stdout.contains(": not kept by any keep rule and older than 24h [policies[0]]"), dry.stdout)
        XCTAssertEqual(dry.stdout.split(separator: "\n").last.map(String.init),
                       "retention would delete 3 tag(s) and 1 untagged manifest(s) in 1 repository governed by a policy (dry run: nothing was changed)")
        let afterDryRun = try await tags(base, "team/app")
        XCTAssertEqual(afterDryRun, allTags, "a dry run deletes nothing")
        let scratchAfterDryRun = try await manifestStatus(base, "team/app", scratch.manifest.digest)
        XCTAssertEqual(scratchAfterDryRun, 200)

        let real = try await apply(config)
        XCTAssertTrue(real.stdout.contains("deleted tag team/app:dev-2 (\(dev2.manifest.digest)) pushed "), real.stdout)
        XCTAssertEqual(real.stdout.split(separator: "\n").last.map(String.init),
                       "retention deleted 3 tag(s) and 1 untagged manifest(s) in 1 repository governed by a policy")
        let remaining = try await tags(base, "team/app")
        XCTAssertEqual(remaining, ["dev-3", "latest", "multi", "new-feature", "v1.1.0", "v2.0.0"])
        let untouched = try await tags(base, "other/app")
        XCTAssertEqual(untouched, ["old"], "a repository no policy governs is left alone")
        let scratchAfter = try await manifestStatus(base, "team/app", scratch.manifest.digest)
        XCTAssertEqual(scratchAfter, 404)
        // The manifests of this run's deleted tags are untagged only from now on.
        for image in [v100, dev1, dev2] {
            let status = try await manifestStatus(base, "team/app", image.manifest.digest)
            XCTAssertEqual(status, 200, "\(image.manifest.digest) went in the run that untagged it")
        }

        // The next run deletes those (as JSON this time); the children of the tagged index stay.
        try ageManifests(root, "team/app", hours: 48)
        let next = try await apply(config, ["--json"])
        let json = try JSONSerialization.jsonObject(with: Data(next.stdout.utf8)) as? [String: Any]
        let repositories = json?["repositories"] as? [[String: Any]]
        let deleted = (repositories?.first?["manifests"] as? [[String: Any]])?.compactMap { $0["digest"] as? String }
        XCTAssertEqual(Set(deleted ?? []), Set([v100, dev1, dev2].map(\.manifest.digest)), next.stdout)
        XCTAssertEqual(json?["dryRun"] as? Bool, false)
        for child in index.images {
            let status = try await manifestStatus(base, "team/app", child.manifest.digest)
            XCTAssertEqual(status, 200, "child \(child.architecture) of the tagged index")
        }
        let pulled = try temporaryDirectory("pulled").appendingPathComponent("layout")
        try await Skopeo.copy("docker://\(berth.host)/team/app:multi", "oci:\(pulled.path):multi", all: true)
        try assertLayout(pulled, tag: "multi", holds: index)
    }

    /// The server applies the policies every `retention.interval` and counts what it deleted.
    func testScheduledRunsDeleteAndAreCounted() async throws {
        let source = try temporaryDirectory("src")
        let image = try layout(source, TestImage.random(layerCount: 1, layerSize: 1000))
        let loaded = try ConfigurationLoader.load(yaml: """
            retention:
              interval: 1s
              policies:
                - repositories: ["sched/**"]
                  keep: { newest: 1 }
            """, environment: [:])
        let debugPort = try freeLoopbackPort()
        let berth = try await startBerth(root: try temporaryDirectory("root")) { config in
            config.retention = loaded.configuration.retention
            config.observability.debugAddress = ListenAddress(host: "127.0.0.1", port: debugPort)
            config.observability.prometheusEnabled = true
        }
        try await Skopeo.copy(image, "docker://\(berth.host)/sched/app:old")
        try await Skopeo.copy(image, "docker://\(berth.host)/sched/app:new")

        let deadline = ContinuousClock.now + .seconds(20)
        var remaining = try await tags(berth.baseURL, "sched/app")
        while remaining != ["new"], ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            remaining = try await tags(berth.baseURL, "sched/app")
        }
        XCTAssertEqual(remaining, ["new"], "a scheduled run deletes the older tag")
        // The run's counters are recorded once it returns, a moment after the tag is gone.
        var metrics = ""
        while ContinuousClock.now < deadline + .seconds(10) {
            metrics = try await HTTP.request("GET", URL(string: "http://127.0.0.1:\(debugPort)/metrics")!).text
            if metrics.contains("berth_retention_manifests_deleted_total ") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertTrue(metrics.contains("berth_retention_tags_deleted_total 1\n"), metrics)
        XCTAssertTrue(metrics.contains("berth_retention_manifests_deleted_total 0\n"), metrics)
        XCTAssertTrue(metrics.contains("berth_retention_runs_total{outcome=\"success\"} "), metrics)
    }

    func testApplyRefusesBadPoliciesAndDeletingInReadOnlyMode() async throws {
        let root = try temporaryDirectory("root")
        // Runs `berth retention apply` on a configuration of `storage` settings and `retention`.
        let run = { (storage: String, retention: String, arguments: [String]) async throws -> ProcessResult in
            let config = root.appendingPathComponent("config.yml")
            try "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: \(root.path)\n\(storage)\(retention)\n"
                .write(to: config, atomically: true, encoding: .utf8)
            return try await ProcessRunner.run(CommandLineTests.berth, ["retention", "apply", config.path] + arguments,
                                               timeout: .seconds(30), allowFailure: true)
        }
        let misspelt = try await run("", "retention:\n  policies:\n    - { repositories: [\"**\"], keep: { newst: 10 } }", [])
        XCTAssertEqual(misspelt.status, 2, misspelt.stdout + misspelt.stderr)
        XCTAssertTrue(misspelt.stderr.contains("retention.policies[0].keep.newst is not one of newest, tags, semver"), misspelt.stderr)

        let readOnly = "  maintenance:\n    readonly:\n      enabled: true\n"
        let refused = try await run(readOnly, Self.policies, [])
        XCTAssertEqual(refused.status, 2, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("run with --dry-run"), refused.stderr)
        let dryRun = try await run(readOnly, Self.policies, ["--dry-run"])
        XCTAssertEqual(dryRun.status, 0, dryRun.stdout + dryRun.stderr)

        let none = try await run("", "", [])
        XCTAssertEqual(none.status, 0, none.stdout + none.stderr)
        XCTAssertTrue(none.stderr.contains("no retention.policies"), none.stderr)
    }
}
