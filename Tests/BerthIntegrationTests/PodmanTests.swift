import BerthAuth
import BerthServer
import Foundation
import XCTest

/// The real `podman` logs in, pulls and pushes over TLS, against htpasswd and against Berth's
/// own token service. Podman keeps its images and credentials in per-test directories.
final class PodmanTests: IntegrationTestCase {
    struct Podman {
        let storage: URL
        let authFile: String
        let certDir: String

        func run(_ arguments: [String], stdin: String? = nil) async throws -> ProcessResult {
            let global = ["--root", storage.appendingPathComponent("root").path,
                          "--runroot", storage.appendingPathComponent("run").path, "--storage-driver", "vfs"]
            let command = arguments[0]
            var local = Array(arguments.dropFirst())
            if ["login", "pull", "push"].contains(command) { local = ["--authfile", authFile, "--cert-dir", certDir] + local }
            return try await ProcessRunner.run(Tools.podman, global + [command] + local, timeout: .seconds(90),
                                               allowFailure: true, stdin: stdin)
        }
    }

    /// A TLS registry with the given auth, alice allowed to push team-a/**, bob to pull it; an
    /// image pushed by alice with skopeo; and a podman with its own storage.
    func setUp(auth: (String, String, URL) async throws -> AuthSettings.Mode) async throws -> (HTTPSBerth, Podman, TestImage) {
        let dir = try temporaryDirectory("podman")
        let pki = try await TestPKI.make(in: try temporaryDirectory("podman-pki"))
        let htpasswd = try TestUsers.writeAliceAndBob(in: dir)
        let certDir = try pki.clientCertDirectory(in: dir)
        let port = try freeLoopbackPort()
        let mode = try await auth(htpasswd, "https://127.0.0.1:\(port)/token", dir)
        let berth = try await HTTPSBerth.start(root: try temporaryDirectory("podman-root").path, tls: pki.settings(pki.serverA)) { config in
            config.httpAddress = ListenAddress(host: "127.0.0.1", port: port)
            config.auth.mode = mode
            config.auth.rules = AccessRules(rules: [
                AccessRule(users: ["alice"], repositories: ["team-a/**"], actions: [.pull, .push, .delete]),
                AccessRule(users: ["bob"], repositories: ["team-a/**"], actions: [.pull]),
            ])
        }
        cleanups.append { await berth.stop() }
        let image = TestImage.random(layerCount: 2)
        let source = try temporaryDirectory("podman-src")
        try OCILayout.write(source, tag: "v1", image: image)
        let pushed = try await ProcessRunner.run(Tools.skopeo, [
            "--insecure-policy", "copy", "--preserve-digests", "--dest-cert-dir", certDir.path, "--dest-creds", "alice:alice-pw",
            "oci:\(source.path):v1", "docker://127.0.0.1:\(port)/team-a/app:v1"], timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(pushed.status, 0, pushed.stderr)
        let podman = Podman(storage: try temporaryDirectory("podman-storage"),
                            authFile: dir.appendingPathComponent("auth.json").path, certDir: certDir.path)
        cleanups.append { _ = try? await podman.run(["system", "reset", "--force"]) }
        return (berth, podman, image)
    }

    func exercise(_ berth: HTTPSBerth, _ podman: Podman) async throws {
        let host = "127.0.0.1:\(berth.port)"
        let wrong = try await podman.run(["login", "-u", "alice", "--password-stdin", host], stdin: "nope\n")
        XCTAssertNotEqual(wrong.status, 0, "podman login with a wrong password succeeded")
        let bob = try await podman.run(["login", "-u", "bob", "--password-stdin", host], stdin: "bob-pw\n")
        XCTAssertEqual(bob.status, 0, bob.stderr)
        let pulled = try await podman.run(["pull", "\(host)/team-a/app:v1"])
        XCTAssertEqual(pulled.status, 0, pulled.stderr)
        let tagged = try await podman.run(["tag", "\(host)/team-a/app:v1", "\(host)/team-a/copy:v1"])
        XCTAssertEqual(tagged.status, 0, tagged.stderr)
        let refused = try await podman.run(["push", "\(host)/team-a/copy:v1"])
        XCTAssertNotEqual(refused.status, 0, "bob (pull only) pushed with podman")

        let alice = try await podman.run(["login", "-u", "alice", "--password-stdin", host], stdin: "alice-pw\n")
        XCTAssertEqual(alice.status, 0, alice.stderr)
        let push = try await podman.run(["push", "\(host)/team-a/copy:v1"])
        XCTAssertEqual(push.status, 0, push.stderr)
        // What podman pushed pulls back into a fresh store with the same image ID (config digest).
        let original = try await podman.run(["image", "inspect", "--format", "{{.Id}}", "\(host)/team-a/app:v1"])
        _ = try await podman.run(["rmi", "--all", "--force"])
        let again = try await podman.run(["pull", "\(host)/team-a/copy:v1"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let copy = try await podman.run(["image", "inspect", "--format", "{{.Id}}", "\(host)/team-a/copy:v1"])
        XCTAssertEqual(copy.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
                       original.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertFalse(copy.stdout.isEmpty)
    }

    func testPodmanWithHtpasswdOverTLS() async throws {
        let (berth, podman, _) = try await setUp { htpasswd, _, _ in .htpasswd(realm: "Berth", path: htpasswd) }
        try await exercise(berth, podman)
    }

    func testPodmanWithTheTokenServiceOverTLS() async throws {
        let (berth, podman, _) = try await setUp { htpasswd, realm, dir in
            let key = dir.appendingPathComponent("signing.pem").path
            try await ProcessRunner.run("/usr/bin/openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
            var service = AuthSettings.TokenServiceSettings(service: "berth-podman", issuer: "berth", signingKey: key, htpasswd: htpasswd)
            service.realm = realm
            return .tokenService(service)
        }
        try await exercise(berth, podman)
    }
}
