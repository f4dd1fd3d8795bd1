@testable import BerthServer
import BerthAuth
import Foundation
import XCTest

/// `network`: trusted proxies and allow / deny ranges, every key and range checked.
final class NetworkConfigTests: XCTestCase {
    func load(_ yaml: String, env: [String: String] = [:]) throws -> ConfigurationLoader.Loaded {
        try ConfigurationLoader.load(yaml: yaml, environment: env)
    }

    func ranges(_ list: [String]) -> [CIDR] { list.map { try! CIDR(parsing: $0) } }

    static let example = """
        version: 0.1
        network:
          trustedproxies: ["10.0.0.5/32", "fd00::/8"]
          allow: ["0.0.0.0/0", "::/0"]
          deny: ["203.0.113.0/24"]
          actions:
            push:   { allow: ["10.20.0.0/16", "127.0.0.1/32"] }
            delete: { allow: ["10.20.0.0/16"] }
            Catalog: { deny: 198.51.100.7 }
        """

    func testTheDocumentedSchema() throws {
        let loaded = try load(Self.example)
        XCTAssertEqual(loaded.warnings, [])
        let n = loaded.configuration.network
        XCTAssertEqual(n.trustedProxies, ranges(["10.0.0.5/32", "fd00::/8"]))
        XCTAssertEqual(n.global, .init(allow: ranges(["0.0.0.0/0", "::/0"]), deny: ranges(["203.0.113.0/24"])))
        XCTAssertEqual(n.actions, [.push: .init(allow: ranges(["10.20.0.0/16", "127.0.0.1/32"])),
                                   .delete: .init(allow: ranges(["10.20.0.0/16"])),
                                   .catalog: .init(deny: ranges(["198.51.100.7/32"]))])
        let described = loaded.configuration.describe()
        for line in ["network.trustedproxies: 10.0.0.5/32, fd00::/8", "network.allow: 0.0.0.0/0, ::/0",
                     "network.deny: 203.0.113.0/24", "network.actions.push.allow: 10.20.0.0/16, 127.0.0.1/32",
                     "network.actions.delete.allow: 10.20.0.0/16", "network.actions.catalog.deny: 198.51.100.7/32"] {
            XCTAssertTrue(described.contains(line), "\(line) in \(described)")
        }
    }

    func testNoNetworkSectionMeansNoRules() throws {
        let c = try load("version: 0.1\n").configuration
        XCTAssertTrue(c.network.isEmpty)
        XCTAssertTrue(c.describe().contains { $0.hasPrefix("network: (no rules") })
        XCTAssertTrue(try load("network:\n").configuration.network.isEmpty)
    }

    func testEnvironmentOverrides() throws {
        let c = try load("", env: [
            "REGISTRY_NETWORK_TRUSTEDPROXIES": "[\"10.0.0.5\"]",
            "REGISTRY_NETWORK_ACTIONS_PUSH_ALLOW": "10.20.0.0/16",
        ]).configuration
        XCTAssertEqual(c.network.trustedProxies, ranges(["10.0.0.5/32"]))
        XCTAssertEqual(c.network.actions[.push]?.allow, ranges(["10.20.0.0/16"]))
    }

    func testBadRangesKeysAndActionsAreErrorsNamingTheKey() {
        let found = configurationProblems("""
            network:
              trustedproxies: ["10.0.0.5/33"]
              allow: ["10.20.1.0/16", "::/0"]
              deny: [12]
              dney: ["1.2.3.4"]
              actions:
                push: { allow: ["localhost"], alow: ["10.0.0.0/8"] }
                upload: { allow: ["10.0.0.0/8"] }
                delete: ["10.0.0.0/8"]
            """)
        XCTAssertEqual(found, [
            "network.dney is not one of trustedproxies, allow, deny, actions",
            "network.trustedproxies[0]: 10.0.0.5/33: the prefix length must be a number from 0 to 32",
            "network.allow[0]: 10.20.1.0/16 has address bits set beyond its /16 prefix; did you mean 10.20.0.0/16?",
            "network.deny[0] must be an address range like \"10.20.0.0/16\" (quote it), not 12",
            "network.actions.delete must be a mapping with allow and/or deny, like { allow: [\"10.20.0.0/16\"] }",
            "network.actions.push.alow is not one of allow, deny",
            "network.actions.push.allow[0]: localhost is not an IPv4 or IPv6 address or range (like 10.20.0.0/16 or fd00::/8)",
            "network.actions.upload: upload is not one of pull, push, delete, catalog, admin",
        ])
        XCTAssertEqual(configurationProblems("network: [\"10.0.0.0/8\"]\n"),
                       ["network must be a mapping with trustedproxies, allow, deny and actions"])
        XCTAssertEqual(configurationProblems("network:\n  actions: [push]\n"),
                       ["network.actions must map actions (pull, push, delete, catalog, admin) to allow and deny lists"])
    }
}
