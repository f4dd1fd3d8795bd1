#if canImport(CCryptoBoringSSL)
import CCryptoBoringSSL
#else
import Crypto
#endif

/// Incremental hashing for one digest algorithm; a value type, so a partial state can be kept
/// (for example between the chunks of an upload) simply by copying it.
///
/// On Linux the state is BoringSSL's own context (the code swift-crypto runs), which can also be
/// written out as a ``checkpoint`` and read back in another process: an upload whose chunks land
/// on different nodes continues its hash without re-reading what earlier chunks stored.
public struct DigestHasher: Sendable {
    #if canImport(CCryptoBoringSSL)
    private enum State: @unchecked Sendable {
        case sha256(SHA256_CTX)
        case sha512(SHA512_CTX)
    }
    #else
    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }
    #endif

    private var state: State
    public private(set) var byteCount: Int64 = 0
    public var algorithm: DigestAlgorithm {
        switch state {
        case .sha256: .sha256
        case .sha512: .sha512
        }
    }

    public init(_ algorithm: DigestAlgorithm) {
        #if canImport(CCryptoBoringSSL)
        switch algorithm {
        case .sha256:
            var ctx = SHA256_CTX()
            CCryptoBoringSSL_SHA256_Init(&ctx)
            state = .sha256(ctx)
        case .sha512:
            var ctx = SHA512_CTX()
            CCryptoBoringSSL_SHA512_Init(&ctx)
            state = .sha512(ctx)
        }
        #else
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
        #endif
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        byteCount += Int64(bytes.count)
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        #if canImport(CCryptoBoringSSL)
        switch state {
        case .sha256(var ctx):
            CCryptoBoringSSL_SHA256_Update(&ctx, base, bytes.count)
            state = .sha256(ctx)
        case .sha512(var ctx):
            CCryptoBoringSSL_SHA512_Update(&ctx, base, bytes.count)
            state = .sha512(ctx)
        }
        #else
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: UnsafeRawBufferPointer(start: base, count: bytes.count))
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: UnsafeRawBufferPointer(start: base, count: bytes.count))
            state = .sha512(h)
        }
        #endif
    }

    public func finalize() -> Digest {
        #if canImport(CCryptoBoringSSL)
        var bytes: [UInt8]
        switch state {
        case .sha256(var ctx):
            bytes = [UInt8](repeating: 0, count: 32)
            CCryptoBoringSSL_SHA256_Final(&bytes, &ctx)
        case .sha512(var ctx):
            bytes = [UInt8](repeating: 0, count: 64)
            CCryptoBoringSSL_SHA512_Final(&bytes, &ctx)
        }
        #else
        let bytes: [UInt8]
        switch state {
        case .sha256(let h): bytes = Array(h.finalize())
        case .sha512(let h): bytes = Array(h.finalize())
        }
        #endif
        return Digest(algorithm: algorithm, hex: bytes.lowercaseHex)
    }
}

// MARK: - Checkpoints

extension DigestHasher {
    /// The hash state as bytes another process can continue from (``init(checkpoint:)``); nil where
    /// the platform's hash implementation keeps its state private.
    ///
    /// The format names every field, independent of BoringSSL's struct layout: `BHS1`, the
    /// algorithm (1 sha256, 2 sha512), the byte count (8 bytes, big-endian), the eight chaining
    /// words (big-endian) and the bytes of the unfinished block.
    public var checkpoint: [UInt8]? {
        #if canImport(CCryptoBoringSSL)
        var out: [UInt8] = Array("BHS1".utf8)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.bigEndian) { out += $0 } }
        switch state {
        case .sha256(var ctx):
            out.append(1)
            append(UInt64(byteCount))
            withUnsafeBytes(of: &ctx.h) { for word in $0.bindMemory(to: UInt32.self) { append(word) } }
            withUnsafeBytes(of: &ctx.data) { out += $0.prefix(Int(ctx.num)) }
        case .sha512(var ctx):
            out.append(2)
            append(UInt64(byteCount))
            withUnsafeBytes(of: &ctx.h) { for word in $0.bindMemory(to: UInt64.self) { append(word) } }
            withUnsafeBytes(of: &ctx.p) { out += $0.prefix(Int(ctx.num)) }
        }
        return out
        #else
        return nil
        #endif
    }

    /// Continues from a ``checkpoint``; nil when the bytes are not one (or the platform cannot).
    public init?(checkpoint bytes: [UInt8]) {
        #if canImport(CCryptoBoringSSL)
        guard bytes.count >= 13, bytes.starts(with: Array("BHS1".utf8)) else { return nil }
        var cursor = 5
        func read<T: FixedWidthInteger>(_: T.Type) -> T {
            var value: T = 0
            for byte in bytes[cursor..<cursor + MemoryLayout<T>.size] { value = value << 8 | T(byte) }
            cursor += MemoryLayout<T>.size
            return value
        }
        let count = read(UInt64.self)
        guard count <= UInt64(Int64.max) else { return nil }
        switch bytes[4] {
        case 1:
            let partial = Int(count % 64)
            guard bytes.count == 13 + 32 + partial else { return nil }
            var ctx = SHA256_CTX()
            CCryptoBoringSSL_SHA256_Init(&ctx)
            withUnsafeMutableBytes(of: &ctx.h) { words in
                for i in 0..<8 { words.storeBytes(of: read(UInt32.self), toByteOffset: i * 4, as: UInt32.self) }
            }
            withUnsafeMutableBytes(of: &ctx.data) { block in
                for i in 0..<partial { block[i] = bytes[cursor + i] }
            }
            let bits = count &* 8
            ctx.Nl = UInt32(truncatingIfNeeded: bits)
            ctx.Nh = UInt32(truncatingIfNeeded: (count >> 29))
            ctx.num = UInt32(partial)
            state = .sha256(ctx)
        case 2:
            let partial = Int(count % 128)
            guard bytes.count == 13 + 64 + partial else { return nil }
            var ctx = SHA512_CTX()
            CCryptoBoringSSL_SHA512_Init(&ctx)
            withUnsafeMutableBytes(of: &ctx.h) { words in
                for i in 0..<8 { words.storeBytes(of: read(UInt64.self), toByteOffset: i * 8, as: UInt64.self) }
            }
            withUnsafeMutableBytes(of: &ctx.p) { block in
                for i in 0..<partial { block[i] = bytes[cursor + i] }
            }
            ctx.bytes_so_far_low = count
            ctx.bytes_so_far_high = 0
            ctx.num = UInt16(partial)
            state = .sha512(ctx)
        default:
            return nil
        }
        byteCount = Int64(count)
        #else
        return nil
        #endif
    }
}
