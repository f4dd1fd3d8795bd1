import BerthCore
import Synchronization

/// In-process coordination of uploads: one request at a time per session, and the running hash
/// of each session so a chunk is hashed once. Losing it (a restart, another process) only costs
/// re-reading the data already uploaded.
final class UploadCoordinator: Sendable {
    struct HashState: Sendable {
        var offset: Int64
        var hasher: DigestHasher
    }

    private struct State {
        var held: Set<String> = []
        var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
        var hashes: [String: HashState] = [:]
    }

    private let state = Mutex(State())
    static let hashLimit = 10_000

    func withLock<T: Sendable>(_ id: String, _ body: () async throws -> T) async throws -> T {
        await lock(id)
        do {
            let result = try await body()
            unlock(id)
            return result
        } catch {
            unlock(id)
            throw error
        }
    }

    private func lock(_ id: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { s -> Bool in
                if s.held.contains(id) {
                    s.waiters[id, default: []].append(continuation)
                    return false
                }
                s.held.insert(id)
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func unlock(_ id: String) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if var queue = s.waiters[id], !queue.isEmpty {
                let first = queue.removeFirst()
                s.waiters[id] = queue.isEmpty ? nil : queue
                return first  // ownership passes to the waiter
            }
            s.held.remove(id)
            return nil
        }
        next?.resume()
    }

    func hash(_ id: String) -> HashState? { state.withLock { $0.hashes[id] } }

    func setHash(_ id: String, _ value: HashState?) {
        state.withLock { s in
            if value != nil, s.hashes[id] == nil, s.hashes.count >= Self.hashLimit {
                s.hashes.removeAll(keepingCapacity: true)
            }
            s.hashes[id] = value
        }
    }
}
