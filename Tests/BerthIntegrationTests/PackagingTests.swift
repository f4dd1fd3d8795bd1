import Foundation
import XCTest

/// What ships around the binary: the systemd unit, the sample configurations, shell completions
/// and help.
final class PackagingTests: IntegrationTestCase {
    /// The checkout this test file belongs to.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

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

        for sample in ["packaging/systemd/config.yml"] {
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
