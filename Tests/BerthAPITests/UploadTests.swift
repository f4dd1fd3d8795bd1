import Foundation
import HTTPTypes
import HummingbirdTesting
import XCTest

/// Upload sessions: start, PATCH (streamed and chunked), PUT, status, cancel, state signing.
final class UploadTests: XCTestCase {
    static let uuidPattern = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

    func testStartReturns202WithLocationRangeAndUUID() async throws {
        try await Registry.run { client in
            let r = try await client.send(.post, "/v2/library/app/blobs/uploads/")
            XCTAssertEqual(r.status, .accepted)
            XCTAssertEqual(r.headers[.range], "0-0")
            XCTAssertEqual(r.headers[.contentLength], "0")
            XCTAssertEqual(r.headers[.apiVersion], "registry/2.0")
            let uuid = try XCTUnwrap(r.headers[.dockerUploadUUID])
            XCTAssertNotNil(uuid.range(of: "^\(Self.uuidPattern)$", options: .regularExpression), uuid)
            let location = try XCTUnwrap(r.headers[.location])
            XCTAssertTrue(location.hasPrefix("/v2/library/app/blobs/uploads/\(uuid)?_state="), location)

            // Without the trailing slash too.
            let noSlash = try await client.send(.post, "/v2/library/app/blobs/uploads")
            XCTAssertEqual(noSlash.status, .accepted)
            XCTAssertNotEqual(noSlash.headers[.dockerUploadUUID], uuid)
        }
    }

    func testMonolithicPostWithDigest() async throws {
        try await Registry.run { client in
            let data = content(300)
            let digest = sha256(data)
            let r = try await client.send(.post, "/v2/mono/blobs/uploads/?digest=\(digest)", body: data)
            XCTAssertEqual(r.status, .created, bodyString(r))
            XCTAssertEqual(r.headers[.location], "/v2/mono/blobs/\(digest)")
            XCTAssertEqual(r.headers[.dockerContentDigest], digest)
            let get = try await client.send(.get, "/v2/mono/blobs/\(digest)")
            XCTAssertEqual(bodyBytes(get), data)
        }
    }

    func testMonolithicPostWithWrongDigestStoresNothing() async throws {
        try await Registry.run { client in
            let data = content(50)
            let claimed = sha256("something else")
            let r = try await client.send(.post, "/v2/mono/blobs/uploads/?digest=\(claimed)", body: data)
            assertError(r, .badRequest, "DIGEST_INVALID")
            assertError(try await client.send(.get, "/v2/mono/blobs/\(claimed)"), .notFound, "BLOB_UNKNOWN")
            assertError(try await client.send(.get, "/v2/mono/blobs/\(sha256(data))"), .notFound, "BLOB_UNKNOWN")
        }
    }

    func testMountExistingBlobIntoAnotherRepository() async throws {
        try await Registry.run { client in
            let data = content(80)
            let digest = try await client.pushBlob("src/repo", data)
            let r = try await client.send(.post, "/v2/dst/repo/blobs/uploads/?mount=\(digest)&from=src/repo")
            XCTAssertEqual(r.status, .created, bodyString(r))
            XCTAssertEqual(r.headers[.location], "/v2/dst/repo/blobs/\(digest)")
            XCTAssertEqual(r.headers[.dockerContentDigest], digest)
            XCTAssertNil(r.headers[.dockerUploadUUID])
            let get = try await client.send(.get, "/v2/dst/repo/blobs/\(digest)")
            XCTAssertEqual(get.status, .ok)
            XCTAssertEqual(bodyBytes(get), data)
        }
    }

    func testMountFromRepositoryLackingTheBlobStartsASession() async throws {
        try await Registry.run { client in
            let data = content(80)
            let digest = try await client.pushBlob("holder", data)
            let absent = sha256(content(81))
            for (dst, query) in [("dst1", "mount=\(digest)&from=other"), ("dst2", "mount=\(absent)")] {
                let r = try await client.send(.post, "/v2/\(dst)/blobs/uploads/?\(query)")
                XCTAssertEqual(r.status, .accepted, query)
                XCTAssertEqual(r.headers[.range], "0-0")
                XCTAssertNotNil(r.headers[.dockerUploadUUID])
                let location = try XCTUnwrap(r.headers[.location])
                XCTAssertTrue(location.hasPrefix("/v2/\(dst)/blobs/uploads/"), location)
                assertError(try await client.send(.get, "/v2/\(dst)/blobs/\(digest)"), .notFound, "BLOB_UNKNOWN")
                assertError(try await client.send(.get, "/v2/\(dst)/blobs/\(absent)"), .notFound, "BLOB_UNKNOWN")
                // The new session is an ordinary, usable one.
                let put = try await client.send(.put, appending(location, "digest=\(digest)"), body: data)
                XCTAssertEqual(put.status, .created, bodyString(put))
                try await client.expectBody("/v2/\(dst)/blobs/\(digest)", data)
            }
            // Without `from`, a blob stored anywhere in the registry is mounted (OCI 1.1).
            let anonymous = try await client.send(.post, "/v2/dst3/blobs/uploads/?mount=\(digest)")
            XCTAssertEqual(anonymous.status, .created, bodyString(anonymous))
            XCTAssertEqual(anonymous.headers[.location], "/v2/dst3/blobs/\(digest)")
            try await client.expectBody("/v2/dst3/blobs/\(digest)", data)
            let invalidFrom = try await client.send(.post, "/v2/dst/blobs/uploads/?mount=\(digest)&from=Bad")
            assertError(invalidFrom, .badRequest, "NAME_INVALID")
        }
    }

    func testStreamedPatchesThenPutWithoutBody() async throws {
        try await Registry.run { client in
            // More than the test client's 32 KiB body parts, so each PATCH arrives in pieces.
            let data = content(100_000, seed: 9)
            let first = Array(data[..<70_000]), second = Array(data[70_000...])
            let start = try await client.startUpload("streamed")

            let p1 = try await client.send(.patch, start, body: first)
            XCTAssertEqual(p1.status, .accepted, bodyString(p1))
            XCTAssertEqual(p1.headers[.range], "0-69999")
            XCTAssertEqual(p1.headers[.contentLength], "0")
            XCTAssertNotNil(p1.headers[.dockerUploadUUID])
            XCTAssertTrue(start.contains("/uploads/\(p1.headers[.dockerUploadUUID] ?? "-")?"), start)
            let loc1 = try XCTUnwrap(p1.headers[.location])

            let p2 = try await client.send(.patch, loc1, body: second)
            XCTAssertEqual(p2.status, .accepted, bodyString(p2))
            XCTAssertEqual(p2.headers[.range], "0-99999")
            let loc2 = try XCTUnwrap(p2.headers[.location])

            let digest = sha256(data)
            let put = try await client.send(.put, appending(loc2, "digest=\(digest)"), body: [])
            XCTAssertEqual(put.status, .created, bodyString(put))
            XCTAssertEqual(put.headers[.location], "/v2/streamed/blobs/\(digest)")
            XCTAssertEqual(put.headers[.dockerContentDigest], digest)
            let get = try await client.send(.get, "/v2/streamed/blobs/\(digest)")
            XCTAssertEqual(get.headers[.contentLength], "100000")
            XCTAssertTrue(bodyBytes(get) == data)

            // A completed session is gone.
            assertError(try await client.send(.get, loc2), .notFound, "BLOB_UPLOAD_UNKNOWN")
        }
    }

    func testChunkedPatchesInOrder() async throws {
        try await Registry.run { client in
            let data = content(30)
            var location = try await client.startUpload("chunked")
            for (i, range) in [(0, 9), (10, 19), (20, 29)].enumerated() {
                let r = try await client.send(.patch, location, headers: [.contentRange: "\(range.0)-\(range.1)"],
                                              body: Array(data[range.0...range.1]))
                XCTAssertEqual(r.status, .accepted, "chunk \(i): \(bodyString(r))")
                XCTAssertEqual(r.headers[.range], "0-\(range.1)")
                location = try XCTUnwrap(r.headers[.location])
            }
            let digest = sha256(data)
            let put = try await client.send(.put, appending(location, "digest=\(digest)"))
            XCTAssertEqual(put.status, .created, bodyString(put))
            try await client.expectBody("/v2/chunked/blobs/\(digest)", data)
        }
    }

    func testOutOfOrderChunkIs416AndSessionStaysUsable() async throws {
        try await Registry.run { client in
            let data = content(30)
            let location = try await client.startUpload("ooo")
            let c1 = try await client.send(.patch, location, headers: [.contentRange: "0-9"], body: Array(data[0..<10]))
            XCTAssertEqual(c1.status, .accepted)

            // Skips bytes 10-19.
            let skip = try await client.send(.patch, location, headers: [.contentRange: "20-29"], body: Array(data[20..<30]))
            assertError(skip, .rangeNotSatisfiable, "RANGE_INVALID")
            XCTAssertEqual(skip.headers[.range], "0-9")
            XCTAssertNotNil(skip.headers[.location])

            let status = try await client.send(.get, location)
            XCTAssertEqual(status.status, .noContent)
            XCTAssertEqual(status.headers[.range], "0-9")

            let c2 = try await client.send(.patch, location, headers: [.contentRange: "10-19"], body: Array(data[10..<20]))
            XCTAssertEqual(c2.status, .accepted, bodyString(c2))
            XCTAssertEqual(c2.headers[.range], "0-19")
            let c3 = try await client.send(.patch, location, headers: [.contentRange: "20-29"], body: Array(data[20..<30]))
            XCTAssertEqual(c3.status, .accepted, bodyString(c3))

            let digest = sha256(data)
            let put = try await client.send(.put, appending(location, "digest=\(digest)"))
            XCTAssertEqual(put.status, .created, bodyString(put))
            try await client.expectBody("/v2/ooo/blobs/\(digest)", data)
        }
    }

    func testOverlappingChunkIs416() async throws {
        try await Registry.run { client in
            let data = content(20)
            let location = try await client.startUpload("overlap")
            let c1 = try await client.send(.patch, location, headers: [.contentRange: "0-9"], body: Array(data[0..<10]))
            XCTAssertEqual(c1.status, .accepted)
            for range in [(5, 14), (0, 9)] {
                let r = try await client.send(.patch, location, headers: [.contentRange: "\(range.0)-\(range.1)"],
                                              body: Array(data[range.0...range.1]))
                assertError(r, .rangeNotSatisfiable, "RANGE_INVALID")
                XCTAssertEqual(r.headers[.range], "0-9")
            }
            let status = try await client.send(.get, location)
            XCTAssertEqual(status.headers[.range], "0-9")
            // Finishing with the right final chunk still works.
            let digest = sha256(data)
            let put = try await client.send(.put, appending(location, "digest=\(digest)"),
                                            headers: [.contentRange: "10-19"], body: Array(data[10..<20]))
            XCTAssertEqual(put.status, .created, bodyString(put))
            try await client.expectBody("/v2/overlap/blobs/\(digest)", data)
        }
    }

    func testPutWithFinalChunk() async throws {
        try await Registry.run { client in
            let data = content(40)
            let location = try await client.startUpload("final")
            let p = try await client.send(.patch, location, body: Array(data[0..<25]))
            XCTAssertEqual(p.status, .accepted)
            let digest = sha256(data)
            let put = try await client.send(.put, appending(location, "digest=\(digest)"), body: Array(data[25...]))
            XCTAssertEqual(put.status, .created, bodyString(put))
            XCTAssertEqual(put.headers[.dockerContentDigest], digest)
            try await client.expectBody("/v2/final/blobs/\(digest)", data)

            // A whole blob in the PUT of a fresh session.
            let other = content(33, seed: 5)
            let loc2 = try await client.startUpload("final")
            let put2 = try await client.send(.put, appending(loc2, "digest=\(sha256(other))"), body: other)
            XCTAssertEqual(put2.status, .created, bodyString(put2))
            try await client.expectBody("/v2/final/blobs/\(sha256(other))", other)
        }
    }

    func testUploadStatus() async throws {
        try await Registry.run { client in
            let location = try await client.startUpload("status")
            let empty = try await client.send(.get, location)
            XCTAssertEqual(empty.status, .noContent)
            XCTAssertEqual(empty.headers[.range], "0-0")
            XCTAssertEqual(empty.body.readableBytes, 0)
            _ = try await client.send(.patch, location, body: content(12))
            let r = try await client.send(.get, location)
            XCTAssertEqual(r.status, .noContent)
            XCTAssertEqual(r.headers[.range], "0-11")
            XCTAssertEqual(r.headers[.contentLength], "0")
            let id = try XCTUnwrap(r.headers[.dockerUploadUUID])
            XCTAssertTrue(location.contains("/uploads/\(id)?"))
            let statusLocation = try XCTUnwrap(r.headers[.location])
            XCTAssertTrue(statusLocation.hasPrefix("/v2/status/blobs/uploads/\(id)?_state="), statusLocation)
        }
    }

    func testCancelUploadThenSessionIsUnknown() async throws {
        try await Registry.run { client in
            let location = try await client.startUpload("cancel")
            _ = try await client.send(.patch, location, body: content(10))
            let del = try await client.send(.delete, location)
            XCTAssertEqual(del.status, .noContent)
            XCTAssertEqual(del.body.readableBytes, 0)
            assertError(try await client.send(.get, location), .notFound, "BLOB_UPLOAD_UNKNOWN")
            assertError(try await client.send(.patch, location, body: content(3)), .notFound, "BLOB_UPLOAD_UNKNOWN")
            assertError(try await client.send(.put, appending(location, "digest=\(sha256(content(10)))")),
                        .notFound, "BLOB_UPLOAD_UNKNOWN")
            assertError(try await client.send(.delete, location), .notFound, "BLOB_UPLOAD_UNKNOWN")
        }
    }

    func testPutWithWrongDigestIsRejectedAndNothingIsVisible() async throws {
        try await Registry.run { client in
            let data = content(25)
            let location = try await client.startUpload("wrong")
            _ = try await client.send(.patch, location, body: data)
            let claimed = sha256(content(25, seed: 99))
            let put = try await client.send(.put, appending(location, "digest=\(claimed)"))
            let entry = assertError(put, .badRequest, "DIGEST_INVALID")
            XCTAssertEqual(entry?.detail?["digest"], claimed)
            assertError(try await client.send(.get, "/v2/wrong/blobs/\(claimed)"), .notFound, "BLOB_UNKNOWN")
            assertError(try await client.send(.get, "/v2/wrong/blobs/\(sha256(data))"), .notFound, "BLOB_UNKNOWN")
            assertHeadError(try await client.send(.head, "/v2/wrong/blobs/\(claimed)"), .notFound)
        }
    }

    func testPutWithoutDigestIsDigestInvalid() async throws {
        try await Registry.run { client in
            let location = try await client.startUpload("nodigest")
            _ = try await client.send(.patch, location, body: content(5))
            assertError(try await client.send(.put, location), .badRequest, "DIGEST_INVALID")
            assertError(try await client.send(.put, appending(location, "digest=sha256:zz")), .badRequest, "DIGEST_INVALID")
        }
    }

    func testSHA512Monolithic() async throws {
        try await Registry.run { client in
            let data = content(200)
            let digest = sha512(data)
            let r = try await client.send(.post, "/v2/s512/blobs/uploads/?digest=\(digest)", body: data)
            XCTAssertEqual(r.status, .created, bodyString(r))
            XCTAssertEqual(r.headers[.dockerContentDigest], digest)
            let get = try await client.send(.get, "/v2/s512/blobs/\(digest)")
            XCTAssertEqual(get.status, .ok)
            XCTAssertEqual(get.headers[.dockerContentDigest], digest)
            XCTAssertEqual(bodyBytes(get), data)
        }
    }

    func testSHA512Chunked() async throws {
        try await Registry.run { client in
            let data = content(60)
            let location = try await client.startUpload("s512")
            let c1 = try await client.send(.patch, location, headers: [.contentRange: "0-29"], body: Array(data[0..<30]))
            XCTAssertEqual(c1.status, .accepted)
            let c2 = try await client.send(.patch, location, headers: [.contentRange: "30-49"], body: Array(data[30..<50]))
            XCTAssertEqual(c2.status, .accepted)
            let digest = sha512(data)
            let put = try await client.send(.put, appending(location, "digest=\(digest)"), body: Array(data[50...]))
            XCTAssertEqual(put.status, .created, bodyString(put))
            XCTAssertEqual(put.headers[.dockerContentDigest], digest)
            let get = try await client.send(.get, "/v2/s512/blobs/\(digest)")
            XCTAssertEqual(get.headers[.contentLength], "60")
            XCTAssertEqual(bodyBytes(get), data)
            // Stored under sha512 only.
            assertError(try await client.send(.get, "/v2/s512/blobs/\(sha256(data))"), .notFound, "BLOB_UNKNOWN")

            // Streamed PATCHes, then a PUT without a body: the sha512 is computed over what is stored.
            let other = content(70, seed: 8)
            let loc2 = try await client.startUpload("s512")
            let s1 = try await client.send(.patch, loc2, body: Array(other[..<40]))
            XCTAssertEqual(s1.status, .accepted)
            let s2 = try await client.send(.patch, loc2, body: Array(other[40...]))
            XCTAssertEqual(s2.status, .accepted)
            XCTAssertEqual(s2.headers[.range], "0-69")
            let put2 = try await client.send(.put, appending(loc2, "digest=\(sha512(other))"))
            XCTAssertEqual(put2.status, .created, bodyString(put2))
            try await client.expectBody("/v2/s512/blobs/\(sha512(other))", other)
        }
    }

    func testTamperedStateIsBlobUploadInvalid() async throws {
        try await Registry.run { client in
            let location = try await client.startUpload("tamper")
            let parts = location.components(separatedBy: "?_state=")
            XCTAssertEqual(parts.count, 2)
            let (path, state) = (parts[0], parts[1])
            // Change the first payload character (the payload binds repository and upload id).
            let flipped = (state.first == "A" ? "B" : "A") + state.dropFirst()
            for token in [flipped, "garbage", state + "x", "." + state] {
                let uri = "\(path)?_state=\(token)"
                assertError(try await client.send(.get, uri), .badRequest, "BLOB_UPLOAD_INVALID")
                assertError(try await client.send(.patch, uri, body: content(4)), .badRequest, "BLOB_UPLOAD_INVALID")
                assertError(try await client.send(.put, "\(uri)&digest=\(sha256(content(4)))"), .badRequest, "BLOB_UPLOAD_INVALID")
                assertError(try await client.send(.delete, uri), .badRequest, "BLOB_UPLOAD_INVALID")
            }
            // None of that touched the session.
            let status = try await client.send(.get, location)
            XCTAssertEqual(status.status, .noContent)
            XCTAssertEqual(status.headers[.range], "0-0")
        }
    }

    func testStateIsBoundToItsRepository() async throws {
        try await Registry.run { client in
            let location = try await client.startUpload("owner")
            let elsewhere = location.replacingOccurrences(of: "/v2/owner/", with: "/v2/intruder/")
            assertError(try await client.send(.patch, elsewhere, body: content(4)), .badRequest, "BLOB_UPLOAD_INVALID")
            // Without _state the id is simply not a session of that repository.
            let bare = elsewhere.components(separatedBy: "?")[0]
            assertError(try await client.send(.get, bare), .notFound, "BLOB_UPLOAD_UNKNOWN")
        }
    }

    func testUnknownUploadIDs() async throws {
        try await Registry.run { client in
            let unknown = "/v2/r/blobs/uploads/01234567-89ab-cdef-0123-456789abcdef"
            assertError(try await client.send(.get, unknown), .notFound, "BLOB_UPLOAD_UNKNOWN")
            assertError(try await client.send(.patch, unknown, body: content(3)), .notFound, "BLOB_UPLOAD_UNKNOWN")
            assertError(try await client.send(.delete, unknown), .notFound, "BLOB_UPLOAD_UNKNOWN")
            for bad in ["not-a-uuid", "..", "01234567-89AB-CDEF-0123-456789ABCDEF"] {
                assertError(try await client.send(.get, "/v2/r/blobs/uploads/\(bad)"), .notFound, "BLOB_UPLOAD_UNKNOWN")
            }
        }
    }

    func testContentRangeDisagreeingWithBodyIsRejectedAndSessionSurvives() async throws {
        try await Registry.run { client in
            let data = content(10)
            let location = try await client.startUpload("size")
            let r = try await client.send(.patch, location, headers: [.contentRange: "0-19"], body: data)
            assertError(r, .badRequest, "SIZE_INVALID")
            let malformed = try await client.send(.patch, location, headers: [.contentRange: "nonsense"], body: data)
            assertError(malformed, .rangeNotSatisfiable, "RANGE_INVALID")
            let status = try await client.send(.get, location)
            XCTAssertEqual(status.headers[.range], "0-0")
            let ok = try await client.send(.patch, location, headers: [.contentRange: "0-9"], body: data)
            XCTAssertEqual(ok.status, .accepted)
            let put = try await client.send(.put, appending(location, "digest=\(sha256(data))"))
            XCTAssertEqual(put.status, .created)
        }
    }

    /// The chunk length `end - start + 1` of this Content-Range overflowed an Int64 and trapped
    /// the whole server (any client with an upload session could stop it). Found by the
    /// content-range fuzz target.
    func testFuzzRegressionContentRangeWhoseLengthOverflowsIsRangeInvalid() async throws {
        try await Registry.run { client in
            let data = content(10)
            let location = try await client.startUpload("overflow")
            let r = try await client.send(.patch, location, headers: [.contentRange: "0-9223372036854775807"], body: data)
            assertError(r, .rangeNotSatisfiable, "RANGE_INVALID")
            let ok = try await client.send(.patch, location, headers: [.contentRange: "0-9"], body: data)
            XCTAssertEqual(ok.status, .accepted)
        }
    }
}

final class UploadStateRequiredTests: XCTestCase {
    /// Like the reference registry, an existing session is continued only through the signed
    /// Location; a bare upload URL is refused and leaves the session as it was.
    func testExistingSessionWithoutStateIsRefused() async throws {
        try await Registry.run { client in
            let location = try await client.startUpload("owner")
            let bare = location.components(separatedBy: "?")[0]
            assertError(try await client.send(.patch, bare, body: content(4)), .badRequest, "BLOB_UPLOAD_INVALID")
            assertError(try await client.send(.put, "\(bare)?digest=\(sha256(content(0)))"), .badRequest, "BLOB_UPLOAD_INVALID")
            let status = try await client.send(.get, location)
            XCTAssertEqual(status.status, .noContent)
            XCTAssertEqual(status.headers[.range], "0-0")
        }
    }
}
