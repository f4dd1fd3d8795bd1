import BerthAuth
import BerthCore
import Foundation
import HTTPTypes
import Hummingbird

/// What one API request did, reported once its response is produced (access log, metrics).
public struct RequestRecord: Sendable, Equatable {
    /// From the request's `X-Request-Id`, or generated; echoed in the response.
    public var requestID: String
    public var method: String
    /// The path as requested (for the access log; may hold names and digests).
    public var path: String
    /// The route pattern, e.g. `/v2/<name>/blobs/<digest>`: bounded, for metric labels.
    public var route: String
    public var status: Int
    /// Declared request body bytes (0 when none or unknown).
    public var bytesIn: Int64
    /// Response body bytes announced by `Content-Length` (0 when none).
    public var bytesOut: Int64
    /// Time to produce the response head (a streamed body may still be flowing).
    public var duration: Duration
    public var user: String?
    public var client: String
    public var repository: String?
    /// The action (`pull`, `push`, `delete`, `catalog`, `admin`, or `other` for requests of no
    /// action) when the network rules refused the request; nil otherwise.
    public var networkDenied: String?

    public init(requestID: String, method: String, path: String, route: String, status: Int, bytesIn: Int64,
                bytesOut: Int64, duration: Duration, user: String?, client: String, repository: String?,
                networkDenied: String? = nil) {
        self.requestID = requestID
        self.method = method
        self.path = path
        self.route = route
        self.status = status
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.duration = duration
        self.user = user
        self.client = client
        self.repository = repository
        self.networkDenied = networkDenied
    }
}

/// Receives a record of every request. Must not block: called on the request's task.
public protocol RequestObserver: Sendable {
    func requestFinished(_ record: RequestRecord)
}

/// Something pushed, pulled, mounted or deleted: the payload of webhook notifications.
public struct RegistryEvent: Sendable, Codable, Equatable {
    public enum Action: String, Sendable, Codable {
        case push, pull, mount, delete
    }

    /// Unique per event (a UUID); receivers deduplicate with it.
    public var id: String
    public var timestamp: Date
    public var action: Action
    public var repository: String
    /// Manifest or blob media type (blobs: `application/octet-stream` unless known).
    public var mediaType: String?
    public var digest: String?
    public var size: Int64?
    public var tag: String?
    /// For mounts: the repository the blob came from (nil: any).
    public var fromRepository: String?
    /// The authenticated user, if any.
    public var actor: String?
    public var requestID: String
    public var requestAddress: String
    public var requestHost: String
    public var requestMethod: String
    public var requestUserAgent: String

    public init(id: String = UUID().uuidString.lowercased(), timestamp: Date = Date(), action: Action, repository: String,
                mediaType: String? = nil, digest: String? = nil, size: Int64? = nil, tag: String? = nil,
                fromRepository: String? = nil, actor: String? = nil, requestID: String = "", requestAddress: String = "",
                requestHost: String = "", requestMethod: String = "", requestUserAgent: String = "") {
        self.id = id
        self.timestamp = timestamp
        self.action = action
        self.repository = repository
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.tag = tag
        self.fromRepository = fromRepository
        self.actor = actor
        self.requestID = requestID
        self.requestAddress = requestAddress
        self.requestHost = requestHost
        self.requestMethod = requestMethod
        self.requestUserAgent = requestUserAgent
    }
}

/// Takes events for delivery. `record` returns only once the events are durable (they survive a
/// crash or restart), so a request is acknowledged only after its notifications are safe.
public protocol EventSink: Sendable {
    /// Whether any receiver wants events of this action (pulls are frequent: skip them when not).
    func wants(_ action: RegistryEvent.Action) -> Bool
    func record(_ events: [RegistryEvent]) async throws
}

/// Who asked, for the `request` and `actor` fields of events; set per request as a task local.
struct EventOrigin: Sendable {
    var requestID: String
    var address: String
    var host: String
    var method: String
    var userAgent: String
    var user: String?

    @TaskLocal static var current: EventOrigin?
}

extension RegistryAPI {
    /// Records events of the current request with the sink (durably, before the response), when
    /// a sink is configured and wants the action.
    func emit(_ action: RegistryEvent.Action, repository: RepositoryName, digest: Digest?, mediaType: String?,
              size: Int64?, tags: [String] = [], from: RepositoryName? = nil) async throws {
        guard let events, events.wants(action) else { return }
        let origin = EventOrigin.current
        let batch = (tags.isEmpty ? [nil] : tags.map { Optional($0) }).map { tag in
            RegistryEvent(action: action, repository: repository.value, mediaType: mediaType, digest: digest?.description,
                          size: size, tag: tag, fromRepository: from?.value, actor: origin?.user,
                          requestID: origin?.requestID ?? "", requestAddress: origin?.address ?? "",
                          requestHost: origin?.host ?? "", requestMethod: origin?.method ?? "",
                          requestUserAgent: origin?.userAgent ?? "")
        }
        try await events.record(batch)
    }
}

/// What `respond` learns about a request while handling it.
struct RequestTrace {
    var requestID: String
    var route = "unmatched"
    var repository: String?
    var user: String?
    /// Who the request comes from (RegistryAPI.clientAddress): set before anything else runs.
    var client = ClientAddress(address: nil, text: "")
    /// The action label when the network rules refused the request (`berth_network_denied_total`).
    var networkDenied: String?

    /// The client's `X-Request-Id` when it is a sane token (≤ 128 visible ASCII characters).
    static func clientRequestID(_ request: Hummingbird.Request) -> String? {
        guard let given = request.headers[.requestID], !given.isEmpty, given.utf8.count <= 128,
              given.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { return nil }
        return given
    }

}
