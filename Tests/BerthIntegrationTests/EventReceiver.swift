import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A webhook receiver on 127.0.0.1 for notification tests: records every POST (path, headers,
/// body) and answers 200, or 500 while told to fail.
final class EventReceiver: Sendable {
    /// One event as received, reduced to what the tests compare.
    struct Event: Sendable, Equatable, Hashable, CustomStringConvertible {
        var action: String
        var repository: String
        var digest: String?
        var tag: String?
        var mediaType: String?
        var size: Int?

        var description: String { "\(action) \(repository) \(digest ?? "-") tag=\(tag ?? "-") \(mediaType ?? "-") size=\(size.map(String.init) ?? "-")" }
    }

    struct Delivery: Sendable {
        var path: String
        var contentType: String?
        var authorization: String?
        var events: [Event]
        /// The whole body, to check the wire format.
        var body: Data
    }

    private struct State {
        var deliveries: [Delivery] = []
        var failing = false
        var refused = 0
    }

    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    var url: String { "http://127.0.0.1:\(port)" }

    private init(shared: Shared, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.shared = shared
        self.port = port
        self.group = group
        self.task = task
    }

    /// Starts the receiver; stop it with `stop()`.
    static func start() async throws -> EventReceiver {
        let shared = Shared()
        let router = Router()
        router.post("**") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            if shared.state.withLock({ $0.failing }) {
                shared.state.withLock { $0.refused += 1 }
                return Response(status: .internalServerError)
            }
            let delivery = try Self.parse(Data(body.readableBytesView), path: request.uri.path,
                                          contentType: request.headers[.contentType],
                                          authorization: request.headers[.authorization])
            shared.state.withLock { $0.deliveries.append(delivery) }
            return Response(status: .ok)
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0); continuation.finish() },
                              logger: Logger(label: "event-receiver"))
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "event-receiver")))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw TestFailure("the event receiver did not start")
        }
        return EventReceiver(shared: shared, port: port, group: group, task: task)
    }

    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private let shared: Shared

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    /// While true, every POST is answered 500 and not recorded.
    func setFailing(_ failing: Bool) { shared.state.withLock { $0.failing = failing } }

    /// POSTs answered 500 so far.
    var refused: Int { shared.state.withLock { $0.refused } }

    var deliveries: [Delivery] { shared.state.withLock { $0.deliveries } }

    /// Every event received on `path` (nil: any), in order of arrival.
    func events(path: String? = nil) -> [Event] {
        deliveries.filter { path == nil || $0.path == path }.flatMap(\.events)
    }

    /// Waits until `condition` holds of the events received (on `path`), for at most `timeout`.
    func waitFor(path: String? = nil, timeout: Duration = .seconds(20), what: String,
                 _ condition: ([Event]) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(events(path: path)) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("timed out waiting for \(what); received:\n" + events(path: path).map(\.description).joined(separator: "\n"))
    }

    /// Waits until at least `count` POSTs were refused.
    func waitForRefusals(_ count: Int, timeout: Duration = .seconds(20)) async throws {
        let deadline = ContinuousClock.now + timeout
        while refused < count {
            guard ContinuousClock.now < deadline else { throw TestFailure("only \(refused) deliveries were attempted, expected \(count)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    private static func parse(_ body: Data, path: String, contentType: String?, authorization: String?) throws -> Delivery {
        guard let root = try JSONSerialization.jsonObject(with: body) as? [String: Any],
              let list = root["events"] as? [[String: Any]] else {
            throw TestFailure("not an event envelope: \(String(decoding: body, as: UTF8.self))")
        }
        let events = list.map { e in
            let target = e["target"] as? [String: Any] ?? [:]
            return Event(action: e["action"] as? String ?? "?", repository: target["repository"] as? String ?? "?",
                         digest: target["digest"] as? String, tag: target["tag"] as? String,
                         mediaType: target["mediaType"] as? String, size: target["size"] as? Int)
        }
        return Delivery(path: path, contentType: contentType, authorization: authorization, events: events, body: body)
    }
}
