import Foundation
import XCTest

/// Chunked blob uploads over raw HTTP, continued by another Berth process on the same storage.
final class UploadSessionTests: IntegrationTestCase {
    let repository = "uploads/chunked"

    /// Starts an upload on `berth` and sends `chunk` as its first chunk; returns the Location
    /// to continue at.
    private func startAndSendFirstChunk(_ berth: TestRegistry, _ chunk: Data) async throws -> String {
        let started = try await HTTP.request("POST", url(berth, "/v2/\(repository)/blobs/uploads/"))
        XCTAssertEqual(started.status, 202, started.text)
        let location = try XCTUnwrap(started.header("Location"), "POST returned no Location")
        XCTAssertNotNil(started.header("Docker-Upload-UUID"))

        let patched = try await HTTP.request("PATCH", url(berth, location), headers: [
            "Content-Type": "application/octet-stream",
            "Content-Range": "0-\(chunk.count - 1)",
        ], body: chunk)
        XCTAssertEqual(patched.status, 202, patched.text)
        XCTAssertEqual(patched.header("Range"), "0-\(chunk.count - 1)")
        return try XCTUnwrap(patched.header("Location"), "PATCH returned no Location")
    }

    /// An absolute URL on `berth` for a Location (registries may return relative ones).
    private func url(_ berth: TestRegistry, _ location: String) -> URL {
        if location.hasPrefix("http://") || location.hasPrefix("https://") {
            // Same path and query, but on the instance we are talking to now.
            var components = URLComponents(string: location)!
            components.host = "127.0.0.1"
            components.port = berth.port
            return components.url!
        }
        return URL(string: "http://\(berth.host)\(location)")!
    }

    private func appending(_ location: String, _ query: String) -> String {
        location + (location.contains("?") ? "&" : "?") + query
    }

    /// A session begun on instance A is finished on instance B sharing root and http.secret.
    func testUploadContinuesOnAnotherInstanceWithTheSameSecret() async throws {
        let root = try temporaryDirectory("root")
        let first = randomBytes(150_000)
        let second = randomBytes(90_000)
        let whole = first + second
        let digest = Blob.digest(whole)

        let a = try await startBerth(root: root, httpSecret: "shared-secret-1")
        let location = try await startAndSendFirstChunk(a, first)
        await a.stop()

        let b = try await startBerth(root: root, httpSecret: "shared-secret-1")
        XCTAssertNotEqual(a.port, b.port)
        let status = try await HTTP.request("GET", url(b, location))
        XCTAssertEqual(status.status, 204, status.text)
        XCTAssertEqual(status.header("Range"), "0-\(first.count - 1)")

        let patched = try await HTTP.request("PATCH", url(b, location), headers: [
            "Content-Type": "application/octet-stream",
            "Content-Range": "\(first.count)-\(whole.count - 1)",
        ], body: second)
        XCTAssertEqual(patched.status, 202, patched.text)
        XCTAssertEqual(patched.header("Range"), "0-\(whole.count - 1)")
        let next = try XCTUnwrap(patched.header("Location"))

        let finished = try await HTTP.request("PUT", url(b, appending(next, "digest=\(digest)")),
                                              headers: ["Content-Type": "application/octet-stream"], body: Data())
        XCTAssertEqual(finished.status, 201, finished.text)
        XCTAssertEqual(finished.header("Docker-Content-Digest"), digest)

        let fetched = try await HTTP.request("GET", url(b, "/v2/\(repository)/blobs/\(digest)"))
        XCTAssertEqual(fetched.status, 200, fetched.text)
        XCTAssertEqual(fetched.body.count, whole.count)
        XCTAssertTrue(fetched.body == whole, "the blob Berth serves differs from the uploaded bytes")
        XCTAssertEqual(fetched.header("Docker-Content-Digest"), digest)

        // The session is gone once completed.
        let after = try await HTTP.request("GET", url(b, location))
        XCTAssertEqual(after.status, 404, after.text)
        XCTAssertEqual(after.errorCode, "BLOB_UPLOAD_UNKNOWN")
    }

    /// Instance B with a different http.secret refuses A's upload URL with 400
    /// BLOB_UPLOAD_INVALID, and the refusal leaves the session untouched for A's secret.
    func testUploadIsRefusedByAnInstanceWithAnotherSecret() async throws {
        let root = try temporaryDirectory("root")
        let first = randomBytes(120_000)
        let second = randomBytes(60_000)

        let a = try await startBerth(root: root, httpSecret: "secret-of-a")
        let location = try await startAndSendFirstChunk(a, first)
        await a.stop()

        let b = try await startBerth(root: root, httpSecret: "secret-of-b")
        let refused = try await HTTP.request("PATCH", url(b, location), headers: [
            "Content-Type": "application/octet-stream",
            "Content-Range": "\(first.count)-\(first.count + second.count - 1)",
        ], body: second)
        XCTAssertEqual(refused.status, 400, refused.text)
        XCTAssertEqual(refused.errorCode, "BLOB_UPLOAD_INVALID", refused.text)

        let refusedPut = try await HTTP.request(
            "PUT", url(b, appending(location, "digest=\(Blob.digest(first))")),
            headers: ["Content-Type": "application/octet-stream"], body: Data())
        XCTAssertEqual(refusedPut.status, 400, refusedPut.text)
        XCTAssertEqual(refusedPut.errorCode, "BLOB_UPLOAD_INVALID", refusedPut.text)
        await b.stop()

        // A's secret still continues the session, which holds exactly the first chunk.
        let a2 = try await startBerth(root: root, httpSecret: "secret-of-a")
        let status = try await HTTP.request("GET", url(a2, location))
        XCTAssertEqual(status.status, 204, status.text)
        XCTAssertEqual(status.header("Range"), "0-\(first.count - 1)")
    }
}
