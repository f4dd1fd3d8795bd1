import Foundation

/// `Range` and `Content-Range` headers.
enum ByteRange {
    enum Outcome: Equatable {
        /// No usable range: send everything.
        case whole
        case partial(Range<Int64>)
        /// A well-formed range that lies outside the content: 416.
        case unsatisfiable
    }

    /// Interprets a request's `Range` header against content of `size` bytes (RFC 9110 §14).
    /// Malformed or multi-range headers are ignored, as the RFC allows.
    static func resolve(_ header: String?, size: Int64) -> Outcome {
        guard let header else { return .whole }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = trimmed.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            guard let suffix = Int64(last), suffix >= 0 else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial(max(0, size - suffix)..<size)
        }
        guard let start = Int64(first), start >= 0 else { return .whole }
        var end = size - 1
        if !last.isEmpty {
            guard let e = Int64(last) else { return .whole }
            // An end before the start is an invalid range; like Go's http.ServeContent (and as
            // the conformance suite expects), refuse it rather than send everything.
            guard e >= start else { return .unsatisfiable }
            end = min(e, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .partial(start..<(end + 1))
    }

    /// Parses an upload chunk's `Content-Range: <start>-<end>` (inclusive; a `bytes ` prefix and
    /// `/total` suffix are tolerated). nil when malformed.
    static func parseContentRange(_ header: String) -> (start: Int64, end: Int64)? {
        var s = Substring(header.trimmingCharacters(in: .whitespaces))
        if s.lowercased().hasPrefix("bytes ") { s = s.dropFirst(6) } else if s.lowercased().hasPrefix("bytes=") { s = s.dropFirst(6) }
        if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int64(parts[0]), let end = Int64(parts[1]), start >= 0, end >= start else {
            return nil
        }
        return (start, end)
    }
}
