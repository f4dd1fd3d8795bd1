import BerthCore
import BerthFilesystem
import BerthStorage
import BerthUI
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// Web UI page renders over a registry of `repositories` repositories (1–3 tags each, one
/// `bench/big` with 120 tags), stored by the real filesystem driver: the whole path a page takes
/// (catalog index, access filter, repository overviews, Mustache) minus the socket.
@MainActor
func benchmarkWebUI(repositories count: Int) async throws {
    let root = NSTemporaryDirectory() + "berth-bench-ui-" + UUID().uuidString
    defer { try? FileManager.default.removeItem(atPath: root) }
    let driver = FilesystemDriver(root: root)
    try await driver.prepare()
    let storage = RegistryStorage(driver: driver)
    let started = ContinuousClock.now
    let seed = try RepositoryName("bench/seed")
    let config = Array(#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/app"]}}"#.utf8)
    let configDigest = Digest.compute(config)
    _ = try await storage.putBlob(configDigest, in: seed, length: Int64(config.count), body: OneBuffer(bytes: config))
    func manifest(_ n: Int) -> ByteBuffer {
        // Layers need not be stored here: validation is off for them (sizes only feed the totals).
        ByteBuffer(string: #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:\#(String(format: "%064x", n))","size":\#(1_000_000 + n)}]}"#)
    }
    let sparse = RegistryStorage(driver: driver, validation: .init(requireIndexChildren: true, requireLayers: false))
    func push(_ name: RepositoryName, tags: Int, offset: Int) async throws {
        _ = try await sparse.mountBlob(configDigest, from: seed, into: name)
        for t in 0..<tags {
            _ = try await sparse.putManifest(manifest(offset + t), contentType: MediaType.ociManifest,
                                             reference: .tag(try Tag("v\(t)")), in: name)
        }
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        let workers = 8
        for w in 0..<workers {
            group.addTask {
                for i in stride(from: w, to: count, by: workers) {
                    try await push(try RepositoryName(String(format: "team-%03d/service-%05d", i % 200, i)), tags: 1 + i % 3, offset: i * 3)
                }
            }
        }
        try await group.waitForAll()
    }
    try await push(try RepositoryName("bench/big"), tags: 120, offset: 10_000_000)
    let filled = ContinuousClock.now - started
    print("web UI: \(count + 2) repositories stored in \(filled.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))")

    let ui = try WebUI(storage: storage, authentication: .open, settings: UISettings(deleteEnabled: true), secret: "bench")
    func get(_ path: String) async -> Int {
        let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "registry.example", path: path),
                              body: RequestBody(buffer: ByteBuffer()))
        let response = await ui.respond(to: request, peer: nil, logger: Logger(label: "bench"))
        return Int(response.status.code)
    }
    // The server's catalog builder marks the catalog built at start; without it the first
    // catalog read would walk the storage.
    _ = try await storage.ensureCatalog(logger: Logger(label: "bench"))
    // The first page with no overview cached yet (50 repositories' tags and manifests read).
    let cold = ContinuousClock.now
    guard await get("/ui/") == 200 else { throw BenchFailure("the repository list did not render") }
    print("web UI: first repository list page, overviews not yet cached: \((ContinuousClock.now - cold).formatted(.units(allowed: [.milliseconds], fractionalPart: .show(length: 2))))")
    // What the server's overview indexer does at start (OverviewIndexer.swift).
    let indexing = ContinuousClock.now
    let indexed = try await storage.refreshOverviews() ?? 0
    print("web UI: overview index of \(indexed) repositories built in \((ContinuousClock.now - indexing).formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 2))))")
    let pages = [
        ("UI repository list, page 1", "/ui/"),
        ("UI repository list, page 150", "/ui/?page=150"),
        ("UI search over all names", "/ui/?q=service-0999"),
        ("UI repository page (120 tags)", "/ui/repository?name=bench/big"),
        ("UI manifest page", "/ui/manifest?name=bench/big&reference=v7"),
        ("UI JSON repositories (100)", "/ui/api/repositories"),
    ]
    for (name, path) in pages {
        guard await get(path) == 200 else { throw BenchFailure("\(path) did not render") }
        await measure(name) { _ = await get(path) }
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
