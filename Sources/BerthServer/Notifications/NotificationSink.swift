import BerthAPI
import BerthStorage
import Foundation
import Logging
import ServiceLifecycle

/// The event sink of `notifications.endpoints`: `record` writes every event each enabled
/// endpoint wants into that endpoint's durable queue, then wakes its deliverer. The deliverers
/// (one per endpoint) run as services of the application.
final class NotificationSink: EventSink {
    private struct Route: Sendable {
        var endpoint: NotificationSettings.Endpoint
        var queue: EventQueue
        var wakeup: Wakeup
    }

    private let routes: [Route]
    private let sequencer = EventSequencer()
    /// One per enabled endpoint; add them to the application's services.
    let deliverers: [EventDeliverer]

    init(endpoints: [NotificationSettings.Endpoint], driver: any StorageDriver, source: EventSource, logger: Logger,
         metrics: BerthMetrics? = nil) {
        routes = endpoints.filter { !$0.disabled }.map {
            Route(endpoint: $0, queue: EventQueue(driver: driver, endpoint: $0.name), wakeup: Wakeup())
        }
        deliverers = routes.map { route in
            var logger = logger
            logger[metadataKey: "endpoint"] = "\(route.endpoint.name)"
            return EventDeliverer(endpoint: route.endpoint, queue: route.queue, wakeup: route.wakeup, source: source,
                                  logger: logger, metrics: metrics)
        }
    }

    func wants(_ action: RegistryEvent.Action) -> Bool {
        routes.contains { $0.endpoint.wants(action) }
    }

    /// Returns once every wanted event is synced to storage (or throws, and the request fails).
    func record(_ events: [RegistryEvent]) async throws {
        let named = events.map { (sequence: sequencer.next(), event: $0) }
        for route in routes {
            let wanted = named.filter { route.endpoint.wants($0.event) }
            guard !wanted.isEmpty else { continue }
            do {
                try await route.queue.append(wanted)
            } catch {
                throw NotificationError(description: """
                    notifications for endpoint \(route.endpoint.name) cannot be queued in storage: \(error). \
                    Check free space and permissions under the storage root's berth/notifications
                    """)
            }
            route.wakeup.signal()
        }
    }
}

/// The deliverers of the sink `makeEventSink` returned, to run as services (none without one).
func notificationServices(_ sink: (any EventSink)?) -> [any Service] {
    (sink as? NotificationSink)?.deliverers ?? []
}
