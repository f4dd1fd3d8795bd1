import Foundation
import XCTest

/// `log.formatter: json` gives one JSON object per line; the access log names each request with
/// its request id, which the response echoes; `log.accesslog.disabled` turns it off.
final class LoggingTests: IntegrationTestCase {
    func serve(_ yaml: String) async throws -> (BackgroundProcess, URL, Int) {
        let dir = try temporaryDirectory("logging")
        let config = dir.appendingPathComponent("config.yml")
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        let log = dir.appendingPathComponent("server.log")
        let server = try BackgroundProcess(CommandLineTests.berth, ["serve", config.path, "--addr", "127.0.0.1:\(port)",
                                                                    "--root", dir.appendingPathComponent("data").path], logURL: log)
        try await HTTP.waitUntilReady(URL(string: "http://127.0.0.1:\(port)")!, what: "berth", while: { server.isRunning })
        return (server, log, port)
    }

    func curl(_ port: Int, _ path: String, requestID: String? = nil) async throws -> String {
        var arguments = ["-s", "-D", "-", "-o", "/dev/null"]
        if let requestID { arguments += ["-H", "X-Request-Id: \(requestID)"] }
        return try await ProcessRunner.run("/usr/bin/curl", arguments + ["http://127.0.0.1:\(port)\(path)"]).stdout
    }

    func testJSONLogLinesAndTheAccessLog() async throws {
        let (server, log, port) = try await serve("version: 0.1\nlog:\n  level: info\n  formatter: json\n  fields:\n    service: berth-test\n")
        let headers = try await curl(port, "/v2/", requestID: "trace-abc-123")
        XCTAssertTrue(headers.lowercased().contains("x-request-id: trace-abc-123"), headers)
        let generated = try await curl(port, "/v2/nothing/here/manifests/latest?secret=query")
        XCTAssertTrue(headers.contains("HTTP/1.1 200"), headers)
        let echoed = generated.split(separator: "\r\n").first { $0.lowercased().hasPrefix("x-request-id:") }
        let generatedID = echoed.map { String($0.dropFirst("x-request-id: ".count)) } ?? ""
        XCTAssertGreaterThanOrEqual(generatedID.count, 16, "a generated request id is echoed: \(generated)")
        XCTAssertNotEqual(generatedID, "trace-abc-123")
        await server.stop()

        let lines = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").filter { !$0.isEmpty }
        XCTAssertGreaterThan(lines.count, 2)
        var objects: [[String: Any]] = []
        for line in lines {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return XCTFail("not a JSON object: \(line)")
            }
            XCTAssertNotNil(object["time"])
            XCTAssertNotNil(object["level"])
            XCTAssertNotNil(object["msg"])
            objects.append(object)
        }
        let access = objects.filter { $0["msg"] as? String == "request" }
        XCTAssertGreaterThanOrEqual(access.count, 2, "the readiness probe's requests are logged too: \(access)")
        let first = try XCTUnwrap(access.first { $0["request_id"] as? String == "trace-abc-123" })
        XCTAssertEqual(first["method"] as? String, "GET")
        XCTAssertEqual(first["path"] as? String, "/v2/")
        XCTAssertEqual(first["status"] as? String, "200")
        XCTAssertEqual(first["service"] as? String, "berth-test", "log.fields appear on every line")
        let second = try XCTUnwrap(access.first { $0["path"] as? String == "/v2/nothing/here/manifests/latest" })
        XCTAssertEqual(second["request_id"] as? String, generatedID, "the access log names the id the response echoed")
        XCTAssertEqual(second["status"] as? String, "404")
        XCTAssertNotNil(Double(second["duration_ms"] as? String ?? ""))
        XCTAssertFalse(lines.contains { $0.contains("secret=query") }, "query strings are never logged")
    }

    func testAccessLogCanBeTurnedOff() async throws {
        let (server, log, port) = try await serve("version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n")
        _ = try await curl(port, "/v2/")
        await server.stop()
        let text = try String(contentsOf: log, encoding: .utf8)
        XCTAssertFalse(text.contains("request_id="), text)
        XCTAssertTrue(text.contains("Server started"), text)
    }
}
