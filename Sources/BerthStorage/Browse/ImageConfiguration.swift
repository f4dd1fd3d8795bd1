import Foundation

/// The parts of an OCI / Docker image configuration a person looks at. Every field is optional:
/// artifacts have configs of other shapes, which decode to an empty value.
public struct ImageConfiguration: Sendable, Equatable, Codable {
    public struct Settings: Sendable, Equatable, Codable {
        public var user: String?
        public var exposedPorts: [String: EmptyObject]?
        public var env: [String]?
        public var entrypoint: [String]?
        public var cmd: [String]?
        public var workingDir: String?
        public var labels: [String: String]?
        public var stopSignal: String?

        enum CodingKeys: String, CodingKey {
            case user = "User", exposedPorts = "ExposedPorts", env = "Env", entrypoint = "Entrypoint", cmd = "Cmd"
            case workingDir = "WorkingDir", labels = "Labels", stopSignal = "StopSignal"
        }
    }

    public struct HistoryEntry: Sendable, Equatable, Codable {
        public var created: String?
        public var createdBy: String?
        public var comment: String?
        public var emptyLayer: Bool?

        enum CodingKeys: String, CodingKey {
            case created, comment
            case createdBy = "created_by", emptyLayer = "empty_layer"
        }
    }

    /// `{}` in `ExposedPorts` and `Volumes`.
    public struct EmptyObject: Sendable, Equatable, Codable {}

    public var architecture: String?
    public var os: String?
    public var variant: String?
    public var created: String?
    public var author: String?
    public var config: Settings?
    public var history: [HistoryEntry]?

    /// `os/architecture[/variant]`, when the config names both.
    public var platform: String? { Platform.text(os: os, architecture: architecture, variant: variant) }

    /// Decodes what it can; nil when `data` is not a JSON object at all.
    public static func decode(_ data: Data) -> ImageConfiguration? {
        try? JSONDecoder().decode(ImageConfiguration.self, from: data)
    }
}

/// The `platform` of index children, which `Descriptor` does not keep.
public struct Platform: Sendable, Equatable, Codable {
    public var architecture: String?
    public var os: String?
    public var variant: String?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
    }

    public var text: String? { Self.text(os: os, architecture: architecture, variant: variant) }

    static func text(os: String?, architecture: String?, variant: String?) -> String? {
        guard let os, let architecture else { return nil }
        return [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }

    /// Each child's platform in an index's JSON, in order (nil where a child has none).
    public static func ofChildren(_ indexJSON: Data) -> [Platform?] {
        struct Child: Decodable { var platform: Platform? }
        struct Index: Decodable { var manifests: [Child]? }
        return (try? JSONDecoder().decode(Index.self, from: indexJSON))?.manifests?.map(\.platform) ?? []
    }
}
