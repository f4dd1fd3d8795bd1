import BerthAPI

extension FuzzTarget {
    /// `ByteRange.resolve`: the input is the content size (first line) and a `Range` header. The
    /// answer agrees with RFC 9110's grammar read by a regular expression and compared as decimal
    /// strings (so numbers of any length), and a partial range always lies inside the content.
    package static let range = FuzzTarget(
        name: "range",
        dictionary: ["bytes=", "BYTES=", "bytes ", "items=", "-", ",", " ", "\t", "0", "1", "=", "+"] + Mutator.numbers,
        generate: { random in
            let size = random.pick(["0", "1", "10", "1000", "9223372036854775807", "9223372036854775806", String(random.below(5000))])
            let unit = random.pick(["bytes=", "bytes=", "Bytes=", "bytes =", " bytes=", "byte=", ""])
            func position(_ random: inout FuzzRandom) -> String {
                random.chance(70) ? String(random.below(2000)) : random.pick(Mutator.numbers)
            }
            var spec = random.pick(["\(position(&random))-\(position(&random))", "\(position(&random))-", "-\(position(&random))", "-"])
            if random.chance(10) { spec += ",\(position(&random))-" }
            if random.chance(10) { spec = " \(spec)\t" }
            return Array("\(size)\n\(unit)\(spec)".utf8)
        },
        check: { input throws(FuzzFailure) in
            let newline = input.firstIndex(of: 0x0a) ?? input.endIndex
            let size = max(0, Int64(input[..<newline].text) ?? Int64(input.count))
            let header = newline < input.endIndex ? input[(newline + 1)...].text : nil
            let outcome = ByteRange.resolve(header, size: size)
            let expected = RangeOracle.resolve(header, size: size)
            try expect(outcome == expected, "ByteRange.resolve(\(header.map { FuzzTarget.literal(Array($0.utf8)) } ?? "nil"), size: \(size)) is \(outcome), RFC 9110 gives \(expected)")
            if case .partial(let r) = outcome {
                try expect(r.lowerBound >= 0 && r.lowerBound < r.upperBound && r.upperBound <= size, "range \(r) outside 0..<\(size)")
                return "partial \(r.upperBound == size ? "to end" : "inside")"
            }
            return "\(outcome)"
        })

    /// `ByteRange.parseContentRange`: agrees with `<start>-<end>` read by a regular expression and
    /// `Int64(_:)`, and what it accepts has a length (`end - start + 1`) that fits in an Int64.
    package static let contentRange = FuzzTarget(
        name: "content-range",
        dictionary: ["bytes ", "bytes=", "-", "/", "*", " ", "0", "1"] + Mutator.numbers,
        generate: { random in
            func position(_ random: inout FuzzRandom) -> String {
                random.chance(70) ? String(random.below(1 << 20)) : random.pick(Mutator.numbers)
            }
            let unit = random.pick(["", "", "bytes ", "bytes=", "BYTES ", "bytes  "])
            let total = random.pick(["", "", "/*", "/\(position(&random))", "/x"])
            return Array("\(unit)\(position(&random))-\(position(&random))\(total)".utf8)
        },
        check: { input throws(FuzzFailure) in
            let header = input.text
            let parsed = ByteRange.parseContentRange(header)
            let expected = RangeOracle.contentRange(header)
            try expect(parsed?.start == expected?.start && parsed?.end == expected?.end,
                       "parseContentRange(\(FuzzTarget.literal(input))) is \(String(describing: parsed)), expected \(String(describing: expected))")
            guard let parsed else { return "refused" }
            let (length, overflow) = (parsed.end - parsed.start).addingReportingOverflow(1)
            try expect(parsed.start >= 0 && length > 0 && !overflow, "accepted \(parsed) has no Int64 length")
            return "accepted"
        })
}

/// A second reading of the headers: regular expressions for the syntax, decimal strings
/// compared by length and then lexically for the values (no integer parsing that could overflow).
enum RangeOracle {
    nonisolated(unsafe) static let rangeHeader = #/[ \t]*[bB][yY][tT][eE][sS]=[ \t]*(?<first>[0-9]*)[ \t]*-[ \t]*(?<last>[0-9]*)[ \t]*/#.matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let contentRangeHeader = #/[ \t]*(?:[bB][yY][tT][eE][sS][ =])?(?<start>[0-9]+)-(?<end>[0-9]+)(?:\/(?s:.*))?/#.matchingSemantics(.unicodeScalar)

    static func resolve(_ header: String?, size: Int64) -> ByteRange.Outcome {
        guard let header, let m = try? rangeHeader.wholeMatch(in: header) else { return .whole }
        let first = String(m.first), last = String(m.last)
        if first.isEmpty {
            guard !last.isEmpty else { return .whole }
            if isZero(last) || size == 0 { return .unsatisfiable }
            // The last `last` bytes, or all of them.
            return .partial(compare(last, size) >= 0 ? 0..<size : (size - value(last))..<size)
        }
        if !last.isEmpty, compareDecimal(last, first) < 0 { return .unsatisfiable }
        if compare(first, size) >= 0 { return .unsatisfiable }
        let start = value(first)
        let end = last.isEmpty || compare(last, size) >= 0 ? size - 1 : value(last)
        return .partial(start..<(end + 1))
    }

    static func contentRange(_ header: String) -> (start: Int64, end: Int64)? {
        // Trailing space and tab are part of the total's text or trimmed: either way not the end's.
        var text = Substring(header)
        while let l = text.last, l == " " || l == "\t" { text = text.dropLast() }
        guard let m = try? contentRangeHeader.wholeMatch(in: text),
              let start = Int64(m.start), let end = Int64(m.end), end >= start, end != .max else { return nil }
        return (start, end)
    }

    /// Sign of `digits - n`.
    static func compare(_ digits: String, _ n: Int64) -> Int { compareDecimal(digits, String(n)) }

    static func compareDecimal(_ a: String, _ b: String) -> Int {
        let a = a.drop { $0 == "0" }, b = b.drop { $0 == "0" }
        if a.count != b.count { return a.count < b.count ? -1 : 1 }
        return a == b ? 0 : (a < b ? -1 : 1)
    }

    static func isZero(_ digits: String) -> Bool { digits.allSatisfy { $0 == "0" } }

    /// Only called on digits known to be below some Int64.
    static func value(_ digits: String) -> Int64 { digits.reduce(0) { $0 * 10 + Int64($1.wholeNumberValue ?? 0) } }
}
