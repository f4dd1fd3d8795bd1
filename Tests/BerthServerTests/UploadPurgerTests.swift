@testable import BerthServer
import BerthStorage
import Foundation
import Logging
import XCTest

final class UploadPurgerTests: XCTestCase {
    /// Each purge also removes the temporary files an interrupted write left behind once they are
    /// an hour old (a server that is never restarted would keep them for good), through the
    /// metered driver the server uses; recent ones, maybe another process's write, stay.
    func testPurgeRemovesTemporaryFilesInterruptedWritesLeft() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-purger-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var config = BerthConfiguration()
        config.rootDirectory = root
        let storage = try await openStorage(config, metrics: BerthMetrics(version: "test"))
        XCTAssertTrue(storage.driver is MeteredStorageDriver)
        let tmp = root + "/berth/tmp"
        try FileManager.default.createDirectory(atPath: tmp + "/deleted-tree/sub", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: tmp + "/deleted-tree/sub/data", contents: Data(count: 1000))
        FileManager.default.createFile(atPath: tmp + "/old", contents: Data("x".utf8))
        FileManager.default.createFile(atPath: tmp + "/recent", contents: Data("y".utf8))
        let twoHoursAgo = Date().addingTimeInterval(-7200)
        for name in ["deleted-tree", "old"] {
            try FileManager.default.setAttributes([.modificationDate: twoHoursAgo], ofItemAtPath: tmp + "/" + name)
        }
        let purger = UploadPurger(storage: storage, settings: .init(), logger: Logger(label: "test"))
        await purger.purgeOnce()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp), ["recent"])
    }
}
