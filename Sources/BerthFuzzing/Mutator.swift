/// Byte-level mutations, stacked one to four at a time: bit flips, interesting bytes and numbers,
/// inserts, deletes, duplicates, dictionary tokens, splices with another corpus input, Unicode,
/// and long repetitions (deep nesting, huge components).
struct Mutator {
    var dictionary: [[UInt8]]
    var maxLength: Int

    static let interestingBytes: [UInt8] = [0, 0x01, 0x09, 0x0a, 0x0d, 0x20, 0x22, 0x25, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
                                            0x30, 0x39, 0x3a, 0x3d, 0x41, 0x5b, 0x5c, 0x5d, 0x5f, 0x7b, 0x7d, 0x7f,
                                            0x80, 0xc0, 0xff]
    static let numbers = ["0", "1", "-1", "+1", "00", "255", "256", "65535", "65536", "2147483648", "4294967296",
                          "9223372036854775806", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
                          "18446744073709551616", "99999999999999999999999999999", "1e308", "1e309", "-0", "0x10",
                          "1.5", ".5", "inf", "nan", "infinity", "1e-300", "٣", "１"]
    static let unicode = ["é", "\u{0130}", "\u{212A}", "\u{017F}", "\u{FEFF}", "\u{200B}", "\u{00A0}", "𝟘", "Ａ", "ß",
                          "\u{0301}", "\u{202E}", "\u{1F600}", "\u{FFFD}", "\r\n"]

    func mutate(_ base: [UInt8], other: [UInt8], _ random: inout FuzzRandom) -> [UInt8] {
        var data = base
        for _ in 0...random.below(4) { mutateOnce(&data, other: other, &random) }
        if data.count > maxLength { data.removeLast(data.count - maxLength) }
        return data
    }

    private func mutateOnce(_ data: inout [UInt8], other: [UInt8], _ random: inout FuzzRandom) {
        let position = random.below(data.count + 1)
        switch random.below(13) {
        case 0 where !data.isEmpty:  // flip a bit
            data[random.below(data.count)] ^= 1 << UInt8(random.below(8))
        case 1 where !data.isEmpty:  // an interesting byte in place of one
            data[random.below(data.count)] = random.pick(Self.interestingBytes)
        case 2:  // insert a random byte
            data.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
        case 3 where !data.isEmpty:  // delete a range
            let from = random.below(data.count)
            data.removeSubrange(from..<min(data.count, from + 1 + random.below(8)))
        case 4 where !data.isEmpty:  // duplicate a range
            let from = random.below(data.count)
            let chunk = data[from..<min(data.count, from + 1 + random.below(16))]
            data.insert(contentsOf: chunk, at: position)
        case 5...6 where !dictionary.isEmpty:  // insert a dictionary token
            data.insert(contentsOf: random.pick(dictionary), at: position)
        case 7 where !dictionary.isEmpty && !data.isEmpty:  // a dictionary token over some bytes
            let token = random.pick(dictionary)
            let from = random.below(data.count)
            data.replaceSubrange(from..<min(data.count, from + token.count), with: token)
        case 8:  // splice: the start of this input, the end of another
            let tail = other[random.below(other.count + 1)...]
            data = Array(data[..<position]) + tail
        case 9:  // a run of digits becomes an interesting number
            let number = Array(random.pick(Self.numbers).utf8)
            if let start = data.indices.dropFirst(position).first(where: { isDigit(data[$0]) }) {
                let end = data[start...].firstIndex { !isDigit($0) } ?? data.endIndex
                data.replaceSubrange(start..<end, with: number)
            } else {
                data.insert(contentsOf: number, at: position)
            }
        case 10:  // Unicode: multi-byte, case-changing, invisible, combining
            data.insert(contentsOf: Array(random.pick(Self.unicode).utf8), at: position)
        case 11:  // a long repetition of a token or byte: deep nesting, huge components
            let token = dictionary.isEmpty || random.chance(30) ? [random.pick(Self.interestingBytes)] : random.pick(dictionary)
            let times = random.pick([2, 16, 100, 300, 1000, 5000])
            data.insert(contentsOf: Array(repeatElement(token, count: times).joined().prefix(maxLength)), at: position)
        default:  // truncate
            data.removeSubrange(position...)
        }
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
