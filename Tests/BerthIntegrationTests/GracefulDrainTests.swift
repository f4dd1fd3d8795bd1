import Foundation
import XCTest

/// SIGTERM while a layer streams into a `berth serve` process: the upload gets `http.draintimeout`
/// to finish, the process exits within it, and what is left on disk is consistent.
final class GracefulDrainTests: IntegrationTestCase {
    struct Server {
        var process: BackgroundProcess
        var base: URL
    }

    func startServer(root: URL, port: Int, drainTimeout: String, logs: URL) async throws -> Server {
        let config = logs.appendingPathComponent("config-\(drainTimeout).yml")
        try "version: 0.1\nhttp:\n  addr: 127.0.0.1:\(port)\n  draintimeout: \(drainTimeout)\nstorage:\n  delete:\n    enabled: true\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let process = try BackgroundProcess(CommandLineTests.berth, ["serve", config.path, "--root", root.path],
                                            logURL: logs.appendingPathComponent("server-\(UUID().uuidString.prefix(4)).log"))
        cleanups.append { await process.stop(grace: .seconds(1)) }
        let base = try XCTUnwrap(URL(string: "http://127.0.0.1:\(port)"))
        try await HTTP.waitUntilReady(base, what: "berth", while: { process.isRunning })
        return Server(process: process, base: base)
    }

    /// Seconds until the process exits, or nil if it still runs after `limit`.
    func secondsUntilExit(_ process: BackgroundProcess, limit: Duration) async throws -> Double? {
        let start = ContinuousClock.now
        while process.isRunning {
            if ContinuousClock.now - start > limit { return nil }
            try await Task.sleep(for: .milliseconds(50))
        }
        let elapsed = (ContinuousClock.now - start).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
    }

    /// A file of random bytes and its digest.
    func randomFile(in dir: URL, megabytes: Int) async throws -> (URL, String) {
        let url = dir.appendingPathComponent("blob")
        try await ProcessRunner.run("/bin/sh", ["-c", "head -c \(megabytes << 20) /dev/urandom > '\(url.path)'"])
        let sum = try await ProcessRunner.run("/usr/bin/sha256sum", [url.path])
        return (url, "sha256:" + (sum.stdout.split(separator: " ").first.map(String.init) ?? ""))
    }

    /// curl streaming `file` at `rate` bytes per second; the task's stdout is the status code.
    func slowUpload(_ method: String, _ file: URL, to url: String, rate: String) -> Task<ProcessResult, any Error> {
        Task {
            try await ProcessRunner.run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", method,
                                                          "--limit-rate", rate, "-T", file.path,
                                                          "-H", "Content-Type: application/octet-stream", url],
                                        timeout: .seconds(60), allowFailure: true)
        }
    }

    /// An upload that fits in the drain time completes after SIGTERM: the client gets 201 and the
    /// blob is there after a restart.
    func testUploadInFlightFinishesWithinTheDrainTimeout() async throws {
        let (root, work, port) = (try temporaryDirectory("drain-root"), try temporaryDirectory("drain-work"), try freeLoopbackPort())
        let server = try await startServer(root: root, port: port, drainTimeout: "20s", logs: work)
        let (blob, digest) = try await randomFile(in: work, megabytes: 8)
        let url = server.base.absoluteString + "/v2/drain/ok/blobs/uploads?digest=\(digest)"  // no trailing slash: curl -T would append the file name
        // 8 MiB at 2 MiB/s: about 4 s, most of it after the SIGTERM.
        let upload = slowUpload("POST", blob, to: url, rate: "2M")
        try await Task.sleep(for: .milliseconds(1200))
        kill(server.process.process.processIdentifier, SIGTERM)
        let seconds = try await secondsUntilExit(server.process, limit: .seconds(25))
        XCTAssertNotNil(seconds, "berth still ran 25 s after SIGTERM with http.draintimeout 20s")
        let result = try await upload.value
        XCTAssertEqual(result.stdout, "201", "the upload in flight did not complete: \(result.stderr)\n\(server.process.log)")

        let restarted = try await startServer(root: root, port: port, drainTimeout: "20s", logs: work)
        let get = try await ProcessRunner.run("/bin/sh", ["-c", "curl -sS '\(restarted.base.absoluteString)/v2/drain/ok/blobs/\(digest)' | sha256sum"])
        XCTAssertEqual(get.stdout.split(separator: " ").first.map(String.init), String(digest.dropFirst(7)))
        await restarted.process.stop()
    }

    /// A 200 MiB upload far slower than the drain time is cut off: the process exits within the drain
    /// timeout (plus a margin), no partial blob is visible afterwards, and the session is either gone
    /// or resumable from where it stopped, and then completes with the right digest.
    func testUploadLongerThanTheDrainTimeoutIsCutOffCleanly() async throws {
        let (root, work, port) = (try temporaryDirectory("drain-root"), try temporaryDirectory("drain-work"), try freeLoopbackPort())
        let server = try await startServer(root: root, port: port, drainTimeout: "2s", logs: work)
        let (blob, digest) = try await randomFile(in: work, megabytes: 200)
        let started = try await HTTP.request("POST", server.base.appendingPathComponent("v2/drain/cut/blobs/uploads/"))
        XCTAssertEqual(started.status, 202, started.text)
        let location = try XCTUnwrap(started.header("Location"))
        let sessionURL = location.hasPrefix("http") ? location : server.base.absoluteString + location
        // 200 MiB at 20 MiB/s: about 10 s, far beyond the drain time.
        let upload = slowUpload("PATCH", blob, to: sessionURL, rate: "20M")
        try await Task.sleep(for: .milliseconds(1500))
        kill(server.process.process.processIdentifier, SIGTERM)
        let seconds = try await secondsUntilExit(server.process, limit: .seconds(10))
        let exited = try XCTUnwrap(seconds, "berth still ran 10 s after SIGTERM with http.draintimeout 2s\n\(server.process.log)")
        XCTAssertLessThan(exited, 2 + 3, "berth took \(exited) s to exit with http.draintimeout 2s")
        XCTAssertGreaterThan(exited, 1.5, "berth exited after \(exited) s: the upload in flight got no drain time")
        let result = try await upload.value
        XCTAssertNotEqual(result.stdout, "202", "a 200 MiB upload at 20 MiB/s cannot have completed")
        XCTAssertTrue(server.process.log.contains("shutting down: requests in flight have 2s to finish"), server.process.log)
        // Cut off either while its handler waits for more body (the drain's cancellation), or by the
        // connection's input closing under it (a short body: 400): both leave no blob.
        let cutOff = server.process.log.contains("request cut off: the server is shutting down")
            || server.process.log.contains("method=PATCH path=/v2/drain/cut/blobs/uploads/") && server.process.log.contains("status=400")
        XCTAssertTrue(cutOff, server.process.log)
        XCTAssertFalse(server.process.log.contains("unexpected error"), server.process.log)

        let restarted = try await startServer(root: root, port: port, drainTimeout: "2s", logs: work)
        let head = try await HTTP.request("HEAD", restarted.base.appendingPathComponent("v2/drain/cut/blobs/\(digest)"))
        XCTAssertEqual(head.status, 404, "the cut-off upload became a blob")
        let blobs = root.appendingPathComponent("docker/registry/v2/blobs").path
        let stored = (FileManager.default.enumerator(atPath: blobs)?.allObjects as? [String] ?? []).filter { $0.hasSuffix("/data") }
        XCTAssertEqual(stored, [], "a partial blob reached the blob store")

        let status = try await HTTP.request("GET", URL(string: sessionURL.replacingOccurrences(of: server.base.absoluteString,
                                                                                             with: restarted.base.absoluteString))!)
        switch status.status {
        case 404:
            break  // gone: the client starts again
        case 204:
            // Resumable: send the rest from the offset the registry reports, then commit.
            let range = try XCTUnwrap(status.header("Range"), "a resumable session reports its Range")
            let received = try XCTUnwrap(range.split(separator: "-").last.flatMap { Int($0) }) + 1
            XCTAssertLessThan(received, 200 << 20)
            let rest = work.appendingPathComponent("rest")
            try await ProcessRunner.run("/bin/sh", ["-c", "tail -c +\(received + 1) '\(blob.path)' > '\(rest.path)'"])
            let next = try XCTUnwrap(status.header("Location"))
            let patch = try await ProcessRunner.run("/usr/bin/curl", [
                "-sS", "-o", "/dev/null", "-D", "-", "-H", "Expect:", "-X", "PATCH", "-T", rest.path,
                "-H", "Content-Type: application/octet-stream", "-H", "Content-Range: \(received)-\((200 << 20) - 1)",
                next.hasPrefix("http") ? next : restarted.base.absoluteString + next])
            XCTAssertTrue(patch.stdout.hasPrefix("HTTP/1.1 202"), "resuming the session at \(received) failed:\n\(patch.stdout)")
            let final = try XCTUnwrap(patch.stdout.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }?
                .dropFirst("location:".count).trimmingCharacters(in: .whitespaces))
            let finalURL = final.hasPrefix("http") ? final : restarted.base.absoluteString + final
            let put = try await HTTP.request("PUT", try XCTUnwrap(URL(string: finalURL + (finalURL.contains("?") ? "&" : "?") + "digest=\(digest)")))
            XCTAssertEqual(put.status, 201, put.text)
            let after = try await HTTP.request("HEAD", restarted.base.appendingPathComponent("v2/drain/cut/blobs/\(digest)"))
            XCTAssertEqual(after.status, 200)
        default:
            XCTFail("the upload session answers \(status.status) after the restart: \(status.text)")
        }
        await restarted.process.stop()
    }
}
