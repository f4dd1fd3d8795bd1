import Foundation
import Synchronization
import XCTest

/// A bounded load test of a real `berth serve` process: 32 clients push (monolithic, chunked,
/// mounts), re-tag, delete and pull images, large blobs go up and down beside them, and garbage
/// collections run now and then. Afterwards every tag pulls whole, and once the clients' connections
/// have gone idle and been closed, the server's open files are back at their starting count and
/// its resident memory near its starting level.
///
/// Traffic lasts `BERTH_RESOURCE_SOAK_SECONDS` (default 20, for CI: the whole test then takes about a
/// minute on a 2-core machine, the end check of every tag taking most of the rest). Five minutes:
///
///     BERTH_RESOURCE_SOAK_SECONDS=300 swift test --disable-swift-testing --skip-build --filter ResourceSoakTests
final class ResourceSoakTests: IntegrationTestCase {
    static let clients = 32
    static let repositories = ["load/app", "load/base", "load/tools/cli", "load/web"]
    /// Resident memory may stay this far above its starting level (allocator caches, warmed-up buffers).
    static let rssSlackKiB = 48 * 1024

    static var trafficDuration: Duration {
        let seconds = ProcessInfo.processInfo.environment["BERTH_RESOURCE_SOAK_SECONDS"].flatMap(Double.init) ?? 20
        return .milliseconds(Int(max(seconds, 1) * 1000))
    }

    struct Sample {
        var rssKiB = 0
        var files = 0
    }

    /// What the traffic's tasks count.
    final class Tally: Sendable {
        let peak = Mutex(Sample())
        let collections = Mutex(0)
        let large = Mutex(0)
    }

    static func sample(_ pid: Int32) -> Sample {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? 0
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        return Sample(rssKiB: rss, files: files)
    }

    func testResourcesReturnAfterMixedTrafficFrom32Clients() async throws {
        let root = try temporaryDirectory("resource-soak")
        let work = try temporaryDirectory("resource-soak-work")
        let port = try freeLoopbackPort()
        let config = work.appendingPathComponent("config.yml")
        try """
            version: 0.1
            log: { level: warn, accesslog: { disabled: true } }
            http: { addr: "127.0.0.1:\(port)", timeouts: { idle: 3s } }
            storage:
              filesystem: { rootdirectory: "\(root.path)" }
              delete: { enabled: true }
            """.write(to: config, atomically: true, encoding: .utf8)
        let server = try BackgroundProcess(CommandLineTests.berth, ["serve", config.path], logURL: work.appendingPathComponent("server.log"))
        let base = URL(string: "http://127.0.0.1:\(port)")!
        try await HTTP.waitUntilReady(base, what: "berth", while: { server.isRunning })
        let pid = server.process.processIdentifier
        let ledger = SoakLedger()
        let client = SoakRegistryClient(base: base, ledger: ledger)
        let pool = SoakContent.pool(24)

        // Warm up (first requests fill caches and thread pools), let the connections be closed, then measure.
        await withTaskGroup(of: Void.self) { group in
            for id in 0..<4 {
                group.addTask { var w = Self.worker(id, client, pool); await w.run(until: .now + .seconds(2)) }
            }
            group.addTask { _ = await Self.largeBlobs(client, until: .now + .seconds(2)) }
        }
        try await Task.sleep(for: .seconds(5))
        let baseline = Self.sample(pid)

        let began = ContinuousClock.now
        let deadline = began + Self.trafficDuration
        let tally = Tally()
        await withTaskGroup(of: Void.self) { group in
            for id in 0..<Self.clients {
                group.addTask { var w = Self.worker(100 + id, client, pool); await w.run(until: deadline) }
            }
            group.addTask { let n = await Self.largeBlobs(client, until: deadline); tally.large.withLock { $0 = n } }
            group.addTask {
                while ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .seconds(5))
                    if let r = await client.send("POST", "/admin/api/gc", timeout: 300), r.status == 200 {
                        tally.collections.withLock { $0 += 1 }
                    }
                }
            }
            group.addTask {
                while ContinuousClock.now < deadline {
                    let now = Self.sample(pid)
                    tally.peak.withLock { $0 = Sample(rssKiB: max($0.rssKiB, now.rssKiB), files: max($0.files, now.files)) }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
        let trafficEnded = ContinuousClock.now
        let during = tally.peak.withLock { $0 }
        let check = await GarbageCollectionSoakTests.checkEveryTag(client, repositories: Self.repositories)
        let checked = ContinuousClock.now

        // Idle connections are closed after 3 s (http.timeouts.idle); give the server a few more to settle.
        var after = Self.sample(pid)
        let settleBy = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < settleBy {
            try await Task.sleep(for: .seconds(1))
            after = Self.sample(pid)
            if after.files <= baseline.files, after.rssKiB <= baseline.rssKiB + Self.rssSlackKiB { break }
        }
        let settled = ContinuousClock.now
        let stillRunning = server.isRunning
        await server.stop()

        let s = ledger.snapshot
        let operations = s.operations.values.reduce(0, +)
        let top = tally.peak.withLock { $0 }
        print("""
            Resource soak: \(GarbageCollectionSoakTests.seconds(trafficEnded - began)) s, \(Self.clients) clients, \
            \(operations) operations (\(GarbageCollectionSoakTests.list(s.operations))), \(tally.large.withLock { $0 }) large blobs \
            pushed and pulled, \(tally.collections.withLock { $0 }) collections; \
            RSS \(baseline.rssKiB / 1024) MiB at start, \(top.rssKiB / 1024) MiB peak, \(after.rssKiB / 1024) MiB after; \
            open files \(baseline.files) at start, \(top.files) peak, \(after.files) after; \
            end check \(check.images) tags, \(check.blobs) blobs, broken \(check.broken.count) \
            (\(GarbageCollectionSoakTests.seconds(checked - trafficEnded)) s); unexpected answers \(s.unexpectedCount); \
            settled in \(GarbageCollectionSoakTests.seconds(settled - checked)) s
            """)
        for line in s.unexpected.prefix(20) { print("Resource soak unexpected: \(line)") }

        XCTAssertTrue(stillRunning, "berth serve exited during the soak:\n\(server.log.suffix(3000))")
        XCTAssertEqual(s.unexpected, [], "answers no correct registry gives")
        XCTAssertEqual(check.broken, [], "broken images after the traffic")
        XCTAssertGreaterThan(check.images, 0)
        XCTAssertGreaterThan(during.files, baseline.files + Self.clients / 2, "the load never held connections open: it measured nothing")
        XCTAssertLessThanOrEqual(after.files, baseline.files, "open files leaked: \(baseline.files) at start, \(after.files) after")
        XCTAssertLessThanOrEqual(after.rssKiB, baseline.rssKiB + Self.rssSlackKiB,
                                 "resident memory did not come back: \(baseline.rssKiB) KiB at start, \(top.rssKiB) peak, \(after.rssKiB) after")
    }

    static func worker(_ id: Int, _ client: SoakRegistryClient, _ pool: [Blob]) -> SoakWorker {
        SoakWorker(id: id, client: client, pool: pool, repositories: repositories,
                   hotTags: ["latest", "stable"], versionTags: (0..<8).map { "2.\($0)" })
    }

    /// Pushes 24 MiB blobs, monolithically and in 4 MiB chunks, and pulls each back, verifying its
    /// digest; answers how many went round trip.
    static func largeBlobs(_ client: SoakRegistryClient, until deadline: ContinuousClock.Instant) async -> Int {
        var done = 0
        while ContinuousClock.now < deadline {
            var bytes = Data(count: 24 << 20)
            bytes.withUnsafeMutableBytes { raw in
                for i in stride(from: 0, to: raw.count, by: 4096) { raw[i] = UInt8.random(in: 0...255) }
            }
            let digest = Blob.digest(bytes)
            let repository = "load/large"
            if done % 2 == 0 {
                guard let r = await client.send("POST", "/v2/\(repository)/blobs/uploads/?digest=\(digest)",
                                                headers: ["Content-Type": "application/octet-stream"], body: bytes),
                      r.status == 201 else { client.ledger.unexpected("large monolithic push failed"); return done }
            } else {
                guard let opened = await client.send("POST", "/v2/\(repository)/blobs/uploads/"), opened.status == 202,
                      var location = opened.header("Location") else { client.ledger.unexpected("large upload not opened"); return done }
                for offset in stride(from: 0, to: bytes.count, by: 4 << 20) {
                    let chunk = bytes[offset..<min(offset + (4 << 20), bytes.count)]
                    guard let r = await client.send("PATCH", location, headers: [
                        "Content-Type": "application/octet-stream", "Content-Range": "\(offset)-\(offset + chunk.count - 1)",
                    ], body: Data(chunk)), r.status == 202, let next = r.header("Location") else {
                        client.ledger.unexpected("large chunk at \(offset) refused"); return done
                    }
                    location = next
                }
                guard let r = await client.send("PUT", SoakRegistryClient.appending(location, "digest=\(digest)")), r.status == 201 else {
                    client.ledger.unexpected("large chunked upload not completed"); return done
                }
            }
            guard let pulled = await client.send("GET", "/v2/\(repository)/blobs/\(digest)"), pulled.status == 200,
                  Blob.digest(pulled.body) == digest else { client.ledger.unexpected("large blob \(digest) did not pull back whole"); return done }
            done += 1
        }
        return done
    }
}
