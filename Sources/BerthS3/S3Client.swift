/// BerthS3: the S3 client the S3 storage driver is built on.
///
/// It speaks the S3 REST API over one AsyncHTTPClient with a bounded connection pool, signs every
/// request with AWS Signature Version 4 (``SigV4Signer``), streams object bodies both ways, and
/// retries what is safe to retry (idempotent requests whose body can be sent again) with
/// exponential backoff and jitter. Keys are relative to `rootdirectory`; the client adds and strips
/// that prefix. It works with AWS and S3-compatible servers (MinIO, Ceph, moto) through
/// `regionendpoint` and `forcepathstyle`.
import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

public final class S3Client: Sendable {
    public let configuration: S3Configuration
    public let retryPolicy: S3RetryPolicy
    let httpClient: HTTPClient
    let signer: SigV4Signer
    let logger: Logger

    /// Largest body chunk handed to a `getObject` consumer.
    static let maximumChunk = 1 << 20
    /// Largest XML answer read into memory (listings of 1,000 keys are about 300 KiB).
    static let maximumDocument = 16 << 20

    /// - Parameter maxConnections: connections kept open to the endpoint at most (requests beyond wait).
    public init(
        configuration: S3Configuration, retryPolicy: S3RetryPolicy = .default, maxConnections: Int = 32,
        logger: Logger = Logger(label: "berth.s3")
    ) {
        self.configuration = configuration
        self.retryPolicy = retryPolicy
        self.logger = logger
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        var http = HTTPClient.Configuration()
        http.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnections)
        http.timeout = .init(connect: .seconds(10), read: .seconds(60))
        http.redirectConfiguration = .disallow
        http.decompression = .disabled
        http.httpVersion = .http1Only
        if configuration.skipVerify {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .none
            http.tlsConfiguration = tls
        }
        httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http)
    }

    /// Closes the connections; call once, after the last request.
    public func shutdown() async throws {
        try await httpClient.shutdown()
    }

    /// Runs `body` with a client and shuts the client down afterwards, also when `body` throws.
    public static func withClient<Result: Sendable>(
        configuration: S3Configuration, retryPolicy: S3RetryPolicy = .default, logger: Logger = Logger(label: "berth.s3"),
        _ body: (S3Client) async throws -> Result
    ) async throws -> Result {
        let client = S3Client(configuration: configuration, retryPolicy: retryPolicy, logger: logger)
        let result: Result
        do {
            result = try await body(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return result
    }

    // MARK: Requests

    /// One S3 API call before signing.
    struct Operation {
        var name: String
        var method: HTTPMethod
        /// Object key relative to the root directory; nil for requests on the bucket.
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var payload: Payload = .empty
        /// Safe to send twice (S3's PUT, GET, HEAD, DELETE and most POSTs are).
        var idempotent = true
    }

    enum Payload {
        case empty
        /// In memory: signed with its SHA-256 and sent again on a retry.
        case bytes(ByteBuffer)
        /// Streamed once with an unsigned payload, so never retried.
        case stream(HTTPClientRequest.Body)

        var replayable: Bool {
            if case .stream = self { return false }
            return true
        }
    }

    /// The full key in the bucket: the root directory, `/`, then `key`.
    func bucketKey(_ key: String) -> String {
        configuration.rootDirectory.isEmpty ? key : configuration.rootDirectory + "/" + key
    }

    /// The key relative to the root directory of a full key from a listing.
    func relativeKey(_ bucketKey: String) -> String {
        guard !configuration.rootDirectory.isEmpty else { return bucketKey }
        let prefix = configuration.rootDirectory + "/"
        return bucketKey.hasPrefix(prefix) ? String(bucketKey.dropFirst(prefix.count)) : bucketKey
    }

    /// Host header and encoded path of a key (or of the bucket when `key` is nil).
    func location(_ key: String?) -> (host: String, path: String) {
        let encodedKey = key.map { S3URIEncoding.encodePath(bucketKey($0)) }
        let endpoint = configuration.endpoint
        if configuration.forcePathStyle {
            let bucketPath = "/" + configuration.bucket
            return (endpoint.authority, encodedKey.map { bucketPath + "/" + $0 } ?? bucketPath)
        }
        return (configuration.bucket + "." + endpoint.authority, "/" + (encodedKey ?? ""))
    }

    /// The query as sent: the canonical order and encoding, with `name` alone for empty values (`?uploads`).
    static func wireQuery(_ query: [(String, String)]) -> String {
        SigV4Signer.canonicalQuery(query).split(separator: "&").map { $0.hasSuffix("=") ? String($0.dropLast()) : String($0) }
            .joined(separator: "&")
    }

    func makeRequest(_ operation: Operation, date: Date) -> HTTPClientRequest {
        let (host, path) = location(operation.key)
        let payloadHash: String
        switch operation.payload {
        case .empty: payloadHash = SigV4Signer.emptyPayloadHash
        case .bytes(let buffer):
            var hasher = SHA256()
            buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            payloadHash = hasher.finalize().hexString
        case .stream: payloadHash = SigV4Signer.unsignedPayload
        }
        let signature = signer.signatureHeaders(
            method: operation.method.rawValue, host: host, encodedPath: path, query: operation.query,
            headers: operation.headers, payloadHash: payloadHash, date: date)
        let query = operation.query.isEmpty ? "" : "?" + Self.wireQuery(operation.query)
        var request = HTTPClientRequest(url: "\(configuration.endpoint.scheme)://\(host)\(path)\(query)")
        request.method = operation.method
        request.headers.add(name: "Host", value: host)
        for (name, value) in operation.headers + signature { request.headers.add(name: name, value: value) }
        switch operation.payload {
        case .empty: break
        case .bytes(let buffer): request.body = .bytes(buffer)
        case .stream(let body): request.body = body
        }
        return request
    }

    /// Sends `operation`, retrying as the policy allows, and returns a successful (2xx) answer whose
    /// body the caller must consume. Refusals become ``S3Error``s.
    func send(_ operation: Operation) async throws -> HTTPClientResponse {
        var attempt = 0
        while true {
            attempt += 1
            let retryable = operation.idempotent && operation.payload.replayable && attempt < retryPolicy.maxAttempts
            let response: HTTPClientResponse
            do {
                response = try await httpClient.execute(
                    makeRequest(operation, date: Date()), timeout: retryPolicy.requestTimeout, logger: logger)
            } catch {
                if error is CancellationError || Task.isCancelled { throw error }
                if retryable {
                    logger.debug("S3 \(operation.name) attempt \(attempt) failed, retrying: \(error)")
                    try await retryPolicy.pause(beforeAttempt: attempt + 1)
                    continue
                }
                throw S3Error(
                    code: "ConnectionFailed",
                    message: "\(error) (after \(attempt) attempt\(attempt == 1 ? "" : "s") to \(configuration.endpoint.scheme)://\(configuration.endpoint.authority))",
                    key: operation.key, status: 0, operation: operation.name)
            }
            if (200..<300).contains(response.status.code) { return response }
            let error = await refusal(response, operation)
            if error.isRetryable && retryable {
                logger.debug("S3 \(operation.name) attempt \(attempt) refused, retrying: \(error)")
                try await retryPolicy.pause(beforeAttempt: attempt + 1)
                continue
            }
            throw error
        }
    }

    /// The ``S3Error`` an error answer carries (its body read, at most 64 KiB).
    func refusal(_ response: HTTPClientResponse, _ operation: Operation) async -> S3Error {
        let requestID = response.headers.first(name: "x-amz-request-id")
        let body = try? await response.body.collect(upTo: 64 * 1024)
        let document = body.flatMap { try? S3XMLElement.parse($0.readableBytesView) }
        if let document, let error = Self.errorDocument(document, status: Int(response.status.code), operation, requestID) {
            return error
        }
        // HEAD answers and some proxies carry no error document.
        let code: String
        switch response.status.code {
        case 404: code = operation.key == nil ? "NoSuchBucket" : "NoSuchKey"
        case 403: code = "AccessDenied"
        case 412: code = "PreconditionFailed"
        case 503: code = "SlowDown"
        default: code = "HTTP\(response.status.code)"
        }
        return S3Error(
            code: code, message: response.status.reasonPhrase, requestID: requestID, key: operation.key,
            status: Int(response.status.code), operation: operation.name)
    }

    /// An `<Error>` document (some servers wrap it in `<ErrorResponse>`), else nil.
    static func errorDocument(_ document: S3XMLElement, status: Int, _ operation: Operation, _ requestID: String?) -> S3Error? {
        guard let error = document.name == "Error" ? document : document.child("Error"), let code = error["Code"] else {
            return nil
        }
        return S3Error(
            code: code, message: error["Message"] ?? "", requestID: error["RequestId"] ?? requestID, key: operation.key,
            status: status, operation: operation.name)
    }

    /// Sends `operation` and parses its XML answer. An `<Error>` in a 200 answer (CopyObject,
    /// CompleteMultipartUpload report late failures so) is thrown as the refusal it is.
    func sendForDocument(_ operation: Operation) async throws -> S3XMLElement {
        let response = try await send(operation)
        let body = try await response.body.collect(upTo: Self.maximumDocument)
        let document: S3XMLElement
        do {
            document = try S3XMLElement.parse(body.readableBytesView)
        } catch {
            throw S3Error(
                code: "MalformedResponse", message: "\(error)", requestID: response.headers.first(name: "x-amz-request-id"),
                key: operation.key, status: Int(response.status.code), operation: operation.name)
        }
        if let error = Self.errorDocument(
            document, status: Int(response.status.code), operation, response.headers.first(name: "x-amz-request-id"))
        {
            throw error
        }
        return document
    }

    /// Sends `operation` and drains its (empty or ignored) answer body, returning the headers.
    @discardableResult
    func sendDiscardingBody(_ operation: Operation) async throws -> HTTPHeaders {
        let response = try await send(operation)
        for try await _ in response.body {}
        return response.headers
    }
}

/// How often and how patiently failed requests are tried again.
public struct S3RetryPolicy: Sendable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Deadline of one attempt, body included.
    public var requestTimeout: TimeAmount

    public init(maxAttempts: Int = 5, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(5),
                requestTimeout: TimeAmount = .minutes(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.requestTimeout = requestTimeout
    }

    public static let `default` = S3RetryPolicy()

    /// Exponential backoff with full jitter: a random pause up to base × 2^(attempt-2), capped.
    func pause(beforeAttempt attempt: Int) async throws {
        let ceiling = min(maxDelay, baseDelay * (1 << min(attempt - 2, 20)))
        let nanoseconds = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        guard nanoseconds > 0 else { return }
        try await Task.sleep(for: .nanoseconds(Int64.random(in: 0...nanoseconds)))
    }
}
