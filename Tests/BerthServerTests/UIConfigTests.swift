@testable import BerthServer
import XCTest

/// `ui.enabled`.
final class UIConfigTests: XCTestCase {
    func testTheUIIsOnByDefaultAndCanBeTurnedOff() throws {
        XCTAssertTrue(try ConfigurationLoader.load(yaml: "", environment: [:]).configuration.uiEnabled)
        let off = try ConfigurationLoader.load(yaml: "version: 0.1\nui:\n  enabled: false\n", environment: [:])
        XCTAssertFalse(off.configuration.uiEnabled)
        XCTAssertTrue(off.configuration.describe().contains("ui.enabled: false"))
        XCTAssertTrue(off.warnings.isEmpty, "\(off.warnings)")
        let env = try ConfigurationLoader.load(yaml: "", environment: ["REGISTRY_UI_ENABLED": "false"])
        XCTAssertFalse(env.configuration.uiEnabled)
    }
}
