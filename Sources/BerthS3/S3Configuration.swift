import Foundation

/// Where and how to reach one S3 bucket, with the keys of the reference registry's `storage.s3`
/// section: `bucket`, `region`, `regionendpoint`, `accesskey`, `secretkey`, `sessiontoken`,
/// `forcepathstyle`, `rootdirectory`, `chunksize`, `secure`, `skipverify`.
public struct S3Configuration: Sendable, Equatable {
    public var bucket: String
    public var region: String
    /// Scheme, host and port of the S3 API (`https://s3.<region>.amazonaws.com` unless `regionendpoint` is set).
    public var endpoint: Endpoint
    public var credentials: S3Credentials
    /// Address the bucket as `endpoint/bucket/key` instead of `bucket.endpoint/key` (MinIO, moto, Ceph).
    public var forcePathStyle: Bool
    /// Prefix of every key, without leading or trailing `/`; empty for the bucket's root.
    public var rootDirectory: String
    /// Multipart part size in bytes (at least 5 MiB, S3's smallest part but the last).
    public var chunkSize: Int
    /// Accept any TLS certificate (self-signed test endpoints only).
    public var skipVerify: Bool

    public static let minimumChunkSize = 5 * 1024 * 1024
    public static let maximumChunkSize = 5 * 1024 * 1024 * 1024
    public static let defaultChunkSize = 10 * 1024 * 1024

    public struct Endpoint: Sendable, Equatable {
        public var secure: Bool
        public var host: String
        public var port: Int?

        public init(secure: Bool, host: String, port: Int? = nil) {
            self.secure = secure
            self.host = host
            self.port = port
        }

        /// `host` or `host:port` as the Host header carries it (default ports left out).
        public var authority: String {
            guard let port, port != (secure ? 443 : 80) else { return host }
            return "\(host):\(port)"
        }
        public var scheme: String { secure ? "https" : "http" }
    }

    public init(
        bucket: String, region: String, endpoint: Endpoint, credentials: S3Credentials,
        forcePathStyle: Bool = false, rootDirectory: String = "", chunkSize: Int = defaultChunkSize,
        skipVerify: Bool = false
    ) {
        self.bucket = bucket
        self.region = region
        self.endpoint = endpoint
        self.credentials = credentials
        self.forcePathStyle = forcePathStyle
        self.rootDirectory = Self.trimSlashes(rootDirectory)
        self.chunkSize = chunkSize
        self.skipVerify = skipVerify
    }

    /// Builds a configuration from `storage.s3` options; credentials not given there come from
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` in `environment`.
    public static func parse(
        _ options: [String: String], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(S3ConfigurationError) -> S3Configuration {
        func value(_ key: String) -> String? {
            guard let raw = options[key]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func flag(_ key: String, default fallback: Bool) throws(S3ConfigurationError) -> Bool {
            guard let raw = value(key) else { return fallback }
            switch raw.lowercased() {
            case "true", "yes", "1": return true
            case "false", "no", "0": return false
            default: throw S3ConfigurationError("storage.s3.\(key) is \"\(raw)\"; use true or false")
            }
        }
        let known: Set = [
            "bucket", "region", "regionendpoint", "accesskey", "secretkey", "sessiontoken", "forcepathstyle",
            "rootdirectory", "chunksize", "secure", "skipverify",
        ]
        if let unknown = options.keys.filter({ !known.contains($0) }).sorted().first {
            throw S3ConfigurationError(
                "storage.s3.\(unknown) is not a known option; known: \(known.sorted().joined(separator: ", "))")
        }
        guard let bucket = value("bucket") else {
            throw S3ConfigurationError("storage.s3.bucket is missing; name the bucket to store the registry in")
        }
        guard isValidBucketName(bucket) else {
            throw S3ConfigurationError(
                "storage.s3.bucket \"\(bucket)\" is not a valid bucket name (3–63 lowercase letters, digits, '.', '-')")
        }
        let secure = try flag("secure", default: true)
        let endpoint: Endpoint
        let region: String
        if let raw = value("regionendpoint") {
            endpoint = try parseEndpoint(raw, secure: secure)
            // A custom endpoint (MinIO, Ceph, moto) accepts any region name in the signature.
            region = value("region") ?? "us-east-1"
        } else {
            guard let named = value("region") else {
                throw S3ConfigurationError(
                    "storage.s3.region is missing; give the bucket's AWS region, or regionendpoint for another S3 server")
            }
            region = named
            endpoint = Endpoint(secure: secure, host: "s3.\(named).amazonaws.com")
        }
        let accessKey = value("accesskey") ?? environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }
        let secretKey = value("secretkey") ?? environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        guard let accessKey, let secretKey else {
            throw S3ConfigurationError(
                "S3 credentials are missing: set storage.s3.accesskey and secretkey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        let token = value("sessiontoken") ?? environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        var chunkSize = defaultChunkSize
        if let raw = value("chunksize") {
            guard let parsed = Int(raw), parsed >= minimumChunkSize, parsed <= maximumChunkSize else {
                throw S3ConfigurationError(
                    "storage.s3.chunksize is \(raw); give bytes between \(minimumChunkSize) (5 MiB) and \(maximumChunkSize) (5 GiB)")
            }
            chunkSize = parsed
        }
        return S3Configuration(
            bucket: bucket, region: region, endpoint: endpoint,
            credentials: S3Credentials(accessKey: accessKey, secretKey: secretKey, sessionToken: token),
            forcePathStyle: try flag("forcepathstyle", default: false),
            rootDirectory: value("rootdirectory") ?? "", chunkSize: chunkSize,
            skipVerify: try flag("skipverify", default: false))
    }

    static func parseEndpoint(_ raw: String, secure: Bool) throws(S3ConfigurationError) -> Endpoint {
        let withScheme = raw.contains("://") ? raw : "\(secure ? "https" : "http")://\(raw)"
        guard let components = URLComponents(string: withScheme), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            components.path.isEmpty || components.path == "/", components.query == nil
        else {
            throw S3ConfigurationError(
                "storage.s3.regionendpoint \"\(raw)\" is not an http(s) URL of a host (like https://minio.example:9000)")
        }
        return Endpoint(secure: scheme == "https", host: host, port: components.port)
    }

    static func isValidBucketName(_ name: String) -> Bool {
        guard (3...63).contains(name.utf8.count) else { return false }
        return name.utf8.allSatisfy { byte in
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
    }

    static func trimSlashes(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return String(trimmed)
    }
}

/// AWS access key, secret key and the optional session token of temporary credentials.
public struct S3Credentials: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
    }
}

/// A `storage.s3` option that cannot work, with what to change.
public struct S3ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}
