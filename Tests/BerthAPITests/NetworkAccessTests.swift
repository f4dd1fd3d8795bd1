import BerthAPI
import BerthAuth
import BerthServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// Network rules through the real application over real loopback connections (`.live`, so the
/// peer is 127.0.0.1): refusals for the right actions only, clients behind a trusted proxy, and
/// forged forwarding headers from untrusted peers that change nothing.
final class NetworkAccessTests: XCTestCase {
    static let forwarded = HTTPField.Name("Forwarded")!

    /// A registry trusting 127.0.0.1 (the test client) as a proxy, where only 127.0.0.1 may push
    /// and delete, and 192.0.2.0/24 may do nothing.
    func withProxiedRegistry<T: Sendable>(root: String? = nil, trusting proxies: [String] = ["127.0.0.1/32"],
                                          _ body: @Sendable (Client) async throws -> T) async throws -> T {
        let rules = NetworkRules(
            trustedProxies: ranges(proxies),
            global: .init(deny: ranges(["192.0.2.0/24"])),
            actions: [.push: .init(allow: ranges(["127.0.0.1/32"])), .delete: .init(allow: ranges(["127.0.0.1/32"]))])
        return try await Registry.run(deleteEnabled: true, root: root, configure: { $0.network = rules },
                                      framework: .live, body)
    }

    func testPushAndDeleteAreRefusedOutsideTheirListsAndPullsAreNot() async throws {
        try await withProxiedRegistry { client in
            let image = try await client.pushImage("team/app", tag: "v1")  // from 127.0.0.1 itself
            let other = from("127.0.0.2")
            // Pulls, the catalog, tags, referrers and the base endpoint are open to 127.0.0.2.
            assertStatus(try await client.send(.get, "/v2/", headers: other), .ok)
            let pulled = try await client.send(.get, "/v2/team/app/manifests/v1", headers: other)
            XCTAssertEqual(pulled.status, .ok, bodyString(pulled))
            XCTAssertEqual(bodyBytes(pulled), image.bytes)
            assertStatus(try await client.send(.head, "/v2/team/app/manifests/v1", headers: other), .ok)
            assertStatus(try await client.send(.get, "/v2/team/app/tags/list", headers: other), .ok)
            assertStatus(try await client.send(.get, "/v2/_catalog", headers: other), .ok)
            assertStatus(try await client.send(.get, "/v2/team/app/referrers/\(image.digest)", headers: other), .ok)

            // Pushes of every kind and deletes are refused, naming the rule.
            let start = assertError(try await client.send(.post, "/v2/team/app/blobs/uploads/", headers: other), .forbidden, "DENIED")
            XCTAssertEqual(start?.message, "client 127.0.0.2 may not push: not in network.actions.push.allow")
            var manifestHeaders = other
            manifestHeaders[.contentType] = MT.ociManifest
            assertError(try await client.send(.put, "/v2/team/app/manifests/v2", headers: manifestHeaders, body: image.bytes),
                        .forbidden, "DENIED")
            let location = try await client.startUpload("team/app")
            assertError(try await client.send(.patch, location, headers: other, body: [1, 2, 3]), .forbidden, "DENIED")
            assertError(try await client.send(.get, location, headers: other), .forbidden, "DENIED")
            let delete = assertError(try await client.send(.delete, "/v2/team/app/manifests/\(image.digest)", headers: other),
                                     .forbidden, "DENIED")
            XCTAssertEqual(delete?.message, "client 127.0.0.2 may not delete: not in network.actions.delete.allow")

            // Nothing changed, and the proxy's own requests still may.
            assertStatus(try await client.send(.get, "/v2/team/app/manifests/v2"), .notFound)
            assertStatus(try await client.send(.delete, "/v2/team/app/manifests/\(image.digest)"), .accepted)
        }
    }

    func testGlobalDenyRefusesEveryRequestOfTheRange() async throws {
        try await withProxiedRegistry { client in
            let denied = from("192.0.2.7")
            let base = assertError(try await client.send(.get, "/v2/", headers: denied), .forbidden, "DENIED")
            XCTAssertEqual(base?.message, "client 192.0.2.7 may not use this registry: in network.deny (192.0.2.0/24)")
            let pull = assertError(try await client.send(.get, "/v2/a/manifests/latest", headers: denied), .forbidden, "DENIED")
            XCTAssertEqual(pull?.message, "client 192.0.2.7 may not pull: in network.deny (192.0.2.0/24)")
            assertError(try await client.send(.get, "/v2/_catalog", headers: denied), .forbidden, "DENIED")
            assertError(try await client.send(.get, "/admin/api/storage", headers: denied), .forbidden, "DENIED")
            assertError(try await client.send(.get, "/no/such/endpoint", headers: denied), .forbidden, "DENIED")
            // The same through `Forwarded`, and with the proxy's own address further right.
            assertError(try await client.send(.get, "/v2/", headers: [Self.forwarded: "for=192.0.2.7;proto=https"]),
                        .forbidden, "DENIED")
            assertError(try await client.send(.get, "/v2/", headers: from("192.0.2.7, 127.0.0.1")), .forbidden, "DENIED")
            // An unreadable hop from the proxy: unknown, so refused where a rule applies.
            let unknown = assertError(try await client.send(.get, "/v2/", headers: from("not-an-address")), .forbidden, "DENIED")
            XCTAssertEqual(unknown?.message,
                           "a client whose address is unknown (trusted proxy 127.0.0.1 forwarded not-an-address) may not use this registry: network.deny applies")
            assertStatus(try await client.send(.get, "/v2/", headers: from("198.51.100.1")), .ok)
        }
    }

    func testForgedHeadersFromAnUntrustedPeerChangeNothing() async throws {
        // The proxy is elsewhere: 127.0.0.1's headers are the client's own words.
        try await withProxiedRegistry(trusting: ["10.0.0.5/32"]) { client in
            assertStatus(try await client.send(.get, "/v2/", headers: from("192.0.2.7")), .ok)
            assertStatus(try await client.send(.get, "/v2/", headers: [Self.forwarded: "for=192.0.2.7"]), .ok)
            let image = try await client.pushImage("team/app", tag: "v1")
            let push = try await client.send(.post, "/v2/team/app/blobs/uploads/", headers: from("127.0.0.2"))
            XCTAssertEqual(push.status, .accepted, bodyString(push))
            let deleted = try await client.send(.delete, "/v2/team/app/manifests/\(image.digest)", headers: from("192.0.2.7"))
            XCTAssertEqual(deleted.status, .accepted, bodyString(deleted))
        }
    }

    func testRefusalComesBeforeCredentials() async throws {
        let dir = NSTemporaryDirectory() + "berth-net-auth-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try HtpasswdFile.adding(user: "alice", password: "alice-pw", to: "", cost: 4)
            .write(toFile: dir + "/htpasswd", atomically: true, encoding: .utf8)
        let rules = NetworkRules(actions: [.push: .init(deny: ranges(["127.0.0.0/8"]))])
        try await Registry.run(configure: { config in
            config.auth.mode = .htpasswd(realm: "Berth Tests", path: dir + "/htpasswd")
            config.network = rules
        }, framework: .live) { client in
            // Neither a missing nor a wrong password is challenged: the address is refused first.
            let anonymous = assertError(try await client.send(.post, "/v2/a/blobs/uploads/"), .forbidden, "DENIED")
            XCTAssertEqual(anonymous?.message, "client 127.0.0.1 may not push: in network.actions.push.deny (127.0.0.0/8)")
            assertError(try await client.send(.post, "/v2/a/blobs/uploads/", as: ("alice", "wrong")), .forbidden, "DENIED")
            assertError(try await client.send(.post, "/v2/a/blobs/uploads/", as: ("alice", "alice-pw")), .forbidden, "DENIED")
            // Pulls still go through authentication as before.
            assertError(try await client.send(.get, "/v2/a/tags/list"), .unauthorized, "UNAUTHORIZED")
            assertStatus(try await client.send(.get, "/v2/a/tags/list", as: ("alice", "alice-pw")), .notFound)
        }
    }

    func testRateLimitsCountTheForwardedClient() async throws {
        for trusted in [true, false] {
            try await Registry.run(configure: { config in
                config.rateLimit.requestsPerSecond = 0.1
                config.rateLimit.burst = 1
                config.network = NetworkRules(trustedProxies: ranges([trusted ? "127.0.0.1/32" : "10.0.0.5/32"]))
            }, framework: .live) { client in
                assertStatus(try await client.send(.get, "/v2/", headers: from("10.1.1.1")), .ok)
                assertError(try await client.send(.get, "/v2/", headers: from("10.1.1.1")), .tooManyRequests, "TOOMANYREQUESTS")
                // Another client behind the proxy has a bucket of its own; a forged header does not.
                let other = try await client.send(.get, "/v2/", headers: from("10.1.1.2"))
                XCTAssertEqual(other.status, trusted ? .ok : .tooManyRequests, "trusted: \(trusted)")
            }
        }
    }

    /// `berth_network_denied_total{action}` counts the requests the rules refused, by action.
    func testRefusalsAreCounted() {
        let metrics = BerthMetrics(version: "test")
        func record(_ denied: String?, status: Int = 403) -> RequestRecord {
            RequestRecord(requestID: "r", method: "POST", path: "/v2/a/blobs/uploads/", route: "/v2/<name>/blobs/uploads/",
                          status: status, bytesIn: 0, bytesOut: 0, duration: .milliseconds(1), user: nil,
                          client: "127.0.0.2", repository: "a", networkDenied: denied)
        }
        metrics.requestFinished(record("push"))
        metrics.requestFinished(record("push"))
        metrics.requestFinished(record("other"))
        metrics.requestFinished(record(nil, status: 202))
        let text = String(decoding: metrics.render(), as: UTF8.self)
        XCTAssertTrue(text.contains("berth_network_denied_total{action=\"push\"} 2"), text)
        XCTAssertTrue(text.contains("berth_network_denied_total{action=\"other\"} 1"), text)
        XCTAssertFalse(text.contains("berth_network_denied_total{action=\"pull\"}"), text)
    }
}

private func ranges(_ list: [String]) -> [CIDR] { list.map { try! CIDR(parsing: $0) } }

/// Headers of a request a proxy forwards for `address`.
private func from(_ address: String) -> HTTPFields { [HTTPField.Name("X-Forwarded-For")!: address] }

/// Asserts the status of `r`, showing its body when it differs.
private func assertStatus(_ r: TestResponse, _ status: HTTPResponse.Status, _ message: String = "",
                          file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(r.status, status, "\(message) \(bodyString(r))", file: file, line: line)
}
