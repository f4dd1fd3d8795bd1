import AsyncHTTPClient
import BerthAPI
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Wakes an endpoint's deliverer: new events were queued, or it is time for the periodic rescan.
/// Holds at most one pending wake-up, so a burst of events costs one scan.
struct Wakeup: Sendable {
    let stream: AsyncStream<Void>
    let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func signal() { continuation.yield() }
}

/// Why a delivery attempt failed, or why events could not be queued.
struct NotificationError: Error, CustomStringConvertible {
    var description: String
}

/// Sends one endpoint's queued events, oldest first, in batches, as a service of the application.
///
/// A batch is deleted from the queue only after the endpoint answered 200-399 (like the reference
/// registry). Any failure (connection, timeout, other status) keeps the batch and retries it after
/// `backoff`, doubled after each further failure up to `NotificationSettings.maximumBackoff`;
/// events are never dropped. After `threshold` consecutive failures a warning is logged once, and
/// an info line when the endpoint accepts events again. Delivery resumes from the queue on start.
struct EventDeliverer: Service {
    let endpoint: NotificationSettings.Endpoint
    let queue: EventQueue
    let wakeup: Wakeup
    let source: EventSource
    let logger: Logger
    /// Counts deliveries and failures and shows the queue length, when metrics are on.
    var metrics: BerthMetrics?
    /// Safety net: the queue is rescanned this often even without a wake-up.
    var rescanInterval: Duration = .seconds(30)
    /// Events per request.
    var batchSize = 100

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        // 3xx answers count as accepted, as the reference registry does; they are not followed.
        configuration.redirectConfiguration = .disallow
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { [wakeup, rescanInterval] in
                    while (try? await Task.sleep(for: rescanInterval)) != nil { wakeup.signal() }
                }
                await deliverQueued(client)
                for await _ in wakeup.stream {
                    if Task.isCancelled { break }
                    await deliverQueued(client)
                }
                group.cancelAll()
            }
        }
        try? await client.shutdown()
        logger.debug("notification delivery stopped", metadata: ["endpoint": "\(endpoint.name)"])
    }

    /// Delivers until the queue is empty or the task is cancelled (shutdown), retrying failures.
    /// The queue is listed once per pass and sent in batches; a new pass picks up what arrived.
    func deliverQueued(_ client: HTTPClient) async {
        var failures = 0
        var wait = endpoint.backoff
        var warned = false
        var pending: ArraySlice<String> = []
        while !Task.isCancelled {
            do {
                if pending.isEmpty {
                    pending = try await queue.names()[...]
                    metrics?.webhookQueueLength(endpoint.name, pending.count)
                    if pending.isEmpty { return }
                }
                let names = pending.prefix(batchSize)
                let batch = try await queue.load(names, logger: logger)
                if !batch.isEmpty {
                    try await send(batch, client)
                    try await queue.remove(batch)
                }
                pending = pending.dropFirst(names.count)
                metrics?.webhookDelivered(endpoint.name, events: batch.count, remaining: pending.count)
                if warned {
                    logger.info("notification endpoint \(endpoint.name) accepts events again", metadata: ["failures": "\(failures)"])
                }
                failures = 0
                wait = endpoint.backoff
                warned = false
            } catch {
                if Task.isCancelled { return }
                failures += 1
                metrics?.webhookFailed(endpoint.name)
                pending = []  // the retry lists the queue again: events that came meanwhile join, in order
                if failures >= endpoint.threshold && !warned {
                    warned = true
                    logger.warning("""
                        endpoint \(endpoint.name) failing: \(error); \(failures) attempts in a row failed. Events stay queued \
                        and are retried; check that \(endpoint.url.scheme ?? "http")://\(endpoint.url.host ?? "")\(endpoint.url.port.map { ":\($0)" } ?? "") is reachable and accepts POSTs
                        """)
                } else {
                    logger.debug("notification delivery failed; retrying",
                                 metadata: ["endpoint": "\(endpoint.name)", "error": "\(error)", "retryIn": "\(wait)"])
                }
                guard (try? await Task.sleep(for: wait)) != nil else { return }
                wait = min(wait * 2, NotificationSettings.maximumBackoff)
            }
        }
    }

    /// POSTs one batch; throws unless the endpoint answered 200-399.
    func send(_ batch: [QueuedEvent], _ client: HTTPClient) async throws {
        var request = HTTPClientRequest(url: endpoint.url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: EventEnvelope.contentType)
        for (name, values) in endpoint.headers {
            for value in values { request.headers.add(name: name, value: value) }
        }
        let body = try EventEnvelope(batch.map(\.event), source: source).encoded()
        request.body = .bytes(ByteBuffer(bytes: body))
        let timeout = TimeAmount.nanoseconds(Int64(endpoint.timeout.components.seconds) * 1_000_000_000
            + endpoint.timeout.components.attoseconds / 1_000_000_000)
        let response = try await client.execute(request, timeout: timeout)
        // Read (a bounded part of) the answer so the connection can be reused.
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<400).contains(Int(response.status.code)) else {
            throw NotificationError(description: "the endpoint answered \(response.status.code) \(response.status.reasonPhrase)")
        }
        logger.debug("notifications delivered", metadata: ["endpoint": "\(endpoint.name)", "events": "\(batch.count)"])
    }
}
