/// `Range` and `Content-Range` headers, parsed byte by byte: only ASCII digits count as numbers
/// (no signs, no Unicode digits), and no arithmetic on client numbers can overflow.
package enum ByteRange {
    package enum Outcome: Equatable, Sendable {
        /// No usable range: send everything.
        case whole
        case partial(Range<Int64>)
        /// A well-formed range that lies outside the content: 416.
        case unsatisfiable
    }

    /// Interprets a request's `Range` header against content of `size` bytes (RFC 9110 §14).
    /// Malformed or multi-range headers are ignored, as the RFC allows. Positions past `Int64.max`
    /// are as good as infinite: a first position beyond the content is unsatisfiable, a last one is clamped.
    package static func resolve(_ header: String?, size: Int64) -> Outcome {
        guard let header, size >= 0 else { return .whole }
        guard let spec = dropUnit(trimmed(Array(header.utf8)[...]), separators: [UInt8(ascii: "=")]),
              !spec.contains(UInt8(ascii: ",")), let dash = spec.firstIndex(of: UInt8(ascii: "-")) else { return .whole }
        let first = trimmed(spec[..<dash])
        let last = trimmed(spec[(dash + 1)...])
        if first.isEmpty {
            guard let suffix = number(last, saturating: true) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial((size - min(suffix, size))..<size)
        }
        guard let start = number(first, saturating: true) else { return .whole }
        var end = size - 1
        if !last.isEmpty {
            guard let e = number(last, saturating: true) else { return .whole }
            // An end before the start is an invalid range; like Go's http.ServeContent (and as
            // the conformance suite expects), refuse it rather than send everything.
            guard e >= start else { return .unsatisfiable }
            end = min(e, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .partial(start..<(end + 1))
    }

    /// Parses an upload chunk's `Content-Range: <start>-<end>` (inclusive; a `bytes ` prefix and
    /// `/total` suffix are tolerated). nil when malformed, or when the chunk's length
    /// (`end - start + 1`) would not fit in an `Int64`.
    package static func parseContentRange(_ header: String) -> (start: Int64, end: Int64)? {
        var s = trimmed(Array(header.utf8)[...])
        s = dropUnit(s, separators: [UInt8(ascii: " "), UInt8(ascii: "=")]) ?? s
        if let slash = s.firstIndex(of: UInt8(ascii: "/")) { s = s[..<slash] }
        guard let dash = s.firstIndex(of: UInt8(ascii: "-")),
              let start = number(s[..<dash], saturating: false),
              let end = number(s[(dash + 1)...], saturating: false),
              end >= start, end < Int64.max else { return nil }
        return (start, end)
    }

    /// What follows a case-insensitive `bytes` and one of `separators`, or nil without that prefix.
    private static func dropUnit(_ s: ArraySlice<UInt8>, separators: [UInt8]) -> ArraySlice<UInt8>? {
        let unit = Array("bytes".utf8)
        guard s.count > unit.count, zip(s.prefix(unit.count), unit).allSatisfy({ $0 | 0x20 == $1 }),
              separators.contains(s[s.startIndex + unit.count]) else { return nil }
        return s.dropFirst(unit.count + 1)
    }

    /// Without the optional white space (space, tab) around it.
    private static func trimmed(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let isOWS = { (c: UInt8) in c == 0x20 || c == 0x09 }
        guard let first = s.firstIndex(where: { !isOWS($0) }), let last = s.lastIndex(where: { !isOWS($0) }) else {
            return s[s.endIndex...]
        }
        return s[first...last]
    }

    /// One or more ASCII digits. Past `Int64.max` the value is `Int64.max` when `saturating`, else nil.
    private static func number(_ digits: ArraySlice<UInt8>, saturating: Bool) -> Int64? {
        guard !digits.isEmpty else { return nil }
        var value: Int64 = 0
        for c in digits {
            guard c >= 0x30, c <= 0x39 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int64(c - 0x30))
            if o1 || o2 {
                guard saturating else { return nil }
                value = .max
            } else {
                value = sum
            }
        }
        return value
    }
}
