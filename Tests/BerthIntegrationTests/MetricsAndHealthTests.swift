import BerthServer
import Crypto
import Foundation
import XCTest

/// The debug server over real loopback connections: Prometheus metrics after known traffic,
/// `/healthz`, and `/readyz` following the background storage check.
final class MetricsAndHealthTests: XCTestCase {
    private var cleanups: [@Sendable () async -> Void] = []

    override func tearDown() async throws {
        for cleanup in cleanups.reversed() { await cleanup() }
        cleanups = []
        try await super.tearDown()
    }

    /// Berth on a fresh root with the debug server on a free port, metrics on and a fast storage
    /// check unless `configure` says otherwise; returns once the debug server answers.
    private func start(configure: (inout BerthConfiguration) -> Void = { _ in }) async throws
        -> (TestRegistry, debug: URL, root: URL) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-metrics-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        cleanups.append { try? FileManager.default.removeItem(at: root) }
        let debugPort = try freeLoopbackPort()
        let berth = try await TestRegistry.start(root: root.path, httpSecret: "metrics-test-secret") { config in
            config.observability.debugAddress = ListenAddress(host: "127.0.0.1", port: debugPort)
            config.observability.prometheusEnabled = true
            config.observability.storageHealth = .init(enabled: true, interval: .milliseconds(100), threshold: 2)
            configure(&config)
        }
        cleanups.append { await berth.stop() }
        let debug = URL(string: "http://127.0.0.1:\(debugPort)")!
        try await waitForStatus(200, debug.appendingPathComponent("healthz"), within: .seconds(10))
        return (berth, debug, root)
    }

    /// Polls `GET url` until it answers `status`.
    private func waitForStatus(_ status: Int, _ url: URL, within timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline {
            do {
                let got = try await HTTP.onOwnThread { try HTTP.probeStatus(url) }
                if got == status { return }
                last = "status \(got)"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("\(url) did not answer \(status) within \(timeout): \(last)")
    }

    /// The samples of a scrape: `name{labels}` to value.
    private func scrape(_ debug: URL) async throws -> [String: Double] {
        let response = try await HTTP.request("GET", debug.appendingPathComponent("metrics"))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        var samples: [String: Double] = [:]
        for line in response.text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    private func requests(_ method: String, _ route: String, _ status: Int) -> String {
        "berth_http_requests_total{method=\"\(method)\",route=\"\(route)\",status=\"\(status)\"}"
    }

    func testMetricsCountKnownTrafficByRoutePattern() async throws {
        let (berth, debug, _) = try await start()
        let before = try await scrape(debug)
        XCTAssertEqual(before["berth_build_info{version=\"\(BerthMetrics.buildVersion)\"}"], 1)
        XCTAssertEqual(before["berth_uploads_in_progress"], 0)

        // Response body bytes announced by the API, to compare with berth_http_response_bytes_total.
        var announced = 0.0
        let length = { (r: HTTP.Response) in Double(r.header("Content-Length").flatMap { Int($0) } ?? 0) }
        for _ in 0..<3 {
            let base = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/"))
            XCTAssertEqual(base.status, 200)
            announced += length(base)
        }
        // One blob push: POST opens the session, PUT completes it with the whole blob.
        let blob = Data("metrics test layer \(UUID())".utf8)
        let digest = "sha256:" + SHA256.hash(data: blob).map { String(format: "%02x", $0) }.joined()
        let started = try await HTTP.request("POST", berth.baseURL.appendingPathComponent("v2/metrics/app/blobs/uploads/"))
        XCTAssertEqual(started.status, 202, started.text)
        announced += length(started)
        let during = try await scrape(debug)
        XCTAssertEqual(during["berth_uploads_in_progress"], 1)
        let location = try XCTUnwrap(started.header("Location"))
        let separator = location.contains("?") ? "&" : "?"
        let put = try XCTUnwrap(URL(string: location.hasPrefix("http") ? location + separator + "digest=\(digest)"
                                        : "http://\(berth.host)\(location)\(separator)digest=\(digest)"))
        let completed = try await HTTP.request("PUT", put, headers: ["Content-Type": "application/octet-stream"],
                                               body: blob)
        XCTAssertEqual(completed.status, 201, completed.text)
        announced += length(completed)
        // The blob comes back through the metered driver (its `localFile` is forwarded for sendfile).
        let pulled = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/metrics/app/blobs/\(digest)"))
        XCTAssertEqual(pulled.status, 200)
        XCTAssertEqual(pulled.body, blob)
        announced += length(pulled)
        // One 404: a blob nobody pushed.
        let missing = try await HTTP.request("GET", berth.baseURL.appendingPathComponent(
            "v2/metrics/app/blobs/sha256:" + String(repeating: "0", count: 64)))
        XCTAssertEqual(missing.status, 404)
        announced += length(missing)

        let after = try await scrape(debug)
        let getBase = requests("GET", "/v2/", 200)
        XCTAssertEqual((after[getBase] ?? 0) - (before[getBase] ?? 0), 3, "GET /v2/ counted")
        XCTAssertEqual(after[requests("POST", "/v2/<name>/blobs/uploads/", 202)], 1)
        XCTAssertEqual(after[requests("PUT", "/v2/<name>/blobs/uploads/<id>", 201)], 1)
        XCTAssertEqual(after[requests("GET", "/v2/<name>/blobs/<digest>", 404)], 1)
        XCTAssertEqual(after[requests("GET", "/v2/<name>/blobs/<digest>", 200)], 1)
        XCTAssertEqual((after["berth_http_response_bytes_total"] ?? 0) - (before["berth_http_response_bytes_total"] ?? 0),
                       announced)
        XCTAssertGreaterThanOrEqual(announced, Double(blob.count))
        XCTAssertEqual(after["berth_uploads_in_progress"], 0)
        XCTAssertEqual(after["berth_http_request_bytes_total"], Double(blob.count))
        XCTAssertEqual(after["berth_http_request_duration_seconds_count{method=\"GET\",route=\"/v2/<name>/blobs/<digest>\"}"], 2)
        // Labels never carry names or digests.
        XCTAssertFalse(after.keys.contains { $0.contains("metrics/app") || $0.contains("sha256:") })

        // Storage calls are counted: the push moved the blob into place, the 404 looked for it.
        let storage = { (samples: [String: Double], prefix: String) in
            samples.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +)
        }
        XCTAssertGreaterThan(storage(after, "berth_storage_operations_total{operation=\"move\""),
                             storage(before, "berth_storage_operations_total{operation=\"move\""))
        XCTAssertGreaterThan(after["berth_storage_operations_total{operation=\"stat\",outcome=\"not_found\"}"] ?? 0, 0)
        XCTAssertGreaterThan(storage(after, "berth_storage_operation_duration_seconds_count"),
                             storage(before, "berth_storage_operation_duration_seconds_count"))
    }

    func testAuthFailuresAreCounted() async throws {
        let htpasswd = FileManager.default.temporaryDirectory.appendingPathComponent("berth-metrics-htpasswd-\(UUID())")
        try "".write(to: htpasswd, atomically: true, encoding: .utf8)
        cleanups.append { try? FileManager.default.removeItem(at: htpasswd) }
        let (berth, debug, _) = try await start { $0.auth.mode = .htpasswd(realm: "test", path: htpasswd.path) }
        let before = try await scrape(debug)["berth_auth_failures_total"] ?? 0
        let refused = try await HTTP.onOwnThread {
            try HTTP.probeStatus(URL(string: "http://127.0.0.1:\(berth.port)/v2/metrics/app/tags/list")!)
        }
        XCTAssertEqual(refused, 401)
        let after = try await scrape(debug)["berth_auth_failures_total"] ?? 0
        XCTAssertEqual(after - before, 1)
    }

    func testHealthAndReadinessFollowTheStorage() async throws {
        let (berth, debug, root) = try await start()
        for base in [debug, berth.baseURL] {
            let health = try await HTTP.request("GET", base.appendingPathComponent("healthz"))
            XCTAssertEqual(health.status, 200, "\(base)")
            let ready = try await HTTP.request("GET", base.appendingPathComponent("readyz"))
            XCTAssertEqual(ready.status, 200, "\(base): \(ready.text)")
            XCTAssertEqual(ready.text, #"{"status":"ready"}"#)
        }

        // Break the storage in a way that stops root too: `berth` becomes a regular file.
        let area = root.appendingPathComponent("berth")
        let kept = root.appendingPathComponent("berth.kept")
        try FileManager.default.moveItem(at: area, to: kept)
        try Data("not a directory".utf8).write(to: area)
        try await waitForStatus(503, debug.appendingPathComponent("readyz"), within: .seconds(10))
        let notReady = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("readyz"))
        XCTAssertEqual(notReady.status, 503)
        let reason = try XCTUnwrap(try JSONSerialization.jsonObject(with: notReady.body) as? [String: String])
        XCTAssertEqual(reason["status"], "not ready")
        XCTAssertTrue(reason["reason"]?.contains("storage check failed") == true, "\(reason)")
        // Alive all the same.
        let health = try await HTTP.request("GET", debug.appendingPathComponent("healthz"))
        XCTAssertEqual(health.status, 200)

        // Repair: ready again after the next check.
        try FileManager.default.removeItem(at: area)
        try FileManager.default.moveItem(at: kept, to: area)
        try await waitForStatus(200, debug.appendingPathComponent("readyz"), within: .seconds(10))
        let ready = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("readyz"))
        XCTAssertEqual(ready.status, 200)
    }

    func testDebugServerWithoutMetricsAnswers404ForThem() async throws {
        let (_, debug, _) = try await start { $0.observability.prometheusEnabled = false }
        try await waitForStatus(200, debug.appendingPathComponent("readyz"), within: .seconds(10))
        let metrics = try await HTTP.request("GET", debug.appendingPathComponent("metrics"))
        XCTAssertEqual(metrics.status, 404)
    }

    /// Pushes one blob by a single POST and returns its digest.
    private func pushBlob(_ berth: TestRegistry, _ repository: String, _ data: Data) async throws -> String {
        let digest = "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        let url = try XCTUnwrap(URL(string: "http://\(berth.host)/v2/\(repository)/blobs/uploads/?digest=\(digest)"))
        let pushed = try await HTTP.request("POST", url, headers: ["Content-Type": "application/octet-stream"], body: data)
        XCTAssertEqual(pushed.status, 201, pushed.text)
        return digest
    }

    /// The storage gauges follow pushes and deletes without a walk per scrape, cache hits are
    /// counted, and a collection through the admin API shows in the GC metrics and the gauges.
    func testStorageGaugesCacheCountersAndGarbageCollectionMetrics() async throws {
        let (berth, debug, _) = try await start {
            $0.garbageCollection.options = .init(gracePeriod: .zero, pinWindow: .zero)
        }
        // The start-up walk of the (empty) storage sets the baseline.
        var samples: [String: Double] = [:]
        for _ in 0..<100 where samples["berth_storage_blobs"] == nil {
            samples = try await scrape(debug)
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertEqual(samples["berth_storage_blobs"], 0)
        XCTAssertEqual(samples["berth_storage_repositories"], 0)

        let layer = Data("gauge test layer \(UUID())".utf8)
        let config = Data(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        let layerDigest = try await pushBlob(berth, "gauges/app", layer)
        let configDigest = try await pushBlob(berth, "gauges/app", config)
        let manifest = Data("""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(configDigest)","size":\(config.count)},
             "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(layerDigest)","size":\(layer.count)}]}
            """.utf8)
        let manifestURL = berth.baseURL.appendingPathComponent("v2/gauges/app/manifests/v1")
        let put = try await HTTP.request("PUT", manifestURL, headers: ["Content-Type": "application/vnd.oci.image.manifest.v1+json"],
                                         body: manifest)
        XCTAssertEqual(put.status, 201, put.text)
        for _ in 0..<2 { _ = try await HTTP.request("GET", manifestURL, headers: ["Accept": "application/vnd.oci.image.manifest.v1+json"]) }
        let pushed = try await scrape(debug)
        XCTAssertEqual(pushed["berth_storage_blobs"], 3, "layer, config and manifest")
        XCTAssertEqual(pushed["berth_storage_bytes"], Double(layer.count + config.count + manifest.count))
        XCTAssertEqual(pushed["berth_storage_manifests"], 1)
        XCTAssertEqual(pushed["berth_storage_repositories"], 1)
        XCTAssertGreaterThanOrEqual(pushed["berth_cache_requests_total{cache=\"manifest\",result=\"hit\"}"] ?? 0, 1)

        let digest = try XCTUnwrap(put.header("Docker-Content-Digest"))
        let deleted = try await HTTP.request("DELETE", berth.baseURL.appendingPathComponent("v2/gauges/app/manifests/\(digest)"))
        XCTAssertEqual(deleted.status, 202)
        let afterDelete = try await scrape(debug)
        XCTAssertEqual(afterDelete["berth_storage_manifests"], 0)

        let gc = try await HTTP.request("POST", try XCTUnwrap(URL(string: "http://\(berth.host)/admin/api/gc?deleteUntagged=true")))
        XCTAssertEqual(gc.status, 200, gc.text)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: gc.body) as? [String: Any])
        XCTAssertEqual(report["blobsRemoved"] as? Int, 3, gc.text)
        let collected = try await scrape(debug)
        XCTAssertEqual(collected["berth_gc_runs_total{outcome=\"success\"}"], 1)
        XCTAssertEqual(collected["berth_gc_removed_total{kind=\"blob\"}"], 3)
        XCTAssertEqual(collected["berth_gc_bytes_reclaimed_total"], Double(layer.count + config.count + manifest.count))
        XCTAssertEqual(collected["berth_gc_running"], 0)
        XCTAssertEqual(collected["berth_storage_blobs"], 0)
        XCTAssertEqual(collected["berth_storage_bytes"], 0)
        XCTAssertEqual(collected["berth_storage_repositories"], 0)
        let last = try await HTTP.request("GET", try XCTUnwrap(URL(string: "http://\(berth.host)/admin/api/gc")))
        XCTAssertEqual(last.status, 200)
        XCTAssertTrue(last.text.contains("\"blobsRemoved\":3"), last.text)
    }

    /// A scrub through the admin API runs in the background within its rate limit: a second one
    /// meanwhile is refused with 503, the report so far shows it running, and its outcome shows in
    /// the scrub metrics.
    func testScrubInTheBackgroundAndItsMetrics() async throws {
        let (berth, debug, root) = try await start()
        let data = Data((0..<120_000).map { _ in UInt8.random(in: 0...255) })
        let digest = try await pushBlob(berth, "scrubbed/app", data)
        let hex = digest.dropFirst("sha256:".count)
        let file = root.appendingPathComponent("docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data")
        var bytes = try Data(contentsOf: file)
        bytes[7] ^= 0xff
        try bytes.write(to: file)

        // 120 kB, hashed twice (found, then confirmed), at 40 kB/s with a 64 KiB burst: over four seconds.
        let scrubURL = try XCTUnwrap(URL(string: "http://\(berth.host)/admin/api/scrub"))
        let started = try await HTTP.request("POST", try XCTUnwrap(URL(string: scrubURL.absoluteString + "?rateLimit=40kB/s")))
        XCTAssertEqual(started.status, 202, started.text)
        let busy = try await HTTP.request("POST", scrubURL)
        XCTAssertEqual(busy.status, 503, busy.text)
        XCTAssertEqual(busy.header("Retry-After"), "60")
        let running = try await HTTP.request("GET", scrubURL)
        XCTAssertTrue(running.text.contains("\"running\":true"), running.text)
        let whileRunning = try await scrape(debug)
        XCTAssertEqual(whileRunning["berth_scrub_running"], 1)

        var samples: [String: Double] = [:]
        for _ in 0..<600 where samples["berth_scrub_runs_total{outcome=\"success\"}"] == nil {
            try await Task.sleep(for: .milliseconds(100))
            samples = try await scrape(debug)
        }
        XCTAssertEqual(samples["berth_scrub_runs_total{outcome=\"success\"}"], 1)
        XCTAssertEqual(samples["berth_scrub_problems{kind=\"blob-corrupt\"}"], 1)
        XCTAssertEqual(samples["berth_scrub_problems{kind=\"index-mismatch\"}"], 0)
        XCTAssertEqual(samples["berth_scrub_problems_found_total"], 1)
        XCTAssertGreaterThanOrEqual(samples["berth_scrub_bytes_hashed_total"] ?? 0, 240_000, "hashed twice: found, then confirmed")
        XCTAssertEqual(samples["berth_scrub_running"], 0)
        XCTAssertGreaterThan(samples["berth_scrub_last_run_timestamp_seconds"] ?? 0, Date().timeIntervalSince1970 - 600)
        let last = try await HTTP.request("GET", scrubURL)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: last.body) as? [String: Any])
        XCTAssertEqual(report["running"] as? Bool, false)
        XCTAssertGreaterThanOrEqual(report["durationSeconds"] as? Double ?? 0, Double(240_000 - 65_536) / 40_000 * 0.99,
                                    "the rate limit held the run back")

        // With repair=true the blob goes to the quarantine, and the registry no longer serves it.
        let repair = try await HTTP.request("POST", try XCTUnwrap(URL(string: scrubURL.absoluteString + "?repair=true")))
        XCTAssertEqual(repair.status, 202, repair.text)
        var repaired: [String: Any] = [:]
        for _ in 0..<600 where repaired["running"] as? Bool != false {
            try await Task.sleep(for: .milliseconds(100))
            let status = try await HTTP.request("GET", scrubURL)
            repaired = try XCTUnwrap(try JSONSerialization.jsonObject(with: status.body) as? [String: Any])
        }
        XCTAssertEqual(repaired["repaired"] as? Int, 1, "\(repaired)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: file.path))
        let blob = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/scrubbed/app/blobs/\(digest)"))
        XCTAssertEqual(blob.status, 404, blob.text)
    }
}
