import Crypto
import Foundation

enum MediaTypes {
    static let manifest = "application/vnd.oci.image.manifest.v1+json"
    static let index = "application/vnd.oci.image.index.v1+json"
    static let config = "application/vnd.oci.image.config.v1+json"
    static let layer = "application/vnd.oci.image.layer.v1.tar+gzip"
}

/// A piece of content addressed by its sha256 digest.
struct Blob: Sendable {
    var mediaType: String
    var bytes: Data
    var digest: String { Self.digest(bytes) }
    var hex: String { String(digest.dropFirst("sha256:".count)) }

    static func digest(_ data: Data) -> String {
        "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The descriptor JSON (keys in a fixed order, so the bytes are reproducible).
    func descriptor(platform: (architecture: String, os: String)? = nil, refName: String? = nil) -> String {
        var fields = [#""mediaType":"\#(mediaType)""#, #""digest":"\#(digest)""#, #""size":\#(bytes.count)"#]
        if let platform {
            fields.append(#""platform":{"architecture":"\#(platform.architecture)","os":"\#(platform.os)"}"#)
        }
        if let refName {
            fields.append(#""annotations":{"org.opencontainers.image.ref.name":"\#(refName)"}"#)
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// A single-platform image: gzip-compressed tar layers, a config with their diff_ids, and the manifest.
struct TestImage: Sendable {
    var architecture: String
    var os: String
    var layers: [Blob]
    var config: Blob
    var manifest: Blob

    /// Config and layers: every blob the manifest references.
    var blobs: [Blob] { [config] + layers }

    /// `layerCount` layers of `layerSize` random bytes each, in one file per layer's tar.
    static func random(architecture: String = "amd64", os: String = "linux", layerCount: Int = 3,
                       layerSize: Int = 100_000) -> TestImage {
        let tars = (0..<layerCount).map { Tar.archive(name: "layer\($0)/data.bin", contents: randomBytes(layerSize)) }
        return TestImage(architecture: architecture, os: os, layerTars: tars)
    }

    /// An image over these layer tars (each gzip-wrapped), so that images can share layers.
    init(architecture: String = "amd64", os: String = "linux", layerTars: [Data]) {
        let layers = layerTars.map { Blob(mediaType: MediaTypes.layer, bytes: Gzip.stored($0)) }
        let diffIDList = layerTars.map { "\"\(Blob.digest($0))\"" }.joined(separator: ",")
        let config = Blob(mediaType: MediaTypes.config, bytes: Data("""
            {"architecture":"\(architecture)","os":"\(os)","config":{"Env":["PATH=/usr/bin:/bin"]},\
            "rootfs":{"type":"layers","diff_ids":[\(diffIDList)]}}
            """.utf8))
        let layerList = layers.map { $0.descriptor() }.joined(separator: ",")
        let manifest = Blob(mediaType: MediaTypes.manifest, bytes: Data("""
            {"schemaVersion":2,"mediaType":"\(MediaTypes.manifest)","config":\(config.descriptor()),"layers":[\(layerList)]}
            """.utf8))
        self.architecture = architecture
        self.os = os
        self.layers = layers
        self.config = config
        self.manifest = manifest
    }
}

/// An OCI image index over several single-platform images.
struct TestIndex: Sendable {
    var images: [TestImage]
    var index: Blob

    init(images: [TestImage]) {
        self.images = images
        let list = images.map { $0.manifest.descriptor(platform: ($0.architecture, $0.os)) }.joined(separator: ",")
        index = Blob(mediaType: MediaTypes.index, bytes: Data("""
            {"schemaVersion":2,"mediaType":"\(MediaTypes.index)","manifests":[\(list)]}
            """.utf8))
    }
}

/// Reading and writing OCI image layout directories (`oci-layout`, `index.json`, `blobs/sha256/`).
enum OCILayout {
    /// Writes a layout at `dir` whose `index.json` names `top` (an image manifest or an index) as `tag`.
    static func write(_ dir: URL, tag: String, top: Blob, blobs: [Blob]) throws {
        let blobDir = dir.appendingPathComponent("blobs/sha256")
        try FileManager.default.createDirectory(at: blobDir, withIntermediateDirectories: true)
        for blob in blobs + [top] {
            try blob.bytes.write(to: blobDir.appendingPathComponent(blob.hex))
        }
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: dir.appendingPathComponent("oci-layout"))
        let index = #"{"schemaVersion":2,"manifests":["# + top.descriptor(refName: tag) + "]}"
        try Data(index.utf8).write(to: dir.appendingPathComponent("index.json"))
    }

    static func write(_ dir: URL, tag: String, image: TestImage) throws {
        try write(dir, tag: tag, top: image.manifest, blobs: image.blobs)
    }

    static func write(_ dir: URL, tag: String, index: TestIndex) throws {
        try write(dir, tag: tag, top: index.index, blobs: index.images.flatMap { $0.blobs + [$0.manifest] })
    }

    /// The descriptor `index.json` gives for `tag`: digest and media type.
    static func topDescriptor(_ dir: URL, tag: String) throws -> (digest: String, mediaType: String) {
        let data = try Data(contentsOf: dir.appendingPathComponent("index.json"))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let manifests = json["manifests"] as? [[String: Any]] else {
            throw TestFailure("\(dir.path)/index.json is not an OCI index: \(String(decoding: data, as: UTF8.self))")
        }
        for entry in manifests {
            let annotations = entry["annotations"] as? [String: String]
            if annotations?["org.opencontainers.image.ref.name"] == tag,
               let digest = entry["digest"] as? String, let mediaType = entry["mediaType"] as? String {
                return (digest, mediaType)
            }
        }
        throw TestFailure("\(dir.path)/index.json has no entry for tag \(tag): \(String(decoding: data, as: UTF8.self))")
    }

    /// The bytes of a blob in the layout, checked against its digest.
    static func blob(_ dir: URL, _ digest: String) throws -> Data {
        let hex = digest.dropFirst("sha256:".count)
        let url = dir.appendingPathComponent("blobs/sha256/\(hex)")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TestFailure("blob \(digest) is missing from \(dir.path)")
        }
        guard Blob.digest(data) == digest else {
            throw TestFailure("blob file \(url.path) does not have digest \(digest) but \(Blob.digest(data))")
        }
        return data
    }
}

func randomBytes(_ count: Int) -> Data {
    var generator = SystemRandomNumberGenerator()
    var data = Data(count: (count + 7) / 8 * 8)
    data.withUnsafeMutableBytes { raw in
        let words = raw.bindMemory(to: UInt64.self)
        for i in words.indices { words[i] = generator.next() }
    }
    return data.prefix(count)
}

/// A minimal ustar writer: one regular file.
enum Tar {
    static func archive(name: String, contents: Data) -> Data {
        var header = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) {
            for (i, byte) in text.utf8.enumerated() { header[offset + i] = byte }
        }
        put(name, at: 0)
        put("0000644", at: 100)                                   // mode
        put("0000000", at: 108)                                   // uid
        put("0000000", at: 116)                                   // gid
        put(String(format: "%011o", contents.count), at: 124)     // size
        put("14000000000", at: 136)                               // mtime (2014)
        put("        ", at: 148)                                  // checksum placeholder
        put("0", at: 156)                                         // regular file
        put("ustar\u{0}00", at: 257)
        let checksum = header.reduce(0) { $0 + Int($1) }
        put(String(format: "%06o", checksum) + "\u{0} ", at: 148)
        var archive = Data(header)
        archive.append(contents)
        archive.append(Data(count: (512 - contents.count % 512) % 512))
        archive.append(Data(count: 1024))                         // end of archive
        return archive
    }
}

/// gzip with stored (uncompressed) deflate blocks: valid gzip any reader accepts, written without
/// a compression library. The layers are random data, which would not compress anyway.
enum Gzip {
    static func stored(_ input: Data) -> Data {
        var out = Data([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff])
        let bytes = [UInt8](input)
        var offset = 0
        repeat {
            let count = min(65_535, bytes.count - offset)
            let final = offset + count == bytes.count
            out.append(final ? 0x01 : 0x00)
            out.append(contentsOf: [UInt8(count & 0xff), UInt8(count >> 8)])
            let complement = ~UInt16(count)
            out.append(contentsOf: [UInt8(complement & 0xff), UInt8(complement >> 8)])
            out.append(contentsOf: bytes[offset..<(offset + count)])
            offset += count
        } while offset < bytes.count
        appendLittleEndian(&out, crc32(bytes))
        appendLittleEndian(&out, UInt32(truncatingIfNeeded: bytes.count))
        return out
    }

    private static func appendLittleEndian(_ data: inout Data, _ value: UInt32) {
        data.append(contentsOf: [UInt8(value & 0xff), UInt8((value >> 8) & 0xff), UInt8((value >> 16) & 0xff), UInt8(value >> 24)])
    }

    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xffff_ffff
    }
}
