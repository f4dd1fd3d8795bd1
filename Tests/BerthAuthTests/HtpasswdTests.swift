@testable import BerthAuth
import Foundation
import XCTest

final class HtpasswdTests: XCTestCase {
    func temporaryFile() throws -> String {
        let dir = NSTemporaryDirectory() + "berth-htpasswd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir + "/htpasswd"
    }

    func testAddChangeRemoveAndVerify() throws {
        var text = HtpasswdFile.adding(user: "alice", password: "one", to: "", cost: 4)
        text = HtpasswdFile.adding(user: "bob", password: "two", to: text, cost: 4)
        XCTAssertTrue(text.hasPrefix("alice:$2y$04$"), text)
        text = HtpasswdFile.adding(user: "alice", password: "three", to: text, cost: 4)
        let entries = try HtpasswdFile.parse(text)
        XCTAssertEqual(entries.keys.sorted(), ["alice", "bob"])
        let path = try temporaryFile()
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let file = try HtpasswdFile(path: path)
        XCTAssertTrue(file.verify(user: "alice", password: "three"))
        XCTAssertFalse(file.verify(user: "alice", password: "one"))
        XCTAssertTrue(file.verify(user: "bob", password: "two"))
        XCTAssertFalse(file.verify(user: "bob", password: "two "))
        XCTAssertFalse(file.verify(user: "nobody", password: "two"))
        XCTAssertNil(HtpasswdFile.removing(user: "carol", from: text))
        let removed = try XCTUnwrap(HtpasswdFile.removing(user: "alice", from: text))
        XCTAssertEqual(try HtpasswdFile.parse(removed).keys.sorted(), ["bob"])
    }

    /// Entries written by Apache's htpasswd (`$2y$`) and by other bcrypt tools (`$2a$`, `$2b$`).
    func testAllBcryptPrefixesVerify() throws {
        let made = HtpasswdFile.adding(user: "u", password: "pw", to: "", cost: 4)
        let hash = String(made.split(separator: ":", maxSplits: 1)[1]).trimmingCharacters(in: .whitespacesAndNewlines)
        let body = hash.dropFirst(4)
        let path = try temporaryFile()
        try "# users\n\nu2y:$2y$\(body)\nu2a:$2a$\(body)\nu2b:$2b$\(body)\n".write(toFile: path, atomically: true, encoding: .utf8)
        let file = try HtpasswdFile(path: path)
        for user in ["u2y", "u2a", "u2b"] { XCTAssertTrue(file.verify(user: user, password: "pw"), user) }
    }

    func testMalformedFilesAreRefusedWithTheLine() throws {
        XCTAssertThrowsError(try HtpasswdFile.parse("alice\n")) { XCTAssertTrue("\($0)".contains("line 1"), "\($0)") }
        XCTAssertThrowsError(try HtpasswdFile.parse("ok:$2y$04$abc\nbob:{SHA}abc\n")) {
            XCTAssertTrue("\($0)".contains("line 2") && "\($0)".contains("bcrypt"), "\($0)")
        }
        XCTAssertThrowsError(try HtpasswdFile(path: "/nonexistent/htpasswd")) { XCTAssertTrue("\($0)".contains("/nonexistent/htpasswd")) }
    }

    /// A changed file is picked up (within the recheck interval), and a remembered success does
    /// not outlive the password change; a broken rewrite keeps the last good users.
    func testReloadsWhenTheFileChanges() async throws {
        let path = try temporaryFile()
        try HtpasswdFile.adding(user: "alice", password: "old", to: "", cost: 4).write(toFile: path, atomically: true, encoding: .utf8)
        let file = try HtpasswdFile(path: path)
        XCTAssertTrue(file.verify(user: "alice", password: "old"))
        try HtpasswdFile.adding(user: "alice", password: "new", to: "", cost: 4).write(toFile: path, atomically: true, encoding: .utf8)
        try await Task.sleep(for: HtpasswdFile.recheckInterval + .milliseconds(100))
        XCTAssertFalse(file.verify(user: "alice", password: "old"))
        XCTAssertTrue(file.verify(user: "alice", password: "new"))
        try "garbage line\n".write(toFile: path, atomically: true, encoding: .utf8)
        try await Task.sleep(for: HtpasswdFile.recheckInterval + .milliseconds(100))
        XCTAssertTrue(file.verify(user: "alice", password: "new"))
        XCTAssertNotNil(file.reloadError)
    }

    func testCredentialsParsing() {
        let basic = "Basic " + Data("alice:pa:ss".utf8).base64EncodedString()
        XCTAssertEqual(Credentials(authorization: basic), .basic(user: "alice", password: "pa:ss"))
        XCTAssertEqual(Credentials(authorization: "bearer abc.def"), .bearer("abc.def"))
        XCTAssertEqual(Credentials(authorization: nil), .none)
        XCTAssertEqual(Credentials(authorization: "Basic"), .malformed)
        XCTAssertEqual(Credentials(authorization: "Basic " + Data("nocolon".utf8).base64EncodedString()), .malformed)
        XCTAssertEqual(Credentials(authorization: "Digest x"), .malformed)
    }
}
