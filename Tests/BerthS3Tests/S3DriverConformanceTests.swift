import BerthS3
import BerthStorage
import BerthStorageConformance
import Foundation
import XCTest

/// The shared driver checks (BerthStorageConformance) against the S3 driver on moto, with 5 MiB
/// parts so a 12 MiB object spans several parts and a tail. moto 5.2.1 cannot check signatures of
/// listings whose prefix holds a `/`, which every driver listing has, so these run on the moto
/// that checks none; S3Client's tests check the signatures themselves.
final class S3DriverConformanceTests: XCTestCase {
    static func withDriver(_ body: (S3Driver) async throws -> Void) async throws {
        let moto = try MotoServer.get(authenticated: false)
        var configuration = try moto.configuration(bucket: "berth-" + UUID().uuidString.lowercased().prefix(18),
                                                   rootDirectory: "registry")
        configuration.chunkSize = S3Configuration.minimumChunkSize
        try await S3Client.withClient(configuration: configuration) { client in
            try await client.createBucket()
            try await body(S3Driver(client: client))
        }
    }

    func check(_ body: (StorageDriverConformance) async throws -> Void) async throws {
        try await Self.withDriver { driver in try await body(StorageDriverConformance(driver: driver)) }
    }

    func testSmallObjects() async throws { try await check { try await $0.smallObjects() } }
    func testStagedContent() async throws { try await check { try await $0.stagedContent() } }
    func testPutIfAbsent() async throws { try await check { try await $0.putIfAbsent() } }
    func testDirectories() async throws { try await check { try await $0.directories() } }
    func testReads() async throws { try await check { try await $0.reads() } }
    func testAppendingWriters() async throws { try await check { try await $0.appendingWriters() } }
    func testMovesAndDeletes() async throws { try await check { try await $0.movesAndDeletes() } }
    func testUploadsAcrossInstances() async throws { try await check { try await $0.uploadsAcrossInstances() } }
}
