import BerthCore
import BerthFilesystem
@testable import BerthStorage
import Foundation
import NIOCore
import XCTest

/// A storage on the filesystem driver, in a fresh temporary directory removed after the test
/// (or over `root`, as a restarted process would open it).
func makeStorage(_ testCase: XCTestCase, root: String? = nil) async throws -> (RegistryStorage, String) {
    let dir = try root ?? makeTemporaryDirectory(testCase)
    let driver = FilesystemDriver(root: dir)
    try await driver.prepare()
    return (RegistryStorage(driver: driver), dir)
}

func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

/// A manifest pushed through `RegistryStorage`, with everything it references.
struct PushedManifest: Sendable {
    var digest: Digest
    var size: Int
    var mediaType: String
    /// Config and layers, with their sizes (an index has none).
    var blobs: [(digest: Digest, size: Int)]
    var children: [PushedManifest] = []

    /// Every digest stored for it: itself, its blobs, its children's, recursively.
    var allDigests: Set<Digest> {
        children.reduce(Set([digest] + blobs.map(\.digest))) { $0.union($1.allDigests) }
    }

    var descriptor: String { Self.descriptor(mediaType, digest, size) }

    static func descriptor(_ mediaType: String, _ digest: Digest, _ size: Int, extra: String = "") -> String {
        #"{"mediaType":"\#(mediaType)","digest":"\#(digest)","size":\#(size)\#(extra)}"#
    }
}

extension RegistryStorage {
    /// Stores `bytes` as a blob of the repository (a monolithic upload).
    func pushBlob(_ bytes: [UInt8], in repository: RepositoryName) async throws -> (digest: Digest, size: Int) {
        let digest = Digest.compute(bytes)
        try await putBlob(digest, in: repository, length: Int64(bytes.count), body: Chunks([bytes]))
        return (digest, bytes.count)
    }

    /// Pushes an OCI image manifest over `layers` and a config of its own. With `subject` it is a
    /// referrer (an artifact when `artifactType` is set, whose config then has that type).
    func pushImage(in repository: RepositoryName, tag: String? = nil, layers: [[UInt8]],
                   subject: PushedManifest? = nil, artifactType: String? = nil) async throws -> PushedManifest {
        let configType = artifactType.map { $0 + ".config+json" } ?? "application/vnd.oci.image.config.v1+json"
        let config = try await pushBlob(Array(#"{"architecture":"amd64","os":"linux","id":"\#(UUID())"}"#.utf8), in: repository)
        var pushedLayers: [(digest: Digest, size: Int)] = []
        for layer in layers { pushedLayers.append(try await pushBlob(layer, in: repository)) }
        let layerList = pushedLayers.map { PushedManifest.descriptor("application/vnd.oci.image.layer.v1.tar+gzip", $0.digest, $0.size) }
        var json = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest)""#
        if let artifactType { json += #","artifactType":"\#(artifactType)""# }
        json += #","config":\#(PushedManifest.descriptor(configType, config.digest, config.size))"#
        json += #","layers":[\#(layerList.joined(separator: ","))]"#
        if let subject { json += #","subject":\#(subject.descriptor)"# }
        json += "}"
        let digest = try await putTestManifest(json, tag: tag, in: repository)
        return PushedManifest(digest: digest, size: json.utf8.count, mediaType: MediaType.ociManifest,
                              blobs: [config] + pushedLayers)
    }

    /// Pushes an OCI index over `children` (already pushed to the repository), each as linux/amd64.
    func pushIndex(in repository: RepositoryName, tag: String? = nil, children: [PushedManifest]) async throws -> PushedManifest {
        let list = children.map { PushedManifest.descriptor($0.mediaType, $0.digest, $0.size,
                                                             extra: #","platform":{"architecture":"amd64","os":"linux"}"#) }
        let json = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex)","manifests":[\#(list.joined(separator: ","))]}"#
        let digest = try await putTestManifest(json, tag: tag, in: repository)
        return PushedManifest(digest: digest, size: json.utf8.count, mediaType: MediaType.ociIndex, blobs: [], children: children)
    }

    private func putTestManifest(_ json: String, tag: String?, in repository: RepositoryName) async throws -> Digest {
        let reference: Reference = try tag.map { .tag(try Tag($0)) } ?? .digest(Digest.compute(Array(json.utf8)))
        return try await putManifest(ByteBuffer(string: json), contentType: nil, reference: reference, in: repository).digest
    }

    /// One collection with the test's usual settings: nothing is protected by age or pins
    /// unless the test asks for it.
    func collect(deleteUntagged: Bool = false, dryRun: Bool = false, grace: Duration = .zero, pinWindow: Duration = .zero,
                 progress: @escaping @Sendable (GCProgress) -> Void = { _ in }) async throws -> GCReport {
        try await collectGarbage(GCOptions(deleteUntagged: deleteUntagged, dryRun: dryRun, gracePeriod: grace, pinWindow: pinWindow),
                                 owner: "test", progress: progress)
    }

    /// Asserts that every tag of every catalogued repository resolves, and that the manifest it
    /// names, its children and every blob they reference are there to be served, byte for byte.
    func assertEveryTagIntact(file: StaticString = #filePath, line: UInt = #line) async throws {
        for name in try await catalog() {
            let repository = try RepositoryName(name)
            for tag in try await listTags(in: repository) {
                try await assertIntact(.tag(try Tag(tag)), in: repository, file: file, line: line)
            }
        }
    }

    func assertIntact(_ reference: Reference, in repository: RepositoryName,
                      file: StaticString = #filePath, line: UInt = #line) async throws {
        let stored = try await getManifest(reference, in: repository)
        XCTAssertEqual(Digest.compute(stored.bytes.readableBytesView), stored.digest, "\(repository):\(reference)", file: file, line: line)
        let manifest = try ParsedManifest.parse(stored.bytes.readableBytesView, contentType: stored.mediaType)
        for blob in manifest.requiredBlobs {
            let size = try await blobSize(blob.digest, in: repository)
            XCTAssertEqual(size, blob.size, "\(repository):\(reference) blob \(blob.digest)", file: file, line: line)
            var hasher = DigestHasher(blob.digest.algorithm)
            try await readBlob(blob.digest, range: nil) { chunk in chunk.withUnsafeReadableBytes { hasher.update($0) } }
            XCTAssertEqual(hasher.finalize(), blob.digest, "content of \(blob.digest) in \(repository)", file: file, line: line)
        }
        for child in manifest.manifests {
            try await assertIntact(.digest(child.digest), in: repository, file: file, line: line)
        }
    }
}

/// What is on disk under a storage root, in the reference layout.
struct Disk {
    let root: String
    static let v2 = "/docker/registry/v2"

    func blobExists(_ d: Digest) -> Bool { exists("\(Self.v2)/blobs/\(d.algorithm.rawValue)/\(d.hex.prefix(2))/\(d.hex)/data") }
    func manifestLinked(_ d: Digest, in repository: String) -> Bool {
        exists("\(Self.v2)/repositories/\(repository)/_manifests/revisions/\(d.algorithm.rawValue)/\(d.hex)/link")
    }
    func layerLinked(_ d: Digest, in repository: String) -> Bool {
        exists("\(Self.v2)/repositories/\(repository)/_layers/\(d.algorithm.rawValue)/\(d.hex)/link")
    }
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: root + path) }

    /// Asserts each digest is stored as a blob (`present`) or not.
    func assertBlobs(_ digests: some Sequence<Digest>, present: Bool, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        for d in digests {
            XCTAssertEqual(blobExists(d), present, "\(what): blob \(d) should \(present ? "be stored" : "be gone")", file: file, line: line)
        }
    }

    /// Every file and directory under the root with its size and modification time.
    func tree() throws -> [String: String] {
        var entries: [String: String] = [:]
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw TestFailure("cannot walk \(root)") }
        while let path = walker.nextObject() as? String {
            let attributes = try FileManager.default.attributesOfItem(atPath: root + "/" + path)
            let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            entries[path] = "\(attributes[.size] ?? 0) \(modified)"
        }
        return entries
    }

    func setModified(_ path: String, _ date: Date) throws {
        try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: root + path)
    }

    /// Writes a pin naming `digests` as a push at `date` would (synchronously, so it may be
    /// called from a collection's progress callback, as a push racing the run).
    func writePin(_ digests: some Sequence<Digest>, at date: Date) throws {
        let dir = root + StoragePath.gcPinHour(Pins.hour(of: date)).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let text = digests.map { $0.description + "\n" }.joined()
        try text.write(toFile: dir + "/" + Pins.name(at: date), atomically: true, encoding: .utf8)
    }

    /// Rewrites every pin as if it had been written at `date`.
    func agePins(to date: Date) throws {
        let pins = root + StoragePath.gcPins.path
        var texts: [String] = []
        for hour in try FileManager.default.contentsOfDirectory(atPath: pins) {
            for name in try FileManager.default.contentsOfDirectory(atPath: pins + "/" + hour) {
                texts.append(try String(contentsOfFile: pins + "/" + hour + "/" + name, encoding: .utf8))
            }
        }
        try FileManager.default.removeItem(atPath: pins)
        for text in texts {
            try writePin(text.split(separator: "\n").map { try Digest(parsing: $0) }, at: date)
        }
    }

    /// Sets every modification time under the root to `date` (content written long ago).
    func age(to date: Date) throws {
        for path in try tree().keys { try setModified("/" + path, date) }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
