/// A request S3 refused or that could not be completed, with what an operator needs to act on it.
public struct S3Error: Error, CustomStringConvertible, Sendable {
    /// S3's error code (`NoSuchKey`, `SignatureDoesNotMatch`, `SlowDown`, …), or `HTTP<status>` when
    /// the answer carried no error document.
    public var code: String
    public var message: String
    /// `x-amz-request-id` of the failed request, for the provider's support.
    public var requestID: String?
    /// The object key (relative to the root directory) the request was about, if any.
    public var key: String?
    /// HTTP status, 0 when no answer arrived.
    public var status: Int
    /// The operation that failed, like `PutObject`.
    public var operation: String

    public init(code: String, message: String, requestID: String? = nil, key: String? = nil, status: Int, operation: String) {
        self.code = code
        self.message = message
        self.requestID = requestID
        self.key = key
        self.status = status
        self.operation = operation
    }

    public var isNotFound: Bool { code == "NoSuchKey" || code == "NotFound" || (status == 404 && code != "NoSuchBucket" && code != "NoSuchUpload") }
    public var isPreconditionFailed: Bool { code == "PreconditionFailed" || status == 412 }
    /// Worth another attempt: throttling and server-side failures.
    public var isRetryable: Bool {
        code == "SlowDown" || code == "InternalError" || code == "RequestTimeout" || (status >= 500 && status != 501)
    }

    public var description: String {
        var text = "S3 \(operation)"
        if let key { text += " of \"\(key)\"" }
        text += " failed: \(code)"
        if status > 0 { text += " (HTTP \(status))" }
        if !message.isEmpty { text += ": \(message)" }
        if let requestID { text += " [request id \(requestID)]" }
        if let hint { text += ". \(hint)" }
        return text
    }

    /// What to check for the errors operators meet when setting up a bucket.
    var hint: String? {
        switch code {
        case "SignatureDoesNotMatch":
            "Check storage.s3.secretkey (or AWS_SECRET_ACCESS_KEY) and that the region matches the endpoint"
        case "InvalidAccessKeyId":
            "Check storage.s3.accesskey (or AWS_ACCESS_KEY_ID)"
        case "AccessDenied":
            "Grant the credentials s3:GetObject, PutObject, DeleteObject, ListBucket and the multipart actions on the bucket"
        case "NoSuchBucket":
            "Create the bucket or correct storage.s3.bucket"
        case "AuthorizationHeaderMalformed", "IllegalLocationConstraintException", "PermanentRedirect":
            "Set storage.s3.region to the bucket's region"
        case "SlowDown":
            "The provider is throttling; the request was retried with backoff and still refused"
        case "RequestTimeTooSkewed":
            "Synchronise this machine's clock (NTP)"
        default:
            nil
        }
    }
}
