import Foundation

/// What S3 says about one object.
public struct S3ObjectInfo: Sendable, Equatable {
    /// Key relative to the root directory.
    public var key: String
    public var size: Int64
    /// Entity tag without quotes (an MD5 hex for simple uploads, `<hash>-<parts>` for multipart ones).
    public var eTag: String
    public var lastModified: Date?
    /// User metadata (`x-amz-meta-NAME` headers, names in lower case); HEAD and GET answers only.
    public var metadata: [String: String]

    public init(key: String, size: Int64, eTag: String, lastModified: Date?, metadata: [String: String] = [:]) {
        self.key = key
        self.size = size
        self.eTag = eTag
        self.lastModified = lastModified
        self.metadata = metadata
    }
}

/// Bytes `offset ..< offset + length` of an object, or everything from `offset` on when `length` is nil.
public struct S3ByteRange: Sendable, Equatable {
    public var offset: Int64
    public var length: Int64?

    public init(offset: Int64, length: Int64? = nil) {
        self.offset = offset
        self.length = length
    }

    /// The `Range` / `x-amz-copy-source-range` value, `bytes=first-last`.
    var headerValue: String {
        guard let length else { return "bytes=\(offset)-" }
        return "bytes=\(offset)-\(offset + max(length, 1) - 1)"
    }
}

/// One page of a ListObjectsV2 listing.
public struct S3ListPage: Sendable {
    public var objects: [S3ObjectInfo]
    /// With a delimiter: the "directories" one level down, relative to the root directory, each ending in the delimiter.
    public var commonPrefixes: [String]
    /// Pass to the next request for the following page; nil on the last page.
    public var nextContinuationToken: String?
}

/// A part of a multipart upload, as uploaded or as listed.
public struct S3Part: Sendable, Equatable {
    public var number: Int
    public var eTag: String
    /// Known from ListParts; nil when the part was just uploaded.
    public var size: Int64?

    public init(number: Int, eTag: String, size: Int64? = nil) {
        self.number = number
        self.eTag = eTag
        self.size = size
    }
}

/// A multipart upload in progress, from ListMultipartUploads.
public struct S3MultipartUpload: Sendable, Equatable {
    public var key: String
    public var uploadID: String
    public var initiated: Date?
}

/// A key a batch delete could not remove, with S3's reason.
public struct S3DeleteFailure: Sendable, Equatable {
    public var key: String
    public var code: String
    public var message: String
}

enum S3Dates {
    /// `2009-10-12T17:50:30.000Z`, as listings carry it.
    static func parseISO8601(_ text: String) -> Date? {
        let digits = text.split(whereSeparator: { "-T:.Z".contains($0) }).map { Int($0) }
        guard digits.count >= 6, let year = digits[0], let month = digits[1], let day = digits[2], let hour = digits[3],
            let minute = digits[4], let second = digits[5]
        else { return nil }
        return date(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// `Wed, 12 Oct 2009 17:50:00 GMT`, as the Last-Modified header carries it.
    static func parseHTTPDate(_ text: String) -> Date? {
        let fields = text.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard fields.count == 6, let day = Int(fields[1]), let monthIndex = months.firstIndex(of: String(fields[2])),
            let year = Int(fields[3])
        else { return nil }
        let time = fields[4].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3 else { return nil }
        return date(year: year, month: monthIndex + 1, day: day, hour: time[0], minute: time[1], second: time[2])
    }

    static func date(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Date? {
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let seconds = timegm(&parts)
        return seconds == -1 ? nil : Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}

/// An ETag header or element without its quotes.
func unquotedETag(_ raw: String?) -> String {
    guard var value = raw?.trimmingCharacters(in: .whitespaces) else { return "" }
    if value.hasPrefix("W/") { value.removeFirst(2) }
    if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
    return value
}
