import BerthCore
import BerthFilesystem
@testable import BerthStorage
import Foundation
import XCTest

/// Immutable tags in storage: which tags the rules cover, pushes and deletes refused (and allowed
/// with `overwrite`), a creation race settled by the first push, and retention leaving them alone.
final class TagImmutabilityTests: XCTestCase {
    let app = try! RepositoryName("team/app")
    let rules = TagImmutability(rules: [
        .init(repositories: ["**"], tags: ["v*.*.*"]),
        .init(repositories: ["prod/**"], tags: ["*"], except: ["latest", "dev-*"]),
    ])

    func storage() async throws -> RegistryStorage {
        let driver = FilesystemDriver(root: try makeTemporaryDirectory(self))
        try await driver.prepare()
        return RegistryStorage(driver: driver, immutability: rules)
    }

    func testRulesCoverTheRightTags() {
        XCTAssertEqual(rules.rule(for: "v1.2.3", in: "team/app"), 0)
        XCTAssertNil(rules.rule(for: "v1.2", in: "team/app"))
        XCTAssertNil(rules.rule(for: "latest", in: "team/app"))
        XCTAssertEqual(rules.rule(for: "stable", in: "prod/web"), 1)
        XCTAssertEqual(rules.rule(for: "v1.0.0", in: "prod/web"), 0, "the first matching rule is named")
        XCTAssertNil(rules.rule(for: "latest", in: "prod/web"))
        XCTAssertNil(rules.rule(for: "dev-42", in: "prod/web"))
        XCTAssertNil(rules.rule(for: "stable", in: "production/web"))
        XCTAssertNil(TagImmutability.none.rule(for: "v1.2.3", in: "team/app"))
    }

    func testImmutableTagsRefuseMovesAndDeletesUnlessOverwritten() async throws {
        let storage = try await storage()
        let first = try await storage.pushImage(in: app, tag: "v1.0.0", layers: [randomBytes(100)])
        let second = try await storage.pushImage(in: app, layers: [randomBytes(100)])
        // The same manifest again: fine. Another one, as the reference or as a ?tag= parameter: refused.
        _ = try await storage.pushImage(in: app, tag: "latest", layers: [randomBytes(10)])
        try await storage.retag(first, "v1.0.0", in: app)
        await assertRegistryError(.denied) { try await storage.retag(second, "v1.0.0", in: self.app) }
        await assertRegistryError(.denied) { try await storage.retag(second, "latest", extra: ["v1.0.0"], in: self.app) }
        let current = try await storage.resolveManifest(.tag(try Tag("v1.0.0")), in: app)
        XCTAssertEqual(current, first.digest)
        // Deleting the tag, or the manifest it points at.
        await assertRegistryError(.denied) { try await storage.deleteManifest(.tag(try Tag("v1.0.0")), in: self.app) }
        await assertRegistryError(.denied) { try await storage.deleteManifest(.digest(first.digest), in: self.app) }
        // Mutable tags move and delete.
        try await storage.retag(second, "latest", in: app)
        try await storage.deleteManifest(.tag(try Tag("latest")), in: app)
        // With the overwrite permission, everything goes.
        try await storage.retag(second, "v1.0.0", in: app, overwrite: true)
        let moved = try await storage.resolveManifest(.tag(try Tag("v1.0.0")), in: app)
        XCTAssertEqual(moved, second.digest)
        try await storage.deleteManifest(.digest(second.digest), in: app, overwrite: true)
        await assertRegistryError(.manifestUnknown) { _ = try await storage.resolveManifest(.tag(try Tag("v1.0.0")), in: self.app) }
    }

    /// Two pushes creating the same immutable tag at once: one wins, the other is refused, and
    /// the tag never moves afterwards.
    func testConcurrentCreationHasOneWinner() async throws {
        let storage = try await storage()
        var images: [PushedManifest] = []
        for _ in 0..<8 { images.append(try await storage.pushImage(in: app, layers: [randomBytes(50)])) }
        let app = self.app
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for image in images {
                group.addTask { (try? await storage.retag(image, "v9.9.9", in: app)) != nil }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        XCTAssertEqual(outcomes.filter { $0 }.count, 1, "exactly one push creates the tag")
        let winner = try await storage.resolveManifest(.tag(try Tag("v9.9.9")), in: app)
        XCTAssertTrue(images.contains { $0.digest == winner })
        let pointing = try await storage.tags(pointingAt: winner, in: app)
        XCTAssertEqual(pointing.map(\.value), ["v9.9.9"])
    }

    func testRetentionLeavesImmutableTagsAlone() async throws {
        let storage = try await storage()
        for tag in ["v1.0.0", "v1.1.0", "nightly-1", "nightly-2"] {
            _ = try await storage.pushImage(in: app, tag: tag, layers: [randomBytes(20)])
        }
        let policies = RetentionPolicies([RetentionPolicy(repositories: ["team/*"], keepNewest: 0, allowEmpty: true)])
        let report = try await storage.applyRetention(policies, dryRun: false)
        let outcome = try XCTUnwrap(report.repositories.first)
        XCTAssertEqual(Set(outcome.tags.compactMap(\.tag)), ["nightly-1", "nightly-2"])
        XCTAssertEqual(Set(outcome.skipped.compactMap(\.tag)), ["v1.0.0", "v1.1.0"])
        XCTAssertTrue(outcome.skipped.allSatisfy { $0.reason.contains("immutab") })
        let remaining = try await storage.listTags(in: app)
        XCTAssertEqual(remaining, ["v1.0.0", "v1.1.0"])
    }
}

extension RegistryStorage {
    /// Pushes `image`'s manifest again under `tag` (and `extra` tags as ?tag= parameters would).
    func retag(_ image: PushedManifest, _ tag: String, extra: [String] = [], in repository: RepositoryName,
               overwrite: Bool = false) async throws {
        let manifest = try await getManifest(.digest(image.digest), in: repository)
        _ = try await putManifest(manifest.bytes, contentType: manifest.mediaType, reference: .tag(try Tag(tag)),
                                  tags: try extra.map { try Tag($0) }, in: repository, overwrite: overwrite)
    }
}
