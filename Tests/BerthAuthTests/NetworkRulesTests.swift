import BerthAuth
import XCTest

/// Which client addresses the network rules refuse for which actions, and how the client is
/// found behind trusted proxies (and never in front of untrusted ones).
final class NetworkRulesTests: XCTestCase {
    func ranges(_ list: [String]) -> [CIDR] { list.map { try! CIDR(parsing: $0) } }

    func client(_ s: String) -> ClientAddress { ClientAddress(address: IPAddress(s)!) }

    /// The issue's example: pulls from anywhere but 203.0.113.0/24, pushes and deletes only from CI.
    lazy var rules = NetworkRules(
        trustedProxies: ranges(["10.0.0.5/32", "fd00::/8"]),
        global: .init(allow: ranges(["0.0.0.0/0", "::/0"]), deny: ranges(["203.0.113.0/24"])),
        actions: [.push: .init(allow: ranges(["10.20.0.0/16", "127.0.0.1/32"])),
                  .delete: .init(allow: ranges(["10.20.0.0/16"]))])

    func testActionsAreRefusedOnlyWhereTheirListsSaySo() {
        XCTAssertNil(rules.refusal(for: client("127.0.0.2"), actions: [.pull]))
        XCTAssertNil(rules.refusal(for: client("127.0.0.2"), actions: []))
        XCTAssertNil(rules.refusal(for: client("127.0.0.2"), actions: [.catalog]))
        XCTAssertEqual(rules.refusal(for: client("127.0.0.2"), actions: [.push]),
                       NetworkRefusal(rule: "network.actions.push.allow", action: .push,
                                      message: "client 127.0.0.2 may not push: not in network.actions.push.allow"))
        XCTAssertNil(rules.refusal(for: client("127.0.0.1"), actions: [.push]))
        XCTAssertEqual(rules.refusal(for: client("127.0.0.1"), actions: [.delete])?.rule, "network.actions.delete.allow")
        XCTAssertNil(rules.refusal(for: client("10.20.3.4"), actions: [.delete]))
        XCTAssertNil(rules.refusal(for: client("::ffff:10.20.3.4"), actions: [.push]), "mapped clients match IPv4 ranges")
        XCTAssertEqual(rules.refusal(for: client("2001:db8::1"), actions: [.push])?.rule, "network.actions.push.allow")
        XCTAssertNil(rules.refusal(for: client("2001:db8::1"), actions: [.pull]))
    }

    func testDenyWinsOverAllowAndNamesTheRange() {
        let refused = rules.refusal(for: client("203.0.113.9"), actions: [.pull])
        XCTAssertEqual(refused?.rule, "network.deny")
        XCTAssertEqual(refused?.action, .pull)
        XCTAssertEqual(refused?.message, "client 203.0.113.9 may not pull: in network.deny (203.0.113.0/24)")
        XCTAssertEqual(rules.refusal(for: client("203.0.113.9"), actions: [])?.message,
                       "client 203.0.113.9 may not use this registry: in network.deny (203.0.113.0/24)")
        XCTAssertNil(rules.refusal(for: client("203.0.113.9"), actions: [])?.action)

        // An action's deny beats the global allow, and the global deny beats an action's allow.
        var r = NetworkRules(global: .init(allow: ranges(["10.0.0.0/8"])),
                             actions: [.push: .init(allow: ranges(["10.1.0.0/16", "192.168.0.0/16"]),
                                                    deny: ranges(["10.1.2.0/24"]))])
        XCTAssertEqual(r.refusal(for: client("10.1.2.3"), actions: [.push])?.message,
                       "client 10.1.2.3 may not push: in network.actions.push.deny (10.1.2.0/24)")
        XCTAssertNil(r.refusal(for: client("10.1.3.3"), actions: [.push]))
        XCTAssertEqual(r.refusal(for: client("192.168.1.1"), actions: [.push])?.rule, "network.allow",
                       "the global allow list bounds what an action's list opens")
        XCTAssertEqual(r.refusal(for: client("10.9.0.1"), actions: [.push])?.rule, "network.actions.push.allow")
        r.global.deny = ranges(["10.1.3.0/24"])
        XCTAssertEqual(r.refusal(for: client("10.1.3.3"), actions: [.push])?.rule, "network.deny")
    }

    func testNoListsRefuseNobody() {
        let empty = NetworkRules()
        XCTAssertTrue(empty.isEmpty)
        XCTAssertFalse(empty.restrictsAccess)
        XCTAssertNil(empty.refusal(for: client("203.0.113.9"), actions: [.push]))
        XCTAssertNil(empty.refusal(for: ClientAddress(address: nil), actions: [.push]))
        let proxiesOnly = NetworkRules(trustedProxies: ranges(["10.0.0.5"]))
        XCTAssertFalse(proxiesOnly.isEmpty)
        XCTAssertFalse(proxiesOnly.restrictsAccess)
        let emptyAction = NetworkRules(actions: [.push: .init()])
        XCTAssertFalse(emptyAction.restrictsAccess)
    }

    func testUnknownClientsAreRefusedWhereverARuleApplies() {
        let unknown = ClientAddress(address: nil, text: "unknown", unknownReason: "trusted proxy 10.0.0.5 forwarded garbage")
        let denyOnly = NetworkRules(global: .init(deny: ranges(["203.0.113.0/24"])))
        XCTAssertEqual(denyOnly.refusal(for: unknown, actions: [.pull])?.message,
                       "a client whose address is unknown (trusted proxy 10.0.0.5 forwarded garbage) may not pull: network.deny applies")
        let pushOnly = NetworkRules(actions: [.push: .init(allow: ranges(["10.20.0.0/16"]))])
        XCTAssertNil(pushOnly.refusal(for: unknown, actions: [.pull]))
        XCTAssertEqual(pushOnly.refusal(for: unknown, actions: [.push])?.rule, "network.actions.push.allow")
    }

    // MARK: - Forwarded headers

    func testXForwardedForEntries() {
        XCTAssertEqual(ForwardedHeaders.xForwardedFor(["203.0.113.9, 10.0.0.7", " 10.0.0.8 "]),
                       ["203.0.113.9", "10.0.0.7", "10.0.0.8"])
        XCTAssertEqual(ForwardedHeaders.xForwardedFor(["a,,b"]), ["a", "", "b"])
    }

    func testForwardedElements() {
        XCTAssertEqual(ForwardedHeaders.forwardedFor([#"for=192.0.2.60;proto=http;by=203.0.113.43"#]), ["192.0.2.60"])
        XCTAssertEqual(ForwardedHeaders.forwardedFor([#"For="[2001:db8:cafe::17]:4711", for=198.51.100.17;by=x"#]),
                       ["[2001:db8:cafe::17]:4711", "198.51.100.17"])
        XCTAssertEqual(ForwardedHeaders.forwardedFor([#"proto=https, for="_hidden""#, "for=unknown"]),
                       ["", "_hidden", "unknown"])
        XCTAssertEqual(ForwardedHeaders.forwardedFor([#"for="1.2.3.4, for=5.6.7.8;x";proto=http, for = 9.9.9.9"#]),
                       ["1.2.3.4, for=5.6.7.8;x", "9.9.9.9"], "separators inside quotes are text")
        XCTAssertEqual(ForwardedHeaders.forwardedFor([#"for="a\"b""#]), [#"a"b"#])
    }

    func testHopAddresses() {
        let cases: [(String, String?)] = [
            ("192.0.2.60", "192.0.2.60"), ("192.0.2.60:4711", "192.0.2.60"), ("[2001:db8::17]", "2001:db8::17"),
            ("[2001:db8::17]:4711", "2001:db8::17"), ("2001:db8::17", "2001:db8::17"), ("fe80::1%eth0", "fe80::1"),
            ("::ffff:127.0.0.2", "127.0.0.2"), (" 10.0.0.1 ", "10.0.0.1"),
            ("unknown", nil), ("_hidden", nil), ("", nil), ("192.0.2.60:x", nil), ("[2001:db8::17", nil),
            ("[2001:db8::17]x", nil), ("192.0.2.60:123456", nil), ("evil\r\nX-Injected: 1", nil),
        ]
        for (hop, expected) in cases {
            XCTAssertEqual(ForwardedHeaders.address(hop[...])?.description, expected, hop)
        }
    }

    // MARK: - The client behind proxies

    func testHeadersFromUntrustedPeersChangeNothing() {
        let c = rules.clientAddress(peer: "127.0.0.2", xForwardedFor: ["127.0.0.1"], forwarded: ["for=10.20.0.1"])
        XCTAssertEqual(c, ClientAddress(address: IPAddress("127.0.0.2")))
        XCTAssertNil(c.proxy)
        let noProxies = NetworkRules(global: .init(allow: ranges(["10.0.0.0/8"])))
        XCTAssertEqual(noProxies.clientAddress(peer: "10.0.0.5", xForwardedFor: ["10.1.1.1"], forwarded: []).text, "10.0.0.5")
    }

    func testTheRightMostUntrustedHopIsTheClient() {
        // The client forged "10.20.0.1"; the proxy appended the address it saw.
        let c = rules.clientAddress(peer: "10.0.0.5", xForwardedFor: ["10.20.0.1, 203.0.113.9"], forwarded: [])
        XCTAssertEqual(c.text, "203.0.113.9")
        XCTAssertEqual(c.proxy, IPAddress("10.0.0.5"))
        // Two trusted proxies in a row (fd00::/8 and 10.0.0.5) are skipped.
        let chained = rules.clientAddress(peer: "::ffff:10.0.0.5", xForwardedFor: ["10.20.0.1, 198.51.100.4", "fd00::9"],
                                          forwarded: [])
        XCTAssertEqual(chained.text, "198.51.100.4")
        // Every hop a trusted proxy: the left-most.
        XCTAssertEqual(rules.clientAddress(peer: "10.0.0.5", xForwardedFor: ["fd00::1, fd00::2"], forwarded: []).text, "fd00::1")
        // No header: the proxy itself.
        XCTAssertEqual(rules.clientAddress(peer: "10.0.0.5", xForwardedFor: [], forwarded: []).text, "10.0.0.5")
        XCTAssertEqual(rules.clientAddress(peer: "10.0.0.5", xForwardedFor: [""], forwarded: []).text, "10.0.0.5")
        // Forwarded alone.
        XCTAssertEqual(rules.clientAddress(peer: "10.0.0.5", xForwardedFor: [],
                                           forwarded: [#"for=10.20.0.1, for="[2001:db8::5]:80";proto=https"#]).text,
                       "2001:db8::5")
    }

    func testUnreadableOrConflictingHopsMakeTheClientUnknown() {
        let garbage = rules.clientAddress(peer: "10.0.0.5", xForwardedFor: ["10.20.0.1, unknown"], forwarded: [])
        XCTAssertNil(garbage.address)
        XCTAssertEqual(garbage.text, "unknown")
        XCTAssertEqual(garbage.unknownReason, "trusted proxy 10.0.0.5 forwarded unknown")
        XCTAssertEqual(rules.refusal(for: garbage, actions: [.pull])?.rule, "network.deny")

        // The proxy maintains X-Forwarded-For; the client wrote a Forwarded header naming CI.
        let conflict = rules.clientAddress(peer: "10.0.0.5", xForwardedFor: ["203.0.113.9"], forwarded: ["for=10.20.0.1"])
        XCTAssertNil(conflict.address)
        XCTAssertEqual(conflict.unknownReason, "X-Forwarded-For and Forwarded name different clients")
        // Both naming the same client is fine.
        XCTAssertEqual(rules.clientAddress(peer: "10.0.0.5", xForwardedFor: ["10.20.0.1"],
                                           forwarded: [#"for="10.20.0.1:5000""#]).text, "10.20.0.1")
        // A hop with control characters is never echoed as it came.
        let evil = rules.clientAddress(peer: "10.0.0.5", xForwardedFor: ["1.2.3.4\u{1b}[31m"], forwarded: [])
        XCTAssertEqual(evil.unknownReason, "trusted proxy 10.0.0.5 forwarded 1.2.3.4?[31m")
    }

    func testPeersThatAreNoAddresses() {
        XCTAssertNil(rules.clientAddress(peer: nil, xForwardedFor: ["10.20.0.1"], forwarded: []).address)
        XCTAssertEqual(rules.clientAddress(peer: "::1", xForwardedFor: [], forwarded: []).text, "::1")
    }
}
