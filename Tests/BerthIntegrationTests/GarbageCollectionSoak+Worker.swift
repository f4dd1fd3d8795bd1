import Foundation

/// One soak client: loops over random operations the way docker, skopeo and oras clients do
/// (HEAD each blob and upload only the missing ones, monolithically, in chunks or by a
/// cross-repository mount; then the manifest), against a few repositories: pushes under a few
/// hot tags every client keeps moving, some version tags and its own release tags, re-pushes,
/// indexes, referrers, deletes and pulls.
///
/// A client deletes by digest only manifests it pushed itself, and re-pushes only its own images:
/// a delete by digest racing a push of the same digest by another client can leave a tag on a
/// manifest whose revision link the delete removed, in any registry; that race is not the
/// collector's and is kept out of this test.
struct SoakWorker {
    let client: SoakRegistryClient
    let pool: [Blob]
    let repositories: [String]
    /// Tags every client moves all the time.
    let hotTags: [String]
    /// Tags moved now and then.
    let versionTags: [String]
    /// Names this client's release tags (`r<id>.<n>`), each pushed once and never moved, so
    /// images stay tagged long after the collections racing their push have ended.
    let id: Int
    private var releases = 0

    /// This client's acknowledged images and indexes, by repository (newest last).
    private var pushed: [String: [SoakManifest]] = [:]
    /// This client's acknowledged referrers, by repository.
    private var referrers: [String: [SoakManifest]] = [:]
    /// Tags this client pushed lately, with what it pushed.
    private var ownTags: [(repository: String, tag: String, digest: String)] = []
    /// Images some index of this client's lists: never deleted by digest, which would break the
    /// index (as in any registry, none refuses it).
    private var indexChildren = Set<String>()

    init(id: Int, client: SoakRegistryClient, pool: [Blob], repositories: [String], hotTags: [String], versionTags: [String]) {
        self.id = id
        self.client = client
        self.pool = pool
        self.repositories = repositories
        self.hotTags = hotTags
        self.versionTags = versionTags
    }

    /// A tag to push to: mostly a hot one, now and then a new release.
    private mutating func tagToPush() -> String {
        switch Int.random(in: 0..<20) {
        case 0..<11: return hotTags.randomElement()!
        case 11..<15: return versionTags.randomElement()!
        default:
            releases += 1
            return "r\(id).\(releases)"
        }
    }

    /// A tag to delete or pull (releases are pulled through `pullOwnPush`, never deleted by tag).
    private func someTag() -> String {
        Int.random(in: 0..<10) < 6 ? hotTags.randomElement()! : versionTags.randomElement()!
    }

    var ledger: SoakLedger { client.ledger }

    mutating func run(until deadline: ContinuousClock.Instant) async {
        while ContinuousClock.now < deadline {
            let repository = repositories.randomElement()!
            switch Int.random(in: 0..<100) {
            case 0..<28: await pushImageAndMaybeSign(to: repository)
            case 28..<35: await repush(to: repository)
            case 35..<41: await pushImage(SoakContent.index(pool: pool), kind: "push index", to: repository)
            case 41..<46: await pushIndexOfExistingImages(in: repository)
            case 46..<56: await pushReferrer(in: repository)
            case 56..<64: await deleteTag(in: repository)
            case 64..<70: await deleteByDigest(in: repository)
            case 70..<80: await pullOwnPush()
            default: await pull(repository, someTag())
            }
        }
    }

    // MARK: - Operations

    @discardableResult
    private mutating func pushImage(_ image: SoakManifest, kind: String, to repository: String,
                                    childrenMayExist: Bool = false) async -> Bool {
        ledger.operation(kind)
        let tag = tagToPush()
        guard await push(image, to: repository, tag: tag, childrenMayExist: childrenMayExist) else { return false }
        remember(image, in: repository, &pushed)
        ownTags.append((repository, tag, image.digest))
        if ownTags.count > 32 { ownTags.removeFirst() }
        return true
    }

    /// A new image; now and then signed right away (a referrer pushed to it), as CI pipelines do.
    private mutating func pushImageAndMaybeSign(to repository: String) async {
        let image = SoakContent.image(pool: pool)
        guard await pushImage(image, kind: "push image", to: repository), Int.random(in: 0..<4) == 0 else { return }
        await pushReferrer(SoakContent.referrer(to: image.manifest), in: repository)
    }

    /// An index over two images this client pushed to the repository before (tagged or not by
    /// now), pushing only children that are gone: what `docker buildx imagetools create` and
    /// `crane index append` do.
    private mutating func pushIndexOfExistingImages(in repository: String) async {
        let images = (pushed[repository] ?? []).filter { $0.children.isEmpty }.shuffled().prefix(2)
        guard images.count == 2 else {
            await pushImage(SoakContent.index(pool: pool), kind: "push index", to: repository)
            return
        }
        if await pushImage(SoakContent.index(over: Array(images)), kind: "push index of existing images", to: repository,
                           childrenMayExist: true) {
            for image in images { indexChildren.insert(image.digest) }
        }
    }

    /// An image or index this client pushed before (maybe to another repository, maybe since
    /// untagged or deleted), pushed again under some tag: what CI does when nothing changed.
    private mutating func repush(to repository: String) async {
        guard let old = pushed.values.flatMap({ $0 }).randomElement() else {
            await pushImage(SoakContent.image(pool: pool), kind: "push image", to: repository)
            return
        }
        await pushImage(old, kind: "re-push", to: repository)
    }

    /// A new referrer of one of this client's images in `repository` (mostly the newest), or
    /// now and then one it pushed before again.
    private mutating func pushReferrer(in repository: String) async {
        let own = pushed[repository] ?? []
        if let old = referrers[repository]?.randomElement(), Int.random(in: 0..<4) == 0 {
            await pushReferrer(old, in: repository)
        } else if let subject = Int.random(in: 0..<10) < 7 ? own.last : own.randomElement() {
            await pushReferrer(SoakContent.referrer(to: subject.manifest), in: repository)
        } else {
            await pushImageAndMaybeSign(to: repository)
        }
    }

    /// Pushes an artifact by digest, untagged, as `oras attach` and `cosign sign` do.
    private mutating func pushReferrer(_ artifact: SoakManifest, in repository: String) async {
        ledger.operation("push referrer")
        guard await push(artifact, to: repository, tag: nil) else { return }
        remember(artifact, in: repository, &referrers)
    }

    private func deleteTag(in repository: String) async {
        ledger.operation("delete tag")
        let tag = someTag()
        let start = ContinuousClock.now
        guard let r = await client.send("DELETE", "/v2/\(repository)/manifests/\(tag)") else { return }
        ledger.tagOperation(repository, tag, .init(kind: .deleteTag, start: start, end: .now))
        switch r.status {
        case 202: ledger.outcome("tag deleted")
        case 404: ledger.outcome("tag to delete absent")
        default: ledger.unexpected("DELETE \(repository):\(tag): \(r.status) \(r.text)")
        }
    }

    private mutating func deleteByDigest(in repository: String) async {
        let isReferrer = Int.random(in: 0..<3) == 0
        let candidates = (isReferrer ? referrers[repository] : pushed[repository]) ?? []
        guard let victim = candidates.filter({ !indexChildren.contains($0.digest) }).randomElement() else {
            return await deleteTag(in: repository)
        }
        ledger.operation("delete by digest")
        if isReferrer { referrers[repository]?.removeAll { $0.digest == victim.digest } } else {
            pushed[repository]?.removeAll { $0.digest == victim.digest }
        }
        let start = ContinuousClock.now
        guard let r = await client.send("DELETE", "/v2/\(repository)/manifests/\(victim.digest)") else { return }
        ledger.digestDelete(repository, .init(digest: victim.digest, start: start, end: .now))
        switch r.status {
        case 202: ledger.outcome("manifest deleted")
        case 404: ledger.outcome("manifest to delete absent")  // collected meanwhile, or deleted by digest earlier
        default: ledger.unexpected("DELETE \(repository)@\(victim.digest): \(r.status) \(r.text)")
        }
    }

    /// Pulls one of this client's recent pushes again, if its tag still points there: the
    /// images a collection racing their push may have damaged, checked after it ended.
    private func pullOwnPush() async {
        guard let own = ownTags.randomElement() else {
            return await pull(repositories.randomElement()!, hotTags.randomElement()!)
        }
        await pull(own.repository, own.tag, expecting: own.digest)
    }

    /// Pulls a tag completely (when `expecting`, only if it points there). What went missing is
    /// judged once traffic has stopped (`SoakLedger.judgePullFailures`).
    private func pull(_ repository: String, _ tag: String, expecting: String? = nil) async {
        ledger.operation(expecting == nil ? "pull" : "pull own push")
        guard let digest = await client.resolve(repository, tag) else { return ledger.outcome("pulled tag absent") }
        if let expecting, digest != expecting { return ledger.outcome("own push re-tagged since") }
        switch await client.pull(repository, digest) {
        case .complete:
            ledger.outcome("pull complete")
        case .missing(let what):
            ledger.pullFailure(.init(repository: repository, tag: tag, digest: digest, what: what, at: .now))
        case .failed(let what):
            ledger.unexpected("pull \(repository):\(tag): \(what)")
        }
    }

    private func remember(_ manifest: SoakManifest, in repository: String, _ list: inout [String: [SoakManifest]]) {
        list[repository, default: []].removeAll { $0.digest == manifest.digest }
        list[repository, default: []].append(manifest)
        if list[repository, default: []].count > 24 { list[repository]?.removeFirst() }
    }

    // MARK: - Pushing

    /// Pushes children (by digest; with `childrenMayExist`, only those a HEAD does not find),
    /// blobs and the manifest; true when the manifest PUT answered 201.
    private func push(_ manifest: SoakManifest, to repository: String, tag: String?, childrenMayExist: Bool = false) async -> Bool {
        for child in manifest.children {
            if childrenMayExist {
                guard let head = await client.send("HEAD", "/v2/\(repository)/manifests/\(child.digest)") else { return false }
                if head.status == 200 {
                    ledger.outcome("child manifest already there")
                    continue
                }
            }
            guard await push(child, to: repository, tag: nil) else { return false }
        }
        for blob in manifest.blobs {
            guard await ensureBlob(blob, in: repository) else { return false }
        }
        let reference = tag ?? manifest.digest
        let start = ContinuousClock.now
        let r = await client.send("PUT", "/v2/\(repository)/manifests/\(reference)",
                                  headers: ["Content-Type": manifest.manifest.mediaType], body: manifest.manifest.bytes)
        let acknowledged = r?.status == 201
        if let tag {
            ledger.tagOperation(repository, tag, .init(kind: .put(digest: manifest.digest, acknowledged: acknowledged),
                                                       start: start, end: .now))
        }
        guard let r else { return false }
        if acknowledged {
            if r.header("Docker-Content-Digest") != manifest.digest {
                ledger.unexpected("PUT \(repository):\(reference) answered digest \(r.header("Docker-Content-Digest") ?? "none"), not \(manifest.digest)")
            }
            return true
        }
        if r.status == 400, r.errorCode == "MANIFEST_BLOB_UNKNOWN" {
            // A link the client saw with HEAD was collected before the PUT: the push fails, as
            // it would against any registry collecting online; the client may push again.
            ledger.outcome("manifest refused: blob collected after HEAD")
        } else {
            ledger.unexpected("PUT \(repository):\(reference): \(r.status) \(r.text)")
        }
        return false
    }

    /// HEADs the blob; when missing, uploads it by one of the ways real clients use.
    private func ensureBlob(_ blob: Blob, in repository: String) async -> Bool {
        guard let head = await client.send("HEAD", "/v2/\(repository)/blobs/\(blob.digest)") else { return false }
        if head.status == 200 {
            ledger.outcome("blob already there")
            return true
        }
        guard head.status == 404 else {
            ledger.unexpected("HEAD blob \(blob.digest) in \(repository): \(head.status)")
            return false
        }
        let uploads = "/v2/\(repository)/blobs/uploads/"
        switch Int.random(in: 0..<10) {
        case 0..<3:
            let source = repositories.filter { $0 != repository }.randomElement()!
            guard let r = await client.send("POST", uploads + "?mount=\(blob.digest)&from=\(source)") else { return false }
            if r.status == 201 {
                ledger.outcome("blob mounted")
                return true
            }
            guard r.status == 202, let location = r.header("Location") else { return unexpectedAnswer(r, "mount \(blob.digest)") }
            ledger.outcome("mount fell back to an upload")
            return await finish(location, blob, body: blob.bytes)
        case 3..<5:
            guard let started = await client.send("POST", uploads) else { return false }
            guard started.status == 202, var location = started.header("Location") else { return unexpectedAnswer(started, "POST upload") }
            let cut = blob.bytes.count / 2
            for (start, piece) in [(0, blob.bytes.prefix(cut)), (cut, blob.bytes.dropFirst(cut))] {
                guard let r = await client.send("PATCH", location, headers: [
                    "Content-Type": "application/octet-stream", "Content-Range": "\(start)-\(start + piece.count - 1)",
                ], body: Data(piece)) else { return false }
                guard r.status == 202, let next = r.header("Location") else { return unexpectedAnswer(r, "PATCH \(blob.digest)") }
                location = next
            }
            ledger.outcome("blob uploaded in chunks")
            return await finish(location, blob, body: Data())
        case 5:
            guard let r = await client.send("POST", uploads + "?digest=\(blob.digest)",
                                            headers: ["Content-Type": "application/octet-stream"], body: blob.bytes) else { return false }
            ledger.outcome("blob uploaded in one POST")
            return r.status == 201 || unexpectedAnswer(r, "POST \(blob.digest)")
        default:
            guard let started = await client.send("POST", uploads) else { return false }
            guard started.status == 202, let location = started.header("Location") else { return unexpectedAnswer(started, "POST upload") }
            ledger.outcome("blob uploaded monolithically")
            return await finish(location, blob, body: blob.bytes)
        }
    }

    private func finish(_ location: String, _ blob: Blob, body: Data) async -> Bool {
        guard let r = await client.send("PUT", SoakRegistryClient.appending(location, "digest=\(blob.digest)"),
                                        headers: ["Content-Type": "application/octet-stream"], body: body) else { return false }
        return r.status == 201 || unexpectedAnswer(r, "PUT upload of \(blob.digest)")
    }

    /// Records an answer no correct registry gives here; false, so the push stops.
    private func unexpectedAnswer(_ r: HTTP.Response, _ what: String) -> Bool {
        ledger.unexpected("\(what): \(r.status) \(r.text)")
        return false
    }
}
