/// A minimal XML reader and writer for S3's small response documents.
///
/// S3 answers with plain element trees (no mixed content, no DTDs), so a few dozen lines suffice and
/// keep the target free of FoundationXML, which would tie the binary to libxml2. Namespaces are kept
/// out of names (`xmlns` is an attribute, and attributes are skipped).
struct S3XMLElement: Sendable, Equatable {
    var name: String
    var children: [S3XMLElement] = []
    var text: String = ""

    func child(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }
    func all(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }
    /// Text of the first child called `name`.
    subscript(_ name: String) -> String? { child(name)?.text }

    static func parse(_ bytes: some Collection<UInt8>) throws(S3XMLError) -> S3XMLElement {
        var reader = XMLReader(Array(bytes))
        return try reader.document()
    }

    /// `<name>escaped text</name>`.
    static func tag(_ name: String, _ text: String) -> String { "<\(name)>\(escape(text))</\(name)>" }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}

struct S3XMLError: Error, CustomStringConvertible {
    var description: String
}

private struct XMLReader {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(S3XMLError) -> S3XMLElement {
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw S3XMLError(description: "XML document has no root element") }
            guard bytes[index] == UInt8(ascii: "<") else { throw fail("expected '<'") }
            if peek("<?") { try skip(past: "?>") } else if peek("<!--") { try skip(past: "-->") } else if peek("<!") {
                try skip(past: ">")
            } else {
                return try element()
            }
        }
    }

    /// Reads `<name ...>children and text</name>` starting at `<`.
    mutating func element() throws(S3XMLError) -> S3XMLElement {
        index += 1
        let name = readName()
        guard !name.isEmpty else { throw fail("expected an element name") }
        // Attributes are not needed by S3's documents; skip to the end of the tag, minding quotes.
        var quote: UInt8?
        var selfClosing = false
        while true {
            guard index < bytes.count else { throw fail("unterminated tag <\(name)") }
            let byte = bytes[index]
            index += 1
            if let open = quote {
                if byte == open { quote = nil }
            } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                quote = byte
            } else if byte == UInt8(ascii: ">") {
                selfClosing = index >= 2 && bytes[index - 2] == UInt8(ascii: "/")
                break
            }
        }
        var element = S3XMLElement(name: localName(name))
        if selfClosing { return element }
        var text = ""
        var raw: [UInt8] = []
        while true {
            guard index < bytes.count else { throw fail("element <\(name)> is not closed") }
            if bytes[index] != UInt8(ascii: "<") {
                raw.append(bytes[index])
                index += 1
            } else if peek("</") {
                index += 2
                let closing = readName()
                guard closing == name else { throw fail("</\(closing)> closes <\(name)>") }
                try skip(past: ">")
                element.text = text + (try decodeEntities(raw))
                return element
            } else if peek("<!--") {
                try skip(past: "-->")
            } else if peek("<![CDATA[") {
                // CDATA is literal: decode what came before it, append it as is.
                text += try decodeEntities(raw)
                raw = []
                index += 9
                let start = index
                try skip(past: "]]>")
                text += String(decoding: bytes[start..<(index - 3)], as: UTF8.self)
            } else {
                element.children.append(try self.element())
            }
        }
    }

    mutating func readName() -> String {
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "/") || byte == 9
                || byte == 10 || byte == 13
            {
                break
            }
            index += 1
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    func localName(_ name: String) -> String {
        guard let colon = name.lastIndex(of: ":") else { return name }
        return String(name[name.index(after: colon)...])
    }

    func peek(_ literal: String) -> Bool {
        let utf8 = Array(literal.utf8)
        guard index + utf8.count <= bytes.count else { return false }
        return bytes[index..<(index + utf8.count)].elementsEqual(utf8)
    }

    mutating func skip(past literal: String) throws(S3XMLError) {
        while index < bytes.count {
            if peek(literal) {
                index += literal.utf8.count
                return
            }
            index += 1
        }
        throw fail("expected \(literal)")
    }

    mutating func skipWhitespace() {
        while index < bytes.count, [9, 10, 13, 32].contains(bytes[index]) { index += 1 }
    }

    func decodeEntities(_ text: [UInt8]) throws(S3XMLError) -> String {
        guard text.contains(UInt8(ascii: "&")) else { return String(decoding: text, as: UTF8.self) }
        var out: [UInt8] = []
        var position = 0
        while position < text.count {
            guard text[position] == UInt8(ascii: "&"),
                let end = text[position...].firstIndex(of: UInt8(ascii: ";")), end - position <= 10
            else {
                out.append(text[position])
                position += 1
                continue
            }
            let entity = String(decoding: text[(position + 1)..<end], as: UTF8.self)
            let replacement: String
            switch entity {
            case "amp": replacement = "&"
            case "lt": replacement = "<"
            case "gt": replacement = ">"
            case "quot": replacement = "\""
            case "apos": replacement = "'"
            default:
                let scalarValue: UInt32? =
                    entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16)
                    : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                guard let scalarValue, let scalar = Unicode.Scalar(scalarValue) else {
                    throw fail("unknown entity &\(entity);")
                }
                replacement = String(Character(scalar))
            }
            out.append(contentsOf: replacement.utf8)
            position = end + 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    func fail(_ what: String) -> S3XMLError {
        S3XMLError(description: "malformed XML at byte \(index): \(what)")
    }
}
