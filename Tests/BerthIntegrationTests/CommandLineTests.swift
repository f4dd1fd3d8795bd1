import Foundation
import XCTest

/// The `berth` executable itself: help and version, `config check`, start-up errors, and a real
/// server process killed with SIGKILL in the middle of an upload.
final class CommandLineTests: IntegrationTestCase {
    /// The `berth` binary built next to this test bundle.
    static var berth: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return dir.appendingPathComponent("berth").path
    }

    func run(_ arguments: [String], env: [String: String] = [:]) async throws -> ProcessResult {
        var args = arguments
        if !env.isEmpty {
            args = ["-i"] + env.map { "\($0.key)=\($0.value)" } + ["PATH=/usr/bin:/bin", Self.berth] + arguments
            return try await ProcessRunner.run("/usr/bin/env", args, timeout: .seconds(30), allowFailure: true)
        }
        return try await ProcessRunner.run(Self.berth, args, timeout: .seconds(30), allowFailure: true)
    }

    func testVersionAndHelp() async throws {
        let version = try await run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
        let help = try await run(["help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("serve") && help.stdout.contains("config"), help.stdout)
        let serveHelp = try await run(["serve", "--help"])
        XCTAssertTrue(serveHelp.stdout.contains("--addr") && serveHelp.stdout.contains("--root")
                      && serveHelp.stdout.contains("./data"), serveHelp.stdout)
        let checkHelp = try await run(["config", "check", "--help"])
        XCTAssertTrue(checkHelp.stdout.contains("secrets masked"), checkHelp.stdout)
    }

    func testConfigCheck() async throws {
        let dir = try temporaryDirectory("cli-config")
        let good = dir.appendingPathComponent("good.yml")
        try """
            version: 0.1
            http:
              addr: 127.0.0.1:5999
              secret: very-secret-value
            storage:
              filesystem:
                rootdirectory: /srv/berth
              delete:
                enabled: true
            colour: blue
            """.write(to: good, atomically: true, encoding: .utf8)
        let ok = try await run(["config", "check", good.path])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stdout.contains("http.addr: 127.0.0.1:5999"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("storage.delete.enabled: true"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("http.secret: ********"), ok.stdout)
        XCTAssertFalse(ok.stdout.contains("very-secret-value") || ok.stderr.contains("very-secret-value"))
        XCTAssertTrue(ok.stderr.contains("unknown configuration key colour"), ok.stderr)

        // The environment overrides the file, as for `serve`.
        let overridden = try await run(["config", "check", good.path], env: ["REGISTRY_HTTP_ADDR": "127.0.0.1:6000"])
        XCTAssertTrue(overridden.stdout.contains("http.addr: 127.0.0.1:6000"), overridden.stdout + overridden.stderr)

        let bad = dir.appendingPathComponent("bad.yml")
        try "version: 0.1\nhttp:\n  addr: nowhere\nstorage:\n  s3:\n    bucket: b\n".write(to: bad, atomically: true, encoding: .utf8)
        let refused = try await run(["config", "check", bad.path])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("http.addr nowhere"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("storage.s3"), refused.stderr)

        let missing = try await run(["config", "check", dir.appendingPathComponent("absent.yml").path])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("absent.yml"), missing.stderr)
    }

    func testServeRefusesWhatItCannotHonour() async throws {
        let dir = try temporaryDirectory("cli-serve")
        let config = dir.appendingPathComponent("auth.yml")
        try "version: 0.1\nstorage:\n  s3:\n    bucket: b\n".write(to: config, atomically: true, encoding: .utf8)
        let refused = try await run(["serve", config.path, "--addr", "127.0.0.1:\(try freeLoopbackPort())"])
        XCTAssertEqual(refused.status, 2)
        XCTAssertTrue(refused.stderr.contains("storage.s3"), refused.stderr)
        // An htpasswd file that is missing stops the start with its path named.
        let missing = dir.appendingPathComponent("missing-htpasswd").path
        try "version: 0.1\nauth:\n  htpasswd:\n    realm: r\n    path: \(missing)\n".write(to: config, atomically: true, encoding: .utf8)
        let noUsers = try await run(["serve", config.path, "--addr", "127.0.0.1:\(try freeLoopbackPort())", "--root", dir.path])
        XCTAssertEqual(noUsers.status, 2)
        XCTAssertTrue(noUsers.stderr.contains(missing), noUsers.stderr)
        let badFlag = try await run(["serve", "--addr", "127.0.0.1:notaport", "--root", dir.path])
        XCTAssertEqual(badFlag.status, 2)
        XCTAssertTrue(badFlag.stderr.contains("http.addr"), badFlag.stderr)
    }

    /// SIGKILL while a blob streams in: after a restart the blob is not visible, no partial blob
    /// exists in the blob store, and the same push then succeeds. SIGTERM stops the server cleanly.
    func testKillDuringUploadLeavesNothingVisible() async throws {
        let root = try temporaryDirectory("cli-kill")
        let work = try temporaryDirectory("cli-kill-work")
        let port = try freeLoopbackPort()
        let base = URL(string: "http://127.0.0.1:\(port)")!
        func startServer() async throws -> BackgroundProcess {
            let server = try BackgroundProcess(Self.berth, ["serve", "--addr", "127.0.0.1:\(port)", "--root", root.path],
                                               logURL: work.appendingPathComponent("server-\(UUID().uuidString.prefix(4)).log"))
            try await HTTP.waitUntilReady(base, what: "berth", while: { server.isRunning })
            return server
        }
        var server = try await startServer()

        let blob = work.appendingPathComponent("blob")
        let bytes = Data((0..<(8 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) })
        try bytes.write(to: blob)
        let digest = Blob.digest(bytes)
        let url = base.appendingPathComponent("v2/crash/test/blobs/uploads/").absoluteString + "?digest=\(digest)"
        // A slow client: the body takes seconds to arrive, so the kill lands mid-stream.
        let slow = try BackgroundProcess("/usr/bin/curl", ["-s", "-X", "POST", "--limit-rate", "1M", "--data-binary", "@\(blob.path)",
                                                           "-H", "Content-Type: application/octet-stream", url],
                                         logURL: work.appendingPathComponent("curl.log"))
        try await Task.sleep(for: .milliseconds(1500))
        kill(server.process.processIdentifier, SIGKILL)
        await server.stop()
        await slow.stop()

        server = try await startServer()
        let head = try await HTTP.request("HEAD", base.appendingPathComponent("v2/crash/test/blobs/\(digest)"))
        XCTAssertEqual(head.status, 404)
        let blobs = root.appendingPathComponent("docker/registry/v2/blobs").path
        let stored = (FileManager.default.enumerator(atPath: blobs)?.allObjects as? [String] ?? []).filter { $0.hasSuffix("/data") }
        XCTAssertEqual(stored, [], "a partial blob reached the blob store")

        let push = try await HTTP.request("POST", URL(string: url)!, body: bytes)
        XCTAssertEqual(push.status, 201, push.text)
        let get = try await HTTP.request("GET", base.appendingPathComponent("v2/crash/test/blobs/\(digest)"))
        XCTAssertEqual(get.body, bytes)

        server.process.terminate()
        let deadline = ContinuousClock.now + .seconds(10)
        while server.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        XCTAssertFalse(server.isRunning, "berth did not exit within 10 s of SIGTERM")
        await server.stop()
    }

    /// A 256 MiB blob pushed and pulled with curl never makes the server's memory grow with the
    /// blob: the peak resident set stays far below the blob's size.
    func testLargeBlobStreamsInBoundedMemory() async throws {
        let root = try temporaryDirectory("cli-memory")
        let work = try temporaryDirectory("cli-memory-work")
        let port = try freeLoopbackPort()
        let base = URL(string: "http://127.0.0.1:\(port)")!
        let server = try BackgroundProcess(Self.berth, ["serve", "--addr", "127.0.0.1:\(port)", "--root", root.path],
                                           logURL: work.appendingPathComponent("server.log"))
        try await HTTP.waitUntilReady(base, what: "berth", while: { server.isRunning })
        let blob = work.appendingPathComponent("blob").path
        try await ProcessRunner.run("/bin/sh", ["-c", "head -c \(256 << 20) /dev/urandom > '\(blob)'"])
        let sum = try await ProcessRunner.run("/usr/bin/sha256sum", [blob])
        let digest = "sha256:" + (sum.stdout.split(separator: " ").first.map(String.init) ?? "")
        let push = try await ProcessRunner.run("/usr/bin/curl", [
            "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-T", blob,
            base.absoluteString + "/v2/big/blob/blobs/uploads?digest=\(digest)"])
        XCTAssertEqual(push.stdout, "201")
        let pulled = work.appendingPathComponent("pulled").path
        try await ProcessRunner.run("/usr/bin/curl", ["-sS", "-o", pulled, base.absoluteString + "/v2/big/blob/blobs/\(digest)"])
        let pulledSum = try await ProcessRunner.run("/usr/bin/sha256sum", [pulled])
        XCTAssertEqual(pulledSum.stdout.split(separator: " ").first.map(String.init), String(digest.dropFirst(7)))
        let status = try String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)
        let peakKiB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
            .split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) } ?? Int.max
        XCTAssertLessThan(peakKiB, 160 * 1024, "peak RSS \(peakKiB) KiB while streaming a 256 MiB blob")
        await server.stop()
    }

    /// With no arguments, `berth serve` listens on port 5000 and stores under ./data.
    func testServeDefaults() async throws {
        guard (try? await HTTP.request("GET", URL(string: "http://127.0.0.1:5000/v2/")!)) == nil else {
            throw XCTSkip("port 5000 is already in use on this machine")
        }
        let cwd = try temporaryDirectory("cli-defaults")
        let server = try BackgroundProcess("/bin/sh", ["-c", "cd '\(cwd.path)' && exec '\(Self.berth)' serve"],
                                           logURL: cwd.appendingPathComponent("server.log"))
        defer { kill(server.process.processIdentifier, SIGTERM) }
        try await HTTP.waitUntilReady(URL(string: "http://127.0.0.1:5000")!, what: "berth on its default port",
                                      while: { server.isRunning })
        var isDirectory: ObjCBool = false
        XCTAssertTrue(FileManager.default.fileExists(atPath: cwd.appendingPathComponent("data/berth").path, isDirectory: &isDirectory))
        XCTAssertTrue(isDirectory.boolValue)
        await server.stop()
    }
}
