import Crypto

/// A content digest, `algorithm:encoded`, as the OCI image spec defines it.
/// Only the registered algorithms Berth can verify (sha256, sha512) are accepted.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let algorithm: DigestAlgorithm
    /// Lower-case hex encoding of the hash.
    public let hex: String

    public init(algorithm: DigestAlgorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    /// Parses and validates `sha256:<64 hex>` or `sha512:<128 hex>`.
    public init(parsing string: some StringProtocol) throws(RegistryError) {
        guard let colon = string.firstIndex(of: ":") else {
            throw RegistryError(.digestInvalid, "invalid digest \(Self.quote(string)): expected algorithm:hex")
        }
        let alg = string[..<colon]
        let encoded = string[string.index(after: colon)...]
        guard Self.isValidAlgorithmComponent(alg), !encoded.isEmpty else {
            throw RegistryError(.digestInvalid, "invalid digest \(Self.quote(string)): malformed algorithm or encoding")
        }
        guard let algorithm = DigestAlgorithm(rawValue: String(alg)) else {
            throw RegistryError(.digestInvalid, "unsupported digest algorithm \(Self.quote(alg)): use sha256 or sha512")
        }
        guard encoded.utf8.count == algorithm.hexLength,
              encoded.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw RegistryError(
                .digestInvalid,
                "invalid \(algorithm.rawValue) digest \(Self.quote(string)): expected \(algorithm.hexLength) lower-case hex characters")
        }
        self.algorithm = algorithm
        self.hex = String(encoded)
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    /// The digest of `bytes` with `algorithm`.
    public static func compute(_ bytes: some Sequence<UInt8>, algorithm: DigestAlgorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm)
        let array = Array(bytes)
        array.withUnsafeBytes { hasher.update($0) }
        return hasher.finalize()
    }

    private static func isValidAlgorithmComponent(_ s: some StringProtocol) -> Bool {
        // algorithm ::= component (separator component)*; component ::= [a-z0-9]+; separator ::= [+._-]
        var previousWasSeparator = true
        for c in s.utf8 {
            let isComponent = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)
            let isSeparator = c == 0x2b || c == 0x2e || c == 0x5f || c == 0x2d
            if isComponent { previousWasSeparator = false }
            else if isSeparator, !previousWasSeparator { previousWasSeparator = true }
            else { return false }
        }
        return !previousWasSeparator
    }

    static func quote(_ s: some StringProtocol) -> String {
        let clipped = s.count > 80 ? s.prefix(80) + "…" : Substring(s)
        return "\"\(clipped)\""
    }
}

/// The digest algorithms Berth verifies.
public enum DigestAlgorithm: String, Sendable, CaseIterable {
    case sha256
    case sha512

    public var hexLength: Int {
        switch self {
        case .sha256: 64
        case .sha512: 128
        }
    }
}

extension Array where Element == UInt8 {
    /// The bytes in lower-case hex, two digits each (how digests and upload ids are written).
    public var lowercaseHex: String {
        let table: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for b in self {
            out.append(table[Int(b >> 4)])
            out.append(table[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
