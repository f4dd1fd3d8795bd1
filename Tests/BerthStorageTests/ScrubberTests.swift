import BerthCore
import BerthFilesystem
@testable import BerthStorage
import Foundation
import NIOCore
import XCTest

/// The scrub over real stores built through `RegistryStorage`, damaged on disk the way disks and
/// crashes damage them.
final class ScrubberTests: XCTestCase {
    func scrub(_ storage: RegistryStorage, repair: Bool = false, rate: Int64? = nil, repository: String? = nil) async throws -> ScrubReport {
        try await Scrubber(storage: storage, options: ScrubOptions(repair: repair, bytesPerSecond: rate, repository: repository)).run()
    }

    func findings(_ report: ScrubReport, _ kind: ScrubFinding.Kind) -> [ScrubFinding] { report.findings.filter { $0.kind == kind } }

    func blobFile(_ root: String, _ d: Digest) -> String { root + StoragePath.blobData(d).path }

    /// Everything Berth considers legitimate: images, a multi-arch index, a referrer of a subject
    /// that is not there, a sha512 blob, an upload in progress, pins, an untagged manifest, and a
    /// sparse image where the configuration allows it.
    func testHealthyStoreHasNoFindings() async throws {
        let (storage, root) = try await makeStorage(self)
        let repo = try RepositoryName("team/app")
        let child = try await storage.pushImage(in: repo, layers: [randomBytes(40_000), randomBytes(1000)])
        _ = try await storage.pushIndex(in: repo, tag: "multi", children: [child])
        let image = try await storage.pushImage(in: repo, tag: "v1", layers: [randomBytes(70_000)])
        _ = try await storage.pushImage(in: repo, layers: [randomBytes(10)], subject: image, artifactType: "application/vnd.example.sig")
        let absent = PushedManifest(digest: Digest.compute(randomBytes(10)), size: 10, mediaType: MediaType.ociManifest, blobs: [])
        _ = try await storage.pushImage(in: try RepositoryName("other"), tag: "latest", layers: [randomBytes(5)], subject: absent,
                                        artifactType: "application/vnd.example.sbom")
        let sha512 = randomBytes(3000)
        try await storage.putBlob(Digest.compute(sha512, algorithm: .sha512), in: repo, length: 3000, body: Chunks([sha512]))
        let upload = try await storage.startUpload(in: repo)
        _ = try await storage.appendToUpload(upload, in: repo, body: Chunks([randomBytes(5000)]))
        _ = try await storage.rebuildIndexes(logger: .init(label: "test"))

        let report = try await scrub(storage)
        XCTAssertEqual(report.problems, 0, "\(report.findings.map(\.message))")
        XCTAssertEqual(report.repositoriesChecked, 2)
        XCTAssertGreaterThanOrEqual(report.blobsChecked, 12)
        XCTAssertGreaterThan(report.bytesHashed, 114_000)
        XCTAssertEqual(report.manifestsChecked, 5)
        XCTAssertFalse(report.running)
        let last = try await storage.lastScrub()
        XCTAssertEqual(last?.blobsChecked, report.blobsChecked)

        // A collection that stopped midway: a layer link journalled and removed, a blob in its quarantine.
        let layer = image.blobs[1].digest, blob = child.blobs[2].digest
        try await storage.journalSetAside([GCReport.Removal(kind: "layer-link", repository: repo.value, digest: layer.description)], in: repo)
        try FileManager.default.removeItem(atPath: root + StoragePath.layerLink(repo, layer).path)
        try FileManager.default.createDirectory(atPath: root + "/berth/gc/quarantine", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: blobFile(root, blob), toPath: root + StoragePath.gcQuarantineEntry(blob).path)
        let interrupted = try await scrub(storage)
        XCTAssertEqual(interrupted.problems, 0, "\(interrupted.findings.map(\.message))")
        XCTAssertTrue(interrupted.notes.contains { $0.contains("a garbage collection is running, or stopped midway") }, "\(interrupted.notes)")
        XCTAssertTrue(interrupted.notes.contains { $0.contains("layer-link \(layer) of team/app is set aside") }, "\(interrupted.notes)")
        XCTAssertTrue(interrupted.notes.contains { $0.contains("blob \(blob) is set aside") }, "\(interrupted.notes)")
        let putBack = try await storage.recoverInterruptedCollection()
        XCTAssertEqual(putBack, 2, "the blob and the link")
        let recovered = try await scrub(storage)
        XCTAssertEqual(recovered.problems, 0, "\(recovered.findings.map(\.message))")
        XCTAssertEqual(recovered.notes, [])

        // A sparse image is fine where the configuration accepts sparse images.
        let sparse = RegistryStorage(driver: FilesystemDriver(root: root), validation: .init(requireIndexChildren: false, requireLayers: false))
        let missingLayer = PushedManifest.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", Digest.compute(randomBytes(8)), 8)
        let config = try await sparse.pushBlob(Array(#"{"os":"linux"}"#.utf8), in: repo)
        let json = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest)","config":\#(PushedManifest.descriptor("application/vnd.oci.image.config.v1+json", config.digest, config.size)),"layers":[\#(missingLayer)]}"#
        _ = try await sparse.putManifest(ByteBuffer(string: json), contentType: nil, reference: .tag(try Tag("sparse")), in: repo)
        let sparseReport = try await scrub(sparse)
        XCTAssertEqual(sparseReport.problems, 0, "\(sparseReport.findings.map(\.message))")
        // The same store under a configuration that requires layers names the missing one.
        let strict = try await scrub(storage)
        XCTAssertEqual(findings(strict, .referenceMissing).map(\.tags), [["team/app:sparse"]])
    }

    func testEachDamageIsReportedWithItsRepositoryAndTag() async throws {
        let (storage, root) = try await makeStorage(self)
        let fm = FileManager.default
        // A flipped byte in a layer of a child of a tagged index, and of a tagged image.
        let corruptRepo = try RepositoryName("a/corrupt")
        let shared = randomBytes(50_000)
        let child = try await storage.pushImage(in: corruptRepo, layers: [shared])
        let multi = try await storage.pushIndex(in: corruptRepo, tag: "multi", children: [child])
        let flipped = child.blobs[1].digest
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blobFile(root, flipped)))
        bytes[1234] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: blobFile(root, flipped)))
        // A layer cut short.
        let truncatedRepo = try RepositoryName("b/truncated")
        let truncatedImage = try await storage.pushImage(in: truncatedRepo, tag: "v1", layers: [randomBytes(30_000)])
        let truncated = truncatedImage.blobs[1].digest
        try FileHandle(forWritingTo: URL(fileURLWithPath: blobFile(root, truncated))).truncate(atOffset: 1000)
        // The manifest content a tag needs, and a layer a manifest needs, deleted.
        let missingRepo = try RepositoryName("c/missing")
        let noManifest = try await storage.pushImage(in: missingRepo, tag: "gone", layers: [randomBytes(100)])
        let noLayer = try await storage.pushImage(in: missingRepo, tag: "nolayer", layers: [randomBytes(200)])
        try fm.removeItem(atPath: blobFile(root, noManifest.digest))
        try fm.removeItem(atPath: blobFile(root, noLayer.blobs[1].digest))
        // Broken link files: a layer link holding garbage, a tag holding garbage.
        let linksRepo = try RepositoryName("d/links")
        let linked = try await storage.pushImage(in: linksRepo, tag: "ok", layers: [randomBytes(300)])
        _ = try await storage.pushImage(in: linksRepo, tag: "broken", layers: [randomBytes(300)])
        try "sha256:nonsense".write(toFile: root + StoragePath.layerLink(linksRepo, linked.blobs[1].digest).path, atomically: true, encoding: .utf8)
        try "garbage".write(toFile: root + StoragePath.tagCurrentLink(linksRepo, try Tag("broken")).path, atomically: true, encoding: .utf8)
        // Index entries: a corrupt referrers entry, a missing tags-by-digest entry, a missing catalog entry.
        let indexRepo = try RepositoryName("e/index")
        let subject = try await storage.pushImage(in: indexRepo, tag: "v1", layers: [randomBytes(100)])
        let signature = try await storage.pushImage(in: indexRepo, layers: [randomBytes(10)], subject: subject, artifactType: "application/vnd.example.sig")
        try "{not json".write(toFile: root + StoragePath.referrer(indexRepo, subject: subject.digest, signature.digest).path, atomically: true, encoding: .utf8)
        try fm.removeItem(atPath: root + StoragePath.digestTag(indexRepo, subject.digest, try Tag("v1")).path)
        try fm.removeItem(atPath: root + StoragePath.catalogEntry(indexRepo).path)
        try await storage.driver.putMarker(StoragePath.catalogIndexed.path)

        let report = try await scrub(storage)
        XCTAssertEqual(report.repositoriesChecked, 5)
        let corrupt = findings(report, .blobCorrupt)
        XCTAssertEqual(corrupt.map(\.digest), [flipped.description])
        XCTAssertEqual(Set(corrupt.first?.tags ?? []), ["a/corrupt:multi"])
        XCTAssertEqual(Set(corrupt.first?.manifests ?? []), ["a/corrupt@\(child.digest)", "a/corrupt@\(multi.digest)"])
        XCTAssertEqual(findings(report, .blobTruncated).map(\.digest), [truncated.description])
        XCTAssertEqual(findings(report, .blobTruncated).first?.tags, ["b/truncated:v1"])
        let dangling = findings(report, .linkDangling)
        XCTAssertEqual(Set(dangling.map(\.digest)), [noManifest.digest.description, noLayer.blobs[1].digest.description])
        XCTAssertEqual(dangling.first { $0.digest == noManifest.digest.description }?.tags, ["c/missing:gone"])
        let missing = findings(report, .referenceMissing)
        XCTAssertEqual(missing.map(\.digest), [noLayer.blobs[1].digest.description])
        XCTAssertEqual(missing.first?.tags, ["c/missing:nolayer"])
        XCTAssertEqual(missing.first?.repositories, ["c/missing"])
        XCTAssertEqual(missing.first?.manifests, ["c/missing@\(noLayer.digest)"])
        let malformed = findings(report, .linkMalformed)
        XCTAssertEqual(Set(malformed.map(\.path)), [StoragePath.layerLink(linksRepo, linked.blobs[1].digest).path,
                                                    StoragePath.tagCurrentLink(linksRepo, try Tag("broken")).path])
        XCTAssertEqual(malformed.first { $0.digest == nil }?.tags, ["d/links:broken"])
        let index = findings(report, .indexMismatch)
        XCTAssertEqual(Set(index.map(\.path)), [StoragePath.referrer(indexRepo, subject: subject.digest, signature.digest).path,
                                                StoragePath.digestTag(indexRepo, subject.digest, try Tag("v1")).path,
                                                StoragePath.catalogEntry(indexRepo).path])
        XCTAssertEqual(report.problems, 10, "\(report.findings.map(\.message))")
        XCTAssertEqual(report.repaired, 0)
        XCTAssertTrue(fm.fileExists(atPath: blobFile(root, flipped)), "a scrub without repair changes nothing")

        let repaired = try await scrub(storage, repair: true)
        XCTAssertEqual(repaired.problems, 10)
        XCTAssertEqual(Set(repaired.findings.filter(\.repaired).map(\.kind)),
                       [.blobCorrupt, .blobTruncated, .linkDangling, .linkMalformed, .indexMismatch])
        XCTAssertFalse(fm.fileExists(atPath: blobFile(root, flipped)))
        let quarantine = try fm.contentsOfDirectory(atPath: root + "/berth/scrub/quarantine")
        XCTAssertEqual(Set(quarantine.map { String($0.prefix(71)) }), ["sha256-\(flipped.hex)", "sha256-\(truncated.hex)"])
        let referrers = try await storage.referrers(of: subject.digest, in: indexRepo)
        XCTAssertEqual(referrers.map(\.digest), [signature.digest])
        let catalog = try await storage.catalog()
        XCTAssertEqual(catalog, ["a/corrupt", "b/truncated", "c/missing", "d/links", "e/index"])

        // What only a push can mend remains: the images whose content is gone, the tag holding garbage.
        let after = try await scrub(storage)
        XCTAssertEqual(Set(after.findings.map(\.kind)), [.referenceMissing, .linkDangling, .linkMalformed], "\(after.findings.map(\.message))")
        XCTAssertEqual(Set(findings(after, .referenceMissing).flatMap(\.tags)), ["a/corrupt:multi", "b/truncated:v1", "c/missing:nolayer"])
        XCTAssertEqual(findings(after, .linkDangling).map(\.digest), [noManifest.digest.description])
        XCTAssertEqual(findings(after, .linkMalformed).map(\.path), [StoragePath.tagCurrentLink(linksRepo, try Tag("broken")).path])

        // Pushing the damaged image again mends it: the quarantine made room for the right content.
        try await storage.putBlob(flipped, in: corruptRepo, length: Int64(shared.count), body: Chunks([shared]))
        let mended = try await scrub(storage, repository: "a/corrupt")
        XCTAssertEqual(mended.problems, 0, "\(mended.findings.map(\.message))")
        try await storage.assertIntact(.tag(try Tag("multi")), in: corruptRepo)
    }

    func testRepositoryScopeHashesOnlyItsBlobs() async throws {
        let (storage, root) = try await makeStorage(self)
        let mine = try await storage.pushImage(in: try RepositoryName("mine"), tag: "v1", layers: [randomBytes(1000)])
        let theirs = try await storage.pushImage(in: try RepositoryName("theirs"), tag: "v1", layers: [randomBytes(1000)])
        try Data("x".utf8).write(to: URL(fileURLWithPath: blobFile(root, theirs.blobs[1].digest)))
        let report = try await scrub(storage, repository: "mine")
        XCTAssertEqual(report.problems, 0)
        XCTAssertEqual(report.blobsChecked, mine.allDigests.count)
        XCTAssertEqual(report.repositoriesChecked, 1)
        let all = try await scrub(storage)
        XCTAssertEqual(findings(all, .blobTruncated).first?.tags, ["theirs:v1"])
        do {
            _ = try await scrub(storage, repository: "nobody")
            XCTFail("an unknown repository must be refused")
        } catch let error as ScrubError {
            XCTAssertTrue("\(error)".contains("nobody"))
        }
    }

    /// N bytes at R bytes per second take at least (N − burst) / R seconds; only that lower bound
    /// is asserted, so a slow machine cannot fail it.
    func testRateLimitHoldsHashingBack() async throws {
        let (storage, _) = try await makeStorage(self)
        _ = try await storage.pushImage(in: try RepositoryName("big"), tag: "v1", layers: [[UInt8](repeating: 7, count: 3 << 19)])
        let rate: Int64 = 1_000_000
        let start = ContinuousClock.now
        let report = try await scrub(storage, rate: rate)
        let elapsed = (ContinuousClock.now - start).seconds
        let burst = Double(TokenBucket(bytesPerSecond: rate).capacity)
        XCTAssertGreaterThan(report.bytesHashed, 3 << 19)
        XCTAssertGreaterThanOrEqual(elapsed, (Double(report.bytesHashed) - burst) / Double(rate) * 0.99)
        XCTAssertEqual(report.rateLimitBytesPerSecond, rate)
    }

    /// Rates are quota sizes (tested with the quotas) per second.
    func testByteRates() {
        XCTAssertEqual(ByteRate.parse("50MB/s"), 50_000_000)
        XCTAssertEqual(ByteRate.parse("10MiB/s"), 10 << 20)
        XCTAssertNil(ByteRate.parse("0/s"))
        XCTAssertNil(ByteRate.parse("fast"))
    }
}
