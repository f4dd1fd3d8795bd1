import BerthServer
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import XCTest

/// The base endpoint, unknown endpoints and methods, and application shutdown.
final class RoutingTests: XCTestCase {
    func testBaseEndpoint() async throws {
        try await Registry.run { client in
            for uri in ["/v2/", "/v2"] {
                let get = try await client.send(.get, uri)
                XCTAssertEqual(get.status, .ok, uri)
                XCTAssertEqual(get.headers[.apiVersion], "registry/2.0", uri)
                XCTAssertEqual(get.headers[.contentType], "application/json", uri)
                XCTAssertEqual(bodyString(get), "{}", uri)
            }
            let head = try await client.send(.head, "/v2/")
            XCTAssertEqual(head.status, .ok)
            XCTAssertEqual(head.headers[.apiVersion], "registry/2.0")
        }
    }

    func testUnknownRoutesAre404WithJSONError() async throws {
        try await Registry.run { client in
            for uri in ["/v3/", "/", "/v2/a/unknown/x", "/v2x", "/v2/a", "/v2/a/manifests/", "/v2/a/blobs/",
                        "/v2/a/tags", "/v2/manifests/latest", "/v2/blobs/uploads/"] {
                for method in [HTTPRequest.Method.get, .post, .delete] {
                    let r = try await client.send(method, uri)
                    assertError(r, .notFound, "NOT_FOUND")
                }
                assertHeadError(try await client.send(.head, uri), .notFound)
            }
        }
    }

    func testWrongMethodsAre405WithAllowAndJSONError() async throws {
        try await Registry.run { client in
            let digest = sha256("x")
            let cases: [(HTTPRequest.Method, String, String)] = [
                (.patch, "/v2/a/manifests/t", "GET, HEAD, PUT, DELETE"),
                (.post, "/v2/a/manifests/t", "GET, HEAD, PUT, DELETE"),
                (.post, "/v2/", "GET, HEAD"),
                (.delete, "/v2/", "GET, HEAD"),
                (.put, "/v2/a/blobs/\(digest)", "GET, HEAD, DELETE"),
                (.post, "/v2/a/blobs/\(digest)", "GET, HEAD, DELETE"),
                (.get, "/v2/a/blobs/uploads/", "POST"),
                (.put, "/v2/a/blobs/uploads/", "POST"),
                (.post, "/v2/a/blobs/uploads/01234567-89ab-cdef-0123-456789abcdef", "GET, PATCH, PUT, DELETE"),
                (.put, "/v2/a/tags/list", "GET, HEAD"),
                (.delete, "/v2/a/tags/list", "GET, HEAD"),
            ]
            for (method, uri, allowed) in cases {
                let r = try await client.send(method, uri, body: bytes("{}"))
                assertError(r, .methodNotAllowed, "UNSUPPORTED")
                XCTAssertEqual(r.headers[.allow], allowed, "\(method) \(uri)")
            }
        }
    }

    /// Odd but well-formed requests get 4xx answers, never 500.
    func testOddRequestsNeverFailWith500() async throws {
        try await Registry.run { client in
            let uris = [
                "/v2/_catalog", "/v2/a/referrers/\(sha256("x"))", "/v2/a/manifests/%00", "/v2/a/blobs/sha256:%2e%2e",
                "/v2/a/referrers/sha256:bad", "/v2/_catalog?n=-1",
                "/v2//manifests/t", "/v2/a/blobs/uploads/../../x", "/v2/a/tags/list?n=99999999999999999999",
                "/v2/a/blobs/uploads/?mount=&from=", "/v2/a/blobs/uploads/?digest=", "/v2/%ff/tags/list",
            ]
            for uri in uris {
                for method in [HTTPRequest.Method.get, .head, .put, .post, .patch, .delete] {
                    let r = try await client.send(method, uri, body: method == .get || method == .head ? nil : bytes("x"))
                    // The catalog and the referrers of a well-formed digest are valid reads.
                    let validRead = (method == .get || method == .head) && (uri == "/v2/_catalog" || uri.hasPrefix("/v2/a/referrers/sha256:2"))
                    XCTAssertTrue(validRead ? r.status == .ok : (400..<500).contains(r.status.code),
                                  "\(method) \(uri) -> \(r.status.code) \(bodyString(r))")
                }
            }
        }
    }

    /// With the default configuration (upload purging every 24h), the application must stop
    /// promptly when asked to shut down gracefully, as `berth serve` is on SIGTERM.
    func testApplicationShutsDownPromptlyWithDefaultUploadPurging() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("berth-api-shutdown-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        var config = BerthConfiguration()
        config.rootDirectory = root
        config.httpAddress = ListenAddress(host: "127.0.0.1", port: 0)
        config.httpSecret = "s"
        var logger = Logger(label: "berth-api-tests")
        logger.logLevel = .error
        let app = try await BerthServer.buildApplication(config, logger: logger)
        let clock = ContinuousClock()
        let start = clock.now
        let finishedInTime = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try await app.test(.router) { client in
                    try await client.expect(.get, "/v2/", .ok)
                }
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(3))
                return false
            }
            let first = try await group.next()!
            group.cancelAll()  // ends the sleep, or forces the stuck shutdown to finish
            return first
        }
        XCTAssertTrue(finishedInTime,
                      "graceful shutdown still running after \(clock.now - start): the upload purger sleeps through it")
    }
}
