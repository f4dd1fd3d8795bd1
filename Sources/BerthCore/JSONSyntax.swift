/// A strict check of JSON syntax (RFC 8259) without building any value. Foundation's JSONDecoder
/// skips fields it does not decode without checking them, so it accepts a manifest with a raw
/// control character, invalid UTF-8 or a lone surrogate in an unknown field, which other clients'
/// parsers then refuse. Iterative, with a bound on nesting: no recursion for deep input to exhaust.
public enum JSONSyntax {
    /// Deeper nesting than any manifest needs.
    public static let maxDepth = 256

    /// nil when `bytes` are one valid JSON text; else what is wrong and at which byte offset.
    public static func problem(in bytes: some Collection<UInt8>) -> String? {
        let b = Array(bytes)
        guard String(validating: b, as: UTF8.self) != nil else { return "it is not valid UTF-8" }
        var scanner = Scanner(b: b)
        do { try scanner.run() } catch { return "\(error.reason) at byte \(error.offset)" }
        return nil
    }

    struct SyntaxError: Error {
        var reason: String
        var offset: Int
    }

    private struct Scanner {
        let b: [UInt8]
        var i = 0
        var open: [UInt8] = []  // '{' or '[' of each container not yet closed

        private enum Next { case value, valueOrClose, key, keyOrClose, colon, commaOrClose, end }

        mutating func run() throws(SyntaxError) {
            var next = Next.value
            while true {
                skipSpace()
                if next == .end {
                    guard i == b.count else { throw fail("unexpected text after the JSON value") }
                    return
                }
                guard i < b.count else { throw fail("unexpected end of the JSON text") }
                let c = b[i]
                switch next {
                case .value, .valueOrClose:
                    if next == .valueOrClose, c == UInt8(ascii: "]") {
                        next = close()
                    } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                        guard open.count < JSONSyntax.maxDepth else { throw fail("nesting deeper than \(JSONSyntax.maxDepth) levels") }
                        open.append(c)
                        i += 1
                        next = c == UInt8(ascii: "{") ? .keyOrClose : .valueOrClose
                    } else {
                        try scalar()
                        next = afterValue()
                    }
                case .key, .keyOrClose:
                    if next == .keyOrClose, c == UInt8(ascii: "}") {
                        next = close()
                    } else {
                        guard c == UInt8(ascii: "\"") else { throw fail("expected a quoted key") }
                        try string()
                        next = .colon
                    }
                case .colon:
                    guard c == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
                    i += 1
                    next = .value
                case .commaOrClose:
                    let inObject = open.last == UInt8(ascii: "{")
                    if c == UInt8(ascii: ",") {
                        i += 1
                        next = inObject ? .key : .value
                    } else if c == (inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        next = close()
                    } else {
                        throw fail(inObject ? "expected ',' or '}'" : "expected ',' or ']'")
                    }
                case .end:
                    return
                }
            }
        }

        private func fail(_ reason: String) -> SyntaxError { SyntaxError(reason: reason, offset: i) }

        private mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0a || b[i] == 0x0d { i += 1 }
        }

        private func afterValue() -> Next { open.isEmpty ? .end : .commaOrClose }

        private mutating func close() -> Next {
            open.removeLast()
            i += 1
            return afterValue()
        }

        private mutating func scalar() throws(SyntaxError) {
            switch b[i] {
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw fail("expected a value")
            }
        }

        private mutating func literal(_ word: String) throws(SyntaxError) {
            guard b[i...].starts(with: word.utf8) else { throw fail("expected \(word)") }
            i += word.utf8.count
        }

        private mutating func digits() throws(SyntaxError) {
            let start = i
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            guard i > start else { throw fail("expected a digit") }
        }

        private mutating func number() throws(SyntaxError) {
            if b[i] == UInt8(ascii: "-") { i += 1 }
            if i < b.count, b[i] == UInt8(ascii: "0") { i += 1 } else { try digits() }
            if i < b.count, b[i] == UInt8(ascii: ".") { i += 1; try digits() }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                try digits()
            }
        }

        private mutating func string() throws(SyntaxError) {
            i += 1  // the opening quote
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; return }
                guard c >= 0x20 else { throw fail("unescaped control character in a string") }
                guard c == UInt8(ascii: "\\") else { i += 1; continue }
                i += 1
                guard i < b.count else { break }
                switch b[i] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 1
                case UInt8(ascii: "u"):
                    let unit = try hex4()
                    if (0xD800...0xDBFF).contains(unit) {
                        // A high surrogate must be followed by an escaped low one.
                        guard b[i...].starts(with: "\\u".utf8) else { throw fail("unpaired surrogate \\u\(String(unit, radix: 16))") }
                        i += 1
                        guard (0xDC00...0xDFFF).contains(try hex4()) else { throw fail("unpaired surrogate \\u\(String(unit, radix: 16))") }
                    } else if (0xDC00...0xDFFF).contains(unit) {
                        throw fail("unpaired surrogate \\u\(String(unit, radix: 16))")
                    }
                default:
                    throw fail("invalid escape in a string")
                }
            }
            throw fail("unterminated string")
        }

        /// At the 'u' of `\uXXXX`: the code unit, leaving `i` after it.
        private mutating func hex4() throws(SyntaxError) -> Int {
            i += 1
            guard i + 4 <= b.count else { throw fail("truncated \\u escape") }
            var value = 0
            for c in b[i..<(i + 4)] {
                guard let d = Int(String(UnicodeScalar(c)), radix: 16) else { throw fail("invalid \\u escape") }
                value = value * 16 + d
            }
            i += 4
            return value
        }
    }
}
