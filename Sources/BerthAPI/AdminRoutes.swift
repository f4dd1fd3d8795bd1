import BerthAuth
import BerthCore
import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What the admin API asks of the server (implemented there, where the collector runs as a service).
public protocol AdminOperations: Sendable {
    /// Runs a collection now with the configured settings, `dryRun` and `deleteUntagged`
    /// (nil: as configured) overriding them.
    func collectGarbage(dryRun: Bool, deleteUntagged: Bool?) async throws -> GCReport
    func lastGarbageCollection() async throws -> GCReport?
    func storageUsage(repository: RepositoryName?) async throws -> StorageUsage
}

/// Integrity scrubs run by the server (implemented there, as a service).
public protocol ScrubOperations: Sendable {
    /// Starts a scrub in the background and returns its report so far; throws
    /// `ScrubAlreadyRunning` while one runs. `bytesPerSecond` nil: the configured limit.
    func startScrub(repair: Bool, bytesPerSecond: Int64?) throws -> ScrubReport
    /// The running scrub's report so far, else the last finished one's (nil when none ran).
    func scrubStatus() async throws -> ScrubReport?
}

/// Replication rules run by the server (implemented there, as a service).
public protocol ReplicationOperations: Sendable {
    /// Each rule's status, as JSON the admin API answers with.
    func replicationStatus() throws -> ByteBuffer
    /// Starts a full run of every rule in the background.
    func startReplication()
}

public struct ScrubAlreadyRunning: Error, CustomStringConvertible {
    public let startedAt: Date
    public init(startedAt: Date) { self.startedAt = startedAt }
    public var description: String {
        "a scrub is running (since \(ISO8601DateFormatter().string(from: startedAt))); GET /admin/api/scrub shows its progress"
    }
}

/// `/admin/api/gc`, `/admin/api/storage` and `/admin/api/scrub`: JSON for operators, scripts and the UI. Needs the
/// `admin` action (`registry:admin:*` in tokens) whenever authentication is on.
///
/// - `GET /admin/api/gc`: the last completed collection's report (404 when none ran yet).
/// - `POST /admin/api/gc[?dryRun=true][&deleteUntagged=true|false]`: runs one now and answers its
///   report; 503 with `Retry-After` while another collection holds the lock.
/// - `GET /admin/api/storage[?repository=NAME]`: logical, shared and reclaimable bytes.
/// - `POST /admin/api/scrub[?repair=true][&rateLimit=50MB/s]`: starts a scrub in the background
///   and answers 202 with its report so far; 503 with `Retry-After` while one runs.
/// - `GET /admin/api/scrub`: the running scrub's report so far, else the last one's (404 when none ran).
struct AdminRoutes {
    let api: RegistryAPI

    func respond(_ endpoint: Route.AdminEndpoint, _ request: Request, identity: Identity) async throws -> Response {
        if endpoint == .scrub { return try await scrub(request) }
        if endpoint == .replication { return try replication(request) }
        guard let admin = api.admin else {
            throw RegistryError(.notFound, "the admin API is not available on this server")
        }
        switch (endpoint, request.method) {
        case (.gc, .post):
            let dryRun = try Self.flag(request, "dryRun") ?? false
            let deleteUntagged = try Self.flag(request, "deleteUntagged")
            do {
                return try Self.json(try await admin.collectGarbage(dryRun: dryRun, deleteUntagged: deleteUntagged))
            } catch let error as GCError {
                throw RegistryError(.unavailable, "\(error)", headers: ["Retry-After": "60"])
            }
        case (.gc, _):
            guard let report = try await admin.lastGarbageCollection() else {
                throw RegistryError(.notFound, "no garbage collection has completed on this storage yet; POST /admin/api/gc runs one")
            }
            return try Self.json(report)
        case (.storage, _):
            let repository = try request.query("repository").map { try api.repository($0) }
            return try Self.json(try await admin.storageUsage(repository: repository))
        case (.scrub, _):
            return try await scrub(request)
        case (.replication, _):
            return try replication(request)
        }
    }

    /// `GET /admin/api/replication`: each rule's counts, last run, last error and queued jobs;
    /// `POST`: a full run of every rule now (202).
    func replication(_ request: Request) throws -> Response {
        guard let replication = api.replication else {
            throw RegistryError(.notFound, "no replication rules are configured on this server (replication.rules)")
        }
        if request.method == .post { replication.startReplication() }
        return Response(status: request.method == .post ? .accepted : .ok,
                        headers: [.contentType: "application/json"], body: .init(byteBuffer: try replication.replicationStatus()))
    }

    func scrub(_ request: Request) async throws -> Response {
        guard let scrub = api.scrub else {
            throw RegistryError(.notFound, "scrubs are not available on this server")
        }
        guard request.method == .post else {
            guard let report = try await scrub.scrubStatus() else {
                throw RegistryError(.notFound, "no scrub has run on this storage yet; POST /admin/api/scrub starts one")
            }
            return try Self.json(report)
        }
        let repair = try Self.flag(request, "repair") ?? false
        if repair, api.settings.readOnly {
            throw RegistryError(.unsupported, "the registry is read-only (storage.maintenance.readonly), so a scrub cannot repair; run it without repair=true")
        }
        var rate: Int64?
        if let text = request.query("rateLimit") {
            guard let parsed = ByteRate.parse(text) else {
                throw RegistryError(.unsupported, "query parameter rateLimit=\(text.prefix(50)) must be a byte rate such as 50MB/s")
            }
            rate = parsed
        }
        do {
            return try Self.json(try scrub.startScrub(repair: repair, bytesPerSecond: rate), status: .accepted)
        } catch let error as ScrubAlreadyRunning {
            throw RegistryError(.unavailable, "\(error)", headers: ["Retry-After": "60"])
        }
    }

    static func flag(_ request: Request, _ name: String) throws -> Bool? {
        guard let value = request.query(name) else { return nil }
        switch value.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw RegistryError(.unsupported, "query parameter \(name)=\(value.prefix(50)) must be true or false")
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try encoder.encode(value)
        return Response(status: status,
                        headers: [.contentType: "application/json", .contentLength: String(body.count)],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
