import ArgumentParser
import BerthServer
import BerthStorage
import Foundation

/// `berth retention apply`: applies `retention.policies` once, for cron jobs and for trying a
/// policy out with `--dry-run` before the server applies it on a schedule.
struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the retention policies of a configuration.",
        subcommands: [Apply.self])

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the tags and untagged manifests the retention policies select (or, with --dry-run, list them).",
            discussion: """
                Prints one line per deletion (repository, tag or digest, when it was pushed, and the rule), \
                then a summary. Safe to run while the registry serves: a tag or manifest pushed during the \
                run is kept. The blobs of deleted images are freed by garbage collection, not by this command.

                retention.dryrun applies to scheduled runs only; use --dry-run here. Exit status 1 if a \
                repository could not be processed, 2 if the configuration is invalid.
                """)

        @Argument(help: "Configuration file in the reference registry's config.yml format.")
        var configFile: String?

        @Option(name: .long, help: "Storage directory (overrides storage.filesystem.rootdirectory).")
        var root: String?

        @Flag(name: .long, help: "Show what would be deleted; change nothing.")
        var dryRun = false

        @Flag(name: .long, help: "Print the report as JSON instead of lines of text.")
        var json = false

        func run() async throws {
            let loaded = try loadConfiguration(file: configFile, flags: .init(root: root))
            for warning in loaded.warnings {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            let config = loaded.configuration
            guard !config.retention.policies.isEmpty else {
                FileHandle.standardError.write(Data("berth: the configuration has no retention.policies; nothing to do\n".utf8))
                return
            }
            if config.readOnly, !dryRun {
                FileHandle.standardError.write(Data("berth: storage.maintenance.readonly.enabled is true, so nothing may be deleted; run with --dry-run, or leave read-only mode first\n".utf8))
                throw configurationErrorExit
            }
            let report: RetentionReport
            do {
                let storage = try await openStorage(config)
                report = try await storage.applyRetention(config.retention.policies, dryRun: dryRun) { repository in
                    if !json { print(Self.lines(repository, dryRun: dryRun).joined(separator: "\n")) }
                }
            } catch let error as ConfigurationError {
                FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
                throw configurationErrorExit
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
            } else {
                print(report.summary)
            }
            if report.failedRepositories > 0 { throw ExitCode(1) }
        }

        /// What happened in one repository, a line per deletion, skip, warning or error.
        static func lines(_ r: RetentionReport.Repository, dryRun: Bool) -> [String] {
            let verb = dryRun ? "would delete" : "deleted"
            let time = ISO8601DateFormatter()
            var lines: [String] = []
            for d in r.tags {
                lines.append("\(verb) tag \(r.name):\(d.tag ?? "") (\(d.digest)) pushed \(time.string(from: d.pushed)): \(d.rule) [policies[\(r.policy)]]")
            }
            for d in r.manifests {
                lines.append("\(verb) manifest \(r.name)@\(d.digest) pushed \(time.string(from: d.pushed)): \(d.rule) [policies[\(r.policy)]]")
            }
            for s in r.skipped {
                lines.append("kept \(s.tag.map { "tag \(r.name):\($0)" } ?? "manifest \(r.name)@\(s.digest)"): \(s.reason)")
            }
            lines += r.warnings.map { "warning: \($0)" }
            if let error = r.error { lines.append("error: \(r.name): \(error)") }
            if lines.isEmpty { lines.append("\(r.name): nothing to delete [policies[\(r.policy)]]") }
            return lines
        }
    }
}
