import BerthCore
import BerthFilesystem
@testable import BerthStorage
import Foundation
import NIOCore
import XCTest

/// Quotas in storage: usage counts what manifests reference (shared blobs once per repository),
/// pushes past the limit are refused before data is read when the size is known and at the
/// manifest otherwise, nothing is left referenced, and deletes free quota at once.
final class StorageQuotaTests: XCTestCase {
    let a = try! RepositoryName("team-a/app")
    let b = try! RepositoryName("team-a/tools")

    func storage(limit: Int64) async throws -> RegistryStorage {
        let driver = FilesystemDriver(root: try makeTemporaryDirectory(self))
        try await driver.prepare()
        return RegistryStorage(driver: driver, quotas: StorageQuotas([.init(repositories: ["team-a/**"], limit: limit)]))
    }

    func testSizesParse() {
        XCTAssertEqual(StorageQuotas.parseSize("50GiB"), 50 << 30)
        XCTAssertEqual(StorageQuotas.parseSize("500MB"), 500_000_000)
        XCTAssertEqual(StorageQuotas.parseSize("1.5 KiB"), 1536)
        XCTAssertEqual(StorageQuotas.parseSize("1048576"), 1_048_576)
        XCTAssertNil(StorageQuotas.parseSize("-1GB"))
        XCTAssertNil(StorageQuotas.parseSize("10 parsecs"))
        XCTAssertNil(StorageQuotas.parseSize(""))
    }

    func testUsageCountsSharedBlobsPerRepository() async throws {
        let storage = try await storage(limit: 1 << 20)
        let shared = randomBytes(10_000)
        let one = try await storage.pushImage(in: a, tag: "v1", layers: [shared])
        let two = try await storage.pushImage(in: b, tag: "v1", layers: [shared, randomBytes(5_000)])
        let usage = try await storage.quotaUsages()
        let expected = [one, two].reduce(Int64(0)) { sum, image in
            sum + Int64(image.size) + image.blobs.reduce(Int64(0)) { $0 + Int64($1.size) }
        }
        XCTAssertEqual(usage.first?.usedBytes, expected, "the shared layer counts in both repositories")
        // The storage-usage report agrees.
        let report = try await storage.storageUsage()
        XCTAssertEqual(report.quotas.first?.usedBytes, report.repositories.reduce(0) { $0 + $1.logicalBytes })
    }

    func testPushesPastTheLimitAreRefusedAndDeletesFreeQuota() async throws {
        let storage = try await storage(limit: 50_000)
        let first = try await storage.pushImage(in: a, tag: "v1", layers: [randomBytes(20_000)])
        // A blob whose declared size alone passes the limit is refused before its body is read.
        let big = randomBytes(40_000)
        await assertRegistryError(.denied) {
            try await storage.putBlob(Digest.compute(big), in: self.a, length: 40_000, body: FailingBody(first: [1]))
        }
        // Blobs of unknown size go in; the manifest that would reference them all is refused.
        await assertRegistryError(.denied) {
            _ = try await storage.pushImage(in: self.a, tag: "v2", layers: [randomBytes(15_000), randomBytes(15_000)])
        }
        await assertRegistryError(.manifestUnknown) { _ = try await storage.resolveManifest(.tag(try Tag("v2")), in: self.a) }
        let manifests = try await storage.manifestDigests(in: a)
        XCTAssertEqual(manifests, [first.digest], "nothing of the refused push is referenced")
        let used = try await storage.quotaUsages().first?.usedBytes
        XCTAssertLessThan(used ?? .max, 50_000)
        // Still usable: a small image fits; the same content pushed again costs nothing.
        _ = try await storage.pushImage(in: a, tag: "small", layers: [randomBytes(1_000)])
        try await storage.retag(first, "again", in: a)
        // A delete frees the quota at once, so the refused image now fits.
        try await storage.deleteManifest(.digest(first.digest), in: a)
        _ = try await storage.pushImage(in: a, tag: "v2", layers: [randomBytes(15_000), randomBytes(15_000)])
    }

    func testRepositoriesOutsideEveryQuotaAreUnlimited() async throws {
        let storage = try await storage(limit: 1_000)
        _ = try await storage.pushImage(in: try RepositoryName("team-b/app"), tag: "v1", layers: [randomBytes(20_000)])
        await assertRegistryError(.denied) { _ = try await storage.pushImage(in: self.a, tag: "v1", layers: [randomBytes(2_000)]) }
    }
}
