import BerthCore
import BerthFilesystem
@testable import BerthStorage
import Foundation
import NIOCore
import XCTest

/// Scrubs while pushes move tags, deletes remove manifests and collections remove what nothing
/// references: every state they pass through is legitimate, so no scrub may report a problem.
final class ScrubberConcurrencyTests: XCTestCase {
    func testScrubsDuringPushesDeletesAndCollectionsFindNothing() async throws {
        let (storage, root) = try await makeStorage(self)
        // Another process's view of the same storage, as `berth scrub` beside `berth serve`.
        let scrubbing = RegistryStorage(driver: FilesystemDriver(root: root))
        let deadline = ContinuousClock.now + .seconds(3)
        let (findings, runs) = try await withThrowingTaskGroup(of: ([ScrubFinding], Int).self) { group in
            for worker in 0..<2 {
                group.addTask {
                    let repo = try RepositoryName("busy/\(worker)")
                    var pushed: [PushedManifest] = []
                    var round = 0
                    while ContinuousClock.now < deadline {
                        round += 1
                        // With a grace period of 0 a collection may set a just-uploaded blob aside
                        // before the manifest PUT checks it: MANIFEST_BLOB_UNKNOWN, and a client
                        // pushes again (docs/garbage-collection.md).
                        let image = try await Self.pushAgainIfBlobsWereSetAside {
                            try await storage.pushImage(in: repo, tag: "latest", layers: [randomBytes(2000), randomBytes(500)])
                        }
                        _ = try await Self.pushAgainIfBlobsWereSetAside {
                            try await storage.pushImage(in: repo, layers: [randomBytes(10)], subject: image, artifactType: "application/vnd.example.sig")
                        }
                        // A collection may remove the image first (once "latest" moves on, nothing
                        // holds it): the push then fails cleanly, as the protocol allows.
                        if round % 3 == 0 {
                            _ = try? await storage.pushIndex(in: repo, tag: "multi", children: [image])
                        } else {
                            pushed.append(image)  // deleting a child of the tagged index would break it for real
                        }
                        if round % 2 == 0, pushed.count > 2 {
                            // An older image, by digest (untagged by now, unless an index holds it).
                            let old = pushed.removeFirst()
                            try? await storage.deleteManifest(.digest(old.digest), in: repo)
                        }
                    }
                    return ([], 0)
                }
            }
            group.addTask {
                while ContinuousClock.now < deadline {
                    _ = try await storage.collect(deleteUntagged: true, pinWindow: .seconds(2))
                    try await Task.sleep(for: .milliseconds(50))
                }
                return ([], 0)
            }
            group.addTask {
                var found: [ScrubFinding] = []
                var runs = 0
                while ContinuousClock.now < deadline {
                    let report = try await Scrubber(storage: scrubbing, options: ScrubOptions()).run()
                    found += report.findings
                    runs += 1
                }
                return (found, runs)
            }
            var all: [ScrubFinding] = []
            var runs = 0
            for try await (found, n) in group {
                all += found
                runs += n
            }
            return (all, runs)
        }
        XCTAssertGreaterThanOrEqual(runs, 2)
        XCTAssertEqual(findings.map(\.message), [])
        // And once everything is still, the store is clean too.
        let final = try await Scrubber(storage: scrubbing, options: ScrubOptions()).run()
        XCTAssertEqual(final.problems, 0, "\(final.findings.map(\.message))")
        XCTAssertGreaterThan(final.manifestsChecked, 4)
    }

    private static func pushAgainIfBlobsWereSetAside(_ push: () async throws -> PushedManifest) async throws -> PushedManifest {
        for attempt in 1... {
            do {
                return try await push()
            } catch let error as RegistryError where error.code == .manifestBlobUnknown && attempt < 5 {
                continue
            }
        }
        fatalError("unreachable")
    }
}
