/// The `berth` command line: a thin layer over BerthServer.
import ArgumentParser
import BerthServer
import BerthStorage
import CBerthSystem
import Foundation
import Logging

@main
struct Berth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Berth, a container image registry (OCI Distribution / Docker Registry HTTP API v2).",
        discussion: """
            Run `berth serve` to start a registry on 0.0.0.0:5000 storing everything under ./data.
            Configuration uses the reference registry's config.yml format; every key can also be set
            from the environment (REGISTRY_HTTP_ADDR, REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY, ...).
            """,
        version: BerthVersion.string,
        subcommands: [Serve.self, Config.self, GarbageCollect.self, Scrub.self, Retention.self, DiskUsage.self, Index.self, Htpasswd.self, Copy.self, Sync.self])
}

enum BerthVersion {
    static let string = berthVersion
}

/// Exit status for configuration errors.
let configurationErrorExit = ExitCode(2)

func loadConfiguration(file: String?, flags: ConfigurationLoader.Flags) throws -> ConfigurationLoader.Loaded {
    do {
        return try ConfigurationLoader.load(file: file, environment: ProcessInfo.processInfo.environment, flags: flags)
    } catch let error as ConfigurationError {
        FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
        throw configurationErrorExit
    }
}

/// The configured storage, for commands that work on it; a storage that cannot be opened is a
/// configuration error (exit status 2, saying why).
func openCommandStorage(_ config: BerthConfiguration) async throws -> RegistryStorage {
    do {
        return try await openStorage(config)
    } catch let error as ConfigurationError {
        FileHandle.standardError.write(Data("berth: \(error)\n".utf8))
        throw configurationErrorExit
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the registry.",
        discussion: """
            With no arguments, listens on 0.0.0.0:5000 and stores images under ./data (created if missing).
            Settings come from CONFIG_FILE, then REGISTRY_* environment variables, then flags; later ones win.
            A configuration Berth cannot honour exits with status 2 and says why.
            """)

    @Argument(help: "Configuration file in the reference registry's config.yml format.")
    var configFile: String?

    @Option(name: .long, help: "Listen address, HOST:PORT (overrides http.addr).")
    var addr: String?

    @Option(name: .long, help: "Storage directory (overrides storage.filesystem.rootdirectory).")
    var root: String?

    func run() async throws {
        // One malloc arena per thread lets idle memory pile up under load; two are plenty here.
        // (A fixed mmap threshold was measured too: it slowed pulls and raised the peak.)
        _ = berth_tune_malloc(2, 0)
        let loaded = try loadConfiguration(file: configFile, flags: .init(addr: addr, root: root))
        let config = loaded.configuration
        LoggingSystem.bootstrap { label in
            switch config.logFormatter {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = config.logLevel
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = config.logLevel
                return handler
            }
        }
        var logger = Logger(label: "berth")
        logger.logLevel = config.logLevel
        for warning in loaded.warnings { logger.warning("configuration: \(warning)") }
        // SIGHUP re-reads the TLS certificate and key; without TLS it keeps its default action.
        let sighup = config.tls == nil ? nil : reloadTLSOnSIGHUP(logger: logger)
        defer { sighup?.cancel() }
        do {
            let app = try await buildApplication(config, logger: logger)
            try await serveUntilSignalled(app, drainTimeout: config.drainTimeout, logger: logger)
        } catch let error as ConfigurationError {
            logger.critical("\(error)")
            throw configurationErrorExit
        }
    }
}

/// Calls `reloadTLS` on every SIGHUP until the returned source is cancelled.
func reloadTLSOnSIGHUP(logger: Logger) -> any DispatchSourceSignal {
    signal(SIGHUP, SIG_IGN)  // the dispatch source, not the default action, handles it
    let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
    source.setEventHandler {
        logger.info("SIGHUP: reloading the TLS certificate and key")
        reloadTLS(logger: logger)
    }
    source.resume()
    return source
}

struct Config: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with configuration files.",
        subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a configuration file and print the effective settings (secrets masked).",
            discussion: "Environment overrides (REGISTRY_*) are applied, as `berth serve` would. Exit status 2 if invalid.")

        @Argument(help: "Configuration file to check.")
        var configFile: String

        func run() async throws {
            let loaded = try loadConfiguration(file: configFile, flags: .init())
            for warning in loaded.warnings {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
            print("configuration \(configFile) is valid; effective settings:")
            for line in loaded.configuration.describe() { print("  \(line)") }
        }
    }
}

struct Index: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Maintain the indexes Berth keeps beside the reference layout.",
        subcommands: [Rebuild.self])

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the catalog, tags-by-digest and referrers indexes from storage.",
            discussion: """
                Walks every repository once. Push and delete keep the indexes current, so this is only
                needed after storage was changed behind Berth's back (for example by the reference
                registry or by hand). Safe to run while the registry serves.
                """)

        @Argument(help: "Configuration file in the reference registry's config.yml format.")
        var configFile: String?

        @Option(name: .long, help: "Storage directory (overrides storage.filesystem.rootdirectory).")
        var root: String?

        func run() async throws {
            let loaded = try loadConfiguration(file: configFile, flags: .init(root: root))
            var logger = Logger(label: "berth")
            logger.logLevel = loaded.configuration.logLevel
            let start = ContinuousClock.now
            let storage = try await openCommandStorage(loaded.configuration)
            let count = try await storage.rebuildIndexes(logger: logger)
            print("indexed \(count) repositories in \(ContinuousClock.now - start)")
        }
    }
}
