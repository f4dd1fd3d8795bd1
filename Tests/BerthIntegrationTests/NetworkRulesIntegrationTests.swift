import BerthAuth
import BerthServer
import Foundation
import XCTest

/// `berth serve` with network rules, over real connections from two loopback addresses: curl
/// binds its socket to 127.0.0.1 or 127.0.0.2 (`--interface`), so the server sees two peers.
/// 127.0.0.1 is also a trusted proxy, whose `X-Forwarded-For` is believed; 127.0.0.2's is not.
final class NetworkRulesIntegrationTests: IntegrationTestCase {
    struct Answer {
        var status: Int
        var body: String
    }

    /// One request with curl from `source`; the status and body.
    func curl(_ url: String, from source: String, method: String = "GET", headers: [String] = [],
              body: Data? = nil, requestID: String? = nil) async throws -> Answer {
        var arguments = ["-s", "--interface", source, "-X", method, "-w", "\n%{http_code}"]
        if method == "HEAD" { arguments = ["-s", "--interface", source, "-I", "-o", "/dev/null", "-w", "\n%{http_code}"] }
        for header in headers { arguments += ["-H", header] }
        if let requestID { arguments += ["-H", "X-Request-Id: \(requestID)"] }
        if let body {
            let file = try temporaryDirectory("body").appendingPathComponent("data")
            try body.write(to: file)
            arguments += ["--data-binary", "@\(file.path)", "-H", "Content-Type: application/octet-stream"]
        }
        let output = try await ProcessRunner.run("/usr/bin/curl", arguments + [url], timeout: .seconds(30)).stdout
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        return Answer(status: Int(lines.last ?? "") ?? 0, body: lines.dropLast().joined(separator: "\n"))
    }

    func assertStatus(_ answer: Answer, _ status: Int, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(answer.status, status, "\(message) \(answer.body)", file: file, line: line)
    }

    func testPullsFromAnywherePushesOnlyFromTheAllowedAddressAndOnlyTrustedProxiesForward() async throws {
        let dir = try temporaryDirectory("network")
        let port = try freeLoopbackPort()
        let debugPort = try freeLoopbackPort()
        let config = dir.appendingPathComponent("config.yml")
        try """
            version: 0.1
            log:
              level: info
              formatter: json
            storage:
              filesystem:
                rootdirectory: \(dir.appendingPathComponent("data").path)
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
              debug:
                addr: 127.0.0.1:\(debugPort)
                prometheus:
                  enabled: true
            network:
              trustedproxies: ["127.0.0.1/32"]
              deny: ["192.0.2.0/24"]
              actions:
                push: { allow: ["127.0.0.1/32"] }
                delete: { allow: ["127.0.0.1"] }
            """.write(to: config, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("server.log")
        let server = try BackgroundProcess(CommandLineTests.berth, ["serve", config.path], logURL: log)
        cleanups.append { await server.stop() }
        let base = "http://127.0.0.1:\(port)"
        try await HTTP.waitUntilReady(URL(string: base)!, what: "berth", while: { server.isRunning })

        let blob = Data("network rules \(UUID())".utf8)
        let digest = Blob.digest(blob)
        let blobURL = "\(base)/v2/net/app/blobs/\(digest)"
        let push = "\(base)/v2/net/app/blobs/uploads/?digest=\(digest)"

        // Pushes only from 127.0.0.1; pulls from both.
        let denied = try await curl(push, from: "127.0.0.2", method: "POST", body: blob)
        XCTAssertEqual(denied.status, 403, denied.body)
        XCTAssertTrue(denied.body.contains("\"DENIED\""), denied.body)
        XCTAssertTrue(denied.body.contains("client 127.0.0.2 may not push: not in network.actions.push.allow"), denied.body)
        assertStatus(try await curl(blobURL, from: "127.0.0.1"), 404, "nothing was stored")
        assertStatus(try await curl(push, from: "127.0.0.1", method: "POST", body: blob), 201)
        for source in ["127.0.0.1", "127.0.0.2"] {
            assertStatus(try await curl("\(base)/v2/", from: source), 200, source)
            let pulled = try await curl(blobURL, from: source)
            XCTAssertEqual(pulled.status, 200, source)
            XCTAssertEqual(pulled.body, String(decoding: blob, as: UTF8.self), source)
            assertStatus(try await curl(blobURL, from: source, method: "HEAD"), 200, source)
        }
        let delete = try await curl(blobURL, from: "127.0.0.2", method: "DELETE")
        XCTAssertEqual(delete.status, 403, delete.body)
        XCTAssertTrue(delete.body.contains("client 127.0.0.2 may not delete: not in network.actions.delete.allow"), delete.body)

        // Behind the trusted proxy (127.0.0.1) the forwarded client counts.
        let proxied = try await curl(blobURL, from: "127.0.0.1", headers: ["X-Forwarded-For: 192.0.2.7"], requestID: "proxied-denied")
        XCTAssertEqual(proxied.status, 403, proxied.body)
        XCTAssertTrue(proxied.body.contains("client 192.0.2.7 may not pull: in network.deny (192.0.2.0/24)"), proxied.body)
        let proxiedPush = try await curl(push, from: "127.0.0.1", method: "POST", headers: ["X-Forwarded-For: 127.0.0.2"], body: blob)
        XCTAssertEqual(proxiedPush.status, 403, proxiedPush.body)
        XCTAssertTrue(proxiedPush.body.contains("client 127.0.0.2 may not push"), proxiedPush.body)

        // The same headers from 127.0.0.2, which is no proxy, change nothing.
        let forged = try await curl(blobURL, from: "127.0.0.2", headers: ["X-Forwarded-For: 192.0.2.7"], requestID: "forged")
        XCTAssertEqual(forged.status, 200, forged.body)
        let forgedForwarded = try await curl(blobURL, from: "127.0.0.2", headers: ["Forwarded: for=192.0.2.7"])
        XCTAssertEqual(forgedForwarded.status, 200, forgedForwarded.body)
        let forgedPush = try await curl(push, from: "127.0.0.2", method: "POST", headers: ["X-Forwarded-For: 127.0.0.1"], body: blob)
        XCTAssertEqual(forgedPush.status, 403, forgedPush.body)
        XCTAssertTrue(forgedPush.body.contains("client 127.0.0.2 may not push"), forgedPush.body)

        // Refusals are counted by action.
        let metrics = try await curl("http://127.0.0.1:\(debugPort)/metrics", from: "127.0.0.1")
        for (action, count) in [("push", 3), ("delete", 1), ("pull", 1)] {
            XCTAssertTrue(metrics.body.contains("berth_network_denied_total{action=\"\(action)\"} \(count)"),
                          "\(action) \(count): \(metrics.body.split(separator: "\n").filter { $0.contains("network") })")
        }

        // The access log names the effective client.
        await server.stop()
        var clients: [String: String] = [:]
        for line in try String(contentsOf: log, encoding: .utf8).split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let id = object["request_id"] as? String else { continue }
            clients[id] = object["client"] as? String
        }
        XCTAssertEqual(clients["proxied-denied"], "192.0.2.7")
        XCTAssertEqual(clients["forged"], "127.0.0.2")
    }

    /// Notifications name the client the trusted proxy forwarded for, not the proxy.
    func testEventsNameTheForwardedClient() async throws {
        let receiver = try await EventReceiver.start()
        cleanups.append { await receiver.stop() }
        var endpoint = NotificationSettings.Endpoint(name: "hook", url: try XCTUnwrap(URL(string: "\(receiver.url)/hook")))
        endpoint.backoff = .milliseconds(50)
        let berth = try await startBerth(root: try temporaryDirectory("network-events")) { config in
            config.notifications.endpoints = [endpoint]
            config.network = NetworkRules(trustedProxies: [try! CIDR(parsing: "127.0.0.1/32")])
        }
        let blob = Data("forwarded event".utf8)
        let digest = Blob.digest(blob)
        let pushed = try await HTTP.request("POST", try XCTUnwrap(URL(string: "http://\(berth.host)/v2/net/events/blobs/uploads/?digest=\(digest)")),
                                            headers: ["X-Forwarded-For": "198.51.100.9"], body: blob)
        XCTAssertEqual(pushed.status, 201, pushed.text)
        try await receiver.waitFor(path: "/hook", what: "the push event") { !$0.isEmpty }
        let delivery = try XCTUnwrap(receiver.deliveries.first { $0.path == "/hook" })
        let envelope = try XCTUnwrap(JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])
        let event = try XCTUnwrap((envelope["events"] as? [[String: Any]])?.first)
        XCTAssertEqual((event["request"] as? [String: Any])?["addr"] as? String, "198.51.100.9")
    }

    func testConfigCheckNamesTheBadKey() async throws {
        let config = try temporaryDirectory("network-check").appendingPathComponent("bad.yml")
        try "version: 0.1\nnetwork:\n  actions:\n    push: { allow: [\"10.20.1.0/16\"] }\n    pul: { allow: [\"10.0.0.0/8\"] }\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let result = try await ProcessRunner.run(CommandLineTests.berth, ["config", "check", config.path], timeout: .seconds(30),
                                                 allowFailure: true)
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("network.actions.push.allow[0]: 10.20.1.0/16 has address bits set beyond its /16 prefix"),
                      result.stderr)
        XCTAssertTrue(result.stderr.contains("network.actions.pul: pul is not one of pull, push, delete, catalog, admin"), result.stderr)
    }
}
