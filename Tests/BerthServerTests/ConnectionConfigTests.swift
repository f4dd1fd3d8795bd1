@testable import BerthServer
import Foundation
import XCTest

/// `http.timeouts` and `http.maxconnections`.
final class ConnectionConfigTests: XCTestCase {
    func testDefaultsAndTheDocumentedKeys() throws {
        let defaults = try ConfigurationLoader.load(yaml: "version: 0.1\n", environment: [:]).configuration.connections
        XCTAssertEqual(defaults, ConnectionLimits())
        XCTAssertEqual(defaults.header, .seconds(30))
        XCTAssertEqual(defaults.idle, .seconds(120))
        XCTAssertEqual(defaults.resolvedMaxConnections(fileLimit: 20_000), 10_000)
        XCTAssertEqual(defaults.resolvedMaxConnections(fileLimit: 100), 64, "never fewer than 64")

        let loaded = try ConfigurationLoader.load(yaml: """
            version: 0.1
            http:
              timeouts: { header: 5s, body: 90s, write: 2m, idle: 500ms }
              maxconnections: 2000
            """, environment: ["REGISTRY_HTTP_TIMEOUTS_BODY": "45s"])
        XCTAssertEqual(loaded.warnings, [])
        let c = loaded.configuration.connections
        XCTAssertEqual([c.header, c.body, c.write, c.idle], [.seconds(5), .seconds(45), .seconds(120), .milliseconds(500)])
        XCTAssertEqual(c.resolvedMaxConnections(fileLimit: 20_000), 2000)
        let described = loaded.configuration.describe()
        for line in ["http.timeouts.header: 5s", "http.timeouts.body: 45s", "http.timeouts.write: 2m", "http.timeouts.idle: 500ms", "http.maxconnections: 2000"] {
            XCTAssertTrue(described.contains(line), "\(line) in \(described)")
        }
    }

    func testValuesOutOfRangeAreRefusedByName() {
        for (yaml, expected) in [
            ("http: { timeouts: { header: 10ms } }", "http.timeouts.header 10ms must be between 100ms and 24h"),
            ("http: { timeouts: { idle: 48h } }", "http.timeouts.idle 48h must be between 100ms and 24h"),
            ("http: { timeouts: { body: soon } }", "http.timeouts.body soon is not a duration"),
            ("http: { maxconnections: 0 }", "http.maxconnections 0 must be a whole number of connections, at least 1"),
            ("http: { maxconnections: many }", "http.maxconnections many must be a whole number"),
        ] {
            XCTAssertThrowsError(try ConfigurationLoader.load(yaml: "version: 0.1\n" + yaml, environment: [:]), yaml) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
            }
        }
    }
}
