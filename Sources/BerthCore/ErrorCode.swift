/// BerthCore: the pure OCI Distribution model — digests, repository names, tags, references,
/// media types, manifest parsing and the closed table of OCI error codes. No I/O lives here.

/// The OCI Distribution error codes, each with the HTTP status it is returned with.
/// This is the single table every API error is rendered from.
public enum ErrorCode: String, Sendable, CaseIterable {
    case blobUnknown = "BLOB_UNKNOWN"
    case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
    case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
    case digestInvalid = "DIGEST_INVALID"
    case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
    case manifestInvalid = "MANIFEST_INVALID"
    case manifestUnknown = "MANIFEST_UNKNOWN"
    case nameInvalid = "NAME_INVALID"
    case nameUnknown = "NAME_UNKNOWN"
    case sizeInvalid = "SIZE_INVALID"
    case tagInvalid = "TAG_INVALID"
    case unauthorized = "UNAUTHORIZED"
    case denied = "DENIED"
    case unsupported = "UNSUPPORTED"
    case tooManyRequests = "TOOMANYREQUESTS"
    // Codes the reference registry adds beyond the spec's table.
    case rangeInvalid = "RANGE_INVALID"
    case paginationNumberInvalid = "PAGINATION_NUMBER_INVALID"
    case manifestTooLarge = "MANIFEST_TOO_LARGE"
    case notFound = "NOT_FOUND"
    case unavailable = "UNAVAILABLE"
    case internalError = "INTERNAL_ERROR"
    /// Berth's own: the storage is full. Sent with 507 Insufficient Storage rather than 503:
    /// the status line alone already tells a user what is wrong (clients that show only the
    /// status do), it is still a 5xx (the request was fine, the server cannot keep it), and
    /// unlike 503 it does not invite the automatic retries and fail-over that clients and load
    /// balancers apply to a server that is briefly unavailable: a full disk needs an operator.
    case insufficientStorage = "INSUFFICIENT_STORAGE"

    /// HTTP status code this error is returned with.
    public var httpStatus: Int {
        switch self {
        case .blobUnknown, .blobUploadUnknown, .manifestUnknown, .nameUnknown, .notFound: 404
        case .blobUploadInvalid, .digestInvalid, .manifestBlobUnknown, .manifestInvalid,
             .nameInvalid, .sizeInvalid, .tagInvalid, .paginationNumberInvalid: 400
        case .unauthorized: 401
        case .denied: 403
        case .unsupported: 405
        case .tooManyRequests: 429
        case .rangeInvalid: 416
        case .manifestTooLarge: 413
        case .unavailable: 503
        case .internalError: 500
        case .insufficientStorage: 507
        }
    }

    /// The short description the spec gives for the code.
    public var summary: String {
        switch self {
        case .blobUnknown: "blob unknown to registry"
        case .blobUploadInvalid: "blob upload invalid"
        case .blobUploadUnknown: "blob upload unknown to registry"
        case .digestInvalid: "provided digest did not match uploaded content"
        case .manifestBlobUnknown: "manifest references a manifest or blob unknown to registry"
        case .manifestInvalid: "manifest invalid"
        case .manifestUnknown: "manifest unknown"
        case .nameInvalid: "invalid repository name"
        case .nameUnknown: "repository name not known to registry"
        case .sizeInvalid: "provided length did not match content length"
        case .tagInvalid: "manifest tag did not match URI"
        case .unauthorized: "authentication required"
        case .denied: "requested access to the resource is denied"
        case .unsupported: "the operation is unsupported"
        case .tooManyRequests: "too many requests"
        case .rangeInvalid: "requested range not satisfiable"
        case .paginationNumberInvalid: "invalid number of results requested"
        case .manifestTooLarge: "manifest too large"
        case .notFound: "no such endpoint"
        case .unavailable: "service unavailable"
        case .internalError: "internal server error"
        case .insufficientStorage: "insufficient storage"
        }
    }
}

/// An error the registry reports to a client: one code, a message saying what failed,
/// and optional structured detail.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var detail: [String: String]
    /// Response headers the client needs to recover (for example the `Range` an upload really has).
    public var headers: [String: String]

    public init(_ code: ErrorCode, _ message: String? = nil, detail: [String: String] = [:], headers: [String: String] = [:]) {
        self.code = code
        self.message = message ?? code.summary
        self.detail = detail
        self.headers = headers
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
