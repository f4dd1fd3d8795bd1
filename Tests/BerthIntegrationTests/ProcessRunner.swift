import Foundation
import Synchronization

/// The external programs the integration tests drive. They are required: a missing binary is a
/// test failure, never a skip (`./scripts/test` installs them).
enum Tools {
    static let skopeo = "/usr/bin/skopeo"
    static let referenceRegistry = "/usr/bin/docker-registry"
    static let podman = "/usr/bin/podman"

    /// Throws (failing the calling test) when `path` is not an executable file.
    static func require(_ path: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("\(path) is missing or not executable; the integration tests need it (run ./scripts/test, which installs skopeo, podman, docker-registry, curl and openssl)")
        }
    }
}

/// A failure with a readable message; thrown from helpers so the test fails with that text.
struct TestFailure: Error, CustomStringConvertible, LocalizedError {
    var description: String
    init(_ description: String) { self.description = description }
    var errorDescription: String? { description }
}

struct ProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs external programs with Foundation `Process`. Output goes to temporary files rather than
/// pipes, so a chatty child can never block on a full pipe.
enum ProcessRunner {
    /// Runs `executable` and returns its output. Throws, with the command line and its stderr,
    /// when it exits non-zero (unless `allowFailure`) or runs longer than `timeout`.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(90),
                    allowFailure: Bool = false, stdin: String? = nil) async throws -> ProcessResult {
        try Tools.require(executable)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("berth-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer {
            try? outHandle.close()
            try? errHandle.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let stdin {
            let inURL = scratch.appendingPathComponent("stdin")
            FileManager.default.createFile(atPath: inURL.path, contents: Data(stdin.utf8))
            process.standardInput = try FileHandle(forReadingFrom: inURL)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        process.standardOutput = outHandle
        process.standardError = errHandle
        let (exited, continuation) = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { p in
            continuation.yield(p.terminationStatus)
            continuation.finish()
        }
        try process.run()

        let timedOut = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in exited { return false }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return !Task.isCancelled
            }
            let first = await group.next()!
            if first {
                // Still running after the timeout: stop it, then wait for the exit.
                process.terminate()
                let pid = process.processIdentifier
                Task.detached {
                    try? await Task.sleep(for: .seconds(5))
                    if process.isRunning { kill(pid, SIGKILL) }
                }
            }
            group.cancelAll()
            _ = await group.next()
            return first
        }
        let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        let commandLine = ([executable] + arguments).joined(separator: " ")
        if timedOut {
            throw TestFailure("timed out after \(timeout): \(commandLine)\nstderr:\n\(stderr)\nstdout:\n\(stdout.prefix(4000))")
        }
        let result = ProcessResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
        if result.status != 0, !allowFailure {
            throw TestFailure("exit status \(result.status): \(commandLine)\nstderr:\n\(stderr)\nstdout:\n\(stdout.prefix(4000))")
        }
        return result
    }
}

/// A long-running child (the reference registry), with its output kept in files for failure messages.
final class BackgroundProcess: @unchecked Sendable {
    // Only touched by the test that owns it.
    let process = Process()
    let logURL: URL
    private let exited: AsyncStream<Int32>
    private let handle: FileHandle
    private let stopping = Mutex<Task<Void, Never>?>(nil)

    init(_ executable: String, _ arguments: [String], logURL: URL) throws {
        try Tools.require(executable)
        self.logURL = logURL
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        handle = try FileHandle(forWritingTo: logURL)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        exited = stream
        process.terminationHandler = { p in
            continuation.yield(p.terminationStatus)
            continuation.finish()
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; waits for the exit. Idempotent.
    func stop(grace: Duration = .seconds(10)) async {
        let task = stopping.withLock { current -> Task<Void, Never> in
            if let current { return current }
            let task = Task { [process, exited, handle] in
                if process.isRunning { process.terminate() }
                let pid = process.processIdentifier
                let killer = Task.detached {
                    try? await Task.sleep(for: grace)
                    if !Task.isCancelled, process.isRunning { kill(pid, SIGKILL) }
                }
                for await _ in exited {}
                killer.cancel()
                try? handle.close()
            }
            current = task
            return task
        }
        await task.value
    }
}
