import BerthCore

extension FuzzTarget {
    /// `Digest(parsing:)`: accepts exactly the spec's digests of a supported algorithm (the
    /// grammar's regular expression decides), re-formats to the same string, and refuses
    /// everything else with DIGEST_INVALID and a bounded message.
    package static let digest = FuzzTarget(
        name: "digest",
        dictionary: ["sha256:", "sha512:", "sha384:", "md5:", "SHA256:", ":", "+", ".", "_", "-", "=", "a", "f", "g", "A",
                     String(repeating: "0", count: 64), String(repeating: "f", count: 128), "sha256+b64u:"],
        generate: { random in
            let algorithm = random.pick(["sha256", "sha512", "sha256", "sha384", "sha256+b64u", "SHA256", "sha256.x", "", "sha_", "-sha"])
            let length = random.pick([64, 128, 63, 65, 127, 0, 1, 3000])
            let alphabet = random.pick(["0123456789abcdef", "0123456789abcdef", "0123456789ABCDEF", "ghijkz=_-", "é/ :"])
            let scalars = Array(alphabet.unicodeScalars)
            var encoded = String.UnicodeScalarView()
            for _ in 0..<length { encoded.append(random.pick(scalars)) }
            return Array((algorithm + random.pick([":", ":", "", "::"]) + String(encoded)).utf8)
        },
        check: { input throws(FuzzFailure) in
            let text = input.text
            let parsed: Digest
            switch attempt({ () throws(RegistryError) in try Digest(parsing: text) }) {
            case .success(let digest): parsed = digest
            case .failure(let error):
                try expect(!Grammar.isSupportedDigest(text), "Digest(parsing: \(FuzzTarget.literal(input))) refused a valid digest: \(error)")
                try expect(error.code == .digestInvalid, "a bad digest gave \(error.code), not DIGEST_INVALID")
                try expect(error.message.count < 400, "the error message repeats the whole input (\(error.message.count) characters)")
                return "refused"
            }
            try expect(Grammar.isSupportedDigest(text), "Digest(parsing: \(FuzzTarget.literal(input))) accepted what the spec's grammar refuses")
            try expect(parsed.description == text, "\(FuzzTarget.literal(input)) re-formats as \(parsed.description)")
            try expect(parsed.hex.utf8.count == parsed.algorithm.hexLength, "\(parsed) has \(parsed.hex.utf8.count) hex digits for \(parsed.algorithm)")
            try expect(Digest(algorithm: parsed.algorithm, hex: parsed.hex) == parsed, "\(parsed) differs from its own parts")
            // A digest computed over the input is one Berth parses back.
            let computed = Digest.compute(input, algorithm: parsed.algorithm)
            try expect((try? Digest(parsing: computed.description)) == computed, "computed digest \(computed) does not parse back")
            return "accepted \(parsed.algorithm)"
        })

    /// Repository names, tags and references: `RepositoryName.isValid` and `Tag.isValid` agree with the
    /// spec's regular expressions; a `Reference` is a digest exactly when it holds a ':'.
    package static let name = FuzzTarget(
        name: "name",
        dictionary: ["/", "//", ".", "..", "_", "__", "___", "-", "--", "a", "z", "0", "9", "A", ":", "@", "sha256:",
                     "library/", "%2F", " ", "\u{0130}", "\u{212A}", String(repeating: "a", count: 128)],
        generate: { random in
            let separators = ["/", ".", "_", "__", "-", "---", "", "..", "//", "___", ":", "@"]
            var s = ""
            for _ in 0...random.below(6) {
                s += String(repeating: random.pick(["a", "b0", "x", "9", "A", "é"]), count: 1 + random.below(random.chance(5) ? 200 : 4))
                s += random.pick(separators)
            }
            if random.chance(60) { s.removeLast(min(s.count, random.below(3))) }
            return Array(s.utf8)
        },
        check: { input throws(FuzzFailure) in
            let text = input.text
            let nameValid = RepositoryName.isValid(text)
            try expect(nameValid == Grammar.isName(text), "RepositoryName.isValid(\(FuzzTarget.literal(input))) is \(nameValid), the spec's grammar says \(!nameValid)")
            switch attempt({ () throws(RegistryError) in try RepositoryName(text) }) {
            case .success(let name):
                try expect(name.value == text && name.components.joined(separator: "/") == text, "\(name) does not round-trip")
                try expect(!name.components.contains { $0 == "." || $0 == ".." || $0.isEmpty }, "\(name) has a path-traversing component")
            case .failure(let error):
                try expect(!nameValid, "RepositoryName refused a valid name: \(error)")
                try expect(error.code == .nameInvalid && error.message.count < 500, "bad name error: \(error.code), \(error.message.count) characters")
            }
            let tagValid = Tag.isValid(text)
            try expect(tagValid == Grammar.isTag(text), "Tag.isValid(\(FuzzTarget.literal(input))) is \(tagValid), the spec's grammar says \(!tagValid)")
            switch attempt({ () throws(RegistryError) in try Reference(parsing: text) }) {
            case .success(let reference):
                try expect(reference.description == text, "reference \(FuzzTarget.literal(input)) re-formats as \(reference)")
                switch reference {
                case .tag: try expect(tagValid && !text.contains(":"), "\(FuzzTarget.literal(input)) read as a tag")
                case .digest: try expect(Grammar.isSupportedDigest(text), "\(FuzzTarget.literal(input)) read as a digest")
                }
            case .failure(let error):
                try expect(text.contains(":") ? !Grammar.isSupportedDigest(text) : !tagValid, "Reference refused \(FuzzTarget.literal(input)): \(error)")
                try expect(error.code == (text.contains(":") ? .digestInvalid : .tagInvalid), "bad reference gave \(error.code)")
            }
            return "\(nameValid ? "name" : "-") \(tagValid ? "tag" : "-") \(text.contains("/")) \(text.utf8.count > 128)"
        })
}
