@testable import BerthUI
import Foundation
import XCTest

/// Views/Formatting.swift and Routes/FormData.swift.
final class FormattingTests: XCTestCase {
    func testBytesTimesAndDigests() {
        XCTAssertEqual(Formatting.bytes(999), "999 B")
        XCTAssertEqual(Formatting.bytes(45_500), "45.5 kB")
        XCTAssertEqual(Formatting.bytes(1_234_567_890), "1.23 GB")
        let date = Date(timeIntervalSince1970: 1_767_323_045)  // 2026-01-02T03:04:05Z
        XCTAssertEqual(Formatting.time(date), "2026-01-02 03:04 UTC")
        XCTAssertEqual(Formatting.iso(date), "2026-01-02T03:04:05Z")
        XCTAssertEqual(Formatting.time(nil), "")
        XCTAssertEqual(Formatting.shortDigest("sha256:" + String(repeating: "ab", count: 32)), "sha256:abababababab")
        XCTAssertEqual(Formatting.count(1, "tag", "tags"), "1 tag")
        XCTAssertEqual(Formatting.query("a/b c&d"), "a/b%20c%26d")
    }

    func testFormDecoding() {
        let form = FormData("name=team%2Fapp&q=two+words&empty=&csrf=a%3Db&name=second")
        XCTAssertEqual(form["name"], "team/app", "the first value wins")
        XCTAssertEqual(form["q"], "two words")
        XCTAssertEqual(form["empty"], "")
        XCTAssertEqual(form["csrf"], "a=b")
        XCTAssertNil(form["missing"])
    }

    func testPager() {
        let pager = Pager(count: 120, page: 3, perPage: 50)
        XCTAssertEqual(pager.range, 100..<120)
        XCTAssertEqual(pager.pages, 3)
        XCTAssertEqual(Pager(count: 0, page: 9, perPage: 50).range, 0..<0)
        XCTAssertEqual(Pager(count: 120, page: 99, perPage: 50).page, 3)
        let links = Pager(count: 120, page: 1, perPage: 50).links { "/p\($0)" }
        XCTAssertNil(links.previous)
        XCTAssertEqual(links.next, "/p2")
    }
}

/// The repository search (Routes/WebUI+Queries.swift).
final class SearchTests: XCTestCase {
    func testSubstringMatch() {
        let needle = Array("web".utf8)
        XCTAssertTrue(WebUI.contains("team/web", needle))
        XCTAssertTrue(WebUI.contains("web", needle))
        XCTAssertTrue(WebUI.contains("wweb/x", needle))
        XCTAssertFalse(WebUI.contains("we", needle))
        XCTAssertFalse(WebUI.contains("team/wbe", needle))
        XCTAssertTrue(WebUI.contains("anything", []))
    }
}
