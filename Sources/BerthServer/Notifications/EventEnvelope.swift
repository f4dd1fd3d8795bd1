import BerthAPI
import BerthCore
import Foundation

/// Where events come from, for their `source` and `target.url` fields.
struct EventSource: Sendable {
    /// `host:port` of this registry.
    var address: String
    /// Unique per running process.
    var instanceID: String
    /// `http` or `https`, for `target.url`.
    var scheme: String
}

/// The body of a delivery as the reference registry sends it:
/// `{"events": [...]}` with `Content-Type: application/vnd.docker.distribution.events.v2+json`.
struct EventEnvelope: Encodable {
    static let contentType = "application/vnd.docker.distribution.events.v2+json"

    /// One event in the reference registry's JSON shape.
    struct Event: Encodable {
        struct Target: Encodable {
            var mediaType: String?
            var digest: String?
            var size: Int64?
            var length: Int64?
            var repository: String
            var fromRepository: String?
            var url: String?
            var tag: String?
        }

        struct Request: Encodable {
            var id: String
            var addr: String
            var host: String
            var method: String
            var useragent: String
        }

        struct Actor: Encodable {
            var name: String?
        }

        struct Source: Encodable {
            var addr: String
            var instanceID: String
        }

        var id: String
        var timestamp: String
        var action: String
        var target: Target
        var request: Request
        var actor: Actor
        var source: Source
    }

    var events: [Event]

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    init(_ events: [RegistryEvent], source: EventSource) {
        self.events = events.map { e in
            Event(id: e.id,
                  timestamp: e.timestamp.formatted(Self.timestampStyle),
                  action: e.action.rawValue,
                  target: .init(mediaType: e.mediaType, digest: e.digest, size: e.size, length: e.size,
                                repository: e.repository, fromRepository: e.fromRepository,
                                url: Self.url(of: e, scheme: source.scheme), tag: e.tag),
                  request: .init(id: e.requestID, addr: e.requestAddress, host: e.requestHost, method: e.requestMethod,
                                 useragent: e.requestUserAgent),
                  actor: .init(name: e.actor),
                  source: .init(addr: source.address, instanceID: source.instanceID))
        }
    }

    /// `<scheme>://<host>/v2/<name>/manifests|blobs/<digest>`, when the host and digest are known.
    static func url(of event: RegistryEvent, scheme: String) -> String? {
        guard !event.requestHost.isEmpty, let digest = event.digest else { return nil }
        let kind: String
        if let type = event.mediaType {
            kind = MediaType.manifestTypes.contains(type) ? "manifests" : "blobs"
        } else {
            return nil
        }
        return "\(scheme)://\(event.requestHost)/v2/\(event.repository)/\(kind)/\(digest)"
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
