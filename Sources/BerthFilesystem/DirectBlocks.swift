import BerthStorage
import NIOConcurrencyHelpers
import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The page-aligned blocks of a writer that writes with `O_DIRECT`, used in turn: one is filled
/// from the upload while the others are written (two writes in flight: the disk takes them at once,
/// and the upload waits on it less). Blocks are whole multiples of the alignment and start at
/// aligned file offsets, as direct I/O requires; the writer sends the unaligned tail through the
/// page cache when it closes.
final class DirectBlocks: @unchecked Sendable {
    /// Offsets, lengths and buffer addresses of direct writes are multiples of this (the largest
    /// logical block size in common use; a multiple of 512 suits every device).
    static let alignment: Int64 = 4096
    /// Each direct write: 1 MiB writes keep the disk ahead of the hash (256 KiB ones ran at about
    /// half its rate here). `perWriter` blocks per writer are the memory this costs, so only `slots`
    /// uploads write directly at a time (12 MiB in all); the others, under many concurrent pushes,
    /// go through the page cache as before and take a slot when one frees up.
    static let blockSize = 1 << 20
    static let perWriter = 3
    static let slots = 4
    /// Slots taken, and blocks kept for the next writer (a chunked upload opens a writer per
    /// chunk; fresh memory for each would cost page faults every time).
    private static let state = NIOLockedValueBox((inUse: 0, free: [FreeBlock]()))

    /// A block kept for reuse; only the lock-holder touches the list.
    private struct FreeBlock: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
    }

    /// Whether a writer could start writing directly now.
    static var slotFree: Bool { state.withLockedValue { $0.inUse < slots } }
    /// Slots taken now, and writers ever set up (for tests).
    static var inUseNow: Int { state.withLockedValue { $0.inUse } }
    static let opened = NIOLockedValueBox(0)

    /// The descriptor opened with `O_DIRECT`, closed with the blocks.
    let fd: Int32
    /// The blocks, used in turn; `current` is being filled.
    private let blocks: [UnsafeMutableRawPointer]
    private var current = 0
    private var filling: UnsafeMutableRawPointer { blocks[current] }
    private var count = 0
    /// The file offset of `filling`'s first byte.
    private var offset: Int64

    /// Takes a slot and its blocks; nil when every slot is taken.
    init?(fd: Int32, offset: Int64) {
        precondition(offset % Self.alignment == 0, "direct writes start at an aligned offset")
        let taken = Self.state.withLockedValue { state -> [UnsafeMutableRawPointer?]? in
            guard state.inUse < Self.slots else { return nil }
            state.inUse += 1
            return (0..<Self.perWriter).map { _ in state.free.popLast()?.base }
        }
        guard let taken else { return nil }
        Self.opened.withLockedValue { $0 += 1 }
        self.fd = fd
        self.offset = offset
        blocks = taken.map { $0 ?? .allocate(byteCount: Self.blockSize, alignment: Int(Self.alignment)) }
    }

    deinit {
        close(fd)
        let blocks = self.blocks
        Self.state.withLockedValue { state in
            state.inUse -= 1
            state.free += blocks.map { FreeBlock(base: $0) }  // `perWriter` per slot: at most 12 MiB
        }
    }

    var isFull: Bool { count == Self.blockSize }
    /// The file offset of the first byte still in memory; everything before it was written.
    var pendingStart: Int64 { offset }

    /// Copies as much of `buffer` as the block being filled takes; returns how much.
    func fill(from buffer: inout ByteBuffer) -> Int {
        let n = min(Self.blockSize - count, buffer.readableBytes)
        buffer.readWithUnsafeReadableBytes { source in
            (filling + count).copyMemory(from: source.baseAddress!, byteCount: n)
            return n
        }
        count += n
        return n
    }

    /// The full block and its offset; filling continues in the next block. The returned block
    /// stays untouched for the next `perWriter - 1` calls: the caller has at most that many writes in
    /// flight, and waits for the oldest before it takes another block.
    func takeFull() -> (AlignedBytes, Int64) {
        precondition(isFull)
        let taken = (AlignedBytes(base: filling, count: count), offset)
        current = (current + 1) % Self.perWriter
        offset += Int64(count)
        count = 0
        return taken
    }

    /// What the block being filled holds (less than a block) and its offset.
    func takeRest() -> (AlignedBytes, Int64) {
        let taken = (AlignedBytes(base: filling, count: count), offset)
        offset += Int64(count)
        count = 0
        return taken
    }
}

/// Bytes in one of `DirectBlocks`' buffers, handed to a thread-pool write. The writer keeps the
/// blocks alive and untouched until that write has finished.
struct AlignedBytes: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
}

extension FilesystemDriver {
    /// `pwrite` until all of `bytes` is at `offset`.
    static func writeAll(fd: Int32, _ bytes: AlignedBytes, at offset: Int64, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.base + done, bytes.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write", path)
            }
            done += n
        }
    }
}
