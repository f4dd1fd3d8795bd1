import Foundation
import XCTest

/// `kill -9` of a real `berth serve` at random moments while clients push (monolithic, single
/// POST, chunked, slow chunked), put manifests by tag and digest, move and delete tags, delete
/// manifests and run online garbage collections. After every restart the registry must hold
/// everything the clients saw acknowledged, byte for byte, show nothing half-written, let the
/// interrupted uploads resume, and pass the storage audit.
///
/// `BERTH_CRASH_KILLS` sets the number of kills (default 16), `BERTH_CRASH_SEED` replays a run's
/// choices (the seed is printed; timing still differs from run to run).
final class CrashSafetyTests: IntegrationTestCase {
    func testKillNineAtRandomPointsLosesNothingAcknowledged() async throws {
        let environment = ProcessInfo.processInfo.environment
        let kills = Int(environment["BERTH_CRASH_KILLS"] ?? "") ?? 16
        let seed = UInt64(environment["BERTH_CRASH_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("crash test: seed \(seed) (BERTH_CRASH_SEED=\(seed) replays its choices), \(kills) kills")
        var random = SeededGenerator(seed: seed)
        let root = try temporaryDirectory("crash-root")
        let work = try temporaryDirectory("crash-work")
        let config = work.appendingPathComponent("config.yml")
        try """
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(root.path)
                directwrites: 256KiB   # most layers here cross it: kills land in direct writes too
              delete:
                enabled: true
              gc:
                graceperiod: 0s
            http:
              secret: crash-test-secret
            """.write(to: config, atomically: true, encoding: .utf8)

        let ledger = CrashLedger()
        var checks = CrashChecks(client: RegistryHTTPClient(base: URL(string: "http://127.0.0.1")!), ledger: ledger, root: root, config: config)
        var survived = 0
        let started = ContinuousClock.now
        for round in 0...kills {
            let (server, client) = try await startServer(config: config, work: work, round: round)
            checks.client = client
            if round > 0 {
                try await checks.run(round: round)
                survived += 1
            }
            if round == kills {
                try await pullWithSkopeo(client: client, ledger: ledger, work: work, problems: &checks.problems)
                await server.stop()
                break
            }
            await runUntilKilled(server, client: client, ledger: ledger, round: round, random: &random, work: work)
        }

        let state = ledger.state.withLock { $0 }
        let operations = state.operations.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("crash test summary: seed \(seed), \(survived) kills survived in \(ContinuousClock.now - started); "
              + "\(state.acknowledged) acknowledged, \(state.inFlightAtKill) in flight at a kill; operations: \(operations); "
              + "uploads resumed \(checks.resumed), restarted \(checks.restarted); \(checks.imagesPulled) image pulls and "
              + "\(checks.blobsChecked) blob checks after restarts; last audit: \(checks.auditedBlobs) blobs, \(checks.auditedTags) tags; "
              + "\(checks.scrubs) clean berth scrubs; "
              + "left by the kills: \(leftovers(root))")
        XCTAssertEqual(survived, kills)
        XCTAssertEqual(state.failures, [], "answers a correct registry never gives (seed \(seed))")
        XCTAssertEqual(checks.problems, [], "damage after kill -9 (seed \(seed))")
        if kills >= 6 {
            // Every third kill waits for a slow PATCH, so some session must have been cut mid-chunk.
            XCTAssertGreaterThan(checks.resumed, 0, "no upload was resumed after a kill (seed \(seed))")
        }
        XCTAssertGreaterThan(state.acknowledged, kills, "too little work was acknowledged to mean anything")
    }

    /// What the kills left for later clean-ups: Berth's temporary files (cleared at a start once
    /// an hour old) and upload sessions (purged by age), with their bytes.
    private func leftovers(_ root: URL) -> String {
        ["berth/tmp", "docker/registry/v2/repositories"].map { dir in
            var (files, bytes, sessions) = (0, 0, Set<String>())
            let base = root.appendingPathComponent(dir)
            let walker = FileManager.default.enumerator(atPath: base.path)
            while let path = walker?.nextObject() as? String {
                guard dir == "berth/tmp" || path.contains("/_uploads/") else { continue }
                let attributes = try? FileManager.default.attributesOfItem(atPath: base.appendingPathComponent(path).path)
                guard attributes?[.type] as? FileAttributeType == .typeRegular else { continue }
                files += 1
                bytes += (attributes?[.size] as? NSNumber)?.intValue ?? 0
                if let range = path.range(of: "/_uploads/") { sessions.insert(String(path[range.upperBound...].prefix(36))) }
            }
            return dir == "berth/tmp" ? "\(files) temporary files (\(bytes) bytes)"
                : "\(sessions.count) upload sessions (\(files) files, \(bytes) bytes)"
        }.joined(separator: ", ")
    }

    /// Starts `berth serve` on a fresh port (retried if the port is taken meanwhile).
    private func startServer(config: URL, work: URL, round: Int) async throws -> (BackgroundProcess, RegistryHTTPClient) {
        var lastLog = ""
        for attempt in 1...3 {
            let port = try freeLoopbackPort()
            let base = URL(string: "http://127.0.0.1:\(port)")!
            let server = try BackgroundProcess(CommandLineTests.berth, ["serve", config.path, "--addr", "127.0.0.1:\(port)"],
                                               logURL: work.appendingPathComponent("server-\(round)-\(attempt).log"))
            cleanups.append { await server.stop() }
            do {
                try await HTTP.waitUntilReady(base, what: "berth (restart \(round))", timeout: .seconds(60), while: { server.isRunning })
                return (server, RegistryHTTPClient(base: base))
            } catch {
                await server.stop()
                lastLog = server.log
            }
        }
        throw TestFailure("berth did not start again after kill \(round); its log:\n\(lastLog)")
    }

    /// Runs the clients and a collector until a SIGKILL ends the server: after a random delay,
    /// or (every third round) while a slow chunk is being sent, or (every fourth) just after a
    /// collection was asked for.
    private func runUntilKilled(_ server: BackgroundProcess, client: RegistryHTTPClient, ledger: CrashLedger, round: Int,
                                random: inout SeededGenerator, work: URL) async {
        let patching = CrashFlag()
        let collecting = CrashFlag()
        let roundSeed = random.next()
        let delay = Int.random(in: 300...2500, using: &random)
        let wait = Int.random(in: 40...350, using: &random)
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<3 {
                group.addTask {
                    var worker = CrashWorker(client: client, ledger: ledger, repository: "crash/w\(index)",
                                             random: SeededGenerator(seed: roundSeed &+ UInt64(index)))
                    await worker.run()
                }
            }
            group.addTask {
                var worker = SlowChunkedWorker(client: client, ledger: ledger, repository: "crash/slow", scratch: work,
                                               patching: patching, round: round * 100)
                await worker.run()
            }
            group.addTask {
                var random = SeededGenerator(seed: roundSeed &+ 99)
                while true {
                    try? await Task.sleep(for: .milliseconds(Int.random(in: 150...600, using: &random)))
                    ledger.collectionStarted()
                    ledger.count("collection")
                    collecting.set(true)
                    do {
                        let answer = try await client.request("POST", "/admin/api/gc?deleteUntagged=true")
                        // Only this task collects, one run at a time: a 503 ("another
                        // collection is running") can only be the lock of a killed server.
                        if answer.status != 200 {
                            ledger.fail("POST /admin/api/gc: \(answer.status) \(answer.text)")
                        }
                    } catch {
                        ledger.inFlight()
                        return
                    }
                }
            }
            // The killer.
            let trigger: CrashFlag? = round % 3 == 2 ? patching : round % 4 == 3 ? collecting : nil
            if let trigger {
                let deadline = ContinuousClock.now + .seconds(10)
                while !trigger.isSet, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
                try? await Task.sleep(for: .milliseconds(trigger === collecting ? wait / 10 : wait))
            } else {
                try? await Task.sleep(for: .milliseconds(delay))
            }
            kill(server.process.processIdentifier, SIGKILL)
            await server.stop()
            await group.waitForAll()
        }
    }

    /// The end: a few tagged images pulled with `skopeo copy`, compared byte for byte.
    private func pullWithSkopeo(client: RegistryHTTPClient, ledger: CrashLedger, work: URL, problems: inout [String]) async throws {
        let tagged = ["crash/w0", "crash/w1", "crash/w2", "crash/slow"].compactMap { ledger.settledTags(in: $0).first }
        XCTAssertFalse(tagged.isEmpty, "no tag survived to pull with skopeo")
        for (key, digest) in tagged {
            guard let image = ledger.image(digest) else { continue }
            let layout = work.appendingPathComponent("pulled-\(key.repository.replacingOccurrences(of: "/", with: "-"))")
            try await Skopeo.copy("docker://\(client.base.host ?? ""):\(client.base.port ?? 0)/\(key.repository):\(key.tag)",
                                  "oci:\(layout.path):\(key.tag)")
            try assertLayout(layout, tag: key.tag, holds: image)
        }
    }
}
