import BerthServer
import Foundation
import Logging
import ServiceLifecycle
import XCTest

/// HTTPS with real certificates made by `openssl`, checked with curl, `openssl s_client`, skopeo
/// and the `berth` binary: HTTP/1.1 and HTTP/2, minimum TLS version, mutual TLS, start-up errors
/// and certificate reload on SIGHUP.
final class TLSTests: IntegrationTestCase {
    func testHTTPSServesHTTP1AndHTTP2AndRefusesPlainHTTP() async throws {
        let pki = try await TestPKI.make(in: try temporaryDirectory("pki"))
        let berth = try await startHTTPS(pki.settings(pki.serverA))
        let url = "https://127.0.0.1:\(berth.port)/v2/"

        let http1 = try await curl(["--cacert", pki.ca, "--http1.1", url])
        XCTAssertEqual(http1.outcome, "200 1.1", http1.stderr)
        let http2 = try await curl(["--cacert", pki.ca, "--http2", "https://localhost:\(berth.port)/v2/"])
        XCTAssertEqual(http2.outcome, "200 2", http2.stderr)

        // Unknown CA (exit 60); plain HTTP to the TLS port gets no HTTP answer.
        let untrusted = try await curl([url])
        XCTAssertEqual(untrusted.status, 60, untrusted.stderr)
        let plain = try await curl(["http://127.0.0.1:\(berth.port)/v2/"])
        XCTAssertNotEqual(plain.status, 0, "plain HTTP to the TLS port must fail: \(plain.outcome)")
        XCTAssertEqual(plain.outcome, "000 0")
        // The server is still fine afterwards.
        let again = try await curl(["--cacert", pki.ca, url])
        XCTAssertEqual(again.outcome, "200 2")
    }

    /// A TLS handshake that never finishes (nothing sent, or half a ClientHello) is cut off after
    /// `http.timeouts.header`; real clients are served meanwhile.
    func testStalledHandshakesAreCutOff() async throws {
        let pki = try await TestPKI.make(in: try temporaryDirectory("pki"))
        let berth = try await HTTPSBerth.start(root: try temporaryDirectory("root").path, tls: pki.settings(pki.serverA)) {
            $0.connections.header = .seconds(1)
        }
        addTeardownBlock { await berth.stop() }
        let silent = try RawConnection(port: berth.port, timeout: 1)
        let half = try RawConnection(port: berth.port, timeout: 1)
        half.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])  // a ClientHello record header, then nothing
        let served = try await curl(["--cacert", pki.ca, "--http1.1", "https://127.0.0.1:\(berth.port)/v2/"])
        XCTAssertEqual(served.outcome, "200 1.1", served.stderr)
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(6), !(silent.hasEnded() && half.hasEnded()) {
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertTrue(silent.hasEnded(), "a connection that never started its handshake is still open")
        XCTAssertTrue(half.hasEnded(), "a half-sent handshake is still open")
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(4))
    }

    func testMinimumTLS13RefusesTLS12() async throws {
        let pki = try await TestPKI.make(in: try temporaryDirectory("pki"))
        var settings = pki.settings(pki.serverA)
        settings.minimumVersion = .tls13
        let berth = try await startHTTPS(settings)
        let url = "https://127.0.0.1:\(berth.port)/v2/"

        let old = try await curl(["--cacert", pki.ca, "--tls-max", "1.2", url])
        XCTAssertEqual(old.status, 35, "TLS 1.2 must fail the handshake: \(old.stderr)")
        XCTAssertEqual(old.outcome, "000 0")
        let new = try await curl(["--cacert", pki.ca, "--tlsv1.3", url])
        XCTAssertEqual(new.outcome, "200 2", new.stderr)
    }

    func testMutualTLSRequiresAClientCertificateFromTheCAs() async throws {
        let pki = try await TestPKI.make(in: try temporaryDirectory("pki"))
        var settings = pki.settings(pki.serverA)
        settings.clientCAs = [pki.ca]
        let berth = try await startHTTPS(settings)
        let url = "https://127.0.0.1:\(berth.port)/v2/"

        let anonymous = try await curl(["--cacert", pki.ca, url])
        XCTAssertNotEqual(anonymous.status, 0, "no client certificate must be refused")
        XCTAssertEqual(anonymous.outcome, "000 0")
        let rogue = try await curl(["--cacert", pki.ca, "--cert", pki.rogue.cert, "--key", pki.rogue.key, url])
        XCTAssertNotEqual(rogue.status, 0, "a certificate from another CA must be refused")
        XCTAssertEqual(rogue.outcome, "000 0")
        for version in ["--http1.1", "--http2"] {
            let client = try await curl(["--cacert", pki.ca, "--cert", pki.client.cert, "--key", pki.client.key, version, url])
            XCTAssertEqual(client.outcome, version == "--http2" ? "200 2" : "200 1.1", client.stderr)
        }
    }

    /// Unusable files stop start-up with a `ConfigurationError` naming the setting and the file,
    /// and `berth serve` exits 2 with that message.
    func testUnusableFilesAreConfigurationErrors() async throws {
        let pki = try await TestPKI.make(in: try temporaryDirectory("pki"))
        let root = try temporaryDirectory("root").path
        let missing = pki.dir.appendingPathComponent("missing.crt").path
        let garbage = pki.dir.appendingPathComponent("garbage.crt").path
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let cases: [(TLSSettings, String)] = [
            (TLSSettings(certificate: missing, key: pki.serverA.key), "http.tls.certificate \(missing) cannot be used: cannot read it"),
            (TLSSettings(certificate: garbage, key: pki.serverA.key), "http.tls.certificate \(garbage) cannot be used"),
            (TLSSettings(certificate: pki.serverA.cert, key: pki.serverB.key), "http.tls.key \(pki.serverB.key) cannot be used"),
            (TLSSettings(certificate: pki.serverA.cert, key: missing), "http.tls.key \(missing) cannot be used: cannot read it"),
        ]
        for (settings, expected) in cases {
            var config = BerthConfiguration()
            config.rootDirectory = root
            config.httpAddress = ListenAddress(host: "127.0.0.1", port: 0)
            config.tls = settings
            do {
                _ = try await buildApplication(config, logger: Logger(label: "tls-test"))
                XCTFail("buildApplication accepted \(settings)")
            } catch let error as ConfigurationError {
                XCTAssertEqual(error.problems.count, 1, "\(error)")
                XCTAssertTrue(error.problems.first?.hasPrefix(expected) == true, "\(error.problems) should start with \(expected)")
            }
        }

        let serve = try await ProcessRunner.run(
            "/usr/bin/env",
            ["-i", "REGISTRY_HTTP_TLS_CERTIFICATE=\(missing)", "REGISTRY_HTTP_TLS_KEY=\(pki.serverA.key)",
             CommandLineTests.berth, "serve", "--addr", "127.0.0.1:0", "--root", root],
            timeout: .seconds(30), allowFailure: true)
        XCTAssertEqual(serve.status, 2, serve.stderr)
        XCTAssertTrue(serve.stderr.contains("http.tls.certificate \(missing) cannot be used"), serve.stderr)
    }

    /// A reload gives new connections the new certificate while an open connection keeps its own
    /// and keeps working; unusable files on reload leave the current certificate in service.
    func testReloadChangesTheCertificateOfNewConnectionsOnly() async throws {
        let pki = try await TestPKI.make(in: try temporaryDirectory("pki"))
        let live = TestPKI.Pair(cert: pki.dir.appendingPathComponent("live.crt").path,
                                key: pki.dir.appendingPathComponent("live.key").path)
        try pki.install(pki.serverA, as: live)
        let berth = try await startHTTPS(pki.settings(live))
        let first = try await Self.servedSerial(berth.port, ca: pki.ca)
        XCTAssertEqual(first, "A1")

        let old = try KeepAliveConnection(port: berth.port, ca: pki.ca, log: pki.dir.appendingPathComponent("old.log"))
        defer { old.close() }
        try old.send("GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try await old.waitForResponses(1)

        try pki.install(pki.serverB, as: live)
        let outcome = reloadTLS(logger: Logger(label: "tls-test"))
        XCTAssertEqual(outcome, TLSReloadOutcome(reloaded: 1, problems: []))
        let second = try await Self.servedSerial(berth.port, ca: pki.ca)
        XCTAssertEqual(second, "B2")

        // The connection opened before the reload still answers, with the certificate it began with.
        try old.send("GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try await old.waitForResponses(2)
        let kept = try await Self.serial(ofFirstCertificateIn: old.output, scratch: pki.dir)
        XCTAssertEqual(kept, "A1")

        try "broken\n".write(toFile: live.cert, atomically: true, encoding: .utf8)
        let failed = reloadTLS(logger: Logger(label: "tls-test"))
        XCTAssertEqual(failed.reloaded, 0)
        XCTAssertEqual(failed.problems.count, 1)
        XCTAssertTrue(failed.problems.first?.contains("http.tls.certificate \(live.cert) cannot be used") == true, "\(failed)")
        let unchanged = try await Self.servedSerial(berth.port, ca: pki.ca)
        XCTAssertEqual(unchanged, "B2")
    }

    /// `berth serve` re-reads its certificate on SIGHUP and keeps running.
    func testSIGHUPReloadsTheBerthProcess() async throws {
        let pki = try await TestPKI.make(in: try temporaryDirectory("pki"))
        let live = TestPKI.Pair(cert: pki.dir.appendingPathComponent("live.crt").path,
                                key: pki.dir.appendingPathComponent("live.key").path)
        try pki.install(pki.serverA, as: live)
        let port = try freeLoopbackPort()
        let process = try BackgroundProcess(
            "/usr/bin/env",
            ["-i", "REGISTRY_HTTP_TLS_CERTIFICATE=\(live.cert)", "REGISTRY_HTTP_TLS_KEY=\(live.key)",
             CommandLineTests.berth, "serve", "--addr", "127.0.0.1:\(port)", "--root", try temporaryDirectory("root").path],
            logURL: pki.dir.appendingPathComponent("berth.log"))
        addTeardownBlock { await process.stop() }
        let started = try await poll("Berth answering over HTTPS") { try? await Self.servedSerial(port, ca: pki.ca) }
        XCTAssertEqual(started, "A1")

        try pki.install(pki.serverB, as: live)
        kill(process.process.processIdentifier, SIGHUP)
        let reloaded = try await poll("the certificate changing after SIGHUP") {
            let serial = try? await Self.servedSerial(port, ca: pki.ca)
            return serial == "B2" ? serial : nil
        }
        XCTAssertEqual(reloaded, "B2")
        XCTAssertTrue(process.isRunning, process.log)
        XCTAssertTrue(process.log.contains("TLS certificate reloaded"), process.log)
    }

    /// skopeo pushes and pulls over verified TLS (Go negotiates HTTP/2); blob GETs over
    /// HTTP/1.1 and HTTP/2 return the exact bytes (no sendfile under TLS).
    func testSkopeoCopyAndBlobDownloadsOverTLS() async throws {
        let pki = try await TestPKI.make(in: try temporaryDirectory("pki"))
        let berth = try await startHTTPS(pki.settings(pki.serverA))
        let certDir = try temporaryDirectory("certs")
        try FileManager.default.copyItem(atPath: pki.ca, toPath: certDir.appendingPathComponent("ca.crt").path)
        let image = TestImage.random(layerCount: 2)
        let source = try temporaryDirectory("src")
        try OCILayout.write(source, tag: "v1", image: image)
        let remote = "docker://127.0.0.1:\(berth.port)/tls/image:v1"
        let common = ["--insecure-policy", "copy", "--quiet", "--preserve-digests", "--retry-times", "0"]

        try await ProcessRunner.run(Tools.skopeo, common + ["--dest-cert-dir", certDir.path, "--dest-tls-verify=true",
                                                             "oci:\(source.path):v1", remote], timeout: .seconds(60))
        let pulled = try temporaryDirectory("pulled").appendingPathComponent("layout")
        try await ProcessRunner.run(Tools.skopeo, common + ["--src-cert-dir", certDir.path, "--src-tls-verify=true",
                                                             remote, "oci:\(pulled.path):v1"], timeout: .seconds(60))
        try assertLayout(pulled, tag: "v1", holds: image)

        let layer = image.layers[0]
        for version in ["--http1.1", "--http2"] {
            let file = certDir.appendingPathComponent("blob\(version)").path
            let got = try await curl(["--cacert", pki.ca, version, "-L", "-o", file,
                                      "https://127.0.0.1:\(berth.port)/v2/tls/image/blobs/\(layer.digest)"], output: false)
            XCTAssertEqual(got.status, 0, got.stderr)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: file)), layer.bytes, "blob over \(version)")
        }
    }

    // MARK: - Helpers

    /// Runs Berth over HTTPS in this process; it is stopped when the test ends.
    private func startHTTPS(_ tls: TLSSettings) async throws -> HTTPSBerth {
        let berth = try await HTTPSBerth.start(root: try temporaryDirectory("root").path, tls: tls)
        addTeardownBlock { await berth.stop() }
        return berth
    }

    /// curl with `-w "%{http_code} %{http_version}"` as `outcome`; exits with curl's status.
    private func curl(_ arguments: [String], output: Bool = true) async throws -> (status: Int32, outcome: String, stderr: String) {
        let discard = output ? ["-o", "/dev/null"] : []
        let result = try await ProcessRunner.run(
            "/usr/bin/curl", ["-sS", "--max-time", "10", "-w", "%{http_code} %{http_version}"] + discard + arguments,
            timeout: .seconds(20), allowFailure: true)
        return (result.status, result.stdout, result.stderr)
    }

    /// The serial number of the certificate a new connection to `port` is served.
    private static func servedSerial(_ port: Int, ca: String) async throws -> String {
        let result = try await ProcessRunner.run(
            "/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", ca, "-verify_return_error"],
            timeout: .seconds(10))
        return try await Self.serial(ofFirstCertificateIn: result.stdout, scratch: URL(fileURLWithPath: ca).deletingLastPathComponent())
    }

    private static func serial(ofFirstCertificateIn text: String, scratch: URL) async throws -> String {
        guard let begin = text.range(of: "-----BEGIN CERTIFICATE-----"),
              let end = text.range(of: "-----END CERTIFICATE-----", range: begin.upperBound..<text.endIndex) else {
            throw TestFailure("no certificate in s_client output:\n\(text)")
        }
        let file = scratch.appendingPathComponent("served-\(UUID().uuidString).pem")
        try String(text[begin.lowerBound..<end.upperBound]).write(to: file, atomically: true, encoding: .utf8)
        let result = try await ProcessRunner.run("/usr/bin/openssl", ["x509", "-noout", "-serial", "-in", file.path])
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "serial=", with: "")
    }

    private func poll<T: Sendable>(_ what: String, _ attempt: @Sendable () async -> T?) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let value = await attempt() { return value }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("timed out waiting for \(what)")
    }
}

/// Berth serving HTTPS in this process on 127.0.0.1 and a port the system chose.
final class HTTPSBerth: Sendable {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        (self.port, self.group, self.task) = (port, group, task)
    }

    static func start(root: String, tls: TLSSettings,
                      configure: (inout BerthConfiguration) -> Void = { _ in }) async throws -> HTTPSBerth {
        var config = BerthConfiguration()
        config.httpAddress = ListenAddress(host: "127.0.0.1", port: 0)
        config.rootDirectory = root
        config.httpSecret = "tls-test-secret"
        config.tls = tls
        configure(&config)
        var logger = Logger(label: "berth-tls") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let (ports, bound) = AsyncStream<Int>.makeStream()
        let app = try await buildApplication(config, logger: logger) { channel in
            bound.yield(channel.localAddress?.port ?? 0)
            bound.finish()
        }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task<Void, any Error> {
            defer { bound.finish() }
            try await group.run()
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw TestFailure("Berth over HTTPS did not start: \(await task.result)")
        }
        return HTTPSBerth(port: port, group: group, task: task)
    }

    /// Graceful shutdown; cancelled if it takes longer than five seconds.
    func stop() async {
        await group.triggerGracefulShutdown()
        let deadline = Task { [task] in
            try await Task.sleep(for: .seconds(5))
            task.cancel()
        }
        _ = await task.result
        deadline.cancel()
    }
}

/// One TLS connection held open by `openssl s_client`: requests go in through its stdin, and
/// everything it prints (the server certificate first, then the responses) lands in `log`.
final class KeepAliveConnection {
    private let process = Process()
    private let input = Pipe()
    private let log: URL

    init(port: Int, ca: String, log: URL) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", ca, "-verify_return_error", "-nocommands"]
        process.standardInput = input
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    func send(_ request: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data(request.utf8))
    }

    /// Waits until `count` responses `HTTP/1.1 200` arrived on this connection.
    func waitForResponses(_ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while output.components(separatedBy: "HTTP/1.1 200").count - 1 < count {
            guard ContinuousClock.now < deadline, process.isRunning else {
                throw TestFailure("expected \(count) responses on the kept-alive connection; s_client printed:\n\(output)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func close() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
    }
}
