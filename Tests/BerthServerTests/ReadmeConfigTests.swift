@testable import BerthServer
import Foundation
import XCTest

/// Every `yaml` example in the README's "Securing Berth" section is a valid configuration that
/// selects the mode it describes.
final class ReadmeConfigTests: XCTestCase {
    func testSecuringBerthExamplesLoad() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try XCTUnwrap(text.range(of: "## Securing Berth")).upperBound
        let end = text.range(of: "\n## ", range: section..<text.endIndex)?.lowerBound ?? text.endIndex
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
}
