import Foundation

/// A small seeded generator (SplitMix64), so that a run's choices can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How a blob is uploaded.
enum UploadMode: CaseIterable, Sendable {
    /// `POST`, then `PUT ?digest=` with the whole body.
    case monolithic
    /// One `POST ?digest=` with the body.
    case singlePost
    /// `POST`, several `PATCH`es with `Content-Range`, then an empty `PUT ?digest=`.
    case chunked
}

/// One client of the crash test: in its own repository (so the ledger knows the order of its
/// operations on each tag) it pushes images, moves and deletes tags and deletes manifests,
/// until the registry stops answering.
struct CrashWorker {
    let client: RegistryHTTPClient
    let ledger: CrashLedger
    let repository: String
    var random: SeededGenerator

    typealias Key = CrashLedger.TagKey

    /// Runs operations until the registry is unreachable. An answer no correct registry gives is
    /// recorded in the ledger (the test fails) and the worker carries on.
    mutating func run() async {
        while true {
            do {
                try await step()
            } catch is RegistryHTTPClient.Unreachable {
                ledger.inFlight()
                return
            } catch {
                ledger.fail("\(repository): \(error)")
            }
        }
    }

    private mutating func step() async throws {
        let tags = ledger.settledTags(in: repository)
        let key = Key(repository: repository, tag: "t\(Int.random(in: 0..<6, using: &random))")
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<45:
            let mode = UploadMode.allCases.randomElement(using: &random) ?? .monolithic
            try await pushImage(to: key, mode: mode, byDigestFirst: false)
        case 45..<60:
            try await pushImage(to: key, mode: .singlePost, byDigestFirst: true)
        case 60..<75 where tags.count >= 2:
            let pair = tags.shuffled(using: &random).prefix(2)
            let (target, source) = (pair[pair.startIndex].0, pair[pair.startIndex + 1].1)
            guard let image = ledger.image(source) else { return }
            ledger.count("tag move")
            try await putManifest(image, reference: target.tag, key: target)
        case 75..<88 where !tags.isEmpty:
            guard let (target, _) = tags.randomElement(using: &random) else { return }
            ledger.count("tag delete")
            let before = ledger.tagWriteStarts(target, nil)
            let answer = try await client.request("DELETE", "/v2/\(repository)/manifests/\(target.tag)")
            if answer.status == 202 {
                ledger.settle(target, nil)
                ledger.acknowledged()
            } else {
                ledger.revert(target, before)
                throw TestFailure("DELETE \(target): \(answer.status) \(answer.text)")
            }
        case 88..<100 where !tags.isEmpty:
            guard let (_, digest) = tags.randomElement(using: &random) else { return }
            ledger.count("manifest delete")
            ledger.manifestDeleteStarts(repository, digest)
            let answer = try await client.request("DELETE", "/v2/\(repository)/manifests/\(digest)")
            guard answer.status == 202 else { throw TestFailure("DELETE \(repository)@\(digest): \(answer.status) \(answer.text)") }
            ledger.manifestDeleted(repository, digest)
            ledger.acknowledged()
        default:
            try await pushImage(to: key, mode: .chunked, byDigestFirst: false)
        }
    }

    /// Pushes a fresh image's blobs, then its manifest under `key` (first by digest alone when
    /// `byDigestFirst`).
    mutating func pushImage(to key: Key, mode: UploadMode, byDigestFirst: Bool) async throws {
        let image = TestImage.random(layerCount: 2, layerSize: Int.random(in: 2_000...400_000, using: &random))
        ledger.remember(image)
        ledger.count("image push")
        for blob in image.blobs { try await push(blob, mode: mode) }
        if byDigestFirst {
            ledger.count("manifest put by digest")
            var answer = try await putByDigest(image)
            if answer.status == 400, answer.errorCode == "MANIFEST_BLOB_UNKNOWN" {
                // The same moment as in `putManifest`: a collection had a blob set aside.
                ledger.count("manifest refused while a collection had its blob set aside (pushed again)")
                try await pushAgain(image)
                answer = try await putByDigest(image)
            }
            guard answer.status == 201 else { throw TestFailure("PUT \(repository)@\(image.manifest.digest): \(answer.status) \(answer.text)") }
            ledger.acknowledged()
        }
        try await putManifest(image, reference: key.tag, key: key)
    }

    func putByDigest(_ image: TestImage) async throws -> HTTP.Response {
        try await client.request("PUT", "/v2/\(repository)/manifests/\(image.manifest.digest)",
                                 headers: ["Content-Type": MediaTypes.manifest], body: image.manifest.bytes)
    }

    /// Pushes every blob of `image` again (single POST), after a refusal for a blob set aside.
    func pushAgain(_ image: TestImage) async throws {
        for blob in image.blobs {
            let again = try await client.request("POST", "/v2/\(repository)/blobs/uploads/?digest=\(blob.digest)",
                                                 headers: ["Content-Type": "application/octet-stream"], body: blob.bytes)
            guard again.status == 201 else { throw TestFailure("pushing \(blob.digest) again: \(again.status) \(again.text)") }
        }
    }

    /// `PUT` of a manifest by tag, with the ledger told before and after.
    ///
    /// A collection may set aside a blob that nothing referenced yet (the grace period is 0 s
    /// here) for the milliseconds before it sees the push's pin and puts it back; a manifest PUT
    /// in that moment is refused with `MANIFEST_BLOB_UNKNOWN`, committing nothing
    /// (docs/garbage-collection.md). Clients then push the blobs again and retry, as this does once.
    func putManifest(_ image: TestImage, reference: String, key: Key, retry: Bool = true) async throws {
        ledger.count("manifest put by tag")
        let before = ledger.tagWriteStarts(key, image.manifest.digest)
        let answer = try await client.request("PUT", "/v2/\(repository)/manifests/\(reference)",
                                              headers: ["Content-Type": MediaTypes.manifest], body: image.manifest.bytes)
        if answer.status == 400, answer.errorCode == "MANIFEST_BLOB_UNKNOWN", retry {
            ledger.revert(key, before)
            ledger.count("manifest refused while a collection had its blob set aside (pushed again)")
            try await pushAgain(image)
            return try await putManifest(image, reference: reference, key: key, retry: false)
        }
        guard answer.status == 201 else {
            ledger.revert(key, before)
            throw TestFailure("PUT \(key): \(answer.status) \(answer.text)")
        }
        ledger.settle(key, image.manifest.digest)
        ledger.acknowledged()
    }

    /// Uploads a blob; recorded in the ledger as acknowledged (201) or as in flight.
    mutating func push(_ blob: Blob, mode: UploadMode) async throws {
        ledger.count("blob \(mode)")
        do {
            try await upload(blob, mode: mode)
        } catch let error as RegistryHTTPClient.Unreachable {
            ledger.record(.init(repository: repository, blob: blob, acknowledged: false, collectionsAtAck: 0))
            throw error
        }
        ledger.record(.init(repository: repository, blob: blob, acknowledged: true, collectionsAtAck: ledger.collections))
        ledger.acknowledged()
    }

    private mutating func upload(_ blob: Blob, mode: UploadMode) async throws {
        let uploads = "/v2/\(repository)/blobs/uploads/"
        let octets = ["Content-Type": "application/octet-stream"]
        if mode == .singlePost {
            let answer = try await client.request("POST", uploads + "?digest=\(blob.digest)", headers: octets, body: blob.bytes)
            guard answer.status == 201 else { throw TestFailure("POST ?digest= \(blob.digest): \(answer.status) \(answer.text)") }
            return
        }
        let started = try await client.request("POST", uploads)
        guard started.status == 202, var location = started.header("Location") else {
            throw TestFailure("POST \(uploads): \(started.status) \(started.text)")
        }
        var body: Data? = blob.bytes
        if mode == .chunked {
            let pieces = Int.random(in: 2...4, using: &random)
            let size = (blob.bytes.count + pieces - 1) / pieces
            var offset = 0
            while offset < blob.bytes.count {
                let chunk = blob.bytes[offset..<min(offset + size, blob.bytes.count)]
                let answer = try await client.request("PATCH", location, headers: octets.merging(
                    ["Content-Range": "\(offset)-\(offset + chunk.count - 1)"]) { $1 }, body: Data(chunk))
                guard answer.status == 202, let next = answer.header("Location") else {
                    throw TestFailure("PATCH \(location) at \(offset): \(answer.status) \(answer.text)")
                }
                location = next
                offset += chunk.count
            }
            body = nil
        }
        let separator = location.contains("?") ? "&" : "?"
        let answer = try await client.request("PUT", location + separator + "digest=\(blob.digest)", headers: octets, body: body ?? Data())
        guard answer.status == 201 else { throw TestFailure("PUT \(location) digest \(blob.digest): \(answer.status) \(answer.text)") }
    }
}

/// The client whose chunks arrive slowly, so that kills land in the middle of a `PATCH`: each
/// interrupted session is left to the checks after the restart to resume.
struct SlowChunkedWorker {
    let client: RegistryHTTPClient
    let ledger: CrashLedger
    let repository: String
    let scratch: URL
    /// Set while a slow `PATCH` is being sent (the killer may wait for it).
    let patching: CrashFlag
    var round = 0

    static let chunk = 384 << 10
    static let bytesPerSecond = 768 << 10

    mutating func run() async {
        while true {
            round += 1
            let image = TestImage.random(layerCount: 1, layerSize: 1_100_000)
            ledger.remember(image)
            let tag = "c\(round % 3)"
            do {
                try await push(image, tag: tag)
            } catch is RegistryHTTPClient.Unreachable {
                ledger.inFlight()
                return
            } catch {
                ledger.fail("\(repository): \(error)")
            }
        }
    }

    private func push(_ image: TestImage, tag: String) async throws {
        let layer = image.layers[0]
        ledger.count("slow chunked push")
        var location: String?
        do {
            let started = try await client.request("POST", "/v2/\(repository)/blobs/uploads/")
            guard started.status == 202, let given = started.header("Location") else {
                throw TestFailure("POST upload: \(started.status) \(started.text)")
            }
            location = given
            var offset = 0
            while offset < layer.bytes.count {
                let piece = layer.bytes[offset..<min(offset + Self.chunk, layer.bytes.count)]
                patching.set(true)
                defer { patching.set(false) }
                let answer = try await client.slowPatch(given, offset: offset, body: Data(piece),
                                                        bytesPerSecond: Self.bytesPerSecond, scratch: scratch)
                guard answer.status == 202 else { throw TestFailure("slow PATCH at \(offset): \(answer.status)") }
                offset += piece.count
            }
        } catch let error as RegistryHTTPClient.Unreachable {
            ledger.interrupted(.init(repository: repository, location: location, blob: layer, image: image, tag: tag))
            throw error
        }
        try await CrashResume.finish(location: location ?? "", layer: layer, offset: layer.bytes.count, image: image,
                                     tag: tag, repository: repository, client: client, ledger: ledger)
    }
}

/// Completing an image whose layer went up in chunks: the final `PUT`, the config, the manifest.
enum CrashResume {
    static func finish(location: String, layer: Blob, offset: Int, image: TestImage, tag: String, repository: String,
                       client: RegistryHTTPClient, ledger: CrashLedger) async throws {
        let octets = ["Content-Type": "application/octet-stream"]
        let rest = layer.bytes[offset...]
        let answer = try await client.request("PUT", location + "&digest=\(layer.digest)",
                                              headers: octets.merging(rest.isEmpty ? [:] : [
                                                  "Content-Range": "\(offset)-\(layer.bytes.count - 1)"]) { $1 },
                                              body: Data(rest))
        guard answer.status == 201 else { throw TestFailure("PUT \(location) digest \(layer.digest): \(answer.status) \(answer.text)") }
        let config = try await client.request("POST", "/v2/\(repository)/blobs/uploads/?digest=\(image.config.digest)",
                                              headers: octets, body: image.config.bytes)
        guard config.status == 201 else { throw TestFailure("POST config: \(config.status) \(config.text)") }
        let worker = CrashWorker(client: client, ledger: ledger, repository: repository, random: SeededGenerator(seed: 0))
        try await worker.putManifest(image, reference: tag, key: .init(repository: repository, tag: tag))
    }
}
