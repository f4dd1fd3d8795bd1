import Foundation
import Synchronization

/// Sorted directory listings (tags of a repository, the catalog), kept while the directory is
/// unchanged, so a page of a 50,000-entry list costs one `stat` and a binary search instead of a
/// listing and a sort. A listing is only cached once the directory has been still for a second,
/// which covers file systems whose timestamps are coarser than the changes.
final class ListingCache: Sendable {
    private struct Entry {
        var token: String
        var names: [String]
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let counters: CacheCounters?
    static let limit = 1024

    init(counters: CacheCounters? = nil) { self.counters = counters }

    /// The entries of `path`, each mapped by `transform` (nil drops it), sorted bytewise.
    func sortedNames(_ driver: any StorageDriver, _ path: String, transform: (String) -> String?) async throws -> [String] {
        let info = try await driver.stat(path)
        if !info.changeToken.isEmpty, let hit = entries.withLock({ $0[path] }), hit.token == info.changeToken {
            counters?.record(.listing, hit: true)
            return hit.names
        }
        counters?.record(.listing, hit: false)
        let names = try await driver.list(path).compactMap(transform).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        if !info.changeToken.isEmpty, info.modified < Date().addingTimeInterval(-1) {
            entries.withLock {
                if $0.count >= Self.limit { $0.removeAll(keepingCapacity: true) }
                $0[path] = Entry(token: info.changeToken, names: names)
            }
        }
        return names
    }
}

/// One page of a sorted list: the names after `last`, at most `limit` of them, and whether more remain.
public struct Page: Sendable, Equatable {
    public var names: [String]
    public var hasMore: Bool

    public static func of(_ sorted: [String], after last: String?, limit: Int?) -> Page {
        var start = sorted.startIndex
        if let last {
            // Binary search for the first name greater than `last` (bytewise).
            var low = sorted.startIndex, high = sorted.endIndex
            while low < high {
                let mid = (low + high) / 2
                if last.utf8.lexicographicallyPrecedes(sorted[mid].utf8) {
                    high = mid
                } else {
                    low = mid + 1
                }
            }
            start = low
        }
        let rest = sorted[start...]
        guard let limit, rest.count > limit else { return Page(names: Array(rest), hasMore: false) }
        return Page(names: Array(rest.prefix(limit)), hasMore: true)
    }
}
