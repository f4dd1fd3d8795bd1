/// Glob patterns over repository names (access rules, retention policies) and tags: `*` matches
/// within one path component, `**` across components, `?` one character other than `/`.
public enum Glob {
    public static func matches(_ pattern: String, _ name: String) -> Bool {
        match(Array(pattern.utf8)[...], Array(name.utf8)[...])
    }

    private static func match(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        var p = p
        var s = s
        while let c = p.first {
            if c == UInt8(ascii: "*") {
                let doubled = p.dropFirst().first == UInt8(ascii: "*")
                var rest = p.dropFirst(doubled ? 2 : 1)
                // `a/**/b` also matches `a/b`.
                if doubled, rest.first == UInt8(ascii: "/"), match(rest.dropFirst(), s) { return true }
                while rest.first == UInt8(ascii: "*") { rest = rest.dropFirst() }
                var candidate = s
                while true {
                    if match(rest, candidate) { return true }
                    guard let next = candidate.first, doubled || next != UInt8(ascii: "/") else { return false }
                    candidate = candidate.dropFirst()
                }
            }
            guard let d = s.first else { return false }
            if c == UInt8(ascii: "?") {
                if d == UInt8(ascii: "/") { return false }
            } else if c != d {
                return false
            }
            p = p.dropFirst()
            s = s.dropFirst()
        }
        return s.isEmpty
    }
}
