import BerthServer
import Foundation
import XCTest

/// Webhook notifications end to end: Berth in-process, a real HTTP receiver on loopback.
final class NotificationTests: XCTestCase {
    private var cleanups: [@Sendable () async -> Void] = []

    override func tearDown() async throws {
        for cleanup in cleanups.reversed() { await cleanup() }
        cleanups = []
        try await super.tearDown()
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("berth-hooks-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        cleanups.append { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func startReceiver() async throws -> EventReceiver {
        let receiver = try await EventReceiver.start()
        cleanups.append { await receiver.stop() }
        return receiver
    }

    private func startBerth(root: URL, endpoints: [NotificationSettings.Endpoint]) async throws -> TestRegistry {
        let berth = try await TestRegistry.start(root: root.path) { $0.notifications.endpoints = endpoints }
        cleanups.append { await berth.stop() }
        return berth
    }

    private func endpoint(_ name: String, _ url: String) -> NotificationSettings.Endpoint {
        var endpoint = NotificationSettings.Endpoint(name: name, url: URL(string: url)!)
        endpoint.backoff = .milliseconds(50)
        endpoint.timeout = .seconds(5)
        endpoint.threshold = 2
        return endpoint
    }

    /// Pushes the blobs then the manifest under `tag`; returns the events that push must produce.
    @discardableResult
    private func push(_ image: TestImage, to berth: TestRegistry, repository: String, tag: String) async throws -> [EventReceiver.Event] {
        var expected: [EventReceiver.Event] = []
        for blob in image.blobs {
            let started = try await HTTP.request("POST", URL(string: "http://\(berth.host)/v2/\(repository)/blobs/uploads/")!)
            XCTAssertEqual(started.status, 202, started.text)
            let location = try XCTUnwrap(started.header("Location"))
            let absolute = location.hasPrefix("http") ? location : "http://\(berth.host)\(location)"
            let separator = absolute.contains("?") ? "&" : "?"
            let put = try await HTTP.request("PUT", URL(string: "\(absolute)\(separator)digest=\(blob.digest)")!,
                                             headers: ["Content-Type": "application/octet-stream"], body: blob.bytes)
            XCTAssertEqual(put.status, 201, put.text)
            expected.append(.init(action: "push", repository: repository, digest: blob.digest, tag: nil,
                                  mediaType: "application/octet-stream", size: blob.bytes.count))
        }
        let manifest = try await HTTP.request("PUT", URL(string: "http://\(berth.host)/v2/\(repository)/manifests/\(tag)")!,
                                              headers: ["Content-Type": image.manifest.mediaType], body: image.manifest.bytes)
        XCTAssertEqual(manifest.status, 201, manifest.text)
        expected.append(.init(action: "push", repository: repository, digest: image.manifest.digest, tag: tag,
                              mediaType: image.manifest.mediaType, size: image.manifest.bytes.count))
        return expected
    }

    func testPushPullAndDeleteEventsArriveInOrder() async throws {
        let receiver = try await startReceiver()
        var all = endpoint("all", "\(receiver.url)/all")
        all.headers = ["Authorization": ["Bearer hook-secret"]]
        var noPulls = endpoint("no pulls", "\(receiver.url)/nopulls")
        noPulls.ignoredActions = [.pull]
        let berth = try await startBerth(root: try temporaryDirectory(), endpoints: [all, noPulls])

        let image = TestImage.random(layerCount: 2, layerSize: 10_000)
        let pushed = try await push(image, to: berth, repository: "hooks/app", tag: "v1")
        try await receiver.waitFor(path: "/all", what: "the push events") { $0.count >= pushed.count }
        XCTAssertEqual(receiver.events(path: "/all"), pushed, "blob pushes, then the tagged manifest push, in order")

        let first = try XCTUnwrap(receiver.deliveries.first { $0.path == "/all" })
        XCTAssertEqual(first.contentType, "application/vnd.docker.distribution.events.v2+json")
        XCTAssertEqual(first.authorization, "Bearer hook-secret")
        let envelope = try XCTUnwrap(JSONSerialization.jsonObject(with: first.body) as? [String: Any])
        let event = try XCTUnwrap((envelope["events"] as? [[String: Any]])?.first)
        XCTAssertNotNil(event["id"] as? String)
        XCTAssertNotNil(event["timestamp"] as? String)
        let target = try XCTUnwrap(event["target"] as? [String: Any])
        XCTAssertEqual(target["length"] as? Int, image.config.bytes.count)
        XCTAssertEqual(target["url"] as? String, "http://\(berth.host)/v2/hooks/app/blobs/\(image.config.digest)")
        XCTAssertEqual((event["request"] as? [String: Any])?["method"] as? String, "PUT")
        XCTAssertNotNil((event["source"] as? [String: Any])?["instanceID"] as? String)

        let manifestURL = URL(string: "http://\(berth.host)/v2/hooks/app/manifests/\(image.manifest.digest)")!
        let pulled = try await HTTP.request("GET", manifestURL, headers: ["Accept": image.manifest.mediaType])
        XCTAssertEqual(pulled.status, 200)
        let layer = image.layers[0]
        let blob = try await HTTP.request("GET", URL(string: "http://\(berth.host)/v2/hooks/app/blobs/\(layer.digest)")!)
        XCTAssertEqual(blob.status, 200)
        let deleted = try await HTTP.request("DELETE", manifestURL)
        XCTAssertEqual(deleted.status, 202, deleted.text)

        let later: [EventReceiver.Event] = [
            .init(action: "pull", repository: "hooks/app", digest: image.manifest.digest, tag: nil,
                  mediaType: image.manifest.mediaType, size: image.manifest.bytes.count),
            .init(action: "pull", repository: "hooks/app", digest: layer.digest, tag: nil,
                  mediaType: "application/octet-stream", size: layer.bytes.count),
            .init(action: "delete", repository: "hooks/app", digest: image.manifest.digest, tag: nil, mediaType: nil, size: nil),
        ]
        try await receiver.waitFor(path: "/all", what: "pull and delete events") { $0.count >= pushed.count + later.count }
        XCTAssertEqual(Array(receiver.events(path: "/all").dropFirst(pushed.count)), later)

        try await receiver.waitFor(path: "/nopulls", what: "the delete event without pulls") { $0.last?.action == "delete" }
        XCTAssertEqual(receiver.events(path: "/nopulls"), pushed + [later[2]], "ignore.actions [pull] suppresses pulls only")
    }

    func testEventsSurviveFailingReceiverAndRestart() async throws {
        let receiver = try await startReceiver()
        receiver.setFailing(true)
        let root = try temporaryDirectory()
        let hook = endpoint("flaky", "\(receiver.url)/events")

        let first = try await startBerth(root: root, endpoints: [hook])
        var expected = try await push(TestImage.random(layerCount: 2, layerSize: 5_000), to: first,
                                      repository: "hooks/one", tag: "v1")
        try await receiver.waitForRefusals(2)
        let stopped = await first.stop()
        XCTAssertTrue(stopped, "Berth stops promptly while retrying a failing endpoint")
        let queue = root.appendingPathComponent("berth/notifications/flaky/queue")
        let queued = try FileManager.default.contentsOfDirectory(atPath: queue.path)
        XCTAssertEqual(queued.count, expected.count, "every undelivered event stays queued on disk")

        let refusedBefore = receiver.refused
        let second = try await startBerth(root: root, endpoints: [hook])
        expected += try await push(TestImage.random(layerCount: 1, layerSize: 5_000), to: second,
                                   repository: "hooks/two", tag: "v2")
        try await receiver.waitForRefusals(refusedBefore + 2)
        receiver.setFailing(false)

        func key(_ e: EventReceiver.Event) -> String { "\(e.action) \(e.digest ?? "-") \(e.tag ?? "-")" }
        let wanted = Set(expected.map(key))
        try await receiver.waitFor(what: "every pushed event after recovery") { Set($0.map(key)).isSuperset(of: wanted) }
        try await receiver.waitFor(what: "the queue to drain") { _ in
            ((try? FileManager.default.contentsOfDirectory(atPath: queue.path)) ?? []).isEmpty
        }
    }

    func testUnreadableQueuedFileIsSetAsideAndDoesNotBlockDelivery() async throws {
        let receiver = try await startReceiver()
        let root = try temporaryDirectory()
        let queue = root.appendingPathComponent("berth/notifications/hook/queue")
        try FileManager.default.createDirectory(at: queue, withIntermediateDirectories: true)
        try Data("not json".utf8).write(to: queue.appendingPathComponent("00000000000000000000-garbage"))

        let berth = try await startBerth(root: root, endpoints: [endpoint("hook", "\(receiver.url)/events")])
        let pushed = try await push(TestImage.random(layerCount: 1, layerSize: 1_000), to: berth, repository: "hooks/x", tag: "t")
        try await receiver.waitFor(what: "the push events") { $0.count >= pushed.count }
        XCTAssertEqual(receiver.events(), pushed)
        let aside = root.appendingPathComponent("berth/notifications/hook/unreadable/00000000000000000000-garbage")
        XCTAssertTrue(FileManager.default.fileExists(atPath: aside.path), "the unreadable file is kept for inspection")
    }

    /// With metrics on, deliveries, failures and the queue length show on `/metrics`.
    func testDeliveryMetrics() async throws {
        let receiver = try await startReceiver()
        receiver.setFailing(true)
        let debugPort = try freeLoopbackPort()
        let berth = try await TestRegistry.start(root: try temporaryDirectory().path) { config in
            config.notifications.endpoints = [self.endpoint("metered", "\(receiver.url)/events")]
            config.observability.debugAddress = ListenAddress(host: "127.0.0.1", port: debugPort)
            config.observability.prometheusEnabled = true
        }
        cleanups.append { await berth.stop() }
        func sample(_ name: String) async throws -> Double? {
            let text = try await HTTP.request("GET", URL(string: "http://127.0.0.1:\(debugPort)/metrics")!).text
            let line = text.split(separator: "\n").first { $0.hasPrefix(name + "{endpoint=\"metered\"} ") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        let expected = try await push(TestImage.random(layerCount: 2, layerSize: 5_000), to: berth, repository: "hooks/m", tag: "v1")
        // Two more refused attempts after the push: the second listed the queue after every event was in it.
        try await receiver.waitForRefusals(receiver.refused + 2)
        let failures = try await sample("berth_webhook_delivery_failures_total")
        XCTAssertGreaterThanOrEqual(failures ?? 0, 1)
        let waiting = try await sample("berth_webhook_queue_length")
        XCTAssertEqual(waiting, Double(expected.count))
        receiver.setFailing(false)
        try await receiver.waitFor(what: "all events") { $0.count >= expected.count }
        var delivered: Double?
        for _ in 0..<50 {
            delivered = try await sample("berth_webhook_events_delivered_total")
            if delivered == Double(expected.count) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertEqual(delivered, Double(expected.count))
        let queueAfter = try await sample("berth_webhook_queue_length")
        XCTAssertEqual(queueAfter, 0)
    }
}
