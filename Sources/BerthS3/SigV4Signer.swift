import Crypto
import Foundation

/// AWS Signature Version 4 for S3: the `Authorization` header of a request and presigned URLs.
///
/// Paths are given already encoded with ``S3URIEncoding/encodePath(_:)``, exactly as they go on the
/// wire, because S3 signs the path once-encoded (unlike other AWS services, which encode twice and
/// normalise). Query parameters are given raw and encoded here.
public struct SigV4Signer: Sendable {
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// SHA-256 of no bytes, the payload hash of bodiless requests.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var credentials: S3Credentials
    public var region: String
    public var service: String

    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The headers to add to a request so S3 accepts it: `x-amz-date`, `x-amz-content-sha256`,
    /// `x-amz-security-token` (temporary credentials) and `Authorization`. `headers` are the request's
    /// other headers to sign; `host` is always signed.
    public func signatureHeaders(
        method: String, host: String, encodedPath: String, query: [(String, String)], headers: [(String, String)],
        payloadHash: String, date: Date
    ) -> [(String, String)] {
        let stamp = AmzDate(date)
        var added = [("x-amz-date", stamp.full), ("x-amz-content-sha256", payloadHash)]
        if let token = credentials.sessionToken { added.append(("x-amz-security-token", token)) }
        let signing = SignedHeaders([("host", host)] + headers + added)
        let canonical = canonicalRequest(
            method: method, encodedPath: encodedPath, canonicalQuery: Self.canonicalQuery(query),
            headers: signing, payloadHash: payloadHash)
        let signature = sign(canonicalRequest: canonical, stamp: stamp)
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope(stamp)), SignedHeaders=\(signing.names), Signature=\(signature)"
        return added + [("Authorization", authorization)]
    }

    /// The query string (without `?`) of a presigned URL valid for `expires` seconds (at most 7 days),
    /// signing only the host header, with the payload unsigned.
    public func presignedQuery(
        method: String, host: String, encodedPath: String, query: [(String, String)], expires: Int, date: Date
    ) -> String {
        let stamp = AmzDate(date)
        var parameters = query
        parameters.append(("X-Amz-Algorithm", "AWS4-HMAC-SHA256"))
        parameters.append(("X-Amz-Credential", "\(credentials.accessKey)/\(scope(stamp))"))
        parameters.append(("X-Amz-Date", stamp.full))
        parameters.append(("X-Amz-Expires", String(min(max(expires, 1), 604_800))))
        if let token = credentials.sessionToken { parameters.append(("X-Amz-Security-Token", token)) }
        parameters.append(("X-Amz-SignedHeaders", "host"))
        let canonicalQuery = Self.canonicalQuery(parameters)
        let canonical = canonicalRequest(
            method: method, encodedPath: encodedPath, canonicalQuery: canonicalQuery,
            headers: SignedHeaders([("host", host)]), payloadHash: Self.unsignedPayload)
        return canonicalQuery + "&X-Amz-Signature=" + sign(canonicalRequest: canonical, stamp: stamp)
    }

    func canonicalRequest(
        method: String, encodedPath: String, canonicalQuery: String, headers: SignedHeaders, payloadHash: String
    ) -> String {
        [method, encodedPath.isEmpty ? "/" : encodedPath, canonicalQuery, headers.canonical, headers.names, payloadHash]
            .joined(separator: "\n")
    }

    func stringToSign(canonicalRequest: String, stamp: AmzDate) -> String {
        let hash = SHA256.hash(data: Data(canonicalRequest.utf8)).hexString
        return "AWS4-HMAC-SHA256\n\(stamp.full)\n\(scope(stamp))\n\(hash)"
    }

    func sign(canonicalRequest: String, stamp: AmzDate) -> String {
        let key = signingKey(day: stamp.day)
        let text = stringToSign(canonicalRequest: canonicalRequest, stamp: stamp)
        return Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)).hexString
    }

    /// HMAC chain of day, region, service and `aws4_request` under `AWS4` + secret key.
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    func scope(_ stamp: AmzDate) -> String { "\(stamp.day)/\(region)/\(service)/aws4_request" }

    /// Parameters encoded (RFC 3986 unreserved characters kept) and sorted by name, then value.
    static func canonicalQuery(_ query: [(String, String)]) -> String {
        var encoded: [(name: String, value: String)] = []
        for (name, value) in query {
            encoded.append((S3URIEncoding.encode(name, keepSlash: false), S3URIEncoding.encode(value, keepSlash: false)))
        }
        encoded.sort { left, right in left.name == right.name ? left.value < right.value : left.name < right.name }
        var pairs: [String] = []
        for pair in encoded { pairs.append(pair.name + "=" + pair.value) }
        return pairs.joined(separator: "&")
    }
}

/// Lower-cased, sorted header names with trimmed values, joined as SigV4 wants them.
struct SignedHeaders {
    let canonical: String
    let names: String

    init(_ headers: [(String, String)]) {
        var merged: [String: [String]] = [:]
        for (name, value) in headers {
            // Trim and squeeze runs of spaces, as the specification's Trimall does.
            let squeezed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            merged[name.lowercased(), default: []].append(squeezed.trimmingCharacters(in: .whitespaces))
        }
        let sorted = merged.keys.sorted()
        canonical = sorted.map { "\($0):\(merged[$0, default: []].joined(separator: ","))\n" }.joined()
        names = sorted.joined(separator: ";")
    }
}

/// `20130524T000000Z` and `20130524` of one instant, in UTC.
struct AmzDate {
    let full: String
    let day: String

    init(_ date: Date) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        day = "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))"
        full = "\(day)T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }
}

/// Percent-encoding the way S3 signs and reads it.
public enum S3URIEncoding {
    /// Encodes an object key as a URL path: every byte but `A–Z a–z 0–9 - _ . ~` and `/` as `%XX`.
    public static func encodePath(_ key: String) -> String { encode(key, keepSlash: true) }

    static func encode(_ text: String, keepSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
