/// BerthReplication: copying images between registries (`berth copy`), and the replication
/// rules that push a Berth's repositories to remote registries (`replication`, `berth sync`).
import AsyncHTTPClient
import BerthCore
import BerthProxy
import BerthStorage
import Foundation
import NIOCore
import Synchronization

/// Where images are read from: a remote registry, or this Berth's storage.
public protocol ImageSource: Sendable {
    /// The manifest `reference` names: its bytes, media type and digest; nil when there is none.
    func manifest(_ repository: String, _ reference: String) async throws -> (bytes: ByteBuffer, mediaType: String, digest: Digest)?
    /// Streams a blob to `body`; returns its size first through `size`.
    func blob(_ repository: String, _ digest: Digest, size: (Int64) -> Void, _ body: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws
}

/// What one copy did.
public struct CopyReport: Sendable, Equatable, Codable {
    public var manifests = 0
    public var blobsCopied = 0
    public var blobsPresent = 0
    public var bytesCopied: Int64 = 0
    public init() {}

    public static func += (lhs: inout CopyReport, rhs: CopyReport) {
        lhs.manifests += rhs.manifests
        lhs.blobsCopied += rhs.blobsCopied
        lhs.blobsPresent += rhs.blobsPresent
        lhs.bytesCopied += rhs.bytesCopied
    }
}

public struct CopyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Copies manifests (with `all`, every child of an index) and the blobs they reference from a
/// source to a remote registry, skipping blobs the destination has. Blobs stream through, one
/// piece in memory at a time.
public struct ImageCopier: Sendable {
    public let source: any ImageSource
    public let destination: UpstreamRegistry
    /// Told about each blob as it is copied (bytes done, total) for progress bars.
    public let progress: @Sendable (String, Int64, Int64) -> Void

    public init(source: any ImageSource, destination: UpstreamRegistry,
                progress: @escaping @Sendable (String, Int64, Int64) -> Void = { _, _, _ in }) {
        self.source = source
        self.destination = destination
        self.progress = progress
    }

    /// The digest of the manifest `reference` names at the destination, nil when it has none.
    public func destinationDigest(_ repository: String, _ reference: String) async throws -> String? {
        let head = try await destination.send(.HEAD, "/v2/\(repository)/manifests/\(reference)", repository: repository,
                                              actions: "pull,push", accept: UpstreamRegistry.manifestTypes)
        return head.status == 200 ? head.headers.first(name: "Docker-Content-Digest") : nil
    }

    /// Copies `source/reference` to `target/targetReference` (a tag, or the digest).
    @discardableResult
    public func copy(from repository: String, _ reference: String, to target: String, as targetReference: String,
                     all: Bool) async throws -> CopyReport {
        guard let manifest = try await source.manifest(repository, reference) else {
            throw CopyError("\(repository):\(reference) is not in the source")
        }
        var report = CopyReport()
        let parsed = try ParsedManifest.parse(manifest.bytes.readableBytesView, contentType: manifest.mediaType)
        if parsed.isIndex {
            for child in parsed.manifests {
                if all {
                    report += try await copy(from: repository, child.digest.description, to: target, as: child.digest.description, all: true)
                } else if try await destinationDigest(target, child.digest.description) == nil {
                    throw CopyError("\(repository):\(reference) is a multi-platform index whose children \(target) lacks; copy it with --all")
                }
            }
        } else {
            for blob in parsed.requiredBlobs {
                report += try await copyBlob(repository, blob.digest, to: target)
            }
        }
        let put = try await destination.send(
            .PUT, "/v2/\(target)/manifests/\(targetReference)", repository: target, actions: "pull,push",
            headers: [("Content-Type", manifest.mediaType)], body: { .bytes(manifest.bytes) })
        let text = String(buffer: (try? await put.body.collect(upTo: 64 << 10)) ?? ByteBuffer())
        guard put.status == 201 else {
            throw CopyError("\(destination.remoteURL) refused manifest \(target):\(targetReference) (HTTP \(put.status)): \(text.prefix(300))")
        }
        report.manifests += 1
        return report
    }

    private func copyBlob(_ repository: String, _ digest: Digest, to target: String) async throws -> CopyReport {
        var report = CopyReport()
        let head = try await destination.send(.HEAD, "/v2/\(target)/blobs/\(digest)", repository: target, actions: "pull,push")
        if head.status == 200 {
            report.blobsPresent = 1
            return report
        }
        let start = try await destination.send(.POST, "/v2/\(target)/blobs/uploads/", repository: target, actions: "pull,push")
        _ = try? await start.body.collect(upTo: 64 << 10)
        guard start.status == 202, let location = start.headers.first(name: "Location") else {
            throw CopyError("\(destination.remoteURL) refused an upload to \(target) (HTTP \(start.status))")
        }
        var url = destination.absolute(location)
        url += (url.contains("?") ? "&" : "?") + "digest=" + digest.description.replacingOccurrences(of: ":", with: "%3A")
        // The source streams into a handoff that the PUT's body reads, one piece at a time.
        let pipe = Handoff()
        let (sizes, announce) = AsyncStream<Int64>.makeStream()
        let source = self.source
        let progress = self.progress
        let done = Atomic<Int64>(0)
        let total = Atomic<Int64>(0)
        let reader = Task {
            do {
                try await source.blob(repository, digest, size: { size in
                    total.store(size, ordering: .relaxed)
                    announce.yield(size)
                    announce.finish()
                }) { piece in
                    guard await pipe.send(piece) else { throw CancellationError() }
                    let now = done.add(Int64(piece.readableBytes), ordering: .relaxed).newValue
                    progress(digest.description, now, total.load(ordering: .relaxed))
                }
                pipe.finish()
            } catch {
                announce.finish()
                pipe.finish(error)
            }
        }
        var sizeIterator = sizes.makeAsyncIterator()
        guard let size = await sizeIterator.next() else {
            _ = await reader.result
            throw CopyError("blob \(digest) of \(repository) cannot be read from the source")
        }
        let put = try await destination.send(
            .PUT, url, repository: target, actions: "pull,push", headers: [("Content-Type", "application/octet-stream")],
            body: { .stream(pipe, length: .known(size)) })
        let text = String(buffer: (try? await put.body.collect(upTo: 64 << 10)) ?? ByteBuffer())
        pipe.cancel()
        reader.cancel()
        guard put.status == 201 else {
            throw CopyError("\(destination.remoteURL) refused blob \(digest) for \(target) (HTTP \(put.status)): \(text.prefix(300))")
        }
        report.blobsCopied = 1
        report.bytesCopied = size
        return report
    }
}
