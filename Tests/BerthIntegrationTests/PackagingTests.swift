import Foundation
import XCTest

/// What ships around the binary: the container image (built by scripts/build-image, pushed into
/// Berth and run from what comes back), the systemd unit, the sample configurations, shell
/// completions and help.
final class PackagingTests: IntegrationTestCase {
    /// The checkout this test file belongs to.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The image layout to test: `BERTH_TEST_IMAGE` when set (scripts/test builds it once before the
    /// tests), otherwise built here by scripts/build-image, a release build of several minutes.
    func imageLayout() async throws -> URL {
        if let path = ProcessInfo.processInfo.environment["BERTH_TEST_IMAGE"], !path.isEmpty {
            return URL(fileURLWithPath: path, relativeTo: Self.packageRoot).standardizedFileURL
        }
        let output = try temporaryDirectory("image").appendingPathComponent("oci")
        try await ProcessRunner.run(Self.packageRoot.appendingPathComponent("scripts/build-image").path,
                                    ["--output", output.path], timeout: .seconds(30 * 60))
        return output
    }

    /// Dogfooding: Berth's own image goes into Berth with skopeo and comes back out; the binary in the
    /// pulled root filesystem, run with the libraries next to it, serves `GET /v2/`.
    func testContainerImagePushPullAndRun() async throws {
        let image = try await imageLayout()
        let berth = try await startBerth(root: try temporaryDirectory("root"))
        try await Skopeo.copy("oci:\(image.path):latest", "docker://\(berth.host)/berth/berth:latest")
        let pulled = try temporaryDirectory("pulled").appendingPathComponent("layout")
        try await Skopeo.copy("docker://\(berth.host)/berth/berth:latest", "oci:\(pulled.path):latest")

        let top = try OCILayout.topDescriptor(pulled, tag: "latest")
        let manifest = try Self.object(OCILayout.blob(pulled, top.digest))
        let configDigest = try XCTUnwrap((manifest["config"] as? [String: Any])?["digest"] as? String)
        let imageConfig = try Self.object(OCILayout.blob(pulled, configDigest))
        XCTAssertEqual(imageConfig["architecture"] as? String, "amd64")
        let config = try XCTUnwrap(imageConfig["config"] as? [String: Any])
        XCTAssertEqual(config["User"] as? String, "10000:10000")
        XCTAssertEqual(config["Entrypoint"] as? [String], ["/usr/local/bin/berth"])
        XCTAssertEqual(config["Cmd"] as? [String], ["serve", "/etc/berth/config.yml"])
        XCTAssertNotNil((config["ExposedPorts"] as? [String: Any])?["5000/tcp"])
        XCTAssertNotNil((config["Volumes"] as? [String: Any])?["/var/lib/berth"])
        let labels = try XCTUnwrap(config["Labels"] as? [String: String])
        for key in ["title", "description", "version", "source", "licenses", "created", "revision"] {
            XCTAssertNotNil(labels["org.opencontainers.image.\(key)"], "label org.opencontainers.image.\(key)")
        }

        let rootfs = try temporaryDirectory("rootfs")
        var listing = ""
        for layer in manifest["layers"] as? [[String: Any]] ?? [] {
            let digest = try XCTUnwrap(layer["digest"] as? String)
            let file = pulled.appendingPathComponent("blobs/sha256/\(digest.dropFirst(7))").path
            try await ProcessRunner.run("/usr/bin/tar", ["-xzf", file, "-C", rootfs.path, "--no-same-owner"])
            listing += try await ProcessRunner.run("/usr/bin/tar", ["-tvzf", file, "--numeric-owner"]).stdout
        }
        XCTAssertTrue(listing.split(separator: "\n").contains { $0.contains("10000/10000") && $0.hasSuffix("var/lib/berth/") },
                      "/var/lib/berth is not owned by the berth user:\n\(listing)")
        for path in ["etc/ssl/certs/ca-certificates.crt", "etc/passwd", "etc/group", "etc/berth/config.yml", "tmp"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: rootfs.appendingPathComponent(path).path), path)
        }
        let passwd = try String(contentsOf: rootfs.appendingPathComponent("etc/passwd"), encoding: .utf8)
        XCTAssertTrue(passwd.contains("berth:x:10000:10000:"), passwd)

        // The image's own loader and libraries, not the host's: a library missing from the image fails here.
        let port = try freeLoopbackPort()
        let store = try temporaryDirectory("store")
        let configFile = store.appendingPathComponent("config.yml")
        try "version: 0.1\nhttp:\n  addr: 127.0.0.1:\(port)\nstorage:\n  filesystem:\n    rootdirectory: \(store.path)/data\n"
            .write(to: configFile, atomically: true, encoding: .utf8)
        let loader = rootfs.appendingPathComponent("usr/lib64/ld-linux-x86-64.so.2").path
        // The system libraries, and the Swift runtime's when the image holds a binary built without
        // the static standard library (the test suite's quick image; the release image has none).
        let libraries = ["usr/lib/x86_64-linux-gnu", "opt/swift/usr/lib/swift/linux"]
            .map { rootfs.appendingPathComponent($0).path }
            .filter { FileManager.default.fileExists(atPath: $0) }
            .joined(separator: ":")
        let berthPath = rootfs.appendingPathComponent("usr/local/bin/berth").path
        // The loader falls back to the host's directories for a library --library-path lacks: check
        // that every library resolves inside the image.
        let list = try await ProcessRunner.run(loader, ["--inhibit-cache", "--library-path", libraries, "--list", berthPath])
        for line in list.stdout.split(separator: "\n") where line.contains("=>") {
            XCTAssertTrue(line.contains(rootfs.path), "a library comes from the host, not the image: \(line)")
        }
        let server = try BackgroundProcess(loader, ["--inhibit-cache", "--library-path", libraries,
                                                    berthPath, "serve", configFile.path],
                                           logURL: store.appendingPathComponent("server.log"))
        cleanups.append { await server.stop() }
        let base = try XCTUnwrap(URL(string: "http://127.0.0.1:\(port)"))
        do {
            try await HTTP.waitUntilReady(base, what: "berth from the pulled image", while: { server.isRunning })
        } catch {
            XCTFail("\(error)\n\(server.log)")
            return
        }
        let ping = try await HTTP.request("GET", base.appendingPathComponent("v2/"))
        XCTAssertEqual(ping.status, 200)
        await server.stop()
    }

    /// The unit passes `systemd-analyze verify` (with ExecStart pointing at the built binary, since
    /// /usr/local/bin/berth is not installed here), and both sample configurations are valid.
    func testSystemdUnitAndSampleConfigurations() async throws {
        let analyze = "/usr/bin/systemd-analyze"
        let unit = try String(contentsOf: Self.packageRoot.appendingPathComponent("packaging/systemd/berth.service"), encoding: .utf8)
        for setting in ["DynamicUser=yes", "StateDirectory=berth", "ProtectSystem=strict", "NoNewPrivileges=yes",
                        "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure"] {
            XCTAssertTrue(unit.contains(setting), "berth.service lacks \(setting)")
        }
        let dir = try temporaryDirectory("systemd")
        let copy = dir.appendingPathComponent("berth.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/berth", with: CommandLineTests.berth)
            .write(to: copy, atomically: true, encoding: .utf8)
        let verify = try await ProcessRunner.run(analyze, ["verify", copy.path], allowFailure: true)
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertEqual(verify.stderr.trimmingCharacters(in: .whitespacesAndNewlines), "", "systemd-analyze warns")

        for sample in ["packaging/systemd/config.yml", "packaging/docker/config.yml"] {
            let path = Self.packageRoot.appendingPathComponent(sample).path
            let check = try await ProcessRunner.run(CommandLineTests.berth, ["config", "check", path], allowFailure: true)
            XCTAssertEqual(check.status, 0, "\(sample): \(check.stderr)")
            XCTAssertEqual(check.stderr, "", "\(sample) has warnings")
            XCTAssertTrue(check.stdout.contains("storage.filesystem.rootdirectory: /var/lib/berth"), check.stdout)
        }
    }

    /// swift-argument-parser's completion scripts name every subcommand; the bash one parses.
    func testShellCompletionScripts() async throws {
        let subcommands = ["serve", "config", "garbage-collect", "retention", "du", "index", "htpasswd"]
        // How each shell's script names serve's --addr option.
        let addrOption = ["bash": "--addr", "zsh": "--addr", "fish": "-l 'addr'"]
        for (shell, option) in addrOption {
            let script = try await ProcessRunner.run(CommandLineTests.berth, ["--generate-completion-script", shell])
            for name in subcommands {
                XCTAssertTrue(script.stdout.contains(name), "\(shell) completion lacks \(name)")
            }
            XCTAssertTrue(script.stdout.contains(option), "\(shell) completion lacks serve's --addr")
        }
        let dir = try temporaryDirectory("completion")
        let bash = dir.appendingPathComponent("berth.bash")
        try await ProcessRunner.run(CommandLineTests.berth, ["--generate-completion-script", "bash"]).stdout
            .write(to: bash, atomically: true, encoding: .utf8)
        try await ProcessRunner.run("/bin/bash", ["-n", bash.path])
        // Sourcing it registers the completion function for `berth`.
        let registered = try await ProcessRunner.run("/bin/bash", ["-c", "source '\(bash.path)' && complete -p berth"])
        XCTAssertTrue(registered.stdout.contains("berth"), registered.stdout)
    }

    /// Every subcommand answers --help with its usage and a description.
    func testHelpForEverySubcommand() async throws {
        let commands = [["serve"], ["config", "check"], ["garbage-collect"], ["retention", "apply"], ["du"],
                        ["index", "rebuild"], ["htpasswd", "add"], ["htpasswd", "remove"]]
        for command in commands {
            let help = try await ProcessRunner.run(CommandLineTests.berth, command + ["--help"])
            let name = command.joined(separator: " ")
            XCTAssertTrue(help.stdout.contains("USAGE: berth \(name)"), "\(name) --help:\n\(help.stdout)")
            XCTAssertTrue(help.stdout.contains("OVERVIEW:"), "\(name) --help has no description")
        }
    }

    static func object(_ data: Data) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(String(decoding: data, as: UTF8.self))")
        }
        return object
    }
}
