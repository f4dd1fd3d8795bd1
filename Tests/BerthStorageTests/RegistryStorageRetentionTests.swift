import BerthCore
import BerthFilesystem
import BerthStorage
import Foundation
import NIOCore
import Synchronization
import XCTest

/// Retention applied to real storage: what a run deletes, that a dry run deletes nothing, and
/// that a push racing a run wins.
final class RegistryStorageRetentionTests: XCTestCase {
    let repo = try! RepositoryName("team/app")

    func makeStorage(driver wrap: (FilesystemDriver) -> any StorageDriver = { $0 }) async throws -> (RegistryStorage, String) {
        let dir = try makeTemporaryDirectory(self)
        let driver = FilesystemDriver(root: dir)
        try await driver.prepare()
        return (RegistryStorage(driver: wrap(driver)), dir)
    }

    /// Pushes a small image (unique by `seed`), tagged with `tag` or by digest only.
    @discardableResult
    func pushImage(_ storage: RegistryStorage, _ seed: String, tag: String? = nil, subject: Digest? = nil) async throws -> Digest {
        let config = Array(#"{"architecture":"amd64","os":"linux","seed":"\#(seed)"}"#.utf8)
        let configDigest = Digest.compute(config)
        try await storage.putBlob(configDigest, in: repo, length: nil, body: Chunks([config]))
        var manifest = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest)","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[]"#
        if let subject {
            let size = try await storage.getManifest(.digest(subject), in: repo).bytes.readableBytes
            manifest += #","subject":{"mediaType":"\#(MediaType.ociManifest)","digest":"\#(subject)","size":\#(size)}"#
        }
        return try await push(storage, manifest + "}", MediaType.ociManifest, tag: tag)
    }

    @discardableResult
    func pushIndex(_ storage: RegistryStorage, _ children: [Digest], tag: String?) async throws -> Digest {
        var entries: [String] = []
        for child in children {
            let size = try await storage.getManifest(.digest(child), in: repo).bytes.readableBytes
            entries.append(#"{"mediaType":"\#(MediaType.ociManifest)","digest":"\#(child)","size":\#(size)}"#)
        }
        let index = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex)","manifests":[\#(entries.joined(separator: ","))]}"#
        return try await push(storage, index, MediaType.ociIndex, tag: tag)
    }

    private func push(_ storage: RegistryStorage, _ json: String, _ type: String, tag: String?) async throws -> Digest {
        let bytes = ByteBuffer(string: json)
        let reference: Reference = try tag.map { .tag(try Tag($0)) } ?? .digest(Digest.compute(Array(json.utf8)))
        return try await storage.putManifest(bytes, contentType: type, reference: reference, in: repo).digest
    }

    /// Sets when a tag or a manifest was last pushed, `hours` ago.
    func age(_ root: String, tag: String? = nil, manifest: Digest? = nil, hours: Double) throws {
        let base = root + "/docker/registry/v2/repositories/\(repo)/_manifests"
        let path = tag.map { base + "/tags/\($0)/current/link" } ?? manifest.map { base + "/revisions/sha256/\($0.hex)/link" } ?? ""
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-hours * 3600)], ofItemAtPath: path)
    }

    func testDryRunChangesNothingAndARealRunDeletesWhatItPlanned() async throws {
        let (storage, root) = try await makeStorage()
        for (i, tag) in ["a", "b", "c", "d"].enumerated() {
            let digest = try await pushImage(storage, tag, tag: tag)
            try age(root, tag: tag, hours: Double(10 * (i + 1)))  // a newest, d oldest
            try age(root, manifest: digest, hours: Double(10 * (i + 1)))
        }
        let untagged = try await pushImage(storage, "untagged")
        try age(root, manifest: untagged, hours: 100)
        let amd64 = try await pushImage(storage, "amd64")
        let arm64 = try await pushImage(storage, "arm64")
        try await pushIndex(storage, [amd64, arm64], tag: "multi")
        for (tag, digest) in [("multi", nil), (nil, amd64), (nil, arm64)] as [(String?, Digest?)] {
            try age(root, tag: tag, manifest: digest, hours: 1)
        }
        try age(root, manifest: amd64, hours: 100)
        try age(root, manifest: arm64, hours: 100)
        let policies = RetentionPolicies([
            .init(repositories: ["team/*"], keepNewest: 3, keepTags: ["multi"], deleteUntaggedOlderThan: .seconds(3600 * 24)),
        ])
        // The catalog index is built once on first use (at start-up in a server); not by the dry run.
        _ = try await storage.catalog()
        let filesBefore = try allFiles(root)

        let dry = try await storage.applyRetention(policies, dryRun: true)
        XCTAssertTrue(dry.dryRun)
        XCTAssertEqual(dry.repositories.map(\.name), ["team/app"])
        XCTAssertEqual(dry.repositories.first?.tags.map(\.tag), ["c", "d"])
        XCTAssertEqual(dry.repositories.first?.manifests.map(\.digest), [untagged.description])
        XCTAssertEqual(dry.repositories.first?.manifests.first?.rule, "untagged and older than 24h")
        let filesAfter = try allFiles(root)
        let changed = Set(filesBefore.keys).union(filesAfter.keys).filter { filesBefore[$0] != filesAfter[$0] }
        XCTAssertEqual(changed.sorted(), [], "a dry run changes nothing in storage")

        var seen: [String] = []
        let report = try await storage.applyRetention(policies, dryRun: false) { seen.append($0.name) }
        XCTAssertEqual(seen, ["team/app"])
        XCTAssertEqual(report.tagsDeleted, 2)
        XCTAssertEqual(report.manifestsDeleted, 1)
        XCTAssertEqual(report.repositories.first?.skipped, [])
        let tags = try await storage.listTags(in: repo)
        XCTAssertEqual(tags, ["a", "b", "multi"])
        // The children of the tagged index are whole; the untagged image is gone.
        for child in [amd64, arm64] { _ = try await storage.getManifest(.digest(child), in: repo) }
        await assertRegistryError(.manifestUnknown) { _ = try await storage.getManifest(.digest(untagged), in: self.repo) }
        // The manifests of the deleted tags are untagged now, and go in the next run.
        let next = try await storage.applyRetention(policies, dryRun: false)
        XCTAssertEqual(next.tagsDeleted, 0)
        XCTAssertEqual(next.manifestsDeleted, 2)
        XCTAssertTrue(next.summary.hasPrefix("retention deleted 0 tag(s) and 2 untagged manifest(s) in 1 repository"), next.summary)
    }

    func testRepositoriesNoPolicyGovernsAreUntouched() async throws {
        let (storage, _) = try await makeStorage()
        try await pushImage(storage, "x", tag: "x")
        try await pushImage(storage, "y", tag: "y")
        let report = try await storage.applyRetention(.init([.init(repositories: ["other/**"], keepNewest: 0, allowEmpty: true)]),
                                                      dryRun: false)
        XCTAssertEqual(report.repositories, [])
        let tags = try await storage.listTags(in: repo)
        XCTAssertEqual(tags, ["x", "y"])
    }

    func testEveryTagIsKeptWithoutAllowEmpty() async throws {
        let (storage, _) = try await makeStorage()
        try await pushImage(storage, "x", tag: "x")
        let report = try await storage.applyRetention(.init([.init(repositories: ["**"], keepNewest: 0)]), dryRun: false)
        XCTAssertEqual(report.tagsDeleted, 0)
        XCTAssertEqual(report.repositories.first?.warnings.count, 1)
        let tags = try await storage.listTags(in: repo)
        XCTAssertEqual(tags, ["x"])
    }

    /// A tag pushed again between the snapshot and its deletion stays, as does a manifest tagged
    /// in that window.
    func testAPushDuringTheRunWins() async throws {
        var hooked: HookedDriver?
        let (storage, root) = try await makeStorage {
            hooked = HookedDriver(inner: $0)
            return hooked ?? $0
        }
        try await pushImage(storage, "old", tag: "old")
        try await pushImage(storage, "new", tag: "new")
        let loose = try await pushImage(storage, "loose")
        try age(root, tag: "old", hours: 10)
        try age(root, manifest: loose, hours: 100)
        let policies = RetentionPolicies([.init(repositories: ["**"], keepNewest: 1, deleteUntaggedOlderThan: .seconds(3600))])
        let plan = try await storage.applyRetention(policies, dryRun: true)
        XCTAssertEqual(plan.repositories.first?.tags.map(\.tag), ["old"])
        XCTAssertEqual(plan.repositories.first?.manifests.map(\.digest), [loose.description])

        // The run reads the link of "old" twice: in its snapshot, and just before deleting the
        // tag. In between, another process pushes "old" again and tags the loose manifest.
        let repo = self.repo
        let linkReads = Counter()
        hooked?.hook.withLock {
            $0 = { path in
                guard path.hasSuffix("/_manifests/tags/old/current/link"),
                      linkReads.next() == 2 else { return }
                let other = RegistryStorage(driver: FilesystemDriver(root: root))
                do {
                    let old = try await other.getManifest(.tag(try Tag("old")), in: repo)
                    _ = try await other.putManifest(old.bytes, contentType: old.mediaType, reference: .tag(try Tag("old")), in: repo)
                    let stray = try await other.getManifest(.digest(loose), in: repo)
                    _ = try await other.putManifest(stray.bytes, contentType: stray.mediaType, reference: .tag(try Tag("found")), in: repo)
                } catch {
                    XCTFail("push during the run: \(error)")
                }
            }
        }
        let report = try await storage.applyRetention(policies, dryRun: false)
        XCTAssertGreaterThan(linkReads.next(), 2, "the push ran during the run")
        XCTAssertEqual(report.tagsDeleted, 0, "\(report)")
        XCTAssertEqual(report.manifestsDeleted, 0, "\(report)")
        XCTAssertEqual(report.repositories.first?.skipped.map(\.reason),
                       ["pushed again during the run", "tagged, pushed again or needed by a new manifest during the run"])
        let tags = try await storage.listTags(in: repo)
        XCTAssertEqual(tags, ["found", "new", "old"])
        _ = try await storage.getManifest(.digest(loose), in: repo)
    }

    func allFiles(_ root: String) throws -> [String: Date] {
        var files: [String: Date] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + path)
            files[path] = attributes[.modificationDate] as? Date
        }
        return files
    }
}

/// A driver that calls a hook before every `stat` (to push in the middle of a run).
final class HookedDriver: StorageDriver {
    let inner: FilesystemDriver
    let hook = Mutex<(@Sendable (String) async -> Void)?>(nil)

    init(inner: FilesystemDriver) { self.inner = inner }

    var name: String { inner.name }
    func getContent(_ path: String, maxBytes: Int) async throws -> ByteBuffer { try await inner.getContent(path, maxBytes: maxBytes) }
    func putContent(_ path: String, _ content: ByteBuffer, durable: Bool) async throws {
        try await inner.putContent(path, content, durable: durable)
    }
    func putContentIfAbsent(_ path: String, _ content: ByteBuffer) async throws -> Bool {
        try await inner.putContentIfAbsent(path, content)
    }
    func stat(_ path: String) async throws -> FileInfo {
        if let hook = hook.withLock({ $0 }) { await hook(path) }
        return try await inner.stat(path)
    }
    func list(_ path: String) async throws -> [String] { try await inner.list(path) }
    func read(_ path: String, range: Range<Int64>?, _ body: (ByteBuffer) async throws -> Void) async throws {
        try await inner.read(path, range: range, body)
    }
    func writer(_ path: String, append: Bool) async throws -> any StorageWriter { try await inner.writer(path, append: append) }
    func move(from source: String, to destination: String) async throws { try await inner.move(from: source, to: destination) }
    func delete(_ path: String) async throws { try await inner.delete(path) }
    func removeEmptyDirectory(_ path: String) async throws { try await inner.removeEmptyDirectory(path) }
    func openForReading(_ path: String) async throws -> any StorageReader { try await inner.openForReading(path) }
}

final class Counter: Sendable {
    private let value = Mutex(0)

    /// Counts one more and returns the count.
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
