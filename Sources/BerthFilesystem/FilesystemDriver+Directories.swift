import BerthStorage
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Directories and temporary names: creating a file's missing directories together with it,
/// `mkdir -p` and `rm -r` with plain system calls.
extension FilesystemDriver {
    /// How often a write retries after a concurrent delete removed the directory it was created in.
    static let parentRaceAttempts = 8

    /// Renames `from` to `to`, creating `to`'s directory when missing. A concurrent delete of that
    /// directory (a tag deleted while it is pushed again, an emptied repository directory removed)
    /// can remove it again between the two steps: the rename is then retried, so the later
    /// operation wins instead of failing.
    ///
    /// Directories that do not exist yet appear together with the file: they are built in the
    /// temporary directory `staging`, the file is renamed into them there, and the topmost new one
    /// is renamed into place. A crash midway therefore never leaves an empty directory behind (a
    /// tag directory without its link, which tag lists would show and no pull could resolve).
    static func renameCreatingParent(_ from: String, _ to: String, path: String, staging: String) throws {
        if rename(from, to) == 0 { return }
        guard errno == ENOENT else { throw ioError("rename", path) }
        if placeWithNewDirectories(from, to, staging: staging) { return }
        for attempt in 1...parentRaceAttempts {
            if rename(from, to) == 0 { return }
            guard errno == ENOENT, attempt < parentRaceAttempts else { break }
            try? makeDirectories(parent(of: to))
        }
        throw ioError("rename", path)
    }

    /// Moves `from` to `to` together with the directories `to` still lacks (see
    /// `renameCreatingParent`); false, with `from` left where it was, when that is not possible
    /// (the directories appeared meanwhile, or the staging directory cannot be made).
    static func placeWithNewDirectories(_ from: String, _ to: String, staging: String) -> Bool {
        // The deepest existing ancestor, and the missing directories below it.
        var existing = parent(of: to)
        var missing: [String] = []
        while fileStatus(path: existing) == nil {
            guard let slash = existing.lastIndex(of: "/"), slash > existing.startIndex else { return false }
            missing.insert(String(existing[existing.index(after: slash)...]), at: 0)
            existing = String(existing[..<slash])
        }
        guard let top = missing.first else { return false }
        // The topmost new directory is built under a temporary name and renamed to `top` last.
        let box = staging + "/" + temporaryName()
        let staged = ([box] + missing.dropFirst()).joined(separator: "/")
        guard (try? makeDirectories(staged)) != nil else {
            try? removeTree(box, path: box)
            return false
        }
        let file = staged + "/" + String(to[to.index(after: to.lastIndex(of: "/")!)...])
        guard rename(from, file) == 0 else {
            try? removeTree(box, path: box)
            return false
        }
        // Fails when the directory appeared meanwhile and holds something (rename replaces only an
        // empty one): then the file goes back for the ordinary way.
        if rename(box, existing + "/" + top) == 0 { return true }
        _ = rename(file, from)
        try? removeTree(box, path: box)
        return false
    }

    /// A unique name for a file or directory in the temporary directory: 128 random bits from
    /// the system generator (one `getrandom` call, no file to open).
    static func temporaryName() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64, low = generator.next() as UInt64
        return String(high, radix: 16) + "-" + String(low, radix: 16)
    }

    static func parent(of file: String) -> String {
        guard let slash = file.lastIndex(of: "/") else { return "." }
        return String(file[..<slash])
    }

    /// `mkdir -p`: creates `dir` and its missing parents; existing ones are fine.
    static func makeDirectories(_ dir: String) throws {
        if mkdir(dir, 0o777) == 0 || errno == EEXIST && isDirectory(dir) { return }
        if errno == ENOENT, dir.lastIndex(of: "/").map({ $0 > dir.startIndex }) == true {
            try makeDirectories(parent(of: dir))
            if mkdir(dir, 0o777) == 0 || errno == EEXIST && isDirectory(dir) { return }
        }
        throw ioError("mkdir", dir)
    }

    static func isDirectory(_ path: String) -> Bool {
        guard let st = fileStatus(path: path) else { return false }
        return (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Removes a directory tree (or a file). A write that looked up its directory just before the
    /// tree was renamed away can still land in it while it is being removed, making a directory
    /// non-empty again; the removal is then simply repeated.
    static func removeTree(_ file: String, path: String) throws {
        var attempt = 0
        while true {
            let code = removeOnce(file)
            if code == 0 || code == ENOENT { return }
            attempt += 1
            if attempt >= parentRaceAttempts { throw ioError("delete", path, code) }
            usleep(UInt32(attempt) * 500)
        }
    }

    /// One pass of `rm -r` with plain system calls; 0, or the errno of the first failure.
    private static func removeOnce(_ file: String) -> Int32 {
        if unlink(file) == 0 { return 0 }
        guard errno == EISDIR || errno == EPERM else { return errno }
        guard let handle = opendir(file) else { return errno }
        var failure: Int32 = 0
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name == "." || name == ".." { continue }
            let code = removeOnce(file + "/" + name)
            if code != 0, code != ENOENT, failure == 0 { failure = code }
        }
        closedir(handle)
        if rmdir(file) == 0 { return 0 }
        return failure != 0 ? failure : errno
    }
}
