import BerthCore
import BerthFilesystem
import BerthStorage
import Foundation
import NIOCore
import XCTest

/// A repository of 50,000 tags, made directly on disk in the reference layout (as a registry
/// that has been pushed to for years would hold them), listed a page of 1000 at a time.
final class ManyTagsTests: XCTestCase {
    static let tagCount = 50_000

    /// 50,000 distinct valid tags whose bytewise order is neither creation nor numeric order:
    /// upper and lower case, digits, '_', '.' and '-'.
    static func tagNames() -> [String] {
        let prefixes = ["A", "Z", "_", "a", "z", "0", "9"]
        let suffixes = ["-x", ".y", "", "_Q"]
        return (0..<tagCount).map { i in prefixes[i % prefixes.count] + String(i, radix: 36) + suffixes[i % suffixes.count] }
    }

    /// Creates `_manifests/tags/<tag>/` for every tag with plain system calls, and in every
    /// `linkEvery`-th one `current/link` pointing at `digest`. Listing tags reads only the tag
    /// directories' names (as the reference registry's does), so the links are written for a
    /// sample only: a third of the files to create and remove keeps the test fast.
    static func writeTags(_ tags: [String], pointingAt digest: Digest, linkEvery: Int,
                          root: String, repository: String) throws {
        let tagsDir = root + "/docker/registry/v2/repositories/\(repository)/_manifests/tags"
        try FileManager.default.createDirectory(atPath: tagsDir, withIntermediateDirectories: true)
        let link = Array(digest.description.utf8)
        for (i, tag) in tags.enumerated() {
            let dir = tagsDir + "/" + tag
            guard mkdir(dir, 0o755) == 0 else {
                throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSFilePathErrorKey: dir])
            }
            guard i % linkEvery == 0 else { continue }
            guard mkdir(dir + "/current", 0o755) == 0 else {
                throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSFilePathErrorKey: dir])
            }
            let fd = open(dir + "/current/link", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno), userInfo: [NSFilePathErrorKey: dir]) }
            let written = link.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard written == link.count else { throw NSError(domain: NSPOSIXErrorDomain, code: Int(errno)) }
        }
    }

    /// Sets a directory's modification time `seconds` into the past, as if nothing had changed
    /// in it for a while (listings of such directories may be cached).
    static func age(_ path: String, seconds: Double) throws {
        let past = Date().addingTimeInterval(-seconds)
        try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: path)
    }

    /// A scratch directory on tmpfs when the machine has one (creating and removing 50,000
    /// directories on a slow disk takes many seconds), else in the temporary directory.
    func scratchRoot() throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDirectory), isDirectory.boolValue,
              access("/dev/shm", W_OK) == 0 else { return try makeTemporaryDirectory(self) }
        let dir = "/dev/shm/berth-many-tags-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    func testFiftyThousandTagsPageInOrderExactlyOnce() async throws {
        let root = try scratchRoot()
        let driver = FilesystemDriver(root: root)
        try await driver.prepare()
        let storage = RegistryStorage(driver: driver)
        let repo = try RepositoryName("big/repo")

        // One manifest pushed normally; every tag points at it.
        let config = [UInt8]("{}".utf8)
        let configDigest = Digest.compute(config)
        try await storage.putBlob(configDigest, in: repo, length: Int64(config.count), body: Chunks([config]))
        let manifest = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\#(configDigest)","size":2},"layers":[]}"#
        let (digest, _) = try await storage.putManifest(ByteBuffer(string: manifest), contentType: MediaType.ociManifest,
                                                        reference: .tag(try Tag("first")), in: repo)

        let tags = Self.tagNames()
        XCTAssertEqual(Set(tags).count, Self.tagCount)
        XCTAssertTrue(tags.allSatisfy { Tag.isValid($0) })
        var clock = ContinuousClock.now
        try Self.writeTags(tags, pointingAt: digest, linkEvery: 1000, root: root, repository: repo.value)
        print("ManyTagsTests: wrote \(tags.count) tags in \(ContinuousClock.now - clock)")
        let tagsDir = root + "/docker/registry/v2/repositories/big/repo/_manifests/tags"
        try Self.age(tagsDir, seconds: 10)

        let expected = (tags + ["first"]).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        var collected: [String] = []
        var last: String? = nil
        var pages = 0
        var firstPage = Duration.zero
        var laterPages = Duration.zero
        repeat {
            clock = ContinuousClock.now
            let page = Page.of(try await storage.listTags(in: repo), after: last, limit: 1000)
            let took = ContinuousClock.now - clock
            if pages == 0 { firstPage = took } else { laterPages += took }
            pages += 1
            XCTAssertEqual(page.names.count, pages <= 50 ? 1000 : 1, "page \(pages)")
            XCTAssertEqual(page.hasMore, pages <= 50, "page \(pages)")
            collected += page.names
            last = page.names.last
            if !page.hasMore { break }
        } while pages < 60
        print("ManyTagsTests: first page \(firstPage), later pages \(laterPages / max(pages - 1, 1)) each on average (\(pages) pages)")
        XCTAssertEqual(pages, 51)
        XCTAssertEqual(collected.count, Self.tagCount + 1)
        XCTAssertEqual(Set(collected).count, collected.count, "a tag came back twice")
        XCTAssertTrue(collected == expected, "pages are not the sorted tags: first difference at \(zip(collected, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? -1)")

        // The tags written on disk with a link resolve.
        for tag in [tags[0], tags[12_000], tags[Self.tagCount - 1000]] {
            let stored = try await storage.getManifest(.tag(try Tag(tag)), in: repo)
            XCTAssertEqual(stored.digest, digest, tag)
        }

        // A tag pushed now shows up in the (possibly cached) listing at once, in its place ...
        let added = "Zz-added"
        try await storage.putManifest(ByteBuffer(string: manifest), contentType: MediaType.ociManifest,
                                      reference: .tag(try Tag(added)), in: repo)
        let afterAdd = try await storage.listTags(in: repo)
        XCTAssertEqual(afterAdd.count, Self.tagCount + 2)
        let predecessor = expected.last { $0.utf8.lexicographicallyPrecedes(added.utf8) }
        let addedPage = Page.of(afterAdd, after: predecessor, limit: 1)
        XCTAssertEqual(addedPage.names, [added])
        XCTAssertTrue(addedPage.hasMore)

        // ... and a deleted one disappears at once, even once the directory has aged again.
        try Self.age(tagsDir, seconds: 10)
        let aged = try await storage.listTags(in: repo)
        XCTAssertEqual(aged.count, Self.tagCount + 2)
        try await storage.deleteManifest(.tag(try Tag(tags[7000])), in: repo)
        let afterDelete = try await storage.listTags(in: repo)
        XCTAssertEqual(afterDelete.count, Self.tagCount + 1)
        XCTAssertFalse(afterDelete.contains(tags[7000]))
        XCTAssertTrue(afterDelete.contains(added))
    }
}
