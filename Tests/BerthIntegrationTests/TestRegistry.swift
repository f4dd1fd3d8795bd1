import BerthServer
import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A Berth instance running in this process on 127.0.0.1 and a port the system chose.
final class TestRegistry: Sendable {
    let port: Int
    let root: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    var host: String { "127.0.0.1:\(port)" }
    var baseURL: URL { URL(string: "http://\(host)")! }

    private init(port: Int, root: String, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.root = root
        self.group = group
        self.task = task
    }

    /// Builds the application over `root` and runs it until `stop()`.
    static func start(root: String, httpSecret: String? = nil, deleteEnabled: Bool = true,
                      configure: (inout BerthConfiguration) -> Void = { _ in }) async throws -> TestRegistry {
        var config = BerthConfiguration()
        config.httpAddress = ListenAddress(host: "127.0.0.1", port: 0)
        config.rootDirectory = root
        config.httpSecret = httpSecret
        config.deleteEnabled = deleteEnabled
        config.logLevel = .warning
        configure(&config)
        var logger = Logger(label: "berth-integration") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning

        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = try await buildApplication(config, logger: logger) { channel in
            portContinuation.yield(channel.localAddress?.port ?? 0)
            portContinuation.finish()
        }
        // What `app.runService()` does, minus the signal handlers, keeping the group so that
        // `stop()` can shut it down gracefully as SIGTERM does.
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let ended = Mutex(false)
        let task = Task<Void, any Error> {
            defer {
                ended.withLock { $0 = true }
                portContinuation.finish()
            }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            let outcome = await task.result
            throw TestFailure("Berth did not start on \(root): \(outcome)")
        }
        let registry = TestRegistry(port: port, root: root, group: group, task: task)
        do {
            try await HTTP.waitUntilReady(registry.baseURL, what: "Berth", while: { !ended.withLock { $0 } })
        } catch {
            if ended.withLock({ $0 }) {
                throw TestFailure("Berth on \(root) stopped right after it started listening: \(await task.result)")
            }
            await registry.stop()
            throw error
        }
        return registry
    }

    /// Shuts the server down gracefully (as SIGTERM does) and waits until it has stopped; if it
    /// has not stopped within `grace` it is cancelled. Returns whether it stopped gracefully.
    @discardableResult
    func stop(grace timeout: Duration = .seconds(5)) async -> Bool {
        await group.triggerGracefulShutdown()
        return await withTaskGroup(of: Bool.self) { [task] waiters in
            waiters.addTask {
                _ = await task.result
                return true
            }
            waiters.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await waiters.next()!
            // Awaiting a task's result ignores cancellation: end the server itself.
            if !first { task.cancel() }
            waiters.cancelAll()
            return first
        }
    }
}

/// The reference registry (`docker-registry serve`) as a child process on 127.0.0.1.
final class ReferenceRegistry: Sendable {
    let port: Int
    let root: String
    private let process: BackgroundProcess

    var host: String { "127.0.0.1:\(port)" }
    var baseURL: URL { URL(string: "http://\(host)")! }

    private init(port: Int, root: String, process: BackgroundProcess) {
        self.port = port
        self.root = root
        self.process = process
    }

    /// Starts it on `root`, writing its configuration into `scratch`. A port taken between
    /// choosing and binding is retried with another one. `accessLog` writes one line per request
    /// into `log`.
    static func start(root: String, scratch: URL, accessLog: Bool = false, port fixedPort: Int? = nil) async throws -> ReferenceRegistry {
        try Tools.require(Tools.referenceRegistry)
        var lastLog = ""
        for attempt in 1...3 {
            let port = try fixedPort ?? freeLoopbackPort()
            let configURL = scratch.appendingPathComponent("registry-\(attempt)-\(UUID().uuidString.prefix(6)).yml")
            let config = """
                version: 0.1
                log:
                  level: \(accessLog ? "info" : "warn")
                  accesslog:
                    disabled: \(!accessLog)
                storage:
                  filesystem:
                    rootdirectory: \(root)
                  delete:
                    enabled: true
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:\(port)
                """
            try config.write(to: configURL, atomically: true, encoding: .utf8)
            let process = try BackgroundProcess(Tools.referenceRegistry, ["serve", configURL.path],
                                                logURL: scratch.appendingPathComponent("registry-\(attempt).log"))
            do {
                try await HTTP.waitUntilReady(URL(string: "http://127.0.0.1:\(port)")!, what: "docker-registry",
                                              while: { process.isRunning })
                return ReferenceRegistry(port: port, root: root, process: process)
            } catch {
                await process.stop()
                lastLog = process.log
            }
        }
        throw TestFailure("docker-registry did not become ready on \(root); its log:\n\(lastLog)")
    }

    func stop() async { await process.stop() }

    var log: String { process.log }
}

/// A port nobody listens on right now, from binding 127.0.0.1:0.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestFailure("bind(127.0.0.1:0) failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw TestFailure("getsockname failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Plain HTTP requests over URLSession, for readiness checks and the raw upload API.
enum HTTP {
    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data

        func header(_ name: String) -> String? {
            headers.first { $0.key.caseInsensitiveCompare(name) == .orderedSame }?.value
        }

        /// The `code` of the first entry of an OCI error body.
        var errorCode: String? {
            guard let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                  let errors = json["errors"] as? [[String: Any]] else { return nil }
            return errors.first?["code"] as? String
        }

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Runs blocking work on a thread of its own, so that it never holds one of the few threads
    /// that in-process servers need to answer.
    static func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    /// The status of `GET url` over a fresh connection (plain HTTP, 2 s timeout).
    static func probeStatus(_ url: URL) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(url.port ?? 80).bigEndian)
        address.sin_addr.s_addr = inet_addr(url.host ?? "127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect: errno \(errno)") }
        // `url.path` drops the trailing slash, which the reference registry answers with a redirect.
        let path = url.absoluteString.hasSuffix("/") && !url.path.hasSuffix("/") ? url.path + "/" : url.path
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(url.host ?? "")\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var received = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 256)
        while received.count < 12 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw TestFailure("no answer") }
            received += buffer[0..<n]
        }
        let line = String(decoding: received, as: UTF8.self)
        guard line.hasPrefix("HTTP/1."), let code = Int(line.dropFirst(9).prefix(3)) else { throw TestFailure("not HTTP: \(line)") }
        return code
    }

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        configuration.urlCache = nil
        // Load tests run dozens of clients at once: one connection each, as separate clients would have.
        configuration.httpMaximumConnectionsPerHost = 64
        return URLSession(configuration: configuration)
    }()

    static func request(_ method: String, _ url: URL, headers: [String: String] = [:], body: Data? = nil,
                        timeout: TimeInterval = 30) async throws -> Response {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = timeout
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let body {
            request.httpBody = body
            request.setValue(String(body.count), forHTTPHeaderField: "Content-Length")
        }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw TestFailure("\(method) \(url): not an HTTP response") }
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { fields[key] = value }
        }
        return Response(status: http.statusCode, headers: fields, body: data)
    }

    /// Polls `GET /v2/` until it answers 200, for at most `timeout`; `while` may end the wait
    /// early (the server process died).
    static func waitUntilReady(_ base: URL, what: String, timeout: Duration = .seconds(20),
                               while alive: () -> Bool = { true }) async throws {
        let url = base.appendingPathComponent("v2/")
        let deadline = ContinuousClock.now + timeout
        var last = "no answer"
        while ContinuousClock.now < deadline, alive() {
            do {
                // Short: a listener that is closing may accept a connection and never answer.
                // A raw request: URLSession would wait for credentials on a 401 Basic challenge.
                let status = try await onOwnThread { try probeStatus(url) }
                if status == 200 || status == 401 { return }  // 401: up, with authentication
                last = "status \(status)"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("\(what) at \(base) did not answer GET /v2/ with 200: \(last)")
    }
}
