/// berth-bench: micro-benchmarks of Berth's hot paths, below HTTP. Run it in release:
///     swift run -c release berth-bench [--seconds S]
/// Whole-server figures, side by side with the reference registry, come from
/// `../shared/bench/run` (see docs/benchmarks.md).
import BerthCore
import BerthFilesystem
import BerthStorage
import Foundation
import NIOCore

let seconds = CommandLine.arguments.firstIndex(of: "--seconds").flatMap { Double(CommandLine.arguments[$0 + 1]) } ?? 1.0

/// Runs `body` repeatedly for about `seconds` and prints operations per second.
@MainActor  // like the closures below (top-level code), so calling them never hops executors
func measure(_ name: String, bytesPerOp: Int = 0, _ body: () async throws -> Void) async rethrows {
    for _ in 0..<3 { try await body() }  // warm up
    let clock = ContinuousClock()
    let start = clock.now
    var ops = 0
    while clock.now - start < .milliseconds(Int64(seconds * 1000)) {
        for _ in 0..<16 { try await body() }
        ops += 16
    }
    let elapsed = clock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let rate = Double(ops) / secs
    var line = "\(name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(String(format: "%12.0f", rate)) ops/s  \(String(format: "%8.2f", 1e6 / rate)) µs/op"
    if bytesPerOp > 0 { line += String(format: "  %8.0f MB/s", rate * Double(bytesPerOp) / 1e6) }
    print(line)
}

await measure("empty (harness overhead)") {}
let hex = String(repeating: "ab", count: 32)
let digestString = "sha256:\(hex)"
try await measure("parse digest") { _ = try Digest(parsing: digestString) }
try await measure("validate repository name") { _ = try RepositoryName("library/some-team/app.server_x") }

let chunk = [UInt8](repeating: 7, count: 1 << 20)
await measure("sha256 of 1 MiB (DigestHasher)", bytesPerOp: chunk.count) {
    var hasher = DigestHasher(.sha256)
    chunk.withUnsafeBytes { hasher.update($0) }
    _ = hasher.finalize()
}

let manifestJSON = Array("""
    {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
     "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(digestString)","size":1234},
     "layers":[\((0..<10).map { _ in #"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(digestString)","size":5678}"# }.joined(separator: ","))]}
    """.utf8)
try await measure("parse a 10-layer manifest") { _ = try ParsedManifest.parse(manifestJSON, contentType: MediaType.ociManifest) }

// Storage paths against a real filesystem driver in a temporary directory.
let root = NSTemporaryDirectory() + "berth-bench-" + UUID().uuidString
defer { try? FileManager.default.removeItem(atPath: root) }
let driver = FilesystemDriver(root: root)
try await driver.prepare()
let storage = RegistryStorage(driver: driver)
let repo = try RepositoryName("bench/app")
let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
let configDigest = Digest.compute(config)
struct OneBuffer: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: [UInt8]
    struct AsyncIterator: AsyncIteratorProtocol {
        var bytes: [UInt8]?
        mutating func next() async throws -> ByteBuffer? {
            defer { bytes = nil }
            return bytes.map { ByteBuffer(bytes: $0) }
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes) }
}
try await storage.putBlob(configDigest, in: repo, length: Int64(config.count), body: OneBuffer(bytes: config))
let manifest = ByteBuffer(string: #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[]}"#)
let tag = try Tag("latest")
_ = try await storage.putManifest(manifest, contentType: MediaType.ociManifest, reference: .tag(tag), in: repo)

try await measure("manifest GET by tag (storage)") { _ = try await storage.getManifest(.tag(tag), in: repo) }
try await measure("blob HEAD (storage)") { _ = try await storage.blobSize(configDigest, in: repo) }
try await measure("tags list (storage)") { _ = try await storage.listTags(in: repo) }
try await measure("manifest PUT by tag (storage)") {
    _ = try await storage.putManifest(manifest, contentType: MediaType.ociManifest, reference: .tag(tag), in: repo)
}
let blob = [UInt8](repeating: 1, count: 8 << 20)
let blobDigest = Digest.compute(blob)
try await measure("blob push 8 MiB (storage, fsync)", bytesPerOp: blob.count) {
    try await storage.putBlob(blobDigest, in: repo, length: Int64(blob.count), body: OneBuffer(bytes: blob))
}

// Web UI pages over 10,000 repositories (UIBenchmark.swift); `--ui-repositories N` changes the count.
let uiRepositories = CommandLine.arguments.firstIndex(of: "--ui-repositories").flatMap { Int(CommandLine.arguments[$0 + 1]) } ?? 10_000
try await benchmarkWebUI(repositories: uiRepositories)
