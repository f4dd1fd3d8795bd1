import Crypto
import Foundation
import JWTKit
import _CryptoExtras

/// A key or certificate that cannot be used for tokens, with the reason.
public struct TokenKeyError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Key identifiers as token services put them in a JWT's `kid` header.
public enum TokenKeyID {
    /// The Docker (libtrust) key id of a public key: SHA-256 of its DER SubjectPublicKeyInfo, the
    /// first 240 bits in base32 without padding, in 12 groups of 4 joined by `:`.
    public static func libtrust(publicKeyDER: some DataProtocol) -> String {
        let digest = Array(SHA256.hash(data: Array(publicKeyDER))).prefix(30)
        let encoded = Array(base32(digest).utf8)
        return stride(from: 0, to: encoded.count, by: 4)
            .map { String(decoding: encoded[$0..<min($0 + 4, encoded.count)], as: UTF8.self) }
            .joined(separator: ":")
    }

    static func base32(_ bytes: some Collection<UInt8>) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)
        var out: [UInt8] = []
        var buffer = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A public key that can check token signatures.
enum PublicKeyMaterial: Sendable {
    case rsa(_RSA.Signing.PublicKey)
    case p256(P256.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)
    case p521(P521.Signing.PublicKey)
    case ed25519(Curve25519.Signing.PublicKey)

    private static let rsaOID: [UInt8] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]
    private static let ecOID: [UInt8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01]
    private static let p256OID: [UInt8] = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]
    private static let p384OID: [UInt8] = [0x2b, 0x81, 0x04, 0x00, 0x22]
    private static let p521OID: [UInt8] = [0x2b, 0x81, 0x04, 0x00, 0x23]
    private static let ed25519OID: [UInt8] = [0x2b, 0x65, 0x70]
    private static let ed25519SPKIPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

    /// Reads a DER SubjectPublicKeyInfo (RSA ≥ 2048 bits, EC P-256/P-384/P-521, Ed25519).
    init(spki: [UInt8]) throws(TokenKeyError) {
        do {
            let info = try DER.children(of: try DER.single(spki[...], tag: 0x30))
            guard info.count == 2, info[0].tag == 0x30, info[1].tag == 0x03 else { throw TokenKeyError("not a SubjectPublicKeyInfo") }
            let algorithm = try DER.children(of: info[0])
            guard let oid = algorithm.first, oid.tag == 0x06 else { throw TokenKeyError("no key algorithm") }
            let der = Data(spki)
            switch Array(oid.content) {
            case Self.rsaOID:
                let key = try _RSA.Signing.PublicKey(unsafeDERRepresentation: der)
                guard key.keySizeInBits >= 2048 else {
                    throw TokenKeyError("RSA key has \(key.keySizeInBits) bits; at least 2048 are required")
                }
                self = .rsa(key)
            case Self.ecOID:
                guard algorithm.count == 2, algorithm[1].tag == 0x06 else { throw TokenKeyError("EC key without a named curve") }
                switch Array(algorithm[1].content) {
                case Self.p256OID: self = .p256(try P256.Signing.PublicKey(derRepresentation: der))
                case Self.p384OID: self = .p384(try P384.Signing.PublicKey(derRepresentation: der))
                case Self.p521OID: self = .p521(try P521.Signing.PublicKey(derRepresentation: der))
                default: throw TokenKeyError("EC key on an unsupported curve (P-256, P-384 and P-521 are)")
                }
            case Self.ed25519OID:
                let bits = info[1].content
                guard bits.first == 0 else { throw TokenKeyError("malformed Ed25519 key") }
                self = .ed25519(try Curve25519.Signing.PublicKey(rawRepresentation: bits.dropFirst()))
            default:
                throw TokenKeyError("unsupported public key algorithm (RSA, EC and Ed25519 are)")
            }
        } catch let error as TokenKeyError {
            throw error
        } catch {
            throw TokenKeyError("unreadable public key: \(error)")
        }
    }

    /// The DER SubjectPublicKeyInfo.
    var spkiDER: [UInt8] {
        switch self {
        case .rsa(let k): Array(k.derRepresentation)
        case .p256(let k): Array(k.derRepresentation)
        case .p384(let k): Array(k.derRepresentation)
        case .p521(let k): Array(k.derRepresentation)
        case .ed25519(let k): Self.ed25519SPKIPrefix + Array(k.rawRepresentation)
        }
    }

    var libtrustKeyID: String { TokenKeyID.libtrust(publicKeyDER: spkiDER) }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url).
    var jwkThumbprint: String {
        let json: String
        switch self {
        case .rsa(let k):
            let p = try? k.getKeyPrimitives()
            let e = Base64URL.encode(Self.unsigned(p?.publicExponent ?? Data()))
            let n = Base64URL.encode(Self.unsigned(p?.modulus ?? Data()))
            json = #"{"e":"\#(e)","kty":"RSA","n":"\#(n)"}"#
        case .p256(let k): json = Self.ecThumbprintJSON("P-256", Array(k.x963Representation))
        case .p384(let k): json = Self.ecThumbprintJSON("P-384", Array(k.x963Representation))
        case .p521(let k): json = Self.ecThumbprintJSON("P-521", Array(k.x963Representation))
        case .ed25519(let k): json = #"{"crv":"Ed25519","kty":"OKP","x":"\#(Base64URL.encode(k.rawRepresentation))"}"#
        }
        return Base64URL.encode(Data(SHA256.hash(data: Data(json.utf8))))
    }

    private static func ecThumbprintJSON(_ curve: String, _ x963: [UInt8]) -> String {
        let size = (x963.count - 1) / 2
        let x = Base64URL.encode(Data(x963[1...size]))
        let y = Base64URL.encode(Data(x963[(size + 1)...]))
        return #"{"crv":"\#(curve)","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
    }

    private static func unsigned(_ data: Data) -> Data {
        let trimmed = data.drop { $0 == 0 }
        return trimmed.isEmpty ? Data([0]) : Data(trimmed)
    }

    /// Every JWS algorithm this key can check.
    var algorithms: [String] {
        switch self {
        case .rsa: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        case .p256: ["ES256"]
        case .p384: ["ES384"]
        case .p521: ["ES512"]
        case .ed25519: ["EdDSA"]
        }
    }

    var kind: String {
        switch self {
        case .rsa(let k): "RSA \(k.keySizeInBits)-bit"
        case .p256: "EC P-256"
        case .p384: "EC P-384"
        case .p521: "EC P-521"
        case .ed25519: "Ed25519"
        }
    }

    /// jwt-kit verifiers for those of `algorithms` in `allowed`, by algorithm name.
    func verifiers(allowed: Set<String>) async throws -> [String: any JWTAlgorithm] {
        let collection = JWTKeyCollection()
        let names = algorithms.filter { allowed.contains($0) }
        for name in names {
            let kid = JWKIdentifier(string: name)
            switch self {
            case .rsa(let k):
                let key = try Insecure.RSA.PublicKey(backing: k)
                let digest: DigestAlgorithm = name.hasSuffix("384") ? .sha384 : name.hasSuffix("512") ? .sha512 : .sha256
                if name.hasPrefix("PS") {
                    await collection.add(pss: key, digestAlgorithm: digest, kid: kid)
                } else {
                    await collection.add(rsa: key, digestAlgorithm: digest, kid: kid)
                }
            case .p256(let k):
                let key = try ES256PublicKey(backing: k)
                await collection.add(ecdsa: key, kid: kid)
            case .p384(let k):
                let key = try ES384PublicKey(backing: k)
                await collection.add(ecdsa: key, kid: kid)
            case .p521(let k):
                let key = try ES512PublicKey(backing: k)
                await collection.add(ecdsa: key, kid: kid)
            case .ed25519(let k): await collection.add(eddsa: EdDSA.PublicKey(backing: k), kid: kid)
            }
        }
        var result: [String: any JWTAlgorithm] = [:]
        for name in names {
            let algorithm = try await collection.getKey(for: JWKIdentifier(string: name))
            guard algorithm.name == name else { throw TokenKeyError("key for \(name) came back as \(algorithm.name)") }
            result[name] = algorithm
        }
        return result
    }
}

/// PEM blocks (`-----BEGIN LABEL-----` … `-----END LABEL-----`).
enum PEM {
    static func blocks(_ text: String) throws(TokenKeyError) -> [(label: String, der: [UInt8])] {
        var result: [(String, [UInt8])] = []
        var label: String?
        var body = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----") {
                label = String(line.dropFirst(11).dropLast(5))
                body = ""
            } else if line.hasPrefix("-----END "), line.hasSuffix("-----") {
                guard let open = label, String(line.dropFirst(9).dropLast(5)) == open else {
                    throw TokenKeyError("PEM block \(line) does not close an open block")
                }
                guard let der = Data(base64Encoded: body) else { throw TokenKeyError("PEM block \(open) is not valid base64") }
                result.append((open, Array(der)))
                label = nil
            } else if label != nil, !line.contains(":") {
                body += line
            }
        }
        if let label { throw TokenKeyError("PEM block \(label) is not closed") }
        return result
    }
}

/// Certificates: the subject public key.
enum Certificate {
    /// The DER SubjectPublicKeyInfo of a DER X.509 certificate.
    static func subjectPublicKeyInfo(_ der: [UInt8]) throws(TokenKeyError) -> [UInt8] {
        do {
            let certificate = try DER.children(of: try DER.single(der[...], tag: 0x30))
            guard let tbs = certificate.first, tbs.tag == 0x30 else { throw TokenKeyError("no TBSCertificate") }
            var fields = try DER.children(of: tbs)
            if fields.first?.tag == 0xa0 { fields.removeFirst() }  // [0] version
            // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
            guard fields.count >= 6, fields[5].tag == 0x30 else { throw TokenKeyError("no subjectPublicKeyInfo") }
            return Array(fields[5].encoded)
        } catch let error as TokenKeyError {
            throw TokenKeyError("not an X.509 certificate: \(error.description)")
        } catch {
            throw TokenKeyError("not an X.509 certificate: \(error)")
        }
    }
}

/// The small part of DER needed to find a certificate's public key.
enum DER {
    struct Node {
        var tag: UInt8
        var content: ArraySlice<UInt8>
        var encoded: ArraySlice<UInt8>
    }

    static func single(_ bytes: ArraySlice<UInt8>, tag: UInt8) throws(TokenKeyError) -> Node {
        let (node, rest) = try read(bytes)
        guard node.tag == tag, rest.isEmpty else { throw TokenKeyError("unexpected DER structure") }
        return node
    }

    static func children(of node: Node) throws(TokenKeyError) -> [Node] {
        var rest = node.content
        var nodes: [Node] = []
        while !rest.isEmpty {
            let (child, after) = try read(rest)
            nodes.append(child)
            rest = after
        }
        return nodes
    }

    static func read(_ bytes: ArraySlice<UInt8>) throws(TokenKeyError) -> (Node, ArraySlice<UInt8>) {
        var i = bytes.startIndex
        guard bytes.count >= 2 else { throw TokenKeyError("truncated DER") }
        let tag = bytes[i]
        i += 1
        var length = Int(bytes[i])
        i += 1
        if length & 0x80 != 0 {
            let count = length & 0x7f
            guard (1...4).contains(count), bytes.endIndex - i >= count else { throw TokenKeyError("bad DER length") }
            length = 0
            for _ in 0..<count {
                length = (length << 8) | Int(bytes[i])
                i += 1
            }
        }
        guard bytes.endIndex - i >= length else { throw TokenKeyError("truncated DER") }
        let node = Node(tag: tag, content: bytes[i..<(i + length)], encoded: bytes[bytes.startIndex..<(i + length)])
        return (node, bytes[(i + length)...])
    }
}

/// base64url without padding (RFC 7515 §2).
enum Base64URL {
    static func encode(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: some StringProtocol) -> Data? {
        guard !text.contains("="), !text.contains("+"), !text.contains("/") else { return nil }
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        if s.count % 4 == 1 { return nil }
        s += String(repeating: "=", count: (4 - s.count % 4) % 4)
        return Data(base64Encoded: s)
    }
}
