import ArgumentParser
import BerthCore
import BerthServer
import BerthStorage
import Foundation

/// `berth du [REPOSITORY]`: what each repository stores, what it shares, what a collection would free.
struct DiskUsage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "du",
        abstract: "Show storage used per repository, shared bytes and reclaimable bytes.",
        discussion: """
            A repository's logical size counts every blob its manifests reference once; shared bytes are the
            part other repositories reference too; exclusive bytes would be freed if the repository were
            deleted. Reclaimable bytes are what `berth garbage-collect` would free now (and with
            --delete-untagged). Reads the whole storage once; safe while the registry serves.
            """)

    @Argument(help: "Only this repository (sharing is still judged across all).")
    var repository: String?

    @Option(name: .long, help: "Configuration file in the reference registry's config.yml format.")
    var config: String?

    @Option(name: .long, help: "Storage directory (overrides storage.filesystem.rootdirectory).")
    var root: String?

    @Flag(name: .long, help: "Print JSON (the admin API's format) instead of a table.")
    var json = false

    func run() async throws {
        let only: RepositoryName?
        do {
            only = try repository.map { try RepositoryName($0) }
        } catch {
            throw ValidationError("\(repository ?? "") is not a valid repository name")
        }
        let loaded = try loadConfiguration(file: config, flags: .init(root: root))
        let storage = try await openCommandStorage(loaded.configuration)
        let usage = try await storage.storageUsage(only: only, gracePeriod: loaded.configuration.garbageCollection.options.gracePeriod)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(usage), as: UTF8.self))
            return
        }
        if let only, usage.repositories.isEmpty {
            FileHandle.standardError.write(Data("berth: repository \(only) holds no manifests\n".utf8))
            throw ExitCode(1)
        }
        let rows = usage.repositories.map { r in
            [r.name, String(r.manifests), String(r.tags), Self.bytes(r.logicalBytes), Self.bytes(r.sharedBytes), Self.bytes(r.exclusiveBytes)]
        }
        for line in Self.table(header: ["REPOSITORY", "MANIFESTS", "TAGS", "SIZE", "SHARED", "EXCLUSIVE"], rows: rows) { print(line) }
        print("")
        print("stored: \(usage.blobs) blobs, \(Self.bytes(usage.storedBytes))")
        print("reclaimable now: \(Self.bytes(usage.reclaimableBytes)); with --delete-untagged: \(Self.bytes(usage.reclaimableUntaggedBytes))")
        for quota in usage.quotas {
            let percent = quota.limitBytes > 0 ? Double(quota.usedBytes) * 100 / Double(quota.limitBytes) : 0
            print("quota \(quota.index) (\(quota.repositories.joined(separator: ", "))): \(Self.bytes(quota.usedBytes)) of \(Self.bytes(quota.limitBytes))"
                  + String(format: " (%.0f%%)", percent))
        }
    }

    static func bytes(_ n: Int64) -> String { formatBytes(n) }

    /// Left-aligned first column, right-aligned numbers.
    static func table(header: [String], rows: [[String]]) -> [String] {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return i == 0 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
    }
}
