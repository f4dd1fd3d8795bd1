@testable import BerthServer
import Foundation
import XCTest

/// `http.debug` and `health.storagedriver`, as the reference registry spells them.
final class DebugConfigTests: XCTestCase {
    func load(_ yaml: String, env: [String: String] = [:]) throws -> ConfigurationLoader.Loaded {
        try ConfigurationLoader.load(yaml: yaml, environment: env)
    }

    func testDefaultsAreOff() throws {
        let o = try load("").configuration.observability
        XCTAssertNil(o.debugAddress)
        XCTAssertFalse(o.prometheusEnabled)
        XCTAssertEqual(o.prometheusPath, "/metrics")
        XCTAssertFalse(o.metricsEnabled)
        XCTAssertEqual(o.storageHealth, .init(enabled: false, interval: .seconds(10), threshold: 3))
    }

    func testReferenceRegistrySettings() throws {
        let yaml = """
            version: 0.1
            http:
              addr: :5000
              debug:
                addr: 127.0.0.1:5001
                prometheus:
                  enabled: true
                  path: /prom
            health:
              storagedriver:
                enabled: true
                interval: 30s
                threshold: 5
            """
        let loaded = try load(yaml)
        let o = loaded.configuration.observability
        XCTAssertEqual(o.debugAddress, ListenAddress(host: "127.0.0.1", port: 5001))
        XCTAssertTrue(o.prometheusEnabled)
        XCTAssertTrue(o.metricsEnabled)
        XCTAssertEqual(o.prometheusPath, "/prom")
        XCTAssertEqual(o.storageHealth, .init(enabled: true, interval: .seconds(30), threshold: 5))
        XCTAssertEqual(loaded.warnings, [])
    }

    func testEnvironmentOverrides() throws {
        let o = try load("", env: [
            "REGISTRY_HTTP_DEBUG_ADDR": ":5001",
            "REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED": "true",
            "REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD": "2",
        ]).configuration.observability
        XCTAssertEqual(o.debugAddress, ListenAddress(host: "0.0.0.0", port: 5001))
        XCTAssertTrue(o.prometheusEnabled)
        XCTAssertEqual(o.storageHealth.threshold, 2)
    }

    func testBadValuesAreProblems() {
        var found: [String] = []
        XCTAssertThrowsError(try load("""
            http:
              debug:
                addr: nonsense
                prometheus:
                  enabled: maybe
                  path: metrics
            health:
              storagedriver:
                interval: 1ms
                threshold: 0
            """)) { found = ($0 as? ConfigurationError)?.problems ?? ["unexpected \($0)"] }
        XCTAssertTrue(found.contains { $0.hasPrefix("http.debug.addr nonsense") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("http.debug.prometheus.enabled") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("http.debug.prometheus.path metrics") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("health.storagedriver.interval") }, "\(found)")
        XCTAssertTrue(found.contains { $0.hasPrefix("health.storagedriver.threshold 0") }, "\(found)")
    }

    func testOtherHealthChecksAndPrometheusWithoutAddressWarn() throws {
        let loaded = try load("""
            http:
              debug:
                prometheus:
                  enabled: true
            health:
              file:
                - file: /tmp/down
              tcp:
                - addr: redis:6379
            """)
        XCTAssertTrue(loaded.warnings.contains { $0.hasPrefix("health.file") }, "\(loaded.warnings)")
        XCTAssertTrue(loaded.warnings.contains { $0.hasPrefix("health.tcp") }, "\(loaded.warnings)")
        XCTAssertTrue(loaded.warnings.contains { $0.hasPrefix("http.debug.prometheus.enabled has no effect") })
        XCTAssertFalse(loaded.configuration.observability.metricsEnabled)
    }

    func testReadmeExampleLoads() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try XCTUnwrap(text.range(of: "### Metrics and health")).upperBound
        let block = try XCTUnwrap(text[section...].components(separatedBy: "```yaml\n").dropFirst().first)
            .components(separatedBy: "```")[0]
        let loaded = try load(block)
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertTrue(loaded.configuration.observability.metricsEnabled)
        XCTAssertTrue(loaded.configuration.observability.storageHealth.enabled)
    }
}
