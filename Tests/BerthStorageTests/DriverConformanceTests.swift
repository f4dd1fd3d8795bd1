import BerthFilesystem
import BerthStorage
import BerthStorageConformance
import Foundation
import XCTest

/// The shared driver checks (BerthStorageConformance) against the filesystem and in-memory
/// drivers; Tests/BerthS3Tests runs the same against S3.
final class FilesystemDriverConformanceTests: XCTestCase {
    var directory: URL!
    var conformance: StorageDriverConformance!

    override func setUp() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-conformance-\(UUID().uuidString)")
        let driver = FilesystemDriver(root: directory.path)
        try await driver.prepare()
        conformance = StorageDriverConformance(driver: driver)
    }

    override func tearDown() async throws { try? FileManager.default.removeItem(at: directory) }

    func testSmallObjects() async throws { try await conformance.smallObjects() }
    func testStagedContent() async throws { try await conformance.stagedContent() }
    func testPutIfAbsent() async throws { try await conformance.putIfAbsent() }
    func testDirectories() async throws { try await conformance.directories() }
    func testReads() async throws { try await conformance.reads() }
    func testAppendingWriters() async throws { try await conformance.appendingWriters() }
    func testMovesAndDeletes() async throws { try await conformance.movesAndDeletes() }
    func testUploadsAcrossInstances() async throws { try await conformance.uploadsAcrossInstances() }
}

/// The same with a threshold of 0: every aligned block goes to the disk with O_DIRECT.
final class DirectWriteConformanceTests: XCTestCase {
    var directory: URL!
    var conformance: StorageDriverConformance!

    override func setUp() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("berth-conformance-\(UUID().uuidString)")
        let driver = FilesystemDriver(root: directory.path, directWriteThreshold: 0)
        try await driver.prepare()
        conformance = StorageDriverConformance(driver: driver)
    }

    override func tearDown() async throws { try? FileManager.default.removeItem(at: directory) }

    func testReads() async throws { try await conformance.reads() }
    func testAppendingWriters() async throws { try await conformance.appendingWriters() }
    func testMovesAndDeletes() async throws { try await conformance.movesAndDeletes() }
    func testUploadsAcrossInstances() async throws { try await conformance.uploadsAcrossInstances() }
}

final class InMemoryDriverConformanceTests: XCTestCase {
    let conformance = StorageDriverConformance(driver: InMemoryDriver())

    func testSmallObjects() async throws { try await conformance.smallObjects() }
    func testStagedContent() async throws { try await conformance.stagedContent() }
    func testPutIfAbsent() async throws { try await conformance.putIfAbsent() }
    func testDirectories() async throws { try await conformance.directories() }
    func testReads() async throws { try await conformance.reads() }
    func testAppendingWriters() async throws { try await conformance.appendingWriters() }
    func testMovesAndDeletes() async throws { try await conformance.movesAndDeletes() }
    func testUploadsAcrossInstances() async throws { try await conformance.uploadsAcrossInstances() }
}
