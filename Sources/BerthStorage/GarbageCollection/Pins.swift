import BerthCore
import Foundation
import NIOCore

/// Pins: how pushes tell a concurrently running garbage collector "I am about to rely on these
/// digests". Every operation that makes content reachable (a manifest PUT, an upload completing, a
/// mount) writes a pin *before* it checks that the content exists; the collector re-reads the pins
/// after it has set content aside and *before* anything is deleted for good, and puts back whatever
/// a pin names. docs/garbage-collection.md gives the argument; this file keeps the bookkeeping.
///
/// Pins are grouped by UTC hour, so the collector reads only the hours of its grace period and old
/// hours are dropped as whole directories.
public enum Pins {
    /// Pins older than this are removed by `prunePins`; the grace period must stay well below it.
    public static let lifetime: TimeInterval = 24 * 3600

    /// `yyyyMMddHH` in UTC.
    static func hour(of date: Date) -> String {
        let c = Calendar(identifier: .gregorian)
        let parts = c.dateComponents(in: TimeZone(identifier: "UTC") ?? .gmt, from: date)
        return String(format: "%04d%02d%02d%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0)
    }

    static func date(ofHour hour: String) -> Date? {
        guard hour.count == 10, hour.allSatisfy(\.isNumber) else { return nil }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMddHH"
        return f.date(from: hour)
    }

    /// A pin's file name: milliseconds since 1970 (fixed width, so names sort by time) and a random suffix.
    static func name(at date: Date) -> String {
        let ms = Int64(date.timeIntervalSince1970 * 1000)
        return String(format: "%015lld-%08x", ms, UInt32.random(in: 0...UInt32.max))
    }

    static func date(ofName name: String) -> Date? {
        guard let dash = name.firstIndex(of: "-"), let ms = Int64(name[..<dash]) else { return nil }
        return Date(timeIntervalSince1970: Double(ms) / 1000)
    }
}

extension RegistryStorage {
    /// Records that an operation is about to rely on `digests`. Not synced: the operation's own
    /// durable write follows, and a pin matters only while a collection runs concurrently.
    func pin(_ digests: [Digest]) async throws {
        guard !digests.isEmpty else { return }
        let now = Date()
        var text = ""
        for d in digests { text += d.description + "\n" }
        let path = StoragePath.gcPin(hour: Pins.hour(of: now), name: Pins.name(at: now)).path
        try await driver.putContent(path, ByteBuffer(string: text), durable: false)
    }

    /// Digests named by pins written at or after `since`. `seen` carries pin names already read
    /// (pins never change), so repeated calls read only new ones.
    func pinnedDigests(since: Date, seen: inout [String: [Digest]]) async throws -> Set<Digest> {
        var result = Set<Digest>()
        let hours = (try? await driver.list(StoragePath.gcPins.path)) ?? []
        let firstHour = Pins.hour(of: since)
        for hour in hours.sorted() where hour >= firstHour {
            let names = (try? await driver.list(StoragePath.gcPinHour(hour).path)) ?? []
            for name in names {
                // A name without a readable time is counted: erring towards keeping is safe.
                if let t = Pins.date(ofName: name), t < since { continue }
                let key = hour + "/" + name
                if let known = seen[key] {
                    result.formUnion(known)
                    continue
                }
                guard let text = try? await driver.getString(StoragePath.gcPin(hour: hour, name: name).path, maxBytes: 1 << 20) else {
                    continue  // pruned meanwhile: then it was old
                }
                let digests = text.split(separator: "\n").compactMap { try? Digest(parsing: String($0)) }
                seen[key] = digests
                result.formUnion(digests)
            }
        }
        return result
    }

    /// Removes hours of pins older than `Pins.lifetime`. Returns how many hour directories went.
    @discardableResult
    public func prunePins(now: Date = Date()) async throws -> Int {
        let cutoff = now.addingTimeInterval(-Pins.lifetime)
        var removed = 0
        for hour in (try? await driver.list(StoragePath.gcPins.path)) ?? [] {
            // The hour directory holds pins up to an hour after its start.
            guard let start = Pins.date(ofHour: hour), start.addingTimeInterval(3600) < cutoff else { continue }
            try await driver.delete(StoragePath.gcPinHour(hour).path)
            removed += 1
        }
        return removed
    }
}
