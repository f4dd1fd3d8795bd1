import BerthAuth
import BerthServer
import Foundation
import XCTest

/// Users made with `berth htpasswd`, then real skopeo pushes and pulls against a registry that
/// checks them and applies access rules.
final class AuthIntegrationTests: IntegrationTestCase {
    func berth(_ arguments: [String], stdin: String? = nil) async throws -> ProcessResult {
        try await ProcessRunner.run(CommandLineTests.berth, arguments, timeout: .seconds(30), allowFailure: true, stdin: stdin)
    }

    func testHtpasswdCommandAddsChangesAndRemovesUsers() async throws {
        let file = try temporaryDirectory("htpasswd").appendingPathComponent("users").path
        let added = try await berth(["htpasswd", "add", file, "alice", "--cost", "4"], stdin: "first-pw\n")
        XCTAssertEqual(added.status, 0, added.stderr)
        XCTAssertTrue(added.stderr.contains("added user alice"), added.stderr)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber
        XCTAssertEqual(mode?.intValue, 0o600)
        _ = try await berth(["htpasswd", "add", file, "bob", "--cost", "4"], stdin: "bob-pw\n")
        let changed = try await berth(["htpasswd", "add", file, "alice", "--cost", "4"], stdin: "second-pw\n")
        XCTAssertTrue(changed.stderr.contains("changed the password of user alice"), changed.stderr)
        let users = try HtpasswdFile(path: file)
        XCTAssertEqual(users.users, ["alice", "bob"])
        XCTAssertTrue(users.verify(user: "alice", password: "second-pw"))
        XCTAssertFalse(users.verify(user: "alice", password: "first-pw"))
        XCTAssertFalse(try String(contentsOfFile: file, encoding: .utf8).contains("second-pw"))

        let removed = try await berth(["htpasswd", "remove", file, "bob"])
        XCTAssertEqual(removed.status, 0, removed.stderr)
        XCTAssertEqual(try HtpasswdFile(path: file).users, ["alice"])
        let unknown = try await berth(["htpasswd", "remove", file, "bob"])
        XCTAssertNotEqual(unknown.status, 0)
        XCTAssertTrue(unknown.stderr.contains("bob is not in"), unknown.stderr)
        let empty = try await berth(["htpasswd", "add", file, "carol"], stdin: "\n")
        XCTAssertNotEqual(empty.status, 0)
        let badName = try await berth(["htpasswd", "add", file, "a:b"], stdin: "pw\n")
        XCTAssertNotEqual(badName.status, 0)
    }

    func testSkopeoPushAndPullWithHtpasswdAndRules() async throws {
        let dir = try temporaryDirectory("auth")
        let file = dir.appendingPathComponent("htpasswd").path
        _ = try await berth(["htpasswd", "add", file, "alice", "--cost", "4"], stdin: "alice-pw\n")
        _ = try await berth(["htpasswd", "add", file, "bob", "--cost", "4"], stdin: "bob-pw\n")
        let registry = try await startBerth(root: try temporaryDirectory("root")) { config in
            config.auth.mode = .htpasswd(realm: "Berth", path: file)
            config.auth.rules = AccessRules(rules: [
                AccessRule(users: ["alice"], repositories: ["team-a/**"], actions: [.pull, .push, .delete]),
                AccessRule(users: ["bob"], repositories: ["team-a/**"], actions: [.pull]),
            ])
        }
        let image = TestImage.random(layerCount: 2)
        let source = try temporaryDirectory("src")
        try OCILayout.write(source, tag: "v1", image: image)
        let target = "docker://\(registry.host)/team-a/app:v1"

        do {
            try await Skopeo.copy("oci:\(source.path):v1", target, destinationCreds: "alice:wrong")
            XCTFail("a wrong password was accepted")
        } catch {
            XCTAssertTrue("\(error)".lowercased().contains("unauthorized"), "\(error)")
        }
        do {
            try await Skopeo.copy("oci:\(source.path):v1", target, destinationCreds: "bob:bob-pw")
            XCTFail("a pull-only user pushed")
        } catch {
            XCTAssertTrue("\(error)".lowercased().contains("denied"), "\(error)")
        }
        try await Skopeo.copy("oci:\(source.path):v1", target, destinationCreds: "alice:alice-pw")

        let pulled = try temporaryDirectory("pulled").appendingPathComponent("layout")
        try await Skopeo.copy(target, "oci:\(pulled.path):v1", sourceCreds: "bob:bob-pw")
        try assertLayout(pulled, tag: "v1", holds: image)
        do {
            try await Skopeo.copy(target, "oci:\(try temporaryDirectory("anon").path)/l:v1")
            XCTFail("an anonymous pull succeeded")
        } catch {
            XCTAssertTrue("\(error)".lowercased().contains("unauthorized") || "\(error)".contains("401"), "\(error)")
        }
    }

    /// At debug level, with failed Basic logins and bearer tokens sent, the server's log never
    /// holds a password, a token or an Authorization header; it does name the failing user.
    func testSecretsNeverReachTheLog() async throws {
        let dir = try temporaryDirectory("logs")
        let file = dir.appendingPathComponent("htpasswd").path
        _ = try await berth(["htpasswd", "add", file, "alice", "--cost", "4"], stdin: "correct-horse-battery\n")
        let config = dir.appendingPathComponent("config.yml")
        try """
            version: 0.1
            log:
              level: debug
            auth:
              htpasswd:
                realm: r
                path: \(file)
            """.write(to: config, atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        let log = dir.appendingPathComponent("server.log")
        let server = try BackgroundProcess(CommandLineTests.berth,
                                           ["serve", config.path, "--addr", "127.0.0.1:\(port)", "--root", dir.appendingPathComponent("data").path],
                                           logURL: log)
        let base = URL(string: "http://127.0.0.1:\(port)")!
        try await HTTP.waitUntilReady(base, what: "berth", while: { server.isRunning })
        let url = "http://127.0.0.1:\(port)/v2/some/repo/tags/list"
        for arguments in [["-u", "alice:wrong-staple-secret", "-H", "X-Request-Id: auth-trace-42"], ["-u", "alice:correct-horse-battery"],
                          ["-H", "Authorization: Bearer eyJhbGciOiJub25lIn0.c2VjcmV0LXRva2VuLXBheWxvYWQ.x"],
                          ["-H", "Authorization: Basic bWFsbG9yeTpzdXBlci1zZWNyZXQ="]] {
            _ = try await ProcessRunner.run("/usr/bin/curl", ["-s", "-o", "/dev/null"] + arguments + [url], allowFailure: true)
        }
        await server.stop()
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertTrue(text.contains("authentication failed"), "failed logins must be logged:\n\(text)")
        XCTAssertTrue(text.contains("alice"), text)
        XCTAssertTrue(text.split(separator: "\n").contains { $0.contains("authentication failed") && $0.contains("auth-trace-42") },
                      "the failed login's log line names its request id:\n\(text)")
        for secret in ["wrong-staple-secret", "correct-horse-battery", "c2VjcmV0LXRva2VuLXBheWxvYWQ", "bWFsbG9yeTpzdXBlci1zZWNyZXQ",
                       "super-secret", "Authorization", "authorization"] {
            XCTAssertFalse(text.contains(secret), "the log contains \(secret):\n\(text)")
        }
    }
}

/// The users of the TLS authentication tests: alice (password alice-pw) and bob (bob-pw).
enum TestUsers {
    /// Writes them to `<dir>/htpasswd` (bcrypt cost 4, quick); returns the path.
    static func writeAliceAndBob(in dir: URL) throws -> String {
        var users = HtpasswdFile.adding(user: "alice", password: "alice-pw", to: "", cost: 4)
        users = HtpasswdFile.adding(user: "bob", password: "bob-pw", to: users, cost: 4)
        let path = dir.appendingPathComponent("htpasswd").path
        try users.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
