import BerthCore
import BerthStorage
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The one place errors become HTTP responses: registry errors render as the spec's JSON error
/// body with their code's status; storage failures are logged in full for the operator and
/// reported to the client without internal paths.
enum ErrorMapping {
    struct Body: Encodable {
        struct Entry: Encodable {
            var code: String
            var message: String
            var detail: [String: String]?
        }
        var errors: [Entry]
    }

    static func response(for error: any Error, request: Request, logger: Logger) -> Response {
        let registryError = registryError(for: error, request: request, logger: logger)
        return render(registryError, head: request.method == .head)
    }

    static func registryError(for error: any Error, request: Request, logger: Logger) -> RegistryError {
        let where_ = "\(request.method) \(request.uri.path.prefix(300))"
        switch error {
        case let e as RegistryError:
            if e.code.httpStatus >= 500 {
                logger.error("request failed", metadata: ["request": "\(where_)", "error": "\(e)"])
            } else {
                logger.debug("request refused", metadata: ["request": "\(where_)", "error": "\(e)"])
            }
            return e
        case let e as StorageDriverError:
            switch e {
            case .notFound:
                logger.warning("storage object vanished during request (concurrent delete?)",
                               metadata: ["request": "\(where_)", "error": "\(e)"])
                return RegistryError(.notFound, "the requested content disappeared while being read; retry the request")
            case .tooLarge(_, let limit):
                logger.error("stored object larger than allowed", metadata: ["request": "\(where_)", "error": "\(e)"])
                return RegistryError(.internalError, "a stored object exceeds the \(limit)-byte limit; the server log names it")
            case .invalidPath:
                logger.error("invalid storage path", metadata: ["request": "\(where_)", "error": "\(e)"])
                return RegistryError(.internalError, "internal error: invalid storage path; the server log has details")
            case .io(let operation, _, let reason):
                logger.error("storage I/O failed: check the storage (free space, permissions, mount)",
                             metadata: ["request": "\(where_)", "error": "\(e)"])
                return RegistryError(.internalError, "storage failure (\(operation): \(reason)); the operator should check the server log")
            case .outOfSpace(let operation, let path, let reason):
                // What failed was undone (no partial blob, manifest or tag stays), so pulls and
                // deletes keep working; pushes succeed again as soon as space is freed.
                logger.error("storage is full: free space on the file system holding the path (delete unused content with berth garbage-collect, remove other files, or enlarge it); pushes fail with 507 until then, pulls keep working",
                             metadata: ["request": "\(where_)", "operation": "\(operation)", "path": "\(path)", "error": "\(reason)"])
                return RegistryError(.insufficientStorage, "the registry's storage is full (\(reason)): nothing was stored; retry once the operator has freed space")
            }
        case let e as HTTPError where e.status == .contentTooLarge:
            return RegistryError(.manifestTooLarge, "request body exceeds the \(RegistryStorage.maxManifestBytes)-byte limit for manifests")
        case let e as HTTPError:
            return RegistryError(e.status.code >= 500 ? .internalError : .unsupported, e.body ?? "\(e.status)")
        case is CancellationError:
            // The drain after SIGTERM (http.draintimeout) ran out: expected, and the client may retry elsewhere.
            logger.warning("request cut off: the server is shutting down", metadata: ["request": "\(where_)"])
            return RegistryError(.unavailable, "the registry is shutting down; retry the request")
        default:
            logger.error("request failed with an unexpected error", metadata: ["request": "\(where_)", "error": "\(String(reflecting: error))"])
            return RegistryError(.internalError, "internal error: \(error)")
        }
    }

    /// The spec's JSON error body for `error`.
    static func body(_ error: RegistryError) -> Data {
        let body = Body(errors: [.init(code: error.code.rawValue, message: error.message,
                                       detail: error.detail.isEmpty ? nil : error.detail)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(body)) ?? Data(#"{"errors":[{"code":"INTERNAL_ERROR","message":"error encoding failed"}]}"#.utf8)
    }

    static func render(_ error: RegistryError, head: Bool) -> Response {
        let data = body(error)
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        for (name, value) in error.headers.sorted(by: { $0.key < $1.key }) {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        let status = HTTPResponse.Status(code: error.code.httpStatus)
        if head {
            headers[.contentLength] = String(data.count)
            return Response(status: status, headers: headers)
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension RegistryError {
    /// The spec's JSON error body, for answers written below the API (connection handlers).
    public var jsonBody: Data { ErrorMapping.body(self) }
}
