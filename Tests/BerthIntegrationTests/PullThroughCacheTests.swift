import BerthAuth
import BerthProxy
import BerthServer
import Crypto
import Foundation
import XCTest

/// The pull-through cache (`proxy`) in front of the reference registry (Debian's docker-registry):
/// skopeo pulls through it, the cache serves with the upstream stopped, moved tags arrive after
/// the time to live, concurrent pulls of a missing layer fetch it once, corrupt upstream content
/// is refused, and repositories no prefix maps still take pushes.
final class PullThroughCacheTests: IntegrationTestCase {
    func startCache(upstream: ReferenceRegistry, ttl: Duration = .seconds(600)) async throws -> TestRegistry {
        try await startBerth(root: try temporaryDirectory("cache")) { config in
            config.proxy = ProxySettings(upstreams: [.init(prefix: "ref", remoteURL: "http://\(upstream.host)", ttl: ttl)])
        }
    }

    func testPullsThroughTheCacheAndServesWithTheUpstreamStopped() async throws {
        let upstream = try await startReferenceRegistry(root: try temporaryDirectory("upstream"))
        let image = TestImage.random(layerCount: 3, layerSize: 300_000)
        let layouts = try temporaryDirectory("layouts")
        try OCILayout.write(layouts.appendingPathComponent("src"), tag: "v", image: image)
        try await Skopeo.copy("oci:\(layouts.path)/src:v", "docker://\(upstream.host)/team/app:v1")
        let cache = try await startCache(upstream: upstream)

        let first = layouts.appendingPathComponent("first")
        try await Skopeo.copy("docker://\(cache.host)/ref/team/app:v1", "oci:\(first.path):v")
        try assertLayout(first, tag: "v", holds: image)
        let tags = try await Skopeo.listTags("docker://\(cache.host)/ref/team/app")
        XCTAssertEqual(tags, ["v1"], "tags come from the upstream")

        await upstream.stop()
        let second = layouts.appendingPathComponent("second")
        try await Skopeo.copy("docker://\(cache.host)/ref/team/app:v1", "oci:\(second.path):v")
        try assertLayout(second, tag: "v", holds: image)
        let missing = try await HTTP.request("GET", cache.baseURL.appendingPathComponent("v2/ref/team/app/manifests/never-pulled"))
        XCTAssertEqual(missing.status, 503, "not cached and the upstream is down: \(missing.text)")
        XCTAssertEqual(missing.errorCode, "UNAVAILABLE")

        // Mirrors refuse pushes; other repositories take them.
        let refused = try await HTTP.request("POST", cache.baseURL.appendingPathComponent("v2/ref/team/app/blobs/uploads/"))
        XCTAssertEqual(refused.status, 405, refused.text)
        try await Skopeo.copy("oci:\(layouts.path)/src:v", "docker://\(cache.host)/local/app:v1")
        let local = layouts.appendingPathComponent("local")
        try await Skopeo.copy("docker://\(cache.host)/local/app:v1", "oci:\(local.path):v")
        try assertLayout(local, tag: "v", holds: image)
    }

    func testAMovedTagArrivesAfterTheTimeToLive() async throws {
        let upstream = try await startReferenceRegistry(root: try temporaryDirectory("upstream"), accessLog: true)
        let layouts = try temporaryDirectory("layouts")
        let old = TestImage.random(layerCount: 1, layerSize: 50_000)
        let new = TestImage.random(layerCount: 1, layerSize: 50_000)
        try OCILayout.write(layouts.appendingPathComponent("old"), tag: "v", image: old)
        try OCILayout.write(layouts.appendingPathComponent("new"), tag: "v", image: new)
        try await Skopeo.copy("oci:\(layouts.path)/old:v", "docker://\(upstream.host)/team/moving:latest")
        let cache = try await startCache(upstream: upstream, ttl: .seconds(2))
        let manifestURL = cache.baseURL.appendingPathComponent("v2/ref/team/moving/manifests/latest")
        let accept = ["Accept": "application/vnd.oci.image.manifest.v1+json"]
        let before = try await HTTP.request("GET", manifestURL, headers: accept)
        XCTAssertEqual(before.header("Docker-Content-Digest"), old.manifest.digest)

        try await Skopeo.copy("oci:\(layouts.path)/new:v", "docker://\(upstream.host)/team/moving:latest")
        let within = try await HTTP.request("GET", manifestURL, headers: accept)
        XCTAssertEqual(within.header("Docker-Content-Digest"), old.manifest.digest, "within the ttl the cached tag is served")
        try await Task.sleep(for: .milliseconds(2_300))
        let after = try await HTTP.request("GET", manifestURL, headers: accept)
        XCTAssertEqual(after.header("Docker-Content-Digest"), new.manifest.digest, "after the ttl the moved tag arrives")
        let pulled = layouts.appendingPathComponent("pulled")
        try await Skopeo.copy("docker://\(cache.host)/ref/team/moving:latest", "oci:\(pulled.path):v")
        try assertLayout(pulled, tag: "v", holds: new)
        // Unchanged tags are revalidated with a HEAD, not downloaded again.
        try await Task.sleep(for: .milliseconds(2_300))
        _ = try await HTTP.request("GET", manifestURL, headers: accept)
        let log = upstream.log
        XCTAssertTrue(log.contains("\"HEAD /v2/team/moving/manifests/latest"), "revalidated with HEAD")
        XCTAssertEqual(Self.count("\"GET /v2/team/moving/manifests/latest", in: log), 2, "downloaded once per digest")
    }

    func testConcurrentPullsOfAnUncachedLayerFetchItOnce() async throws {
        let upstream = try await startReferenceRegistry(root: try temporaryDirectory("upstream"), accessLog: true)
        let image = TestImage.random(layerCount: 1, layerSize: 256 << 20)
        try await push([("team/big:v1", image)], toHost: upstream.host)
        let cache = try await startCache(upstream: upstream)
        let layer = image.layers[0]
        let url = "http://\(cache.host)/v2/ref/team/big/blobs/\(layer.digest)"
        let digests = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let result = try await ProcessRunner.run("/bin/sh", ["-c", "curl -sf '\(url)' | sha256sum"], timeout: .seconds(180))
                    return "sha256:" + (result.stdout.split(separator: " ").first.map(String.init) ?? "")
                }
            }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        XCTAssertEqual(digests, Array(repeating: layer.digest, count: 16), "all 16 clients got the layer whole")
        XCTAssertEqual(Self.count("\"GET /v2/team/big/blobs/\(layer.digest)", in: upstream.log), 1,
                       "16 concurrent pulls of an uncached 256 MiB layer fetch it from the upstream once")
    }

    /// The first client of an uncached layer hangs up after 1 MB: the download goes on into the
    /// cache, and the next pull is served from it without asking the upstream again.
    func testAClientLeavingMidStreamStillFillsTheCache() async throws {
        let upstream = try await startReferenceRegistry(root: try temporaryDirectory("upstream"), accessLog: true)
        let image = TestImage.random(layerCount: 1, layerSize: 24 << 20)
        try await push([("team/left:v1", image)], toHost: upstream.host)
        let cacheRoot = try temporaryDirectory("cache")
        let cache = try await startBerth(root: cacheRoot) { config in
            config.proxy = ProxySettings(upstreams: [.init(prefix: "ref", remoteURL: "http://\(upstream.host)")])
        }
        let layer = image.layers[0]
        let url = "http://\(cache.host)/v2/ref/team/left/blobs/\(layer.digest)"
        let partial = try await ProcessRunner.run("/bin/sh", ["-c", "curl -s --limit-rate 4M '\(url)' | head -c 1000000 | wc -c"],
                                                  timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(partial.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "1000000")
        let hex = String(layer.digest.dropFirst("sha256:".count))
        let cached = cacheRoot.appendingPathComponent("docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
        let deadline = ContinuousClock.now + .seconds(30)
        while !FileManager.default.fileExists(atPath: cached.path), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: cached.path), "the download went on into the cache")
        let whole = try await ProcessRunner.run("/bin/sh", ["-c", "curl -sf '\(url)' | sha256sum"], timeout: .seconds(60))
        XCTAssertEqual("sha256:" + (whole.stdout.split(separator: " ").first.map(String.init) ?? ""), layer.digest)
        XCTAssertEqual(Self.count("\"GET /v2/team/left/blobs/\(layer.digest)", in: upstream.log), 1, "the second pull came from the cache")
    }

    func testACorruptUpstreamBlobIsNeverServedOrKept() async throws {
        let upstreamRoot = try temporaryDirectory("upstream")
        let upstream = try await startReferenceRegistry(root: upstreamRoot)
        let layouts = try temporaryDirectory("layouts")
        let image = TestImage.random(layerCount: 1, layerSize: 2 << 20)
        try OCILayout.write(layouts.appendingPathComponent("src"), tag: "v", image: image)
        try await Skopeo.copy("oci:\(layouts.path)/src:v", "docker://\(upstream.host)/team/bad:v1")
        let layer = image.layers[0]
        let hex = String(layer.digest.dropFirst("sha256:".count))
        let file = upstreamRoot.appendingPathComponent("docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: file)  // same size, one byte flipped

        let cacheRoot = try temporaryDirectory("cache")
        let cache = try await startBerth(root: cacheRoot) { config in
            config.proxy = ProxySettings(upstreams: [.init(prefix: "ref", remoteURL: "http://\(upstream.host)")])
        }
        for attempt in 1...2 {
            let result = try await ProcessRunner.run(
                "/bin/sh", ["-c", "curl -s -o /dev/null -w '%{http_code} %{size_download}' 'http://\(cache.host)/v2/ref/team/bad/blobs/\(layer.digest)'; echo \" exit=$?\""],
                timeout: .seconds(60), allowFailure: true)
            XCTAssertFalse(result.stdout.contains(" \(bytes.count) exit=0"), "attempt \(attempt): the corrupt blob must not arrive whole: \(result.stdout)")
        }
        let cached = cacheRoot.appendingPathComponent("docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
        XCTAssertFalse(FileManager.default.fileExists(atPath: cached.path), "nothing of the corrupt blob is kept")
        let pull = try await ProcessRunner.run(Tools.skopeo, [
            "--insecure-policy", "copy", "--src-tls-verify=false", "docker://\(cache.host)/ref/team/bad:v1", "oci:\(layouts.path)/bad:v",
        ], timeout: .seconds(60), allowFailure: true)
        XCTAssertNotEqual(pull.status, 0, "skopeo's pull of the image with the corrupt layer fails")
    }

    /// An upstream Berth with its token service: the cache logs in as bob (pull only) through the
    /// bearer-token dance for each repository's scope; wrong credentials give no content.
    func testAnUpstreamWithTokenAuthentication() async throws {
        let upstream = try await startBerthWithTokenService("token-upstream", rules: [
            AccessRule(users: ["alice"], repositories: ["team/**"], actions: [.pull, .push]),
            AccessRule(users: ["bob"], repositories: ["team/**"], actions: [.pull]),
        ])
        let layouts = try temporaryDirectory("layouts")
        let image = TestImage.random(layerCount: 2, layerSize: 200_000)
        try OCILayout.write(layouts.appendingPathComponent("src"), tag: "v", image: image)
        try await Skopeo.copy("oci:\(layouts.path)/src:v", "docker://\(upstream.host)/team/secret:v1", destinationCreds: "alice:alice-pw")

        let cache = try await startBerth(root: try temporaryDirectory("cache")) { config in
            config.proxy = ProxySettings(upstreams: [
                .init(prefix: "up", remoteURL: "http://\(upstream.host)", username: "bob", password: "bob-pw"),
                .init(prefix: "wrong", remoteURL: "http://\(upstream.host)", username: "bob", password: "not-bobs"),
            ])
        }
        let pulled = layouts.appendingPathComponent("pulled")
        try await Skopeo.copy("docker://\(cache.host)/up/team/secret:v1", "oci:\(pulled.path):v")
        try assertLayout(pulled, tag: "v", holds: image)
        let refused = try await HTTP.request("GET", cache.baseURL.appendingPathComponent("v2/wrong/team/secret/manifests/v1"))
        XCTAssertNotEqual(refused.status, 200, "wrong upstream credentials fetch nothing: \(refused.text)")
        XCTAssertTrue(refused.text.contains("proxy.username"), "the error names what to fix: \(refused.text)")
    }

    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }
}
