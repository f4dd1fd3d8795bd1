import BerthServer
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Clients that try to hold the server: heads sent a byte at a time (slowloris), bodies that stop,
/// Content-Lengths that lie, responses nobody reads, thousands of idle connections, more
/// connections than allowed. Each is bounded by one of `http.timeouts` or `http.maxconnections`,
/// and the server keeps answering everyone else meanwhile.
final class HostileClientTests: IntegrationTestCase {
    /// Short limits so that each test takes seconds.
    func startGuarded(_ label: String, _ adjust: (inout ConnectionLimits) -> Void = { _ in }) async throws -> TestRegistry {
        try await startBerth(root: try temporaryDirectory(label)) { config in
            config.connections.header = .seconds(1)
            config.connections.body = .seconds(1)
            config.connections.write = .seconds(2)
            config.connections.idle = .seconds(2)
            adjust(&config.connections)
        }
    }

    /// Polls `condition` every 50 ms for at most `timeout`.
    func eventually(within timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    /// A normal request on a new connection, timed.
    func timedPing(_ registry: TestRegistry) throws -> (response: String, elapsed: Duration) {
        let start = ContinuousClock.now
        let connection = try RawConnection(port: registry.port)
        connection.send("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = connection.receive(until: "{}")
        return (response, ContinuousClock.now - start)
    }

    func testSlowlorisHeadsAreCutOffWith408WhileOthersAreServed() async throws {
        let registry = try await startGuarded("slowloris")
        let slow = try (0..<64).map { _ in try RawConnection(port: registry.port, timeout: 1) }
        for connection in slow { connection.send("GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ") }
        let started = ContinuousClock.now
        var served: [Duration] = []
        // Drip one byte a connection every 200 ms, as slowloris does, and keep asking as a normal client.
        while ContinuousClock.now - started < .seconds(5), !slow.allSatisfy({ $0.hasEnded() }) {
            for connection in slow where !connection.hasEnded() { connection.send("a") }
            let ping = try timedPing(registry)
            XCTAssertTrue(ping.response.hasPrefix("HTTP/1.1 200"), ping.response)
            served.append(ping.elapsed)
            try await Task.sleep(for: .milliseconds(200))
        }
        let cutOffAfter = ContinuousClock.now - started
        XCTAssertTrue(slow.allSatisfy { $0.hasEnded() }, "slowloris connections still open after \(cutOffAfter)")
        XCTAssertLessThan(cutOffAfter, .seconds(4), "http.timeouts.header is 1 s")
        let answer = slow[0].receive(until: "}]}")
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 408"), answer)
        XCTAssertTrue(answer.contains(#""errors":[{"code":"#), answer)
        XCTAssertLessThan(served.max() ?? .zero, .milliseconds(500), "normal requests waited behind slowloris: \(served)")
        XCTAssertGreaterThan(served.count, 3)
    }

    /// A monolithic upload whose body stops (its Content-Length lied, or the client died) is cut off;
    /// nothing becomes visible. A chunk that stops mid-way leaves a session that resumes from what
    /// the server reports it has.
    func testBodiesThatStopAreCutOffAndUploadsResume() async throws {
        let registry = try await startGuarded("stalled-body")
        let blob = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        let digest = Blob.digest(blob)

        let monolithic = try RawConnection(port: registry.port)
        monolithic.send("POST /v2/stall/blobs/uploads/?digest=\(digest) HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Type: application/octet-stream\r\nContent-Length: \(blob.count)\r\n\r\n")
        monolithic.send(Array(blob.prefix(100_000)))
        let stalledAt = ContinuousClock.now
        let ended = await eventually(within: .seconds(5)) { monolithic.hasEnded() }
        XCTAssertTrue(ended, "a stalled body was not cut off")
        XCTAssertLessThan(ContinuousClock.now - stalledAt, .seconds(4), "http.timeouts.body is 1 s")
        let head = try await HTTP.request("HEAD", registry.baseURL.appendingPathComponent("v2/stall/blobs/\(digest)"))
        XCTAssertEqual(head.status, 404, "a cut-off upload must not be visible")

        // Chunked: open a session, send a chunk that stops half-way.
        let opened = try await HTTP.request("POST", registry.baseURL.appendingPathComponent("v2/stall/blobs/uploads/"))
        XCTAssertEqual(opened.status, 202)
        let location = try XCTUnwrap(opened.header("Location"))
        let path = URL(string: location, relativeTo: registry.baseURL)!
        let chunk = try RawConnection(port: registry.port)
        chunk.send("PATCH \(path.path)?\(path.query ?? "") HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                   + "Content-Range: 0-\(blob.count - 1)\r\nContent-Length: \(blob.count)\r\n\r\n")
        chunk.send(Array(blob.prefix(300_000)))
        let chunkEnded = await eventually(within: .seconds(5)) { chunk.hasEnded() }
        XCTAssertTrue(chunkEnded, "a stalled chunk was not cut off")

        // The session is still there; whatever it reports having, the rest completes it.
        let status = try await HTTP.request("GET", path)
        XCTAssertEqual(status.status, 204, status.text)
        // Berth keeps a chunk only whole (an empty session reports 0-0).
        let range = try XCTUnwrap(status.header("Range"))
        XCTAssertEqual(range, "0-0", "a chunk cut off half-way must not be kept in part")
        let have = 0
        let rest = blob.suffix(from: have)
        var patch = URLComponents(url: URL(string: status.header("Location") ?? location, relativeTo: registry.baseURL)!,
                                  resolvingAgainstBaseURL: true)!
        let patched = try await HTTP.request("PATCH", patch.url!, headers: [
            "Content-Type": "application/octet-stream", "Content-Range": "\(have)-\(blob.count - 1)",
        ], body: Data(rest))
        XCTAssertEqual(patched.status, 202, patched.text)
        patch = URLComponents(url: URL(string: patched.header("Location")!, relativeTo: registry.baseURL)!, resolvingAgainstBaseURL: true)!
        patch.queryItems = (patch.queryItems ?? []) + [URLQueryItem(name: "digest", value: digest)]
        let completed = try await HTTP.request("PUT", patch.url!)
        XCTAssertEqual(completed.status, 201, completed.text)
        let pulled = try await HTTP.request("GET", registry.baseURL.appendingPathComponent("v2/stall/blobs/\(digest)"))
        XCTAssertEqual(pulled.body, blob)
    }

    /// A Content-Length shorter than the body: the body is cut at the stated length (so its digest
    /// fails, the client is told so, and nothing is stored) and the leftover bytes, not a request,
    /// end the connection.
    func testContentLengthShorterThanTheBody() async throws {
        let registry = try await startGuarded("short-length")
        let blob = Data(repeating: 0x5a, count: 4096)
        let digest = Blob.digest(blob)
        let connection = try RawConnection(port: registry.port)
        connection.send("POST /v2/lie/blobs/uploads/?digest=\(digest) HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n")
        connection.send(Array(blob))
        // The upload gets its own answer; the leftover bytes, which are not a request, then end the connection.
        let answer = connection.receive(until: "}]}")
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 400"), answer)
        XCTAssertTrue(answer.contains("DIGEST_INVALID"), answer)
        let ended = await eventually(within: .seconds(5)) { connection.hasEnded() }
        XCTAssertTrue(ended, "the connection stayed open after a malformed request")
        let head = try await HTTP.request("HEAD", registry.baseURL.appendingPathComponent("v2/lie/blobs/\(digest)"))
        XCTAssertEqual(head.status, 404)
        XCTAssertTrue(try timedPing(registry).response.hasPrefix("HTTP/1.1 200"))
    }

    /// A client that asks for a blob and never reads it is cut off after `http.timeouts.write`,
    /// long before the blob would have been sent.
    func testResponsesNobodyReadsAreCutOff() async throws {
        let registry = try await startGuarded("unread")
        var blob = Data(repeating: 0x42, count: 32 << 20)
        blob[12345] = 7
        let digest = Blob.digest(blob)
        let pushed = try await HTTP.request("POST", registry.baseURL.appendingPathComponent("v2/unread/blobs/uploads/")
            .appending(queryItems: [URLQueryItem(name: "digest", value: digest)]),
            headers: ["Content-Type": "application/octet-stream"], body: blob)
        XCTAssertEqual(pushed.status, 201)

        let reader = try RawConnection(port: registry.port, timeout: 2, receiveBuffer: 32 << 10)
        reader.send("GET /v2/unread/blobs/\(digest) HTTP/1.1\r\nHost: x\r\n\r\n")
        try await Task.sleep(for: .seconds(5))  // write timeout 2 s, checked every 250 ms
        let (received, ended) = reader.drain()
        XCTAssertTrue(ended, "the connection is still open after 5 s of not reading")
        XCTAssertLessThan(received, blob.count, "the whole blob was sent: nothing was cut off")
        XCTAssertTrue(try timedPing(registry).response.hasPrefix("HTTP/1.1 200"))
    }

    /// Two thousand idle connections: the server still answers at once, and closes them all, the ones
    /// that made a request after `http.timeouts.idle`, the ones that never did after
    /// `http.timeouts.header`; the cut-offs are counted in the metrics.
    func testThousandsOfIdleConnectionsAreClosedAndOthersAreServed() async throws {
        let debugPort = try freeLoopbackPort()
        let registry = try await startBerth(root: try temporaryDirectory("idle")) { config in
            config.connections.idle = .seconds(2)
            config.connections.header = .seconds(3)
            config.observability.debugAddress = ListenAddress(host: "127.0.0.1", port: debugPort)
            config.observability.prometheusEnabled = true
        }
        let idle = try (0..<2000).map { _ in try RawConnection(port: registry.port, timeout: 1) }
        // Each one has sent a request once, so it is a kept-alive connection, not one still connecting.
        for connection in idle.prefix(200) {
            connection.send("HEAD /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = connection.receive(until: "\r\n\r\n")
            XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200"), answer)
        }
        let ping = try timedPing(registry)
        XCTAssertTrue(ping.response.hasPrefix("HTTP/1.1 200"), ping.response)
        XCTAssertLessThan(ping.elapsed, .milliseconds(500), "with 2,000 idle connections open")
        let allClosed = await eventually(within: .seconds(10)) { idle.allSatisfy { $0.hasEnded() } }
        XCTAssertTrue(allClosed, "\(idle.filter { !$0.hasEnded() }.count) of 2,000 idle connections still open")

        let metrics = try await HTTP.request("GET", URL(string: "http://127.0.0.1:\(debugPort)/metrics")!)
        func counted(_ reason: String) -> Double {
            let line = metrics.text.split(separator: "\n").first { $0.hasPrefix(#"berth_http_connections_cut_off_total{reason="\#(reason)"}"#) }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
        }
        XCTAssertEqual(counted("idle"), 200, metrics.text)
        XCTAssertGreaterThanOrEqual(counted("header"), 1800, metrics.text)
    }

    /// Over `http.maxconnections`, a new connection gets 503 with the spec's JSON error at once
    /// (not a hang); once connections close, new ones are served again.
    func testConnectionsOverTheLimitGet503() async throws {
        let registry = try await startGuarded("max-connections") { $0.maxConnections = 100; $0.idle = .seconds(60) }
        var held = try (0..<100).map { _ in try RawConnection(port: registry.port) }
        for connection in held {
            connection.send("HEAD /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            XCTAssertTrue(connection.receive(until: "\r\n\r\n").hasPrefix("HTTP/1.1 200"))
        }
        let over = try timedPing(registry)
        XCTAssertTrue(over.response.hasPrefix("HTTP/1.1 503"), over.response)
        XCTAssertTrue(over.response.contains(#""code":"UNAVAILABLE""#), over.response)
        XCTAssertTrue(over.response.contains("http.maxconnections"), over.response)
        XCTAssertLessThan(over.elapsed, .seconds(2))
        held.removeLast(10)
        let servedAgain = await eventually(within: .seconds(5)) {
            (try? self.timedPing(registry).response.hasPrefix("HTTP/1.1 200")) ?? false
        }
        XCTAssertTrue(servedAgain, "no connection was served after ten closed")
    }
}
