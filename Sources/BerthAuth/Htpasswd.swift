import Crypto
import Foundation
import HummingbirdBcrypt
import Synchronization

/// An Apache htpasswd file of bcrypt entries (`user:$2y$…`, also `$2a$` and `$2b$`), re-read
/// when it changes. Successful checks are remembered (keyed by a hash of user and password) until
/// the file changes, so clients that send Basic credentials with every request pay for bcrypt
/// once, not per request.
public final class HtpasswdFile: Sendable {
    public let path: String

    private struct Snapshot {
        var fingerprint: String
        var entries: [String: String]
        var verified: Set<SHA256Digest>
        var checkedAt: ContinuousClock.Instant
        var loadError: String?
    }

    private let state: Mutex<Snapshot>
    /// How often the file's metadata is looked at for changes.
    static let recheckInterval = Duration.seconds(1)
    static let verifiedLimit = 10_000
    /// Compared against when the user is unknown, so that unknown users take as long as wrong passwords.
    private static let decoy = "$2b$10$3euPcmQFCiblsZeEu5s7p.9OVHgeHWFDk9nhMqZ0m/3pd/lhwZgES"

    /// Reads the file; a missing or unreadable file is an error here (at start-up), while a file
    /// that later becomes unreadable keeps its last good content (logged by the caller).
    public init(path: String) throws {
        self.path = path
        let (fingerprint, entries) = try Self.load(path)
        state = Mutex(Snapshot(fingerprint: fingerprint, entries: entries, verified: [], checkedAt: .now))
    }

    /// The user names in the file.
    public var users: [String] {
        refreshIfChanged()
        return state.withLock { $0.entries.keys.sorted() }
    }

    /// Whether `password` is `user`'s. Takes a bcrypt comparison's time for unknown users too.
    public func verify(user: String, password: String) -> Bool {
        refreshIfChanged()
        let key = SHA256.hash(data: Data("\(user)\u{0}\(password)".utf8))
        let (hash, known) = state.withLock { s -> (String?, Bool) in (s.entries[user], s.verified.contains(key)) }
        if known { return true }
        guard let hash else {
            _ = Bcrypt.verify(password, hash: Self.decoy)
            return false
        }
        guard Bcrypt.verify(password, hash: Self.normalised(hash)) else { return false }
        state.withLock { s in
            if s.entries[user] == hash {  // still the same entry after the slow check
                if s.verified.count >= Self.verifiedLimit { s.verified.removeAll(keepingCapacity: true) }
                s.verified.insert(key)
            }
        }
        return true
    }

    /// The last reload failure, if the file could not be re-read (the previous content stays in use).
    public var reloadError: String? { state.withLock { $0.loadError } }

    private func refreshIfChanged() {
        let now = ContinuousClock.now
        let due = state.withLock { s -> Bool in
            guard now - s.checkedAt >= Self.recheckInterval else { return false }
            s.checkedAt = now
            return true
        }
        guard due else { return }
        let current = Self.fingerprint(path)
        guard current != state.withLock({ $0.fingerprint }) else { return }
        do {
            let (fingerprint, entries) = try Self.load(path)
            state.withLock { s in
                s.fingerprint = fingerprint
                s.entries = entries
                s.verified = []
                s.loadError = nil
            }
        } catch {
            state.withLock { $0.loadError = "\(error)" }
        }
    }

    /// `$2y$` (Apache's spelling) is the same algorithm as `$2b$`.
    static func normalised(_ hash: String) -> String {
        hash.hasPrefix("$2y$") ? "$2b$" + hash.dropFirst(4) : hash
    }

    static func fingerprint(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "missing" }
        return "\(st.st_ino)-\(st.st_size)-\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
    }

    static func load(_ path: String) throws -> (String, [String: String]) {
        let fingerprint = fingerprint(path)
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw HtpasswdError("cannot read htpasswd file \(path): \(error.localizedDescription)")
        }
        return (fingerprint, try parse(text, path: path))
    }

    /// Parses htpasswd content: `user:hash` lines; blank lines and `#` comments are skipped.
    public static func parse(_ text: String, path: String = "htpasswd") throws -> [String: String] {
        var entries: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw HtpasswdError("\(path) line \(number + 1) is not user:hash")
            }
            let user = String(line[..<colon])
            let hash = String(line[line.index(after: colon)...])
            guard !user.isEmpty else { throw HtpasswdError("\(path) line \(number + 1) has an empty user name") }
            guard ["$2y$", "$2a$", "$2b$"].contains(where: { hash.hasPrefix($0) }) else {
                throw HtpasswdError("\(path) line \(number + 1) (user \(user)) is not a bcrypt hash; create entries with `berth htpasswd add` or `htpasswd -B`")
            }
            entries[user] = hash
        }
        return entries
    }

    /// A new file content with `user` set to `password` (bcrypt, `$2y$`, cost `cost`), other
    /// lines kept as they were.
    public static func adding(user: String, password: String, to text: String, cost: UInt8 = 10) -> String {
        let hash = "$2y$" + Bcrypt.hash(password, cost: cost).dropFirst(4)
        var lines = removingLines(of: user, from: text)
        lines.append("\(user):\(hash)")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A new file content without `user`; nil when the user is not in it.
    public static func removing(user: String, from text: String) -> String? {
        let kept = removingLines(of: user, from: text)
        let before = text.split(separator: "\n").filter { !$0.isEmpty }.count
        guard kept.count < before else { return nil }
        return kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n"
    }

    private static func removingLines(of user: String, from text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("\(user):") }
    }
}

public struct HtpasswdError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
