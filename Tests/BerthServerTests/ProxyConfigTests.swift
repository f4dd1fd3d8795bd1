@testable import BerthServer
import BerthProxy
import XCTest

/// `proxy`: the reference registry's single upstream and Berth's upstreams by prefix.
final class ProxyConfigTests: XCTestCase {
    func testTheReferenceRegistryKeys() throws {
        let loaded = try ConfigurationLoader.load(yaml: """
            proxy:
              remoteurl: https://registry-1.docker.io
              username: me
              password: secret
              ttl: 1h
            """, environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(loaded.configuration.proxy, ProxySettings(upstreams: [
            .init(prefix: "", remoteURL: "https://registry-1.docker.io", username: "me", password: "secret", ttl: .seconds(3600)),
        ]))
    }

    func testUpstreamsByPrefix() throws {
        let c = try ConfigurationLoader.load(yaml: """
            proxy:
              upstreams:
                - prefix: docker.io
                  remoteurl: https://registry-1.docker.io
                - prefix: ghcr.io
                  remoteurl: https://ghcr.io
                  ttl: 30s
            """, environment: [:]).configuration
        XCTAssertEqual(c.proxy?.upstreams.map(\.prefix), ["docker.io", "ghcr.io"])
        XCTAssertEqual(c.proxy?.upstreams.map(\.ttl), [.seconds(600), .seconds(30)])
    }

    func testMistakesAreNamed() {
        XCTAssertTrue(configurationProblems("proxy:\n  remoteurl: ftp://x\n").contains { $0.contains("http:// or https://") })
        XCTAssertTrue(configurationProblems("proxy:\n  remoteurl: https://x\n  username: me\n").contains { $0.contains("both username and password") })
        XCTAssertTrue(configurationProblems("proxy:\n  upstreams:\n    - remoteurl: https://x\n").contains { $0.contains("prefix") })
        XCTAssertTrue(configurationProblems("proxy:\n  upstreams:\n    - prefix: a\n      remoteurl: https://x\n    - prefix: a\n      remoteurl: https://y\n")
            .contains { $0.contains("same prefix twice") })
        XCTAssertTrue(configurationProblems("proxy:\n  remoteurl: https://x\n  upstreams:\n    - prefix: a\n      remoteurl: https://y\n")
            .contains { $0.contains("mirrors every repository") })
        XCTAssertTrue(configurationProblems("proxy:\n  upstreams:\n    - prefix: a\n      remoteurl: https://y\n      colour: red\n")
            .contains { $0.contains("colour") })
    }
}
