@testable import BerthServer
import BerthAuth
import Foundation
import XCTest

/// Every `yaml` example in the README's "Securing Berth" section is a valid configuration that
/// selects the mode it describes, and so is the retention example.
final class ReadmeConfigTests: XCTestCase {
    func readme() throws -> String {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The first `yaml` block after `heading`.
    func firstYAMLBlock(after heading: String) throws -> String {
        let text = try readme()
        let section = try XCTUnwrap(text.range(of: heading), "no \(heading) in the README").upperBound
        return try XCTUnwrap(text[section...].components(separatedBy: "```yaml\n").dropFirst().first?
            .components(separatedBy: "```").first)
    }

    func testSecuringBerthExamplesLoad() throws {
        let text = try readme()
        let section = try XCTUnwrap(text.range(of: "## Securing Berth")).upperBound
        // The authentication modes, before the section's subsections (which have tests of their own).
        let end = [text.range(of: "\n## ", range: section..<text.endIndex)?.lowerBound,
                   text.range(of: "\n### ", range: section..<text.endIndex)?.lowerBound].compactMap { $0 }.min() ?? text.endIndex
        let blocks = text[section..<end].components(separatedBy: "```yaml\n").dropFirst()
            .map { String($0.prefix(while: { _ in true }).components(separatedBy: "```")[0]) }
        XCTAssertEqual(blocks.count, 4, "TLS, htpasswd, token service, external token service")
        var modes: [String] = []
        for block in blocks {
            let loaded = try ConfigurationLoader.load(yaml: block, environment: [:])
            XCTAssertEqual(loaded.warnings, [], block)
            let c = loaded.configuration
            XCTAssertNotNil(c.tls, "every example serves TLS")
            switch c.auth.mode {
            case .none: modes.append("none")
            case .htpasswd: modes.append("htpasswd")
            case .token: modes.append("token")
            case .tokenService: modes.append("tokenservice")
            }
        }
        XCTAssertEqual(modes, ["none", "htpasswd", "tokenservice", "token"])
    }

    /// The README's network rules example is the documented schema, accepted without warnings.
    func testNetworkRulesExampleLoads() throws {
        let loaded = try ConfigurationLoader.load(yaml: try firstYAMLBlock(after: "### Network rules"), environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        let network = loaded.configuration.network
        XCTAssertEqual(network.trustedProxies.map(\.description), ["10.0.0.5/32", "fd00::/8"])
        XCTAssertEqual(network.global.deny.map(\.description), ["203.0.113.0/24"])
        XCTAssertEqual(Set(network.actions.keys), [.push, .delete])
        XCTAssertEqual(network.actions[.push]?.allow.map(\.description), ["10.20.0.0/16"])
    }

    /// The README's retention example is the documented schema, accepted without warnings.
    func testRetentionExampleLoads() throws {
        let loaded = try ConfigurationLoader.load(yaml: try firstYAMLBlock(after: "### Retention policies"), environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(loaded.configuration.retention.interval, .seconds(24 * 3600))
        XCTAssertEqual(loaded.configuration.retention.policies.policies.first?.summary,
                       "repositories: [team-a/**, tools/*], keep: {newest: 10, tags: [latest, v*], semver: 5}, delete: {olderthan: 720h, untaggedolderthan: 24h}")
    }

    /// Every `yaml` example of the "Policies" section loads without problems or warnings.
    func testPolicyExamplesLoad() throws {
        let text = try readme()
        let section = try XCTUnwrap(text.range(of: "## Policies")).upperBound
        let end = text.range(of: "\n## ", range: section..<text.endIndex)?.lowerBound ?? text.endIndex
        let blocks = text[section..<end].components(separatedBy: "```yaml\n").dropFirst().map { $0.components(separatedBy: "```")[0] }
        XCTAssertGreaterThanOrEqual(blocks.count, 1)
        for block in blocks {
            let loaded = try ConfigurationLoader.load(yaml: "version: 0.1\n" + block, environment: [:])
            XCTAssertEqual(loaded.warnings, [], block)
        }
    }

    /// The node configuration of "Running several nodes" loads, on S3 with the Redis cache.
    func testSeveralNodesExampleLoads() throws {
        let loaded = try ConfigurationLoader.load(yaml: try firstYAMLBlock(after: "### Running several nodes"), environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        let c = loaded.configuration
        guard case .s3(let s3) = c.storageBackend else { return XCTFail("the example uses S3") }
        XCTAssertEqual(s3.bucket, "registry")
        XCTAssertEqual(c.httpSecret, "a-long-random-string-shared-by-all-nodes")
        XCTAssertEqual(c.redis?.addresses, ["redis.internal:6379"])
        XCTAssertTrue(c.storageRedirect)
    }

    func testPullThroughCacheExampleLoads() throws {
        let loaded = try ConfigurationLoader.load(yaml: try firstYAMLBlock(after: "### Pull-through cache"), environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(loaded.configuration.proxy?.upstreams.map(\.prefix), ["docker.io", "ghcr.io"])
        XCTAssertEqual(loaded.configuration.proxy?.upstreams.first?.username, "me")
    }

    func testReplicationExampleLoads() throws {
        let loaded = try ConfigurationLoader.load(yaml: try firstYAMLBlock(after: "### Replication"), environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(loaded.configuration.replication?.rules.map(\.name), ["backup"])
        XCTAssertEqual(loaded.configuration.replication?.rules.first?.destinationPrefix, "mirror/")
    }
}
