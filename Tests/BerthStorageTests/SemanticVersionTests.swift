import BerthStorage
import XCTest

final class SemanticVersionTests: XCTestCase {
    func testParsing() throws {
        for valid in ["0.0.0", "1.2.3", "v1.2.3", "V10.20.30", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-0.3.7",
                      "1.0.0-x.7.z.92", "1.0.0-x-y-z.--", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85",
                      "99999999999999999999999.0.0"] {
            XCTAssertNotNil(SemanticVersion(valid), valid)
        }
        for invalid in ["", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3-01", "1.2.3-a..b",
                        "1.2.3+", "1.2.3+a..b", "vv1.2.3", "latest", "1.2.3_build", "-1.2.3", "1.2.x", " 1.2.3"] {
            XCTAssertNil(SemanticVersion(invalid), invalid)
        }
        let v = try XCTUnwrap(SemanticVersion("v1.20.3-rc.1+build.7"))
        XCTAssertEqual([v.major, v.minor, v.patch], ["1", "20", "3"])
        XCTAssertEqual(v.prerelease, ["rc", "1"])
        XCTAssertEqual(v.description, "1.20.3-rc.1")
    }

    /// semver.org's own precedence examples, and numbers compared as numbers.
    func testPrecedence() throws {
        let ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
                       "1.0.0-rc.1", "1.0.0", "1.0.1", "1.9.0", "1.10.0", "1.11.0", "2.0.0", "10.0.0",
                       "99999999999999999999999.0.0"]
        let versions = try ordered.map { try XCTUnwrap(SemanticVersion($0), $0) }
        for (i, lower) in versions.enumerated() {
            for higher in versions[(i + 1)...] {
                XCTAssertLessThan(lower, higher)
                XCTAssertFalse(higher < lower, "\(higher) < \(lower)")
            }
        }
        XCTAssertEqual(versions.shuffled().sorted(), versions)
        // Build metadata and the leading v take no part in precedence.
        XCTAssertEqual(SemanticVersion("v1.0.0+a"), SemanticVersion("1.0.0+b"))
        XCTAssertFalse(try XCTUnwrap(SemanticVersion("1.0.0+a")) < XCTUnwrap(SemanticVersion("1.0.0+b")))
        // Numeric identifiers are lower than alphanumeric ones.
        XCTAssertLessThan(try XCTUnwrap(SemanticVersion("1.0.0-2")), try XCTUnwrap(SemanticVersion("1.0.0-10")))
        XCTAssertLessThan(try XCTUnwrap(SemanticVersion("1.0.0-999")), try XCTUnwrap(SemanticVersion("1.0.0-a")))
    }
}
