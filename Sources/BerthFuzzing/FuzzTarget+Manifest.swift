import BerthCore
import Foundation

extension FuzzTarget {
    /// `ParsedManifest.parse`: on any bytes (first line: the Content-Type, the rest: the body)
    /// it returns a manifest of an accepted media type whose descriptors hold valid digests and
    /// sizes, or throws MANIFEST_INVALID; deeply nested JSON must be refused, not recursed into.
    package static let manifest = FuzzTarget(
        name: "manifest",
        dictionary: ["{", "}", "[", "]", ",", ":", "\"", "null", "true", "-1", "1e400", "1.5", "\"schemaVersion\":2",
                     "\"mediaType\":", "\"config\":", "\"layers\":", "\"manifests\":", "\"subject\":", "\"digest\":",
                     "\"size\":", "\"urls\":", "\"annotations\":", "\"sha256:", MediaType.ociManifest, MediaType.ociIndex,
                     MediaType.dockerManifest, MediaType.dockerManifestList, "\\u0000", "\\ud800", "[[[[[[[[", "{\"a\":"],
        generate: { random in Array(ManifestGenerator.generate(&random).utf8) },
        check: { input throws(FuzzFailure) in
            let newline = input.firstIndex(of: 0x0a) ?? input.endIndex
            let header = input[..<newline].text
            let contentType: String? = header.isEmpty ? nil : header
            let body = input[min(newline + 1, input.endIndex)...]
            _ = ParsedManifest.inferMediaType(body)
            switch attempt({ () throws(RegistryError) in try ParsedManifest.parse(body, contentType: contentType) }) {
            case .failure(let error):
                try expect(error.code == .manifestInvalid && !error.message.isEmpty, "parse threw \(error.code): \(error.message)")
                return "refused: " + error.message.prefix { $0 != ":" && !$0.isNumber }
            case .success(let manifest):
                try expect(MediaType.manifestTypes.contains(manifest.mediaType), "accepted media type \(manifest.mediaType)")
                if let contentType, MediaType.manifestTypes.contains(MediaType.essence(contentType)) {
                    try expect(manifest.mediaType == MediaType.essence(contentType), "Content-Type \(contentType) became \(manifest.mediaType)")
                }
                if manifest.isIndex {
                    try expect(manifest.config == nil && manifest.layers.isEmpty, "an index with a config or layers")
                } else {
                    try expect(manifest.config != nil && manifest.manifests.isEmpty, "an image manifest without config, or with children")
                }
                let all = manifest.requiredBlobs + manifest.manifests + (manifest.subject.map { [$0] } ?? [])
                for d in all {
                    try expect(Grammar.isSupportedDigest(d.digest.description), "descriptor digest \(d.digest) is not a valid digest")
                }
                for d in manifest.requiredBlobs + manifest.manifests {
                    try expect(d.size >= 0, "descriptor \(d.digest) has size \(d.size)")
                }
                // What Berth accepted is JSON to any other reader too, with schemaVersion 2.
                let object = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
                let schema = (object as? [String: Any])?["schemaVersion"] as? NSNumber
                try expect(schema?.intValue == 2, "accepted bytes that JSONSerialization reads as \(String(describing: object).prefix(200))")
                return "accepted \(manifest.mediaType) \(manifest.layers.count) \(manifest.manifests.count)"
            }
        })
}

/// Manifests close to real ones, with one part of them damaged or stretched.
enum ManifestGenerator {
    static func generate(_ random: inout FuzzRandom) -> String {
        func descriptor(_ random: inout FuzzRandom) -> String {
            let digest = random.chance(85) ? random.pick(Words.digests) : random.pick(["sha256:abc", "md5:0", "", "sha256:" + String(repeating: "A", count: 64)])
            let size = random.chance(85) ? String(random.below(100_000)) : random.pick(Mutator.numbers)
            var fields = ["\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\"", "\"digest\":\"\(digest)\"", "\"size\":\(size)"]
            if random.chance(10) { fields.append("\"urls\":[\"https://example.com/x\"]") }
            if random.chance(10) { fields.append("\"annotations\":{\"a\":\"b\"}") }
            if random.chance(10) { fields.removeLast(1 + random.below(fields.count - 1)) }
            return "{" + fields.joined(separator: ",") + "}"
        }
        let type = random.pick([MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList, "application/json", ""])
        let isIndex = MediaType.isIndex(type) || (type.isEmpty && random.chance(50))
        var fields = ["\"schemaVersion\":\(random.chance(90) ? "2" : random.pick(Mutator.numbers))"]
        if random.chance(80) { fields.append("\"mediaType\":\"\(random.chance(90) ? type : random.pick([MediaType.ociIndex, MediaType.ociManifest]))\"") }
        var list: [String] = []
        for _ in 0..<random.pick([0, 1, 2, 5, 50]) { list.append(descriptor(&random)) }
        if isIndex {
            if random.chance(90) { fields.append("\"manifests\":[\(list.joined(separator: ","))]") }
        } else {
            if random.chance(90) { fields.append("\"config\":\(descriptor(&random))") }
            if random.chance(90) { fields.append("\"layers\":[\(list.joined(separator: ","))]") }
        }
        if random.chance(15) { fields.append("\"subject\":\(descriptor(&random))") }
        if random.chance(10) {
            // Deep nesting inside an ignored field.
            let depth = random.pick([100, 600, 5_000, 50_000])
            fields.append("\"annotations\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
        }
        if random.chance(5) { fields.append(fields[random.below(fields.count)]) }  // a duplicate key
        let contentType = random.chance(70) ? type : random.pick(["", "application/octet-stream", type + "; charset=utf-8", " " + type.uppercased()])
        return contentType + "\n{" + fields.joined(separator: ",") + "}"
    }
}
