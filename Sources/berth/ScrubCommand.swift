import ArgumentParser
import BerthServer
import BerthStorage
import Foundation

/// `berth scrub`: verifies the configured storage; safe while `berth serve` runs on it.
struct Scrub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify every blob, link, manifest and index in storage; with --repair, mend what can be mended.",
        discussion: """
            Hashes every blob's content against its digest (sha256 or sha512, as its path says), checks every
            layer, manifest and tag link, every manifest's config, layers and children, and Berth's catalog,
            tags-by-digest and referrers indexes. Each problem names its repository and the tags it breaks, and
            says what to do. --repair moves corrupt blobs to /berth/scrub/quarantine/ (push the images again to
            restore them), rewrites links whose right content is certain, removes layer links to missing
            content, and rebuilds indexes. Tags pointing at missing manifests are only reported. Safe while
            `berth serve` runs on the same storage; --rate-limit keeps it from taking all the disk bandwidth.
            Exit status: 0 when nothing is wrong (or everything found was repaired), 1 when problems remain,
            2 for a configuration error.
            """)

    @Argument(help: "Configuration file in the reference registry's config.yml format.")
    var configFile: String?

    @Option(name: .long, help: "Storage directory (overrides storage.filesystem.rootdirectory).")
    var root: String?

    @Flag(name: .long, help: "Quarantine corrupt blobs, fix links where that is safe, rebuild indexes.")
    var repair = false

    @Flag(name: .long, help: "Print the report as JSON (the admin API's format).")
    var json = false

    @Option(name: .long, help: "Hash at most this many bytes per second, e.g. 50MB/s (default storage.scrub.ratelimit, else no limit).")
    var rateLimit: String?

    @Option(name: .long, help: "Check only this repository and the blobs it references.")
    var repository: String?

    func run() async throws {
        let loaded = try loadConfiguration(file: configFile, flags: .init(root: root))
        var rate = loaded.configuration.scrub.bytesPerSecond
        if let rateLimit {
            guard let parsed = ByteRate.parse(rateLimit) else {
                FileHandle.standardError.write(Data("berth: --rate-limit \(rateLimit) is not a byte rate such as 50MB/s or 10MiB/s\n".utf8))
                throw configurationErrorExit
            }
            rate = parsed
        }
        let storage = try await openCommandStorage(loaded.configuration)
        let display = ProgressDisplay(quiet: json)
        let scrubber = Scrubber(storage: storage, options: ScrubOptions(repair: repair, bytesPerSecond: rate, repository: repository)) { event in
            switch event {
            case .phase(let name, let total): display.handle(.phase(name, total: total))
            case .advanced(let done): display.handle(.advanced(done: done))
            case .found: break  // printed at the end, with the tags each problem affects
            }
        }
        let report: ScrubReport
        do {
            report = try await scrubber.run()
        } catch let error as ScrubError {
            display.finish()
            FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
            throw configurationErrorExit
        }
        display.finish()
        if json {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for finding in report.findings { print(Self.describe(finding)) }
            if report.findingsTruncated { print("(only the first \(report.findings.count) problems are listed)") }
            for note in report.notes { print("note: \(note)") }
            print(Self.summary(report))
        }
        if report.unrepaired > 0 { throw ExitCode(1) }
    }

    static func describe(_ f: ScrubFinding) -> String {
        var lines = ["\(f.kind.rawValue): \(f.message)", "  path: \(f.path)"]
        if !f.tags.isEmpty { lines.append("  tags: \(f.tags.joined(separator: ", "))") }
        if !f.manifests.isEmpty { lines.append("  manifests: \(f.manifests.joined(separator: ", "))") }
        if f.tags.isEmpty, f.manifests.isEmpty, !f.repositories.isEmpty {
            lines.append("  repositories: \(f.repositories.joined(separator: ", "))")
        }
        if let repair = f.repair { lines.append("  repaired: \(repair)") }
        return lines.joined(separator: "\n")
    }

    static func summary(_ r: ScrubReport) -> String {
        var text = "checked \(r.blobsChecked) blobs (\(formatBytes(r.bytesHashed)) hashed, "
        text += String(format: "%.1f MB/s", r.bytesPerSecond / 1_000_000)
        if let limit = r.rateLimitBytesPerSecond { text += ", limit \(ByteRate.format(limit))" }
        text += "), \(r.repositoriesChecked) repositories, \(r.manifestsChecked) manifests, \(r.tagsChecked) tags"
        text += String(format: " in %.2fs: ", r.durationSeconds)
        if r.problems == 0 { return text + "no problems" }
        let kinds = r.problemsByKind.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        text += "\(r.problems) problems (\(kinds))"
        if r.repair { text += "; \(r.repaired) repaired, \(r.unrepaired) left" }
        return text
    }
}
