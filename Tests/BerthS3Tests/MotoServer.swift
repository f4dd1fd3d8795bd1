import BerthS3
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A real S3-compatible server for the tests: moto (`moto_server`, from `pip install "moto[server]"`)
/// on a free loopback port, with signature checking switched on. It starts with the first test
/// that needs it and is stopped when the test process exits.
///
/// moto only checks signatures once its first `INITIAL_NO_AUTH_ACTION_COUNT` actions are spent; the
/// three unauthenticated ones create an IAM user, its access key and an allow-all policy (with
/// botocore, in `setUpScript`), so every S3 request the tests make is verified against that key.
final class MotoServer: Sendable {
    let port: Int
    let accessKey: String
    let secretKey: String
    private let pid: Int32

    var endpoint: String { "http://127.0.0.1:\(port)" }

    static let shared: Result<MotoServer, Error> = Result { try MotoServer.start(authenticated: true) }
    /// A second server that checks no signatures, for presigned URLs: moto 5.2 answers 500 to any
    /// request without an Authorization header once it checks signatures.
    static let unauthenticated: Result<MotoServer, Error> = Result { try MotoServer.start(authenticated: false) }

    /// The shared server, or a test failure saying how to install moto.
    static func get(authenticated: Bool = true) throws -> MotoServer {
        try (authenticated ? shared : unauthenticated).get()
    }

    /// Runs `body` with a client of a new, empty bucket on the shared server (or on the one that
    /// checks no signatures) and shuts the client down afterwards.
    static func withClient(
        rootDirectory: String = "", authenticated: Bool = true,
        retryPolicy: S3RetryPolicy = S3RetryPolicy(baseDelay: .milliseconds(5), maxDelay: .milliseconds(50)),
        _ body: (S3Client) async throws -> Void
    ) async throws {
        let moto = try get(authenticated: authenticated)
        let bucket = "berth-" + UUID().uuidString.lowercased().prefix(18)
        try await S3Client.withClient(
            configuration: try moto.configuration(bucket: bucket, rootDirectory: rootDirectory), retryPolicy: retryPolicy
        ) { client in
            try await client.createBucket()
            try await body(client)
        }
    }

    func configuration(
        bucket: String, rootDirectory: String = "", secretKey: String? = nil, endpoint: String? = nil
    ) throws -> S3Configuration {
        try S3Configuration.parse(
            [
                "bucket": bucket, "region": "us-east-1", "regionendpoint": endpoint ?? self.endpoint,
                "forcepathstyle": "true", "accesskey": accessKey, "secretkey": secretKey ?? self.secretKey,
                "rootdirectory": rootDirectory,
            ], environment: [:])
    }

    private init(port: Int, pid: Int32, accessKey: String, secretKey: String) {
        self.port = port
        self.pid = pid
        self.accessKey = accessKey
        self.secretKey = secretKey
    }

    private static func start(authenticated: Bool) throws -> MotoServer {
        guard let motoPath = findExecutable("moto_server") else {
            throw Failure("moto_server is not on PATH; install it with: pip install \"moto[server]\" (scripts/test does)")
        }
        let port = try freeLoopbackPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: motoPath)
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        var environment = ProcessInfo.processInfo.environment
        if authenticated { environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3" }
        process.environment = environment
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("berth-moto-\(port).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        let pid = process.processIdentifier
        MotoServer.registerExitCleanup(pid)
        let deadline = Date().addingTimeInterval(30)
        while !canConnect(port: port) {
            guard process.isRunning, Date() < deadline else {
                kill(pid, SIGKILL)
                let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw Failure("moto_server did not start listening on 127.0.0.1:\(port) within 30 s: \(output.suffix(2000))")
            }
            usleep(50_000)
        }
        guard authenticated else {
            return MotoServer(port: port, pid: pid, accessKey: "AKIAUNCHECKEDUNCHECK", secretKey: "unchecked")
        }
        let keys = try runCommand(["python3", "-c", setUpScript, "http://127.0.0.1:\(port)"])
        let parts = keys.split(separator: " ").map(String.init)
        guard parts.count == 2 else { throw Failure("moto IAM set-up printed \"\(keys)\", not two keys") }
        return MotoServer(port: port, pid: pid, accessKey: parts[0], secretKey: parts[1])
    }

    /// Creates the IAM user whose key the tests sign with, allowed everything.
    private static let setUpScript = """
        import sys, json, boto3
        iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                           aws_access_key_id="AKIASETUPSETUPSETUP0", aws_secret_access_key="setup")
        iam.create_user(UserName="berth")
        key = iam.create_access_key(UserName="berth")["AccessKey"]
        iam.put_user_policy(UserName="berth", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        print(key["AccessKeyId"], key["SecretAccessKey"])
        """

    private nonisolated(unsafe) static var pidsToKill: [Int32] = []
    private static let cleanupLock = NSLock()

    private static func registerExitCleanup(_ pid: Int32) {
        cleanupLock.withLock {
            if pidsToKill.isEmpty {
                atexit {
                    for pid in MotoServer.pidsToKill { kill(pid, SIGKILL) }
                }
            }
            pidsToKill.append(pid)
        }
    }
}

struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a command to completion and returns its standard output, trimmed; fails on a non-zero exit.
@discardableResult
func runCommand(_ arguments: [String], input: String? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    let stdin = Pipe()
    if input != nil { process.standardInput = stdin }
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    let errorData = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw Failure(
            "\(arguments.prefix(2).joined(separator: " ")) exited with \(process.terminationStatus): \(String(decoding: errorData, as: UTF8.self).suffix(3000))"
        )
    }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

func findExecutable(_ name: String) -> String? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let path = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// A port nothing listens on right now (bound to port 0 and released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw Failure("socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw Failure("binding a loopback port failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
