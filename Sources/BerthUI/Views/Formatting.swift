import Foundation

/// How numbers, times and digests read on the pages.
enum Formatting {
    /// Decimal units, as `docker images` prints them.
    static func bytes(_ n: Int64) -> String {
        if n < 1000 { return "\(n) B" }
        let units = ["kB", "MB", "GB", "TB", "PB"]
        var value = Double(n) / 1000
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return String(format: value < 10 ? "%.2f %@" : value < 100 ? "%.1f %@" : "%.0f %@", value, units[unit])
    }

    /// `2026-11-29 14:30 UTC`.
    static func time(_ date: Date?) -> String {
        guard let t = utc(date) else { return "" }
        return String(format: "%04d-%02d-%02d %02d:%02d UTC", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min)
    }

    /// `2026-11-29T14:30:05Z`.
    static func iso(_ date: Date?) -> String {
        guard let t = utc(date) else { return "" }
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
    }

    /// Broken-down UTC time. `gmtime_r`, not a Calendar or a date formatter: creating those for
    /// every row of a page took most of its rendering time.
    private static func utc(_ date: Date?) -> tm? {
        guard let date else { return nil }
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        guard gmtime_r(&seconds, &t) != nil else { return nil }
        return t
    }

    /// `1 tag`, `3 tags`.
    static func count(_ n: Int, _ singular: String, _ plural: String) -> String { "\(n) \(n == 1 ? singular : plural)" }

    /// nil for an empty string (so that a template section stays closed).
    static func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }

    /// `sha256:0123456789ab`: enough to tell digests apart on a page.
    static func shortDigest(_ digest: String) -> String {
        guard let colon = digest.firstIndex(of: ":") else { return String(digest.prefix(19)) }
        return String(digest[...colon]) + digest[digest.index(after: colon)...].prefix(12)
    }

    /// A query string value, percent-encoded.
    static func query(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~/:@")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
    }

    /// A short name for a media type (`OCI image`, `Docker manifest list`, ...).
    static func kind(_ mediaType: String) -> String {
        switch mediaType {
        case "application/vnd.oci.image.manifest.v1+json": "OCI image"
        case "application/vnd.oci.image.index.v1+json": "OCI index"
        case "application/vnd.docker.distribution.manifest.v2+json": "Docker image"
        case "application/vnd.docker.distribution.manifest.list.v2+json": "Docker manifest list"
        default: mediaType
        }
    }
}

/// Page numbers over a list of `count` items.
struct Pager {
    var page: Int
    var pages: Int
    var range: Range<Int>

    init(count: Int, page requested: Int, perPage: Int) {
        pages = max(1, (count + perPage - 1) / perPage)
        page = min(max(1, requested), pages)
        let start = (page - 1) * perPage
        range = start..<min(count, start + perPage)
    }

    /// The links to the previous and next page (nil at the ends), given a link maker.
    func links(_ link: (Int) -> String) -> (previous: String?, next: String?) {
        (page > 1 ? link(page - 1) : nil, page < pages ? link(page + 1) : nil)
    }
}
