import BerthStorage
import Foundation
import Synchronization

/// A manifest ready to push: its bytes, the blobs it references and (for an index) its children,
/// which are pushed by digest first.
struct SoakManifest: Sendable {
    var manifest: Blob
    var blobs: [Blob]
    var children: [SoakManifest] = []

    var digest: String { manifest.digest }
}

/// The content the soak clients push: small random layers, part of them from a pool shared by
/// every client, so the same blob is linked into many images and repositories.
enum SoakContent {
    static let artifactType = "application/vnd.berth.soak.sbom+json"
    /// The OCI empty descriptor's content: the config of every referrer, shared by all of them.
    static let emptyConfig = Blob(mediaType: "application/vnd.oci.empty.v1+json", bytes: Data("{}".utf8))

    static func layer() -> Blob {
        Blob(mediaType: "application/vnd.oci.image.layer.v1.tar", bytes: randomBytes(Int.random(in: 1024...65_536)))
    }

    static func pool(_ count: Int) -> [Blob] { (0..<count).map { _ in layer() } }

    /// One to three pool layers and one of its own, with a config no other image has.
    static func image(pool: [Blob], architecture: String = "amd64") -> SoakManifest {
        let layers = Array(pool.shuffled().prefix(Int.random(in: 1...3))) + [layer()]
        let diffIDs = layers.map { "\"\($0.digest)\"" }.joined(separator: ",")
        let config = Blob(mediaType: MediaTypes.config, bytes: Data("""
            {"architecture":"\(architecture)","os":"linux","config":{"Labels":{"soak":"\(UUID().uuidString)"}},\
            "rootfs":{"type":"layers","diff_ids":[\(diffIDs)]}}
            """.utf8))
        let manifest = Blob(mediaType: MediaTypes.manifest, bytes: Data("""
            {"schemaVersion":2,"mediaType":"\(MediaTypes.manifest)","config":\(config.descriptor()),\
            "layers":[\(layers.map { $0.descriptor() }.joined(separator: ","))]}
            """.utf8))
        return SoakManifest(manifest: manifest, blobs: [config] + layers)
    }

    /// A two-platform index over freshly made images.
    static func index(pool: [Blob]) -> SoakManifest {
        index(over: [image(pool: pool, architecture: "amd64"), image(pool: pool, architecture: "arm64")])
    }

    static func index(over images: [SoakManifest]) -> SoakManifest {
        let list = images.enumerated().map { i, image in image.manifest.descriptor(platform: (i == 0 ? "amd64" : "arm64", "linux")) }
        let index = Blob(mediaType: MediaTypes.index, bytes: Data("""
            {"schemaVersion":2,"mediaType":"\(MediaTypes.index)","manifests":[\(list.joined(separator: ","))]}
            """.utf8))
        return SoakManifest(manifest: index, blobs: [], children: images)
    }

    /// An artifact (an SBOM, say) whose subject is `subject`, as `oras attach` pushes it.
    static func referrer(to subject: Blob) -> SoakManifest {
        let document = Blob(mediaType: artifactType, bytes: Data("{\"sbom\":\"\(UUID().uuidString)\"}".utf8))
        let manifest = Blob(mediaType: MediaTypes.manifest, bytes: Data("""
            {"schemaVersion":2,"mediaType":"\(MediaTypes.manifest)","artifactType":"\(artifactType)",\
            "config":\(emptyConfig.descriptor()),"layers":[\(document.descriptor())],"subject":\(subject.descriptor())}
            """.utf8))
        return SoakManifest(manifest: manifest, blobs: [emptyConfig, document])
    }
}

/// The references a manifest's JSON holds.
struct SoakReferences {
    struct Descriptor {
        var digest: String
        var size: Int
    }

    var children: [Descriptor]
    var blobs: [Descriptor]
    var subject: String?

    init?(_ data: Data) {
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        func descriptor(_ value: Any?) -> Descriptor? {
            guard let d = value as? [String: Any], let digest = d["digest"] as? String, let size = d["size"] as? Int else { return nil }
            return Descriptor(digest: digest, size: size)
        }
        children = ((json["manifests"] as? [Any]) ?? []).compactMap(descriptor)
        blobs = ([descriptor(json["config"])] + ((json["layers"] as? [Any]) ?? []).map(descriptor)).compactMap { $0 }
        subject = descriptor(json["subject"])?.digest
    }
}

/// Everything the soak run saw, shared by the clients, the collector and the final checks.
final class SoakLedger: Sendable {
    struct TagKey: Hashable, Sendable {
        var repository: String
        var tag: String
    }

    /// Something that may have changed what a tag points at, with when it ran.
    struct TagOperation: Sendable {
        enum Kind: Sendable {
            /// A manifest PUT under the tag; `acknowledged` when it answered 201.
            case put(digest: String, acknowledged: Bool)
            case deleteTag
        }

        var kind: Kind
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
    }

    struct DigestDelete: Sendable {
        var digest: String
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
    }

    struct PullFailure: Sendable {
        var repository: String
        var tag: String
        var digest: String
        var what: String
        var at: ContinuousClock.Instant
    }

    struct Collections: Sendable {
        var runs = 0
        var busy = 0
        var manifestsRemoved = 0
        var layerLinksRemoved = 0
        var blobsRemoved = 0
        var bytesReclaimed: Int64 = 0
        var restored = 0
        var longestSeconds = 0.0
    }

    struct State: Sendable {
        /// Client operations by kind.
        var operations: [String: Int] = [:]
        /// Outcomes by kind (uploads, mounts, refusals, races...).
        var outcomes: [String: Int] = [:]
        /// Answers no correct registry gives: 5xx, wrong digests, transport errors. First few kept.
        var unexpected: [String] = []
        var unexpectedCount = 0
        /// Pulls that found something missing after resolving their tag.
        var pullFailures: [PullFailure] = []
        /// When each collection ran, as the collector saw it (request sent to answer received).
        var collectionRuns: [(start: ContinuousClock.Instant, end: ContinuousClock.Instant)] = []
        var tagOperations: [TagKey: [TagOperation]] = [:]
        var digestDeletes: [String: [DigestDelete]] = [:]
        /// Digests each tag was acknowledged for.
        var acknowledged: [TagKey: Set<String>] = [:]
        var collections = Collections()
        /// The slowest request other than a collection, and how long it took.
        var slowest: (request: String, duration: Duration) = ("", .zero)
    }

    let state = Mutex(State())

    func operation(_ kind: String) { state.withLock { $0.operations[kind, default: 0] += 1 } }
    func outcome(_ kind: String) { state.withLock { $0.outcomes[kind, default: 0] += 1 } }

    func unexpected(_ what: String) {
        state.withLock {
            $0.unexpectedCount += 1
            if $0.unexpected.count < 20 { $0.unexpected.append(what) }
        }
    }

    func pullFailure(_ failure: PullFailure) { state.withLock { $0.pullFailures.append(failure) } }

    func tagOperation(_ repository: String, _ tag: String, _ operation: TagOperation) {
        state.withLock {
            let key = TagKey(repository: repository, tag: tag)
            $0.tagOperations[key, default: []].append(operation)
            if case .put(let digest, true) = operation.kind { $0.acknowledged[key, default: []].insert(digest) }
        }
    }

    func digestDelete(_ repository: String, _ delete: DigestDelete) {
        state.withLock { $0.digestDeletes[repository, default: []].append(delete) }
    }

    func collection(_ report: GCReport, start: ContinuousClock.Instant, end: ContinuousClock.Instant) {
        state.withLock {
            $0.collectionRuns.append((start, end))
            $0.collections.runs += 1
            $0.collections.manifestsRemoved += report.manifestsRemoved
            $0.collections.layerLinksRemoved += report.layerLinksRemoved
            $0.collections.blobsRemoved += report.blobsRemoved
            $0.collections.bytesReclaimed += report.bytesReclaimed
            $0.collections.restored += report.restored
            $0.collections.longestSeconds = max($0.collections.longestSeconds, report.durationSeconds)
        }
    }

    func answered(_ request: String, after duration: Duration) {
        guard !request.hasPrefix("POST /admin/") else { return }
        state.withLock { if duration > $0.slowest.duration { $0.slowest = (request, duration) } }
    }

    func collectorBusy() { state.withLock { $0.collections.busy += 1 } }

    var snapshot: State { state.withLock { $0 } }

    struct PullJudgement {
        /// The tag was moved or deleted, or the manifest deleted, between the push and the failure.
        var raced = 0
        /// The push was acknowledged while a collection ran, which may set content aside until
        /// its end (the put-back window), or was still under way.
        var setAside = 0
        /// Content of an image tagged since before the collection then running was missing:
        /// that collection saw the tag and had to keep all of it.
        var broken: [String] = []
    }

    /// Judges the pulls that found something missing. Call once traffic has stopped.
    func judgePullFailures() -> PullJudgement {
        let s = snapshot
        var judgement = PullJudgement()
        for f in s.pullFailures {
            let operations = s.tagOperations[TagKey(repository: f.repository, tag: f.tag), default: []]
            let puts = operations.filter {
                if case .put(f.digest, true) = $0.kind { $0.end <= f.at } else { false }
            }
            guard let since = puts.map(\.end).max() else {
                judgement.setAside += 1  // the push that moved the tag had not answered yet
                continue
            }
            func overlaps(_ start: ContinuousClock.Instant, _ end: ContinuousClock.Instant) -> Bool { start <= f.at && end >= since }
            let moved = operations.contains { op in
                if case .put(f.digest, _) = op.kind { return false }
                return overlaps(op.start, op.end)
            }
            let deleted = s.digestDeletes[f.repository, default: []].contains { $0.digest == f.digest && overlaps($0.start, $0.end) }
            if moved || deleted {
                judgement.raced += 1
                continue
            }
            // Runs are one after the other: the last one started before the push was
            // acknowledged is the only one that may have set its content aside.
            let putBackBy = s.collectionRuns.filter { $0.start <= since }.map(\.end).max() ?? since
            if f.at > putBackBy + .seconds(1) {
                judgement.broken.append("\(f.repository):\(f.tag) -> \(f.digest), tagged since a push acknowledged before the collection then running: \(f.what)")
            } else {
                judgement.setAside += 1
            }
        }
        return judgement
    }

    /// What a tag must look like now, when the last operation on it is unambiguous: it began
    /// after every other operation that could move or delete the tag had ended. Nil otherwise.
    /// `.some(nil)`: the tag must not exist.
    func settledTarget(_ key: TagKey) -> String?? {
        let s = snapshot
        let operations = s.tagOperations[key, default: []]
        guard let last = operations.max(by: { $0.end < $1.end }) else { return nil }
        let putDigests = Set(operations.compactMap { if case .put(let d, _) = $0.kind { d } else { nil } })
        let deletes = s.digestDeletes[key.repository, default: []].filter { putDigests.contains($0.digest) }
        let others = operations.filter { $0.start != last.start || $0.end != last.end }.map(\.end) + deletes.map(\.end)
        guard others.allSatisfy({ $0 < last.start }) else { return nil }
        switch last.kind {
        case .put(let digest, true): return .some(digest)
        case .put(_, false): return nil  // refused or failed: whether the tag moved is not known
        case .deleteTag: return .some(nil)
        }
    }
}

/// How a pull (manifest, index children, every blob, each digest and size checked) ended.
enum SoakPull {
    case complete(blobs: Int, bytes: Int)
    /// Something answered 404: what.
    case missing(String)
    /// Anything else: a wrong digest or size, an unparseable manifest, an unexpected answer.
    case failed(String)
}

/// The registry API as the soak clients use it, over the integration tests' `HTTP` helper.
struct SoakRegistryClient: Sendable {
    let base: URL
    let ledger: SoakLedger

    /// Sends a request; a transport error is recorded as unexpected and answers nil.
    func send(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil,
              timeout: TimeInterval = 60) async -> HTTP.Response? {
        guard let url = URL(string: base.absoluteString + path) else {
            ledger.unexpected("\(method) \(path): not a valid URL")
            return nil
        }
        do {
            let started = ContinuousClock.now
            let response = try await HTTP.request(method, url, headers: headers, body: body, timeout: timeout)
            ledger.answered(method + " " + (path.split(separator: "?").first.map(String.init) ?? path), after: .now - started)
            return response
        } catch {
            ledger.unexpected("\(method) \(path): \(error)")
            return nil
        }
    }

    static func appending(_ location: String, _ query: String) -> String {
        location + (location.contains("?") ? "&" : "?") + query
    }

    /// Pulls `reference` from `repository`: the manifest, for an index every child, and every
    /// blob, checking each digest (and each size against its descriptor).
    func pull(_ repository: String, _ reference: String, expectedSize: Int? = nil) async -> SoakPull {
        let what = "\(repository)@\(reference)"
        guard let r = await send("GET", "/v2/\(repository)/manifests/\(reference)") else { return .failed("\(what): no answer") }
        if r.status == 404 { return .missing("manifest \(what): \(r.errorCode ?? r.text)") }
        guard r.status == 200 else { return .failed("GET manifest \(what): \(r.status) \(r.text)") }
        let digest = Blob.digest(r.body)
        guard r.header("Docker-Content-Digest") == digest else {
            return .failed("manifest \(what) has digest \(digest) but Docker-Content-Digest \(r.header("Docker-Content-Digest") ?? "none")")
        }
        if reference.hasPrefix("sha256:"), reference != digest { return .failed("manifest \(what) has digest \(digest)") }
        if let expectedSize, expectedSize != r.body.count {
            return .failed("manifest \(what) has \(r.body.count) bytes, its descriptor says \(expectedSize)")
        }
        guard let references = SoakReferences(r.body) else { return .failed("manifest \(what) does not parse: \(r.text)") }
        var blobs = 0, bytes = r.body.count
        for child in references.children {
            switch await pull(repository, child.digest, expectedSize: child.size) {
            case .complete(let b, let n):
                blobs += b
                bytes += n
            case let other: return other
            }
        }
        for blob in references.blobs {
            guard let b = await send("GET", "/v2/\(repository)/blobs/\(blob.digest)") else { return .failed("\(blob.digest): no answer") }
            if b.status == 404 { return .missing("blob \(blob.digest) of \(what): \(b.errorCode ?? b.text)") }
            guard b.status == 200 else { return .failed("GET blob \(blob.digest) of \(what): \(b.status) \(b.text)") }
            guard Blob.digest(b.body) == blob.digest, b.body.count == blob.size else {
                return .failed("blob \(blob.digest) of \(what): got \(b.body.count) bytes with digest \(Blob.digest(b.body)), expected \(blob.size)")
            }
            blobs += 1
            bytes += b.body.count
        }
        return .complete(blobs: blobs, bytes: bytes)
    }

    /// The digest a tag points at now (nil: no such tag).
    func resolve(_ repository: String, _ tag: String) async -> String? {
        guard let r = await send("HEAD", "/v2/\(repository)/manifests/\(tag)"), r.status == 200 else { return nil }
        return r.header("Docker-Content-Digest")
    }
}
