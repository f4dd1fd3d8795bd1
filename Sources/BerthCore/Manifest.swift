import Foundation

/// An OCI content descriptor.
public struct Descriptor: Sendable, Equatable, Codable {
    public var mediaType: String
    public var digest: Digest
    public var size: Int64
    public var artifactType: String?
    public var urls: [String]?
    public var annotations: [String: String]?

    public init(mediaType: String, digest: Digest, size: Int64, artifactType: String? = nil,
                urls: [String]? = nil, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.urls = urls
        self.annotations = annotations
    }

    enum CodingKeys: String, CodingKey { case mediaType, digest, size, artifactType, urls, annotations }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType) ?? ""
        let digestString = try c.decode(String.self, forKey: .digest)
        do { digest = try Digest(parsing: digestString) } catch {
            throw DecodingError.dataCorruptedError(forKey: .digest, in: c, debugDescription: error.message)
        }
        size = try c.decode(Int64.self, forKey: .size)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        urls = try c.decodeIfPresent([String].self, forKey: .urls)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mediaType, forKey: .mediaType)
        try c.encode(digest.description, forKey: .digest)
        try c.encode(size, forKey: .size)
        try c.encodeIfPresent(artifactType, forKey: .artifactType)
        try c.encodeIfPresent(urls, forKey: .urls)
        try c.encodeIfPresent(annotations, forKey: .annotations)
    }

    /// Layers a registry is not expected to hold (foreign / non-distributable, fetched from `urls`).
    public var isExternal: Bool {
        guard let urls, !urls.isEmpty else { return false }
        return mediaType == MediaType.dockerForeignLayer || mediaType.hasPrefix(MediaType.ociNondistributableLayerPrefix)
    }
}

/// What Berth needs to know of a manifest: its kind and what it references. Parsed from the exact
/// bytes received, which are what Berth stores and serves; nothing is ever re-encoded.
public struct ParsedManifest: Sendable, Equatable {
    /// The effective media type (the Content-Type, or the `mediaType` field when no usable Content-Type was sent).
    public var mediaType: String
    /// `mediaType` as written in the JSON, if any.
    public var declaredMediaType: String?
    public var artifactType: String?
    public var config: Descriptor?
    public var layers: [Descriptor]
    /// Children of an index or manifest list.
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public var isIndex: Bool { MediaType.isIndex(mediaType) }

    /// Blobs that must exist in the repository for the manifest to be accepted.
    public var requiredBlobs: [Descriptor] {
        (config.map { [$0] } ?? []) + layers.filter { !$0.isExternal }
    }

    private struct Wire: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var artifactType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var annotations: [String: String]?
    }

    /// Parses and validates manifest bytes received with `contentType` (the header, may be nil).
    public static func parse(_ bytes: some Collection<UInt8>, contentType: String?) throws(RegistryError) -> ParsedManifest {
        if let problem = JSONSyntax.problem(in: bytes) {
            throw RegistryError(.manifestInvalid, "manifest is not valid JSON: \(problem)")
        }
        let wire: Wire
        do {
            wire = try JSONDecoder().decode(Wire.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw RegistryError(.manifestInvalid, "manifest is not valid JSON of a manifest: \(Self.explain(error))")
        } catch {
            throw RegistryError(.manifestInvalid, "manifest is not valid JSON: \(error)")
        }
        guard wire.schemaVersion == 2 else {
            throw RegistryError(.manifestInvalid, "unsupported manifest schemaVersion \(wire.schemaVersion.map(String.init) ?? "(missing)"): only schemaVersion 2 is accepted")
        }
        let header = contentType.map(MediaType.essence) ?? ""
        let mediaType: String
        if MediaType.manifestTypes.contains(header) {
            mediaType = header
            if let declared = wire.mediaType, declared != header {
                throw RegistryError(.manifestInvalid, "manifest mediaType \(declared) does not match the Content-Type \(header)")
            }
        } else if header.isEmpty || header == "application/json" || header == "application/octet-stream",
                  let declared = wire.mediaType, MediaType.manifestTypes.contains(declared) {
            mediaType = declared
        } else {
            let shown = header.isEmpty ? (wire.mediaType ?? "(none)") : header
            throw RegistryError(
                .manifestInvalid,
                "unsupported manifest media type \(shown): send Content-Type \(MediaType.manifestTypes.sorted().joined(separator: ", "))")
        }
        var parsed = ParsedManifest(
            mediaType: mediaType, declaredMediaType: wire.mediaType, artifactType: wire.artifactType,
            config: wire.config, layers: wire.layers ?? [], manifests: wire.manifests ?? [],
            subject: wire.subject, annotations: wire.annotations)
        if MediaType.isIndex(mediaType) {
            guard wire.manifests != nil else {
                throw RegistryError(.manifestInvalid, "\(mediaType) must have a \"manifests\" array")
            }
            parsed.config = nil
            parsed.layers = []
        } else {
            guard wire.config != nil else {
                throw RegistryError(.manifestInvalid, "\(mediaType) must have a \"config\" descriptor")
            }
            if mediaType == MediaType.dockerManifest, wire.layers == nil {
                throw RegistryError(.manifestInvalid, "\(mediaType) must have a \"layers\" array")
            }
            parsed.manifests = []
        }
        for d in parsed.requiredBlobs + parsed.manifests where d.size < 0 {
            throw RegistryError(.manifestInvalid, "descriptor \(d.digest) has a negative size")
        }
        return parsed
    }

    private static func explain(_ error: DecodingError) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return p.isEmpty ? "" : " at \(p)"
        }
        switch error {
        case .dataCorrupted(let ctx): return ctx.debugDescription + path(ctx)
        case .keyNotFound(let key, let ctx): return "missing field \"\(key.stringValue)\"" + path(ctx)
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return ctx.debugDescription + path(ctx)
        @unknown default: return "\(error)"
        }
    }

    /// The media type to serve for stored manifest bytes when no Content-Type was recorded:
    /// the `mediaType` field, else inferred from the shape (as the reference registry does).
    public static func inferMediaType(_ bytes: some Collection<UInt8>) -> String {
        guard let probe = try? JSONDecoder().decode(Probe.self, from: Data(bytes)) else { return MediaType.ociManifest }
        if let t = probe.mediaType, !t.isEmpty { return t }
        return probe.manifests != nil ? MediaType.ociIndex : MediaType.ociManifest
    }
}

private struct Probe: Decodable {
    var mediaType: String?
    var manifests: [IgnoredValue]?
}

private struct IgnoredValue: Decodable {
    init(from decoder: any Decoder) throws {}
}
