/// Durations written the way the reference registry's config writes them (Go's
/// `time.ParseDuration`): `168h`, `10m30s`, `1.5h`, `500ms`. A bare number is seconds.
/// Durations beyond what a `Duration` of nanoseconds in an `Int64` holds (about 292 years) are refused.
public enum GoDuration {
    public static func parse(_ text: String) -> Duration? {
        let s = text.trimmingCharacters(in: " ")
        if s.isEmpty { return nil }
        if let seconds = Double(s), seconds >= 0 {
            guard seconds * 1000 < maxNanoseconds / 1e6 else { return nil }  // also refuses inf and nan
            return .milliseconds(Int64(seconds * 1000))
        }
        var total = 0.0
        var rest = Substring(s)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter || $0 == "µ" }
            rest = rest.dropFirst(unit.count)
            let scale: Double
            switch unit {
            case "ns": scale = 1e-9
            case "us", "µs": scale = 1e-6
            case "ms": scale = 1e-3
            case "s": scale = 1
            case "m": scale = 60
            case "h": scale = 3600
            default: return nil
            }
            total += value * scale
        }
        guard total * 1e9 < maxNanoseconds else { return nil }
        return .nanoseconds(Int64(total * 1e9))
    }

    /// Below `Int64.max` nanoseconds, with room for the rounding of a `Double`.
    private static let maxNanoseconds = 9.2e18

    public static func format(_ d: Duration) -> String {
        let (seconds, attoseconds) = d.components
        if attoseconds != 0 {
            // Below a second, or a fraction: whole milliseconds (what Berth's settings need).
            let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
            return "\(milliseconds)ms"
        }
        if seconds > 0, seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds > 0, seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
