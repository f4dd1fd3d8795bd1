import BerthCore
@testable import BerthRedis
import BerthStorage
import BerthStorageConformance
import NIOCore
import XCTest

/// The Redis client and the shared blob descriptor cache against a real redis-server.
final class RedisBlobDescriptorCacheTests: XCTestCase {
    func testCommandsPasswordsAndDatabases() async throws {
        let server = try RedisServer(password: "s3cret")
        let wrong = RedisClient(settings: RedisSettings(addresses: [server.address], password: "nope"))
        do {
            try await wrong.send(["PING"])
            XCTFail("a wrong password must be refused")
        } catch {
            XCTAssertTrue("\(error)".contains("AUTH"), "\(error)")
        }
        let db3 = RedisClient(settings: RedisSettings(addresses: ["127.0.0.1:1", server.address], password: "s3cret", db: 3))
        try await db3.send(["SET", "k", "in db 3"])
        let read = try await db3.send(["GET", "k"])
        XCTAssertEqual(read.string, "in db 3", "the first address refuses; the second answers")
        let db0 = RedisClient(settings: RedisSettings(addresses: [server.address], password: "s3cret"))
        let other = try await db0.send(["GET", "k"])
        XCTAssertEqual(other, .bulk(nil), "SELECT kept the key in db 3")
        // Many commands at once share the one pipelined connection, each reply to its caller.
        let replies = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for i in 0..<200 { group.addTask { (i, try await db0.send(["ECHO", "reply \(i)"]).string) } }
            return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
        }
        XCTAssertEqual(replies.count, 200)
        XCTAssertTrue(replies.allSatisfy { $0.value == "reply \($0.key)" })
        for client in [wrong, db3, db0] { await client.close() }
    }

    /// Two nodes over one storage share descriptors: what one looked up, the other finds in
    /// Redis; a link deleted through one node is forgotten for both.
    func testNodesShareDescriptorsAndDeletesInvalidateThem() async throws {
        let server = try RedisServer()
        let driver = InMemoryDriver()
        let cacheA = RedisBlobDescriptorCache(client: RedisClient(settings: RedisSettings(addresses: [server.address])))
        let cacheB = RedisBlobDescriptorCache(client: RedisClient(settings: RedisSettings(addresses: [server.address])))
        let nodeA = RegistryStorage(driver: driver, descriptors: cacheA)
        let nodeB = RegistryStorage(driver: driver, descriptors: cacheB)
        let repository = try RepositoryName("shared/cache")
        let bytes = [UInt8](repeating: 5, count: 4321)
        let digest = Digest.compute(bytes)
        try await nodeA.putBlob(digest, in: repository, length: Int64(bytes.count), body: [ByteBuffer(bytes: bytes)].async)

        let first = try await nodeA.blobSize(digest, in: repository)
        XCTAssertEqual(first, 4321)
        XCTAssertEqual(Self.counts(nodeA), [0, 1], "the first look-up misses")
        let second = try await nodeB.blobSize(digest, in: repository)
        XCTAssertEqual(second, 4321)
        XCTAssertEqual(Self.counts(nodeB), [1, 0], "the other node finds it in Redis")
        let elsewhere = await cacheB.size(of: digest, in: try RepositoryName("other/repo"))
        XCTAssertNil(elsewhere, "a descriptor is scoped to the repository that may serve it")

        try await nodeB.unlinkBlob(digest, from: repository)
        do {
            _ = try await nodeA.blobSize(digest, in: repository)
            XCTFail("the deleted link must not be served from the cache")
        } catch let error as RegistryError {
            XCTAssertEqual(error.code, .blobUnknown)
        }

        // Collected content is forgotten in every repository at once.
        try await nodeA.putBlob(digest, in: repository, length: Int64(bytes.count), body: [ByteBuffer(bytes: bytes)].async)
        _ = try await nodeA.blobSize(digest, in: repository)
        await cacheB.forget(digest, in: nil)
        let forgotten = await cacheA.size(of: digest, in: repository)
        XCTAssertNil(forgotten)
    }

    /// With Redis gone, nodes answer from storage at once; when it is back, the cache is used again.
    func testRedisDownIsBypassedAndRecovers() async throws {
        let server = try RedisServer()
        let cache = RedisBlobDescriptorCache(client: RedisClient(settings: RedisSettings(
            addresses: [server.address], dialTimeout: .milliseconds(200), readTimeout: .milliseconds(200), retryAfter: .milliseconds(300))))
        let storage = RegistryStorage(driver: InMemoryDriver(), descriptors: cache)
        let repository = try RepositoryName("down/redis")
        let bytes = [UInt8](repeating: 9, count: 100)
        let digest = Digest.compute(bytes)
        try await storage.putBlob(digest, in: repository, length: 100, body: [ByteBuffer(bytes: bytes)].async)
        _ = try await storage.blobSize(digest, in: repository)

        server.kill()
        let started = ContinuousClock.now
        for _ in 0..<50 {
            let size = try await storage.blobSize(digest, in: repository)
            XCTAssertEqual(size, 100)
        }
        let elapsed = ContinuousClock.now - started
        XCTAssertLessThan(elapsed, .seconds(2), "50 look-ups with Redis down took \(elapsed): the cache is skipped, not waited on")

        try server.start()
        try await Task.sleep(for: .milliseconds(400))
        _ = try await storage.blobSize(digest, in: repository)  // reconnects and fills the cache again
        let hitsBefore = Self.counts(storage)[0]
        _ = try await storage.blobSize(digest, in: repository)
        XCTAssertEqual(Self.counts(storage)[0], hitsBefore + 1, "Redis answers again and is used")
    }

    static func counts(_ storage: RegistryStorage) -> [Int] {
        let row = storage.statistics.cacheCounters.totals().first { $0.cache == .blobDescriptor }!
        return [row.hits, row.misses]
    }
}
