import AsyncHTTPClient
import BerthAPI
import BerthCore
import BerthStorage
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// `proxy`: which repositories mirror which upstream.
public struct ProxySettings: Sendable, Equatable {
    public struct Upstream: Sendable, Equatable {
        /// Repositories named `<prefix>/…` mirror `<rest>` upstream; empty: every repository
        /// mirrors the upstream repository of the same name (the reference registry's `proxy`).
        public var prefix: String
        public var remoteURL: String
        public var username: String?
        public var password: String?
        /// How long a tag is served as stored before the upstream is asked (with a HEAD) again.
        public var ttl: Duration

        public init(prefix: String = "", remoteURL: String, username: String? = nil, password: String? = nil,
                    ttl: Duration = .seconds(600)) {
            self.prefix = prefix
            self.remoteURL = remoteURL
            self.username = username
            self.password = password
            self.ttl = ttl
        }
    }

    public var upstreams: [Upstream]
    public init(upstreams: [Upstream]) { self.upstreams = upstreams }
}

/// The pull-through cache: content by digest is fetched once and kept; tags are revalidated
/// after their time to live; blobs stream to the first client while they are stored, verified
/// against their digest before anything of them is kept (a mismatch is never served whole).
public final class ProxyCache: PullThroughCache {
    struct Mirror {
        let prefix: String
        let upstream: UpstreamRegistry
        let ttl: Duration
    }

    let mirrorsByPrefix: [Mirror]
    let storage: RegistryStorage
    let logger: Logger
    private let validated = Mutex<[String: ContinuousClock.Instant]>([:])
    private let inflight = Mutex<[Digest: Task<Void, any Error>]>([:])
    /// Upstream blob and manifest downloads started (for tests and metrics).
    public let blobFetches = Atomic<Int>(0)
    public let manifestFetches = Atomic<Int>(0)

    /// `http` is shared by every upstream request (the caller owns and shuts it down).
    public init(settings: ProxySettings, storage: RegistryStorage, http: HTTPClient, logger: Logger) {
        self.storage = storage
        self.logger = logger
        mirrorsByPrefix = settings.upstreams.map {
            Mirror(prefix: $0.prefix, upstream: UpstreamRegistry(remoteURL: $0.remoteURL, username: $0.username, password: $0.password,
                                                                 http: http, logger: logger), ttl: $0.ttl)
        }.sorted { $0.prefix.count > $1.prefix.count }
    }

    /// The mirror of a repository and the repository's name upstream.
    func mirror(for repository: RepositoryName) -> (Mirror, String)? {
        let name = repository.value
        for mirror in mirrorsByPrefix {
            if mirror.prefix.isEmpty { return (mirror, name) }
            if name.hasPrefix(mirror.prefix + "/") { return (mirror, String(name.dropFirst(mirror.prefix.count + 1))) }
        }
        return nil
    }

    public func mirrors(_ repository: RepositoryName) -> Bool { mirror(for: repository) != nil }

    static func unavailable(_ error: UpstreamUnavailable, _ what: String) -> RegistryError {
        RegistryError(.unavailable, "\(what) is not cached and the upstream cannot be asked: \(error.description)",
                      headers: ["Retry-After": "30"])
    }

    // MARK: - Manifests

    public func prepareManifest(_ reference: Reference, in repository: RepositoryName) async throws {
        guard let (mirror, remote) = mirror(for: repository) else { return }
        switch reference {
        case .digest:
            if (try? await storage.getManifest(reference, in: repository)) != nil { return }
            do {
                try await fetchManifest(mirror, remote, reference, repository)
            } catch let error as UpstreamUnavailable {
                throw Self.unavailable(error, "manifest \(reference) of \(repository)")
            }
        case .tag(let tag):
            let key = "\(repository):\(tag.value)"
            if let at = validated.withLock({ $0[key] }), ContinuousClock.now < at + mirror.ttl { return }
            let local = try? await storage.resolveManifest(reference, in: repository)
            do {
                if let local {
                    let head = try await mirror.upstream.send(.HEAD, "/v2/\(remote)/manifests/\(tag.value)", repository: remote,
                                                              accept: UpstreamRegistry.manifestTypes)
                    if head.status == 200, head.headers.first(name: "Docker-Content-Digest") == local.description {
                        markValidated(key)
                        return
                    }
                }
                try await fetchManifest(mirror, remote, reference, repository)
                markValidated(key)
            } catch let error as UpstreamUnavailable {
                guard local != nil else { throw Self.unavailable(error, "manifest \(tag.value) of \(repository)") }
                logger.warning("upstream unreachable: serving the cached manifest", metadata: [
                    "repository": "\(repository)", "tag": "\(tag.value)", "upstream": "\(mirror.upstream.remoteURL)", "error": "\(error)",
                ])
            }
        }
    }

    /// Notes when a tag was last checked; at most `validatedLimit` are kept (forgetting them all
    /// costs one HEAD per tag).
    private func markValidated(_ key: String) {
        validated.withLock { checked in
            if checked.count >= Self.validatedLimit { checked.removeAll(keepingCapacity: true) }
            checked[key] = .now
        }
    }

    static let validatedLimit = 100_000

    private func fetchManifest(_ mirror: Mirror, _ remote: String, _ reference: Reference, _ repository: RepositoryName) async throws {
        let name = reference.description
        let answer = try await mirror.upstream.send(.GET, "/v2/\(remote)/manifests/\(name)", repository: remote,
                                                    accept: UpstreamRegistry.manifestTypes)
        guard answer.status == 200 else {
            _ = try? await answer.body.collect(upTo: 64 << 10)
            throw RegistryError(.manifestUnknown, "manifest \(name) is not in \(repository), nor upstream (\(mirror.upstream.remoteURL) answered \(answer.status))")
        }
        manifestFetches.add(1, ordering: .relaxed)
        let bytes = try await answer.body.collect(upTo: RegistryStorage.maxManifestBytes)
        if let claimed = answer.headers.first(name: "Docker-Content-Digest").flatMap({ try? Digest(parsing: $0) }),
           Digest.compute(bytes.readableBytesView, algorithm: claimed.algorithm) != claimed {
            throw RegistryError(.manifestInvalid, "the upstream's manifest \(name) of \(remote) does not match the digest it claims (\(claimed)); nothing was cached")
        }
        // A digest reference is verified by putManifest itself.
        _ = try await storage.putManifest(bytes, contentType: answer.headers.first(name: "Content-Type"), reference: reference,
                                          in: repository, overwrite: true, sparse: true)
    }

    public func upstreamTags(in repository: RepositoryName) async -> [String]? {
        guard let (mirror, remote) = mirror(for: repository),
              let answer = try? await mirror.upstream.send(.GET, "/v2/\(remote)/tags/list?n=10000", repository: remote),
              answer.status == 200,
              let body = try? await answer.body.collect(upTo: 16 << 20),
              let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else { return nil }
        return json["tags"] as? [String] ?? []
    }

    // MARK: - Blobs

    public func upstreamBlobSize(_ digest: Digest, in repository: RepositoryName) async throws -> Int64? {
        guard let (mirror, remote) = mirror(for: repository) else { return nil }
        do {
            let head = try await mirror.upstream.send(.HEAD, "/v2/\(remote)/blobs/\(digest)", repository: remote)
            guard head.status == 200 else { return nil }
            return head.headers.first(name: "Content-Length").flatMap { Int64($0) }
        } catch let error as UpstreamUnavailable {
            throw Self.unavailable(error, "blob \(digest) of \(repository)")
        }
    }

    enum Start: Sendable {
        case streaming(Int64?)
        case absent
    }

    public func fetchBlob(_ digest: Digest, in repository: RepositoryName) async throws -> (size: Int64, body: ResponseBody)? {
        guard let (mirror, remote) = mirror(for: repository) else { return nil }
        let toClient = Handoff()
        let (starts, started) = AsyncStream<Start>.makeStream()
        let (task, leader) = inflight.withLock { fetches -> (Task<Void, any Error>, Bool) in
            if let running = fetches[digest] { return (running, false) }
            let task = Task {
                defer { _ = self.inflight.withLock { $0.removeValue(forKey: digest) } }
                try await self.download(digest, mirror, remote, repository, toClient: toClient, started: started)
            }
            fetches[digest] = task
            return (task, true)
        }
        guard leader else {
            // Another request is fetching it: wait, then serve from storage.
            _ = try? await task.value
            return nil
        }
        var start: Start = .absent
        for await first in starts {
            start = first
            break
        }
        guard case .streaming(let length) = start else {
            do {
                try await task.value
            } catch let error as UpstreamUnavailable {
                throw Self.unavailable(error, "blob \(digest) of \(repository)")
            }
            return nil
        }
        guard let length else {
            // No length announced: store it whole first, then serve it from storage.
            toClient.cancel()
            try await task.value
            return nil
        }
        let body = ResponseBody(contentLength: Int(length)) { writer in
            defer { toClient.cancel() }
            // The last piece is held back until the whole blob verified: a client never gets all
            // the bytes of content that does not match its digest.
            var held: ByteBuffer?
            for try await piece in toClient {
                if let held { try await writer.write(held) }
                held = piece
            }
            if let held { try await writer.write(held) }
            try await writer.finish(nil)
        }
        return (length, body)
    }

    /// Downloads a blob from the upstream into storage (verified by `putBlob`), handing each
    /// piece to the first client too. Ends `toClient` only once the blob is stored.
    private func download(_ digest: Digest, _ mirror: Mirror, _ remote: String, _ repository: RepositoryName,
                          toClient: Handoff, started: AsyncStream<Start>.Continuation) async throws {
        defer { started.finish() }
        let answer: UpstreamRegistry.Answer
        do {
            answer = try await mirror.upstream.send(.GET, "/v2/\(remote)/blobs/\(digest)", repository: remote)
        } catch {
            toClient.finish(error)
            throw error
        }
        guard answer.status == 200 else {
            _ = try? await answer.body.collect(upTo: 64 << 10)
            started.yield(.absent)
            toClient.finish()
            return
        }
        blobFetches.add(1, ordering: .relaxed)
        let length = answer.headers.first(name: "Content-Length").flatMap { Int64($0) }
        started.yield(.streaming(length))
        let toStore = Handoff()
        let storage = self.storage
        let watchdog = Task {
            // A client that stops reading for a minute is dropped; the download goes on for the cache.
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(5))
                if let since = toClient.waitingSince, ContinuousClock.now - since > .seconds(60) { toClient.cancel() }
            }
        }
        defer { watchdog.cancel() }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await storage.putBlob(digest, in: repository, length: length, body: toStore) }
                do {
                    for try await piece in answer.body {
                        guard await toStore.send(piece) else { break }
                        _ = await toClient.send(piece)
                    }
                    toStore.finish()
                } catch {
                    toStore.finish(error)
                }
                try await group.waitForAll()
            }
        } catch {
            logger.warning("a blob from the upstream was not cached", metadata: [
                "repository": "\(repository)", "digest": "\(digest)", "upstream": "\(mirror.upstream.remoteURL)", "error": "\(error)",
            ])
            toClient.finish(error)
            throw error
        }
        toClient.finish()
    }
}
