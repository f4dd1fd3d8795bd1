import ArgumentParser
import BerthCore
import BerthProxy
import BerthReplication
import BerthServer
import Foundation
import Logging

/// `berth copy SOURCE DEST`: copies an image between two registries, like `skopeo copy`.
struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy an image (with --all, every platform of a multi-platform index) from one registry to another.",
        discussion: """
            SOURCE and DEST are docker://HOST[:PORT]/REPOSITORY[:TAG|@DIGEST] (the docker:// may be left out).
            HTTPS is used unless the reference starts with http:// or --src-insecure / --dest-insecure is given.
            Blobs the destination has are not sent again; the others stream through, verified against their
            digests. The destination's tag is the source's unless DEST names one. Progress bars go to
            standard error on a terminal. Exit status 1 when the copy fails.
            """)

    @Argument(help: "The image to copy: docker://HOST/REPOSITORY:TAG or @DIGEST.")
    var source: String
    @Argument(help: "Where to copy it: docker://HOST/REPOSITORY[:TAG].")
    var destination: String
    @Flag(name: .long, help: "Copy every platform of a multi-platform index (otherwise the destination must have them).")
    var all = false
    @Option(name: .long, help: "USER:PASSWORD for the source.")
    var srcCreds: String?
    @Option(name: .long, help: "USER:PASSWORD for the destination.")
    var destCreds: String?
    @Flag(name: .long, help: "Plain HTTP to the source.")
    var srcInsecure = false
    @Flag(name: .long, help: "Plain HTTP to the destination.")
    var destInsecure = false

    struct ImageReference {
        var registry: String
        var repository: String
        var reference: String?
    }

    static func parse(_ text: String, insecure: Bool) throws -> ImageReference {
        var rest = text
        var scheme = insecure ? "http://" : "https://"
        for prefix in ["docker://", "http://", "https://"] where rest.hasPrefix(prefix) {
            if prefix != "docker://" { scheme = prefix }
            rest.removeFirst(prefix.count)
        }
        guard let slash = rest.firstIndex(of: "/") else { throw ValidationError("\(text) names no repository: use HOST/REPOSITORY:TAG") }
        let host = String(rest[..<slash])
        var path = String(rest[rest.index(after: slash)...])
        var reference: String?
        if let at = path.firstIndex(of: "@") {
            reference = String(path[path.index(after: at)...])
            path = String(path[..<at])
        } else if let colon = path.lastIndex(of: ":"), !path[colon...].contains("/") {
            reference = String(path[path.index(after: colon)...])
            path = String(path[..<colon])
        }
        guard RepositoryName.isValid(path) else { throw ValidationError("\(path) is not a valid repository name") }
        return ImageReference(registry: scheme + host, repository: path, reference: reference)
    }

    static func credentials(_ text: String?) throws -> (String?, String?) {
        guard let text else { return (nil, nil) }
        guard let colon = text.firstIndex(of: ":") else { throw ValidationError("credentials must be USER:PASSWORD") }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    func run() async throws {
        let from = try Self.parse(source, insecure: srcInsecure)
        var to = try Self.parse(destination, insecure: destInsecure)
        let reference = from.reference ?? "latest"
        if to.reference == nil { to.reference = reference.contains(":") ? nil : reference }
        let http = upstreamHTTPClient()
        let logger = Logger(label: "berth.copy")
        let (srcUser, srcPassword) = try Self.credentials(srcCreds)
        let (destUser, destPassword) = try Self.credentials(destCreds)
        let sourceRegistry = UpstreamRegistry(remoteURL: from.registry, username: srcUser, password: srcPassword, http: http, logger: logger)
        let destinationRegistry = UpstreamRegistry(remoteURL: to.registry, username: destUser, password: destPassword, http: http, logger: logger)
        let display = ProgressDisplay(quiet: false)
        let copier = ImageCopier(source: RemoteImageSource(registry: sourceRegistry), destination: destinationRegistry) { digest, done, total in
            display.bytes(label: String(digest.prefix(19)), done: done, total: total)
        }
        let manifest = try await RemoteImageSource(registry: sourceRegistry).manifest(from.repository, reference)
        guard let manifest else {
            FileHandle.standardError.write(Data("berth: \(source) was not found\n".utf8))
            throw ExitCode(1)
        }
        let targetReference = to.reference ?? manifest.digest.description
        do {
            let report = try await copier.copy(from: from.repository, reference, to: to.repository, as: targetReference, all: all)
            display.finish()
            print("copied \(from.repository):\(reference) to \(to.registry)/\(to.repository):\(targetReference): \(report.manifests) manifests, \(report.blobsCopied) blobs (\(report.bytesCopied) bytes), \(report.blobsPresent) already there")
        } catch {
            display.finish()
            FileHandle.standardError.write(Data("berth: copy failed: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// `berth sync`: runs the configuration's replication rules once.
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the replication rules of a configuration once: push every selected tag the remotes lack.",
        discussion: "Prints what it copies and a summary per rule. Exit status 1 when any image failed, 2 for a configuration error.")

    @Argument(help: "Configuration file in the reference registry's config.yml format.")
    var configFile: String?
    @Option(name: .long, help: "Storage directory (overrides storage.filesystem.rootdirectory).")
    var root: String?

    func run() async throws {
        let loaded = try loadConfiguration(file: configFile, flags: .init(root: root))
        guard let settings = loaded.configuration.replication else {
            FileHandle.standardError.write(Data("berth: the configuration has no replication rules\n".utf8))
            throw configurationErrorExit
        }
        let storage = try await openCommandStorage(loaded.configuration)
        let replicator = Replicator(settings: settings, storage: storage, http: upstreamHTTPClient(), logger: Logger(label: "berth.sync"))
        let statuses = await replicator.syncAll { print($0) }
        var failed = false
        for status in statuses {
            print("\(status.rule) → \(status.remote): \(status.imagesReplicated) images copied (\(status.copied.blobsCopied) blobs, \(status.copied.bytesCopied) bytes), \(status.imagesFailed) failed\(status.lastError.map { "; last error: \($0)" } ?? "")")
            failed = failed || status.imagesFailed > 0
        }
        if failed { throw ExitCode(1) }
    }
}
