@testable import BerthServer
import Foundation
import XCTest

/// `storage.scrub`: the schedule and rate limit of scrubs inside `berth serve`.
final class ScrubConfigTests: XCTestCase {
    func testScheduleAndRateLimitLoad() throws {
        let loaded = try ConfigurationLoader.load(yaml: "storage:\n  scrub:\n    interval: 168h\n    ratelimit: 50MB/s\n", environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(loaded.configuration.scrub.interval, .seconds(168 * 3600))
        XCTAssertEqual(loaded.configuration.scrub.bytesPerSecond, 50_000_000)
        let lines = loaded.configuration.describe()
        XCTAssertTrue(lines.contains { $0.hasPrefix("storage.scrub.interval: 168h") }, "\(lines)")
        XCTAssertTrue(lines.contains("storage.scrub.ratelimit: 50.0MB/s"), "\(lines)")
        let fromEnvironment = try ConfigurationLoader.load(yaml: "", environment: ["REGISTRY_STORAGE_SCRUB_RATELIMIT": "10MiB/s"])
        XCTAssertEqual(fromEnvironment.configuration.scrub.bytesPerSecond, 10 << 20)
        XCTAssertTrue(try ConfigurationLoader.load(yaml: "", environment: [:]).configuration.describe()
            .contains("storage.scrub.interval: (not scheduled)"))
    }

    func testBadValuesNameTheKey() {
        for (yaml, key) in [("storage:\n  scrub:\n    ratelimit: fast\n", "storage.scrub.ratelimit fast"),
                            ("storage:\n  scrub:\n    interval: 5s\n", "storage.scrub.interval must be at least 1m")] {
            do {
                _ = try ConfigurationLoader.load(yaml: yaml, environment: [:])
                XCTFail("\(yaml) was accepted")
            } catch let error as ConfigurationError {
                XCTAssertTrue(error.problems.contains { $0.hasPrefix(key) }, "\(error.problems)")
            } catch {
                XCTFail("\(error)")
            }
        }
    }
}
