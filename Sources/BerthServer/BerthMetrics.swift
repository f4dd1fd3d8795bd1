import BerthAPI
import BerthProxy
import BerthReplication
import BerthStorage
import CoreMetrics
import Foundation
import Metrics
import Prometheus
import Synchronization

/// The registry's metrics: recorded through the swift-metrics API into a Prometheus registry
/// that this object owns (not the process-wide `MetricsSystem`, so that several registries in
/// one process, as in the tests, each count only their own traffic).
///
/// Names (all labels are bounded: routes are patterns such as `/v2/<name>/blobs/<digest>`,
/// never repository names or digests):
/// - `berth_http_requests_total{method,route,status}`
/// - `berth_http_request_duration_seconds{method,route}` (histogram)
/// - `berth_http_request_bytes_total`, `berth_http_response_bytes_total`
/// - `berth_auth_failures_total` (answers with status 401)
/// - `berth_network_denied_total{action}`: requests the network rules refused (`pull`, `push`, `delete`,
///   `catalog`, `admin`, or `other` for requests of no action such as `GET /v2/` and `/token`)
/// - `berth_uploads_in_progress` (approximate, see `requestFinished`)
/// - `berth_storage_operations_total{operation,outcome}`, `berth_storage_operation_duration_seconds{operation}`
/// - `berth_gc_runs_total{outcome}` (`success`, `dry_run`, `busy`: another run held the lock, `error`),
///   `berth_gc_removed_total{kind}` (`manifest`, `layer-link`, `blob`), `berth_gc_bytes_reclaimed_total`,
///   `berth_gc_restored_total`, `berth_gc_last_duration_seconds`, `berth_gc_last_success_timestamp_seconds`,
///   `berth_gc_running`
/// - `berth_scrub_runs_total{outcome}` (`success`, `error`), `berth_scrub_running`, `berth_scrub_problems{kind}` (found
///   by the last scrub), `berth_scrub_problems_found_total`, `berth_scrub_bytes_hashed_total`,
///   `berth_scrub_last_run_timestamp_seconds`, `berth_scrub_last_duration_seconds`
/// - `berth_storage_repositories`, `berth_storage_manifests`, `berth_storage_blobs`, `berth_storage_bytes`
///   (the last full walk plus this process's changes since), `berth_storage_counts_age_seconds`
/// - `berth_quota_used_bytes{quota}`, `berth_quota_limit_bytes{quota}` (quota: its position in `quotas`)
/// - `berth_cache_requests_total{cache,result}` (`blob_size`, `manifest`, `media_type`, `listing`; `hit`, `miss`)
/// - `berth_webhook_events_delivered_total{endpoint}`, `berth_webhook_delivery_failures_total{endpoint}`,
///   `berth_webhook_queue_length{endpoint}`
/// - `berth_retention_runs_total{outcome}` (`success`, or `error` when a repository or the run failed),
///   `berth_retention_tags_deleted_total`, `berth_retention_manifests_deleted_total` (dry runs delete nothing)
/// - `berth_http_connections`, `berth_http_connections_limit` (`http.maxconnections`),
///   `berth_http_connections_refused_total`, `berth_http_connections_cut_off_total{reason}` (`header`, `body`,
///   `write`, `idle`: which of `http.timeouts` ended the connection)
/// - `berth_build_info{version}` (always 1)
public final class BerthMetrics: RequestObserver, Sendable {
    /// Where everything is kept; `/metrics` renders it.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    private let requestBytes: CoreMetrics.Counter
    private let responseBytes: CoreMetrics.Counter
    private let authFailures: CoreMetrics.Counter
    private let uploadsGauge: CoreMetrics.Gauge
    private let uploads = Mutex(0)
    /// Totals kept elsewhere (cache hits, connection cut-offs) already added to the counters.
    private let totalsCounted = Mutex([String: Int]())
    /// Run before each scrape, to bring gauges read from elsewhere up to date.
    private let renderHooks = Mutex<[@Sendable () -> Void]>([])

    /// The version `berth_build_info` reports. The `berth` command keeps its own copy
    /// (`BerthVersion.string`); keep the two in step.
    public static let buildVersion = berthVersion

    /// The content type of the Prometheus text exposition format.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Histogram buckets for request and storage durations, from 1 ms to 60 s.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    public init(version: String) {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        self.registry = registry
        self.factory = factory
        requestBytes = CoreMetrics.Counter(label: "berth_http_request_bytes_total", factory: factory)
        responseBytes = CoreMetrics.Counter(label: "berth_http_response_bytes_total", factory: factory)
        authFailures = CoreMetrics.Counter(label: "berth_auth_failures_total", factory: factory)
        uploadsGauge = CoreMetrics.Gauge(label: "berth_uploads_in_progress", factory: factory)
        uploadsGauge.record(0)
        CoreMetrics.Gauge(label: "berth_build_info", dimensions: [("version", version)], factory: factory).record(1)
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> [UInt8] {
        for hook in renderHooks.withLock({ $0 }) { hook() }
        return registry.emitToBuffer()
    }

    /// Runs `hook` before every scrape (it must be quick: no storage access).
    func beforeRender(_ hook: @escaping @Sendable () -> Void) {
        renderHooks.withLock { $0.append(hook) }
    }

    /// Counts one API request. Uploads in progress are estimated from the records: a `POST` that
    /// opens a session (202) adds one, a completing `PUT` (201) or a cancelling `DELETE` (204)
    /// removes one; sessions abandoned and purged later are not seen, so the value can drift high.
    public func requestFinished(_ record: RequestRecord) {
        let status = String(record.status)
        CoreMetrics.Counter(label: "berth_http_requests_total",
                dimensions: [("method", record.method), ("route", record.route), ("status", status)],
                factory: factory).increment()
        CoreMetrics.Timer(label: "berth_http_request_duration_seconds",
                      dimensions: [("method", record.method), ("route", record.route)],
                      factory: factory).recordNanoseconds(Self.nanoseconds(record.duration))
        if record.bytesIn > 0 { requestBytes.increment(by: record.bytesIn) }
        if record.bytesOut > 0 { responseBytes.increment(by: record.bytesOut) }
        if record.status == 401 { authFailures.increment() }
        if let action = record.networkDenied {
            CoreMetrics.Counter(label: "berth_network_denied_total", dimensions: [("action", action)], factory: factory)
                .increment()
        }

        let change: Int
        switch (record.method, record.route, record.status) {
        case ("POST", "/v2/<name>/blobs/uploads/", 202): change = 1
        case ("PUT", "/v2/<name>/blobs/uploads/<id>", 201), ("DELETE", "/v2/<name>/blobs/uploads/<id>", 204): change = -1
        default: change = 0
        }
        if change != 0 {
            let now = uploads.withLock { count in
                count = max(0, count + change)
                return count
            }
            uploadsGauge.record(now)
        }
    }

    /// Counts one storage driver call (`outcome`: `success`, `not_found` or `error`).
    func storageOperation(_ operation: String, outcome: String, duration: Duration) {
        CoreMetrics.Counter(label: "berth_storage_operations_total",
                dimensions: [("operation", operation), ("outcome", outcome)], factory: factory).increment()
        CoreMetrics.Timer(label: "berth_storage_operation_duration_seconds", dimensions: [("operation", operation)],
                      factory: factory).recordNanoseconds(Self.nanoseconds(duration))
    }

    /// A batch of `events` reached `endpoint`; `remaining` are still queued from this pass.
    func webhookDelivered(_ endpoint: String, events: Int, remaining: Int) {
        CoreMetrics.Counter(label: "berth_webhook_events_delivered_total", dimensions: [("endpoint", endpoint)],
                            factory: factory).increment(by: events)
        webhookQueueLength(endpoint, remaining)
    }

    /// A delivery attempt to `endpoint` failed (it is retried).
    func webhookFailed(_ endpoint: String) {
        CoreMetrics.Counter(label: "berth_webhook_delivery_failures_total", dimensions: [("endpoint", endpoint)],
                            factory: factory).increment()
    }

    /// Events waiting for `endpoint`, as of its deliverer's last look at the queue.
    func webhookQueueLength(_ endpoint: String, _ length: Int) {
        CoreMetrics.Gauge(label: "berth_webhook_queue_length", dimensions: [("endpoint", endpoint)], factory: factory)
            .record(length)
    }

    /// Sets the storage gauges and adds the cache hits and misses since the last call.
    func updateStorage(_ counts: StorageCounts?, caches: [(cache: CacheCounters.Cache, hits: Int, misses: Int)]) {
        if let counts {
            CoreMetrics.Gauge(label: "berth_storage_repositories", factory: factory).record(counts.repositories)
            CoreMetrics.Gauge(label: "berth_storage_manifests", factory: factory).record(counts.manifests)
            CoreMetrics.Gauge(label: "berth_storage_blobs", factory: factory).record(counts.blobs)
            CoreMetrics.Gauge(label: "berth_storage_bytes", factory: factory).record(counts.storedBytes)
            CoreMetrics.Gauge(label: "berth_storage_counts_age_seconds", factory: factory)
                .record(Date().timeIntervalSince(counts.takenAt))
        }
        for (cache, hits, misses) in caches {
            for (result, total) in [("hit", hits), ("miss", misses)] {
                let added = catchUp("cache/\(cache.rawValue)/\(result)", to: total)
                let counter = CoreMetrics.Counter(label: "berth_cache_requests_total",
                                                  dimensions: [("cache", cache.rawValue), ("result", result)], factory: factory)
                if added > 0 { counter.increment(by: added) } else { counter.increment(by: 0) }
            }
        }
    }

    /// How much of a total kept elsewhere (under `key`) has not yet been added to its counter.
    private func catchUp(_ key: String, to total: Int) -> Int {
        totalsCounted.withLock { counted in
            let delta = total - counted[key, default: 0]
            counted[key] = total
            return delta
        }
    }

    /// Reports `stats` at every scrape: `berth_http_connections` (open), `berth_http_connections_refused_total`
    /// (over `http.maxconnections`), `berth_http_connections_cut_off_total{reason}` (`http.timeouts`).
    func observeConnections(_ stats: ConnectionStats) {
        beforeRender { [self] in
            CoreMetrics.Gauge(label: "berth_http_connections", factory: factory).record(stats.open)
            CoreMetrics.Gauge(label: "berth_http_connections_limit", factory: factory).record(stats.maxConnections)
            CoreMetrics.Counter(label: "berth_http_connections_refused_total", factory: factory)
                .increment(by: max(0, catchUp("connections/refused", to: stats.refused)))
            let cutoffs = stats.cutoffs
            for reason in ConnectionStats.Cutoff.allCases {
                CoreMetrics.Counter(label: "berth_http_connections_cut_off_total", dimensions: [("reason", reason.rawValue)],
                                    factory: factory)
                    .increment(by: max(0, catchUp("connections/\(reason.rawValue)", to: cutoffs[reason, default: 0])))
            }
        }
    }

    /// Reports each replication rule at every scrape: `berth_replication_images_total{rule,outcome}`
    /// (replicated, failed), `berth_replication_deletes_total{rule}`, `berth_replication_pending{rule}`,
    /// `berth_replication_last_success_timestamp_seconds{rule}`.
    func observeReplication(_ replicator: Replicator) {
        beforeRender { [self] in
            for status in replicator.status() {
                let rule = [("rule", status.rule)]
                for (outcome, total) in [("replicated", status.imagesReplicated), ("failed", status.imagesFailed)] {
                    CoreMetrics.Counter(label: "berth_replication_images_total", dimensions: rule + [("outcome", outcome)], factory: factory)
                        .increment(by: max(0, catchUp("replication/\(status.rule)/\(outcome)", to: total)))
                }
                CoreMetrics.Counter(label: "berth_replication_deletes_total", dimensions: rule, factory: factory)
                    .increment(by: max(0, catchUp("replication/\(status.rule)/deletes", to: status.deletesReplicated)))
                CoreMetrics.Gauge(label: "berth_replication_pending", dimensions: rule, factory: factory).record(status.pending)
                CoreMetrics.Gauge(label: "berth_replication_last_success_timestamp_seconds", dimensions: rule, factory: factory)
                    .record(status.lastSuccess?.timeIntervalSince1970 ?? 0)
            }
        }
    }

    /// Reports the pull-through cache's upstream downloads: `berth_proxy_upstream_fetches_total{kind}`.
    func observeProxy(_ cache: ProxyCache) {
        beforeRender { [self] in
            for (kind, total) in [("blob", cache.blobFetches.load(ordering: .relaxed)), ("manifest", cache.manifestFetches.load(ordering: .relaxed))] {
                CoreMetrics.Counter(label: "berth_proxy_upstream_fetches_total", dimensions: [("kind", kind)], factory: factory)
                    .increment(by: max(0, catchUp("proxy/\(kind)", to: total)))
            }
        }
    }

    /// Usage and limit of each quota.
    func updateQuotas(_ usages: [QuotaUsage]) {
        for usage in usages {
            let labels = [("quota", String(usage.index))]
            CoreMetrics.Gauge(label: "berth_quota_used_bytes", dimensions: labels, factory: factory).record(usage.usedBytes)
            CoreMetrics.Gauge(label: "berth_quota_limit_bytes", dimensions: labels, factory: factory).record(usage.limitBytes)
        }
    }

    /// A collection started (`running` 1) or ended (0).
    func gcRunning(_ running: Bool) {
        CoreMetrics.Gauge(label: "berth_gc_running", factory: factory).record(running ? 1 : 0)
    }

    /// A collection ended with `report`.
    func gcFinished(_ report: GCReport) {
        CoreMetrics.Counter(label: "berth_gc_runs_total", dimensions: [("outcome", report.dryRun ? "dry_run" : "success")],
                            factory: factory).increment()
        CoreMetrics.Gauge(label: "berth_gc_last_duration_seconds", factory: factory).record(report.durationSeconds)
        guard !report.dryRun else { return }
        for (kind, count) in [("manifest", report.manifestsRemoved), ("layer-link", report.layerLinksRemoved),
                              ("blob", report.blobsRemoved)] {
            CoreMetrics.Counter(label: "berth_gc_removed_total", dimensions: [("kind", kind)], factory: factory)
                .increment(by: count)
        }
        CoreMetrics.Counter(label: "berth_gc_bytes_reclaimed_total", factory: factory).increment(by: report.bytesReclaimed)
        CoreMetrics.Counter(label: "berth_gc_restored_total", factory: factory).increment(by: report.restored)
        CoreMetrics.Gauge(label: "berth_gc_last_success_timestamp_seconds", factory: factory)
            .record(report.startedAt.timeIntervalSince1970 + report.durationSeconds)
    }

    /// A collection did not complete (`busy` or `error`).
    func gcFailed(_ outcome: String) {
        CoreMetrics.Counter(label: "berth_gc_runs_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// A scrub started (`running` 1) or ended (0).
    func scrubRunning(_ running: Bool) {
        CoreMetrics.Gauge(label: "berth_scrub_running", factory: factory).record(running ? 1 : 0)
    }

    /// A scrub ended with `report` (`error` set when it stopped early).
    func scrubFinished(_ report: ScrubReport) {
        CoreMetrics.Counter(label: "berth_scrub_runs_total", dimensions: [("outcome", report.error == nil ? "success" : "error")],
                            factory: factory).increment()
        for kind in ScrubFinding.Kind.allCases {
            CoreMetrics.Gauge(label: "berth_scrub_problems", dimensions: [("kind", kind.rawValue)], factory: factory)
                .record(report.problemsByKind[kind.rawValue] ?? 0)
        }
        CoreMetrics.Counter(label: "berth_scrub_problems_found_total", factory: factory).increment(by: report.problems)
        CoreMetrics.Counter(label: "berth_scrub_bytes_hashed_total", factory: factory).increment(by: report.bytesHashed)
        CoreMetrics.Gauge(label: "berth_scrub_last_duration_seconds", factory: factory).record(report.durationSeconds)
        CoreMetrics.Gauge(label: "berth_scrub_last_run_timestamp_seconds", factory: factory)
            .record((report.finishedAt ?? Date()).timeIntervalSince1970)
    }

    /// One scheduled retention run ended.
    func retentionRun(outcome: String, tagsDeleted: Int, manifestsDeleted: Int) {
        CoreMetrics.Counter(label: "berth_retention_runs_total", dimensions: [("outcome", outcome)], factory: factory).increment()
        CoreMetrics.Counter(label: "berth_retention_tags_deleted_total", factory: factory).increment(by: tagsDeleted)
        CoreMetrics.Counter(label: "berth_retention_manifests_deleted_total", factory: factory).increment(by: manifestsDeleted)
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let (seconds, attoseconds) = d.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
