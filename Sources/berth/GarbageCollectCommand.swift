import ArgumentParser
import BerthServer
import BerthStorage
import Foundation
import Synchronization

/// `berth garbage-collect`: one collection over the configured storage, safe while registries serve it.
struct GarbageCollect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "garbage-collect",
        abstract: "Remove blobs, manifests and links that nothing references any more.",
        discussion: """
            Marks everything reachable from the manifests (with --delete-untagged: from tagged manifests only),
            following index children, configs, layers and referrers, then removes the rest. Safe while
            `berth serve` runs on the same storage: content younger than the grace period, and content a push
            starts relying on during the run, is kept (docs/garbage-collection.md). Prints each removal and a
            summary; a progress bar on a terminal, plain lines otherwise.
            """)

    @Argument(help: "Configuration file in the reference registry's config.yml format.")
    var configFile: String?

    @Option(name: .long, help: "Storage directory (overrides storage.filesystem.rootdirectory).")
    var root: String?

    @Flag(name: .long, help: "Show what would be removed; change nothing.")
    var dryRun = false

    @Flag(name: .long, help: "Also remove manifests that no tag reaches (multi-arch children and referrers of kept images stay).")
    var deleteUntagged = false

    @Option(name: .long, help: "Keep content younger than this (Go duration, e.g. 10m; default storage.gc.graceperiod or 10m).")
    var gracePeriod: String?

    /// Tests shorten it so that content pushed a moment ago can be collected at once.
    @Option(name: .long, help: .hidden)
    var pinWindow: String?

    @Flag(name: .shortAndLong, help: "Print only the summary.")
    var quiet = false

    func run() async throws {
        let loaded = try loadConfiguration(file: configFile, flags: .init(root: root))
        var options = loaded.configuration.garbageCollection.options
        options.dryRun = dryRun
        options.deleteUntagged = deleteUntagged || options.deleteUntagged
        if let gracePeriod {
            options.gracePeriod = try Self.duration(gracePeriod, flag: "--grace-period")
            guard options.gracePeriod <= .seconds(Pins.lifetime / 2) else {
                throw ValidationError("--grace-period must be at most 12h: pins, which protect pushes during a run, are kept a day")
            }
        }
        if let pinWindow { options.pinWindow = try Self.duration(pinWindow, flag: "--pin-window") }
        let storage = try await openCommandStorage(loaded.configuration)
        let display = ProgressDisplay(quiet: quiet)
        let owner = "berth garbage-collect on \(ProcessInfo.processInfo.hostName) pid \(getpid())"
        let report: GCReport
        do {
            report = try await storage.collectGarbage(options, owner: owner) { display.handle($0) }
        } catch let error as GCError {
            display.finish()
            FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
            throw ExitCode(1)
        }
        display.finish()
        print(Self.summary(report, grace: options.gracePeriod, pinWindow: options.pinWindow))
    }

    static func duration(_ text: String, flag: String) throws -> Duration {
        guard let d = GoDuration.parse(text), d >= .zero else {
            throw ValidationError("\(flag) \(text) is not a duration like 10m or 30s")
        }
        return d
    }

    static func summary(_ r: GCReport, grace: Duration, pinWindow: Duration) -> String {
        let verb = r.dryRun ? "would remove" : "removed"
        var text = "\(r.dryRun ? "dry run: " : "")\(verb) \(r.manifestsRemoved) manifests, \(r.layerLinksRemoved) layer links and \(r.blobsRemoved) blobs"
        text += " (\(formatBytes(r.bytesReclaimed)) \(r.dryRun ? "reclaimable" : "reclaimed"))"
        text += "; scanned \(r.repositories) repositories, \(r.manifestsScanned) manifests, \(r.blobsScanned) blobs"
        if r.restored > 0 { text += "; \(r.restored) items kept because pushes started using them during the run" }
        text += String(format: " in %.2fs", r.durationSeconds)
        text += " (anything pushed in the last \(GoDuration.format(max(grace, pinWindow))) is kept)"
        return text
    }
}

/// Progress of a long command: a bar redrawn in place when standard error is a terminal,
/// otherwise one plain line per phase. Removals go to standard output either way.
final class ProgressDisplay: Sendable {
    private struct State {
        var phase = ""
        var total = 0
        var done = 0
        var drawn = false
    }

    private let state = Mutex(State())
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private let quiet: Bool

    init(quiet: Bool) { self.quiet = quiet }

    func handle(_ event: GCProgress) {
        switch event {
        case .phase(let name, let total):
            state.withLock {
                if $0.drawn { Self.write("\n") }
                $0 = State(phase: name, total: total, done: 0, drawn: false)
            }
            if !isTerminal { Self.write("\(name) (\(total))\n") }
        case .advanced(let done):
            guard isTerminal else { return }
            state.withLock {
                $0.done = done
                $0.drawn = true
                Self.write("\r" + Self.bar(phase: $0.phase, done: done, total: $0.total))
            }
        case .removed(let removal, let dryRun):
            guard !quiet else { return }
            line("\(dryRun ? "would remove" : "removed") \(Self.describe(removal))")
        case .restored(let removal):
            guard !quiet else { return }
            line("kept \(Self.describe(removal)): a push started using it during the run")
        }
    }

    /// A byte-count bar for `label` (one blob of a copy); a line per label off a terminal.
    func bytes(label: String, done: Int64, total: Int64) {
        state.withLock {
            if $0.phase != label {
                if $0.drawn { Self.write("\n") }
                $0 = State(phase: label, total: Int(total), done: 0, drawn: false)
                if !isTerminal { Self.write("copying \(label) (\(total) bytes)\n") }
            }
            guard isTerminal else { return }
            $0.done = Int(done)
            $0.drawn = true
            Self.write("\r" + Self.bar(phase: label, done: Int(done), total: Int(total)))
        }
    }

    func finish() {
        state.withLock {
            if $0.drawn { Self.write("\n") }
            $0.drawn = false
        }
    }

    /// A line on standard output, clearing the bar first so the two do not mix.
    private func line(_ text: String) {
        state.withLock {
            if $0.drawn { Self.write("\r\u{1B}[K") }
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
            if $0.drawn { Self.write("\r" + Self.bar(phase: $0.phase, done: $0.done, total: $0.total)) }
        }
    }

    static func describe(_ r: GCReport.Removal) -> String {
        switch r.kind {
        case "blob": "blob \(r.digest) (\(formatBytes(r.size ?? 0)))"
        case "manifest": "manifest \(r.repository ?? "")@\(r.digest)"
        default: "layer link \(r.digest) from \(r.repository ?? "")"
        }
    }

    static func bar(phase: String, done: Int, total: Int) -> String {
        let width = 30
        let filled = total > 0 ? min(width, done * width / total) : 0
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(phase) \(done)/\(total)"
    }

    private static func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
