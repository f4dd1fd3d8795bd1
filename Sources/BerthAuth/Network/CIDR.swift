/// An IPv4 or IPv6 address, parsed without the system's resolver so that configuration and
/// forwarded headers are read the same way everywhere.
///
/// Kept as 128 bits; IPv4 addresses are stored as IPv4-mapped IPv6 (`::ffff:a.b.c.d`), so an
/// IPv4 client of a dual-stack listener (which the socket reports in the mapped form) and the
/// same client on an IPv4 listener are one address.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Family: Sendable { case v4, v6 }

    let high: UInt64
    let low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(v4: UInt32) { self.init(high: 0, low: 0xffff_0000_0000 | UInt64(v4)) }

    /// Parses `a.b.c.d` or an IPv6 address (`::1`, `fd00::5`, `::ffff:10.0.0.1`). No ports,
    /// brackets or zones: configuration names plain addresses. Leading zeros in IPv4 parts are
    /// refused, as `inet_pton` does, because some tools read them as octal.
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        if !bytes.contains(UInt8(ascii: ":")) {
            guard let v4 = Self.parseV4(bytes[...]) else { return nil }
            self.init(v4: v4)
        } else {
            guard let groups = Self.parseV6(bytes) else { return nil }
            var high: UInt64 = 0
            var low: UInt64 = 0
            for i in 0..<4 { high = high << 16 | UInt64(groups[i]) }
            for i in 4..<8 { low = low << 16 | UInt64(groups[i]) }
            self.init(high: high, low: low)
        }
    }

    /// `v4` for IPv4 and IPv4-mapped IPv6 addresses.
    public var family: Family { high == 0 && low >> 32 == 0xffff ? .v4 : .v6 }

    /// Dotted quad for IPv4 (mapped ones too), RFC 5952 text for IPv6.
    public var description: String {
        if family == .v4 {
            return (0..<4).map { String(low >> (24 - 8 * UInt64($0)) & 0xff) }.joined(separator: ".")
        }
        let groups = (0..<8).map { i -> UInt16 in
            let word = i < 4 ? high : low
            return UInt16(truncatingIfNeeded: word >> (48 - 16 * UInt64(i % 4)))
        }
        // RFC 5952: compress the longest run of two or more zero groups (the first of equals).
        var best = (start: -1, length: 1)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else { i += 1; continue }
            var j = i
            while j < 8 && groups[j] == 0 { j += 1 }
            if j - i > best.length { best = (i, j - i) }
            i = j
        }
        func hex(_ range: Range<Int>) -> String { groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
        guard best.start >= 0 else { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
    }

    static func parseV4(_ bytes: ArraySlice<UInt8>) -> UInt32? {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  part.count == 1 || part.first != UInt8(ascii: "0") else { return nil }
            let n = part.reduce(UInt32(0)) { $0 * 10 + UInt32($1 - 0x30) }
            guard n <= 255 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    /// The eight 16-bit groups of an IPv6 address; at most one `::`, which stands for one or
    /// more zero groups; the last group may be a dotted IPv4 address (two groups).
    static func parseV6(_ bytes: [UInt8]) -> [UInt16]? {
        guard bytes.count >= 2, bytes.count <= 45 else { return nil }
        let colon = UInt8(ascii: ":")
        var gap: Int?
        for i in 0..<(bytes.count - 1) where bytes[i] == colon && bytes[i + 1] == colon {
            guard gap == nil else { return nil }
            gap = i
        }
        if let g = gap, g + 2 < bytes.count, bytes[g + 2] == colon { return nil }  // ":::"
        func groups(_ part: ArraySlice<UInt8>, last: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            let fields = part.split(separator: colon, omittingEmptySubsequences: false)
            var out: [UInt16] = []
            for (n, field) in fields.enumerated() {
                if last, n == fields.count - 1, field.contains(UInt8(ascii: ".")) {
                    guard let v4 = parseV4(field) else { return nil }
                    out += [UInt16(v4 >> 16), UInt16(v4 & 0xffff)]
                    continue
                }
                guard (1...4).contains(field.count) else { return nil }
                var value: UInt16 = 0
                for c in field {
                    guard let digit = hexDigit(c) else { return nil }
                    value = value << 4 | UInt16(digit)
                }
                out.append(value)
            }
            return out
        }
        if let g = gap {
            guard let head = groups(bytes[..<g], last: false), let tail = groups(bytes[(g + 2)...], last: true),
                  head.count + tail.count <= 7 else { return nil }
            return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard let all = groups(bytes[...], last: true), all.count == 8 else { return nil }
        return all
    }

    private static func hexDigit(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}

/// A range of addresses, `10.20.0.0/16` or `fd00::/8`; a plain address is a range of one.
///
/// IPv4 ranges match IPv4 clients, including IPv4-mapped IPv6 ones; IPv6 ranges match only
/// IPv6 clients, so `::/0` means every IPv6 client and not everyone. A range written in the
/// mapped form (`::ffff:10.0.0.0/104`) is the IPv4 range it stands for.
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the range.
    public let network: IPAddress
    /// Prefix length in the address's own family: 0...32 for IPv4, 0...128 for IPv6.
    public let prefixLength: Int

    /// Parses `address/prefix` or a plain address. Bits set beyond the prefix are refused
    /// rather than masked: `10.20.1.0/16` is more likely a mistyped prefix than a wish for
    /// `10.20.0.0/16`, and silently widening an allow list would be the worse outcome.
    public init(parsing text: String) throws(CIDRError) {
        let trimmed = text.trimmingPrefixAndSuffixSpaces()
        let parts = trimmed.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else {
            throw CIDRError("\(text) is not an IPv4 or IPv6 address or range (like 10.20.0.0/16 or fd00::/8)")
        }
        let writtenAsV6 = parts[0].contains(":")
        let maximum = writtenAsV6 ? 128 : 32
        var length = maximum
        if parts.count == 2 {
            guard (1...3).contains(parts[1].count), parts[1].allSatisfy({ $0 >= "0" && $0 <= "9" }), let n = Int(parts[1]),
                  (0...maximum).contains(n) else {
                throw CIDRError("\(text): the prefix length must be a number from 0 to \(maximum)")
            }
            length = n
        }
        // Mapped IPv6 text with a prefix inside the mapped block is that IPv4 range.
        if writtenAsV6, address.family == .v4 {
            if length >= 96 { length -= 96 } else {
                throw CIDRError("\(text) mixes IPv4-mapped and other IPv6 addresses; write IPv4 ranges as a.b.c.d/n and IPv6 ranges separately")
            }
        }
        let bits = address.family == .v4 ? length + 96 : length
        let masked = Self.masked(address, bits)
        guard masked == address else {
            throw CIDRError("\(text) has address bits set beyond its /\(length) prefix; did you mean \(masked)/\(length)?")
        }
        network = address
        prefixLength = length
    }

    /// Whether `address` is in the range (never across families).
    public func contains(_ address: IPAddress) -> Bool {
        guard address.family == network.family else { return false }
        let bits = network.family == .v4 ? prefixLength + 96 : prefixLength
        return Self.masked(address, bits) == network
    }

    public var description: String { "\(network)/\(prefixLength)" }

    /// `address` with all but its first `bits` (of 128) cleared.
    static func masked(_ address: IPAddress, _ bits: Int) -> IPAddress {
        func mask(_ n: Int) -> UInt64 { n <= 0 ? 0 : n >= 64 ? .max : ~(UInt64.max >> UInt64(n)) }
        return IPAddress(high: address.high & mask(bits), low: address.low & mask(bits - 64))
    }
}

/// Why a range could not be read (for configuration errors).
public struct CIDRError: Error, Equatable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension StringProtocol {
    func trimmingPrefixAndSuffixSpaces() -> Substring {
        let s = self[...]
        guard let first = s.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = s.lastIndex(where: { $0 != " " && $0 != "\t" }) else { return ""[...] }
        return Substring(s[first...last])
    }
}
