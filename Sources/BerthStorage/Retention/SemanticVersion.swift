/// A tag read as a semantic version (semver.org 2.0.0), for `keep.semver`. A leading `v` or `V`
/// is allowed, since `v1.2.3` is the most common way images are tagged. Build metadata (`+…`)
/// is accepted and ignored, as the specification says it does not take part in precedence.
/// Equality and order are precedence: `v1.2.3` and `1.2.3` are the same version.
public struct SemanticVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Decimal digits without leading zeros; kept as text so that no number is too large.
    public let major: String
    public let minor: String
    public let patch: String
    public let prerelease: [String]

    public init?(_ text: String) {
        var s = Substring(text)
        if s.first == "v" || s.first == "V" { s = s.dropFirst() }
        if let plus = s.firstIndex(of: "+") {
            let build = s[s.index(after: plus)...].split(separator: ".", omittingEmptySubsequences: false)
            guard build.allSatisfy({ !$0.isEmpty && Self.isIdentifier($0) }) else { return nil }
            s = s[..<plus]
        }
        var prerelease: [String] = []
        if let dash = s.firstIndex(of: "-") {
            let parts = s[s.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false)
            for part in parts {
                guard !part.isEmpty, Self.isIdentifier(part) else { return nil }
                if Self.isNumeric(part), !Self.isCanonicalNumber(part) { return nil }
                prerelease.append(String(part))
            }
            s = s[..<dash]
        }
        let core = s.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3, core.allSatisfy(Self.isCanonicalNumber) else { return nil }
        major = String(core[0])
        minor = String(core[1])
        patch = String(core[2])
        self.prerelease = prerelease
    }

    public var description: String {
        "\(major).\(minor).\(patch)" + (prerelease.isEmpty ? "" : "-" + prerelease.joined(separator: "."))
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        for (l, r) in [(lhs.major, rhs.major), (lhs.minor, rhs.minor), (lhs.patch, rhs.patch)] where l != r {
            return numericLess(l, r)
        }
        // A pre-release is lower than the release itself.
        switch (lhs.prerelease.isEmpty, rhs.prerelease.isEmpty) {
        case (true, true), (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (l, r) in zip(lhs.prerelease, rhs.prerelease) where l != r {
            switch (isNumeric(l[...]), isNumeric(r[...])) {
            case (true, true): return numericLess(l, r)
            case (true, false): return true
            case (false, true): return false
            case (false, false): return l.utf8.lexicographicallyPrecedes(r.utf8)
            }
        }
        return lhs.prerelease.count < rhs.prerelease.count
    }

    private static func numericLess(_ l: String, _ r: String) -> Bool {
        l.utf8.count != r.utf8.count ? l.utf8.count < r.utf8.count : l.utf8.lexicographicallyPrecedes(r.utf8)
    }

    private static func isIdentifier(_ s: Substring) -> Bool {
        s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5a) || ($0 >= 0x61 && $0 <= 0x7a) || $0 == 0x2d }
    }

    private static func isNumeric(_ s: Substring) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    private static func isCanonicalNumber(_ s: Substring) -> Bool {
        isNumeric(s) && (s == "0" || s.first != "0")
    }
}
