/// The hops named by `X-Forwarded-For` and `Forwarded` (RFC 7239), in order from the original
/// client to the last proxy. Each hop is the text a proxy wrote: an address, possibly with a
/// port or in brackets, or something else (`unknown`, an obfuscated `_name`).
public enum ForwardedHeaders {
    /// The entries of `X-Forwarded-For` values (several header lines count as one list, in order).
    public static func xForwardedFor(_ values: [String]) -> [Substring] {
        values.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map { $0.trimmingPrefixAndSuffixSpaces() }
    }

    /// The `for=` parameter of each element of `Forwarded` values; an element without one is an
    /// empty hop (its proxy did not say, so the client is unknown from there on).
    public static func forwardedFor(_ values: [String]) -> [Substring] {
        values.flatMap(elements).map { element in
            for pair in element where pair.key.lowercased() == "for" { return pair.value }
            return ""[...]
        }
    }

    /// Splits a `Forwarded` value into elements of `key=value` pairs, honouring quoted strings
    /// (which may hold `,` and `;`, and backslash escapes).
    static func elements(_ value: String) -> [[(key: Substring, value: Substring)]] {
        var elements: [[(key: Substring, value: Substring)]] = []
        var pairs: [(key: Substring, value: Substring)] = []
        var current = ""
        var inQuotes = false
        var escaped = false
        func endPair() {
            let text = current.trimmingPrefixAndSuffixSpaces()
            if let eq = text.firstIndex(of: "=") {
                pairs.append((text[..<eq].trimmingPrefixAndSuffixSpaces(),
                              text[text.index(after: eq)...].trimmingPrefixAndSuffixSpaces()))
            } else if !text.isEmpty {
                pairs.append((text, ""))
            }
            current = ""
        }
        for c in value {
            if escaped { current.append(c); escaped = false; continue }
            switch c {
            case "\\" where inQuotes: escaped = true
            case "\"": inQuotes.toggle()
            case ";" where !inQuotes: endPair()
            case "," where !inQuotes:
                endPair()
                elements.append(pairs)
                pairs = []
            default: current.append(c)
            }
        }
        endPair()
        elements.append(pairs)
        return elements
    }

    /// The address in one hop: `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::17]`,
    /// `[2001:db8::17]:4711`, `2001:db8::17`, or a link-local address with a zone (`fe80::1%eth0`,
    /// the zone dropped); nil for anything else.
    public static func address(_ hop: Substring) -> IPAddress? {
        var text = hop.trimmingPrefixAndSuffixSpaces()
        guard !text.isEmpty, text.count <= 64 else { return nil }
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let rest = text[text.index(after: close)...]
            guard rest.isEmpty || (rest.first == ":" && isPort(rest.dropFirst())) else { return nil }
            text = text[text.index(after: text.startIndex)..<close]
        } else if let colon = text.firstIndex(of: ":"), text.lastIndex(of: ":") == colon, text.contains(".") {
            guard isPort(text[text.index(after: colon)...]) else { return nil }
            text = text[..<colon]
        }
        if let zone = text.firstIndex(of: "%") { text = text[..<zone] }
        return IPAddress(text)
    }

    private static func isPort(_ s: Substring) -> Bool {
        (1...5).contains(s.count) && s.allSatisfy { $0 >= "0" && $0 <= "9" }
    }
}
