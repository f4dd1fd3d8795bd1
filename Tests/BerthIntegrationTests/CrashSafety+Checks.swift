import Foundation

/// The checks after each restart: interrupted uploads are resumed (or restarted) and complete;
/// every tag points at something the ledger allows and its image pulls byte for byte; deleted
/// manifests stay deleted; blobs in flight are whole or absent; the storage audit is clean.
struct CrashChecks {
    var client: RegistryHTTPClient
    let ledger: CrashLedger
    let root: URL
    /// The server's configuration, for `berth scrub`.
    let config: URL
    var resumed = 0
    var restarted = 0
    var imagesPulled = 0
    var blobsChecked = 0
    var auditedBlobs = 0
    var auditedTags = 0
    var scrubs = 0

    /// Every problem found, one line each.
    var problems: [String] = []

    mutating func run(round: Int) async throws {
        try await waitForCollectionRecovery(round: round)
        try await resumeInterruptedUploads()
        try await checkTags()
        try await checkDeletes()
        try await checkBlobs()
        let audit = StorageConsistencyAudit.run(root: root)
        auditedBlobs = audit.blobsChecked
        auditedTags = audit.tagsChecked
        problems += audit.problems.map { "audit after restart \(round): \($0)" }
        try await scrub(round: round)
    }

    /// `berth scrub` over the same storage (the restarted server still running) must find nothing:
    /// exit status 0, no problem in its report.
    private mutating func scrub(round: Int) async throws {
        let result = try await ProcessRunner.run(CommandLineTests.berth, ["scrub", config.path], timeout: .seconds(120),
                                                 allowFailure: true)
        scrubs += 1
        if result.status != 0 {
            problems.append("berth scrub after restart \(round) exited \(result.status):\n\(result.stdout.suffix(3000))\(result.stderr.suffix(1000))")
        }
    }

    /// A collection the kill interrupted had set content aside: the restarted server puts it
    /// back at start-up (in the background, so this polls), leaving no journal or quarantine.
    private mutating func waitForCollectionRecovery(round: Int) async throws {
        let gc = root.appendingPathComponent("berth/gc")
        var left: [String] = []
        let deadline = ContinuousClock.now + .seconds(20)
        repeat {
            left = ["set-aside", "quarantine"].flatMap { dir in
                ((try? FileManager.default.contentsOfDirectory(atPath: gc.appendingPathComponent(dir).path)) ?? []).map { "\(dir)/\($0)" }
            }
            if left.isEmpty { return }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        problems.append("restart \(round): an interrupted collection's \(left) was not put back within 20 s of the start")
    }

    // MARK: - Interrupted uploads

    private mutating func resumeInterruptedUploads() async throws {
        let pending = ledger.state.withLock { state -> [CrashLedger.InterruptedUpload] in
            defer { state.interrupted = [] }
            return state.interrupted
        }
        for upload in pending {
            let layer = upload.blob
            var finished = false
            if let location = upload.location {
                let status = try await client.request("GET", location)
                if status.status == 204, let range = status.header("Range") {
                    // "0-0" is what an empty session reports; a 416 says the one byte was there.
                    let end = Int(range.split(separator: "-").last ?? "") ?? 0
                    var offset = range == "0-0" ? 0 : end + 1
                    guard offset <= layer.bytes.count else {
                        problems.append("upload \(location) reports \(offset) bytes, more than the \(layer.bytes.count) sent")
                        continue
                    }
                    do {
                        try await CrashResume.finish(location: location, layer: layer, offset: offset, image: upload.image,
                                                     tag: upload.tag, repository: upload.repository, client: client, ledger: ledger)
                    } catch let error as TestFailure where offset == 0 && error.description.contains(": 416") {
                        offset = 1
                        try await CrashResume.finish(location: location, layer: layer, offset: offset, image: upload.image,
                                                     tag: upload.tag, repository: upload.repository, client: client, ledger: ledger)
                    }
                    resumed += 1
                    finished = true
                } else if status.status != 404 {
                    problems.append("GET \(location) after the restart: \(status.status) \(status.text)")
                    continue
                }
            }
            if !finished {
                // The session never started or is gone: push the layer again from the start.
                let answer = try await client.request("POST", "/v2/\(upload.repository)/blobs/uploads/?digest=\(layer.digest)",
                                                      headers: ["Content-Type": "application/octet-stream"], body: layer.bytes)
                guard answer.status == 201 else {
                    problems.append("restarting the upload of \(layer.digest): \(answer.status) \(answer.text)")
                    continue
                }
                let started = try await client.request("POST", "/v2/\(upload.repository)/blobs/uploads/")
                guard let location = started.header("Location") else { continue }
                try await CrashResume.finish(location: location, layer: layer, offset: 0, image: upload.image, tag: upload.tag,
                                             repository: upload.repository, client: client, ledger: ledger)
                restarted += 1
            }
            if try await client.blob(upload.repository, layer.digest) != layer.bytes {
                problems.append("layer \(layer.digest) uploaded across a kill does not pull back intact")
            }
        }
    }

    // MARK: - Tags and deletes

    private mutating func checkTags() async throws {
        let tags = ledger.state.withLock { $0.tags }
        for (key, allowed) in tags.sorted(by: { $0.key.description < $1.key.description }) {
            let bytes = try await client.manifest(key.repository, key.tag)
            let observed = bytes.map { Blob.digest($0) }
            guard allowed.contains(observed) else {
                problems.append("\(key) is \(observed ?? "absent") after the restart; the client saw \(allowed.map { $0 ?? "absent" }.sorted())")
                continue
            }
            ledger.settle(key, observed)
            guard let digest = observed else { continue }
            guard let image = ledger.image(digest) else {
                problems.append("\(key) points at \(digest), which no client pushed")
                continue
            }
            try await checkPull(image, in: key.repository, as: "\(key)")
        }
    }

    private mutating func checkPull(_ image: TestImage, in repository: String, as name: String) async throws {
        imagesPulled += 1
        if try await client.manifest(repository, image.manifest.digest) != image.manifest.bytes {
            problems.append("\(name): manifest \(image.manifest.digest) does not pull by digest")
        }
        for blob in image.blobs where try await client.blob(repository, blob.digest) != blob.bytes {
            problems.append("\(name): blob \(blob.digest) of the acknowledged image is missing or differs")
        }
    }

    private mutating func checkDeletes() async throws {
        let deleted = ledger.state.withLock { $0.deleted }
        for (repository, digest) in deleted where try await client.manifest(repository, digest) != nil {
            problems.append("manifest \(repository)@\(digest) was deleted (202) but is back after a restart")
        }
    }

    // MARK: - Blobs

    private mutating func checkBlobs() async throws {
        let (records, collections) = ledger.state.withLock { state in
            defer { state.blobs = [] }
            return (state.blobs, state.collections)
        }
        for record in records {
            blobsChecked += 1
            let path = "/v2/\(record.repository)/blobs/\(record.blob.digest)"
            let head = try await client.request("HEAD", path)
            switch head.status {
            case 404:
                if record.acknowledged && record.collectionsAtAck == collections {
                    problems.append("blob \(record.blob.digest) in \(record.repository) was acknowledged (201) but is gone, with no collection since")
                }
            case 200:
                let length = Int(head.header("Content-Length") ?? "") ?? -1
                if length != record.blob.bytes.count {
                    problems.append("blob \(path) answers HEAD with \(length) bytes, not \(record.blob.bytes.count) (\(record.acknowledged ? "acknowledged" : "in flight"))")
                } else if try await client.blob(record.repository, record.blob.digest) != record.blob.bytes {
                    problems.append("blob \(path) pulls different bytes (\(record.acknowledged ? "acknowledged" : "in flight"))")
                }
            default:
                problems.append("HEAD \(path): \(head.status)")
            }
        }
    }
}
