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

/// `/admin/api/gc` and `/admin/api/storage`: JSON for operators, scripts and the UI. Needs the
/// `admin` action (`registry:admin:*` in tokens) whenever authentication is on.
///
/// - `GET /admin/api/gc`: the last completed collection's report (404 when none ran yet).
/// - `POST /admin/api/gc[?dryRun=true][&deleteUntagged=true|false]`: runs one now and answers its
///   report; 503 with `Retry-After` while another collection holds the lock.
/// - `GET /admin/api/storage[?repository=NAME]`: logical, shared and reclaimable bytes.
struct AdminRoutes {
    let api: RegistryAPI

    func respond(_ endpoint: Route.AdminEndpoint, _ request: Request, identity: Identity) async throws -> Response {
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

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = try encoder.encode(value)
        return Response(status: .ok,
                        headers: [.contentType: "application/json", .contentLength: String(body.count)],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
