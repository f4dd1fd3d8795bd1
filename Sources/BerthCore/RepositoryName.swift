/// A repository name as the distribution spec's grammar allows it:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
/// Validation makes path traversal impossible: no component can be empty, `.` or `..`.
public struct RepositoryName: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let value: String
    /// The longest name accepted (the reference registry's limit).
    public static let maxLength = 255

    public init(_ string: some StringProtocol) throws(RegistryError) {
        guard Self.isValid(string) else {
            throw RegistryError(
                .nameInvalid,
                "invalid repository name \(Digest.quote(string)): use lower-case letters and digits, separated by '.', '_', '__', '-' or '/', at most \(Self.maxLength) characters",
                detail: ["name": String(string.prefix(300))])
        }
        value = String(string)
    }

    public var description: String { value }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    /// The components between slashes.
    public var components: [Substring] { value.split(separator: "/") }

    public static func isValid(_ string: some StringProtocol) -> Bool {
        let bytes = Array(string.utf8)
        guard !bytes.isEmpty, bytes.count <= maxLength else { return false }
        for component in bytes.split(separator: 0x2f, omittingEmptySubsequences: false) {
            guard isValidComponent(component) else { return false }
        }
        return true
    }

    private static func isAlnum(_ c: UInt8) -> Bool { (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) }

    private static func isValidComponent(_ c: ArraySlice<UInt8>) -> Bool {
        guard let first = c.first, let last = c.last, isAlnum(first), isAlnum(last) else { return false }
        var i = c.startIndex
        while i < c.endIndex {
            let ch = c[i]
            if isAlnum(ch) { i += 1; continue }
            // separator: '.', '_', '__' or one or more '-'
            var j = i
            switch ch {
            case 0x2e: j += 1
            case 0x5f: j += 1; if j < c.endIndex, c[j] == 0x5f { j += 1 }
            case 0x2d: while j < c.endIndex, c[j] == 0x2d { j += 1 }
            default: return false
            }
            guard j < c.endIndex, isAlnum(c[j]) else { return false }
            i = j
        }
        return true
    }
}

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
public struct Tag: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let value: String

    public init(_ string: some StringProtocol) throws(RegistryError) {
        guard Self.isValid(string) else {
            throw RegistryError(
                .tagInvalid,
                "invalid tag \(Digest.quote(string)): a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
                detail: ["tag": String(string.prefix(200))])
        }
        value = String(string)
    }

    public var description: String { value }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    public static func isValid(_ string: some StringProtocol) -> Bool {
        let bytes = string.utf8
        guard let first = bytes.first, bytes.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool {
            (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x5f
        }
        guard word(first) else { return false }
        return bytes.allSatisfy { word($0) || $0 == 0x2e || $0 == 0x2d }
    }
}

/// The `<reference>` of a manifest URL: a tag or a digest.
public enum Reference: Hashable, Sendable, CustomStringConvertible {
    case tag(Tag)
    case digest(Digest)

    /// A reference with a ':' is a digest, anything else must be a tag.
    public init(parsing string: some StringProtocol) throws(RegistryError) {
        if string.contains(":") {
            self = .digest(try Digest(parsing: string))
        } else {
            self = .tag(try Tag(string))
        }
    }

    public var description: String {
        switch self {
        case .tag(let t): t.value
        case .digest(let d): d.description
        }
    }

    /// The tag, when the reference is one.
    public var tagName: String? {
        if case .tag(let t) = self { return t.value }
        return nil
    }
}
