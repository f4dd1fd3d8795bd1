import ArgumentParser
import BerthAuth
import Foundation

/// `berth htpasswd add|remove FILE USER`: manage the users of `auth.htpasswd` and
/// `auth.tokenservice` without any other tool.
struct Htpasswd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add or remove users in an htpasswd file (bcrypt).",
        discussion: "A running registry picks up changes within a second; no restart is needed.",
        subcommands: [Add.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user, or change their password.",
            discussion: """
                The password is read from standard input (one line) when it is not a terminal, so that
                `echo "$PASSWORD" | berth htpasswd add FILE USER` works in scripts; on a terminal it is
                prompted for twice, without echo. The file is created (mode 0600) if missing.
                """)

        @Argument(help: "The htpasswd file.") var file: String
        @Argument(help: "The user name.") var user: String
        @Option(help: "bcrypt cost (4-31).") var cost: UInt8 = 10

        func validate() throws {
            guard !user.isEmpty, !user.contains(":"), !user.contains(where: \.isNewline) else {
                throw ValidationError("a user name must not be empty or contain ':' or line breaks")
            }
            guard (4...31).contains(cost) else { throw ValidationError("--cost must be between 4 and 31") }
        }

        func run() async throws {
            let password = try readPassword()
            guard !password.isEmpty else { throw ValidationError("the password must not be empty") }
            let existing = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            try writeAtomically(HtpasswdFile.adding(user: user, password: password, to: existing, cost: cost), to: file)
            let known = (try? HtpasswdFile.parse(existing))?[user] != nil
            FileHandle.standardError.write(Data("berth: \(known ? "changed the password of" : "added") user \(user) in \(file)\n".utf8))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user.")

        @Argument(help: "The htpasswd file.") var file: String
        @Argument(help: "The user name.") var user: String

        func run() async throws {
            let existing: String
            do { existing = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ValidationError("cannot read \(file): \(error.localizedDescription)")
            }
            guard let updated = HtpasswdFile.removing(user: user, from: existing) else {
                throw ValidationError("user \(user) is not in \(file)")
            }
            try writeAtomically(updated, to: file)
            FileHandle.standardError.write(Data("berth: removed user \(user) from \(file)\n".utf8))
        }
    }
}

/// Reads a password: one line from a pipe, or twice without echo from a terminal.
private func readPassword() throws -> String {
    guard isatty(STDIN_FILENO) == 1 else {
        return readLine(strippingNewline: true) ?? ""
    }
    let first = try promptWithoutEcho("Password: ")
    let second = try promptWithoutEcho("Repeat password: ")
    guard first == second else { throw ValidationError("the passwords differ") }
    return first
}

private func promptWithoutEcho(_ prompt: String) throws -> String {
    FileHandle.standardError.write(Data(prompt.utf8))
    var saved = termios()
    tcgetattr(STDIN_FILENO, &saved)
    var silent = saved
    silent.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
    defer {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
        FileHandle.standardError.write(Data("\n".utf8))
    }
    return readLine(strippingNewline: true) ?? ""
}

/// Replaces `path` atomically, keeping its mode (0600 for a new file).
private func writeAtomically(_ text: String, to path: String) throws {
    let mode = (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.int16Value ?? 0o600
    let temporary = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8),
                                         attributes: [.posixPermissions: NSNumber(value: mode)]) else {
        throw ValidationError("cannot write \(temporary): check the directory's permissions")
    }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw ValidationError("cannot replace \(path): \(reason)")
    }
}
