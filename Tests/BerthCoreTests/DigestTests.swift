import BerthCore
import XCTest

final class DigestTests: XCTestCase {
    let hex64 = String(repeating: "a1", count: 32)

    func testParsesSha256AndSha512() throws {
        let d = try Digest(parsing: "sha256:\(hex64)")
        XCTAssertEqual(d.algorithm, .sha256)
        XCTAssertEqual(d.hex, hex64)
        XCTAssertEqual(d.description, "sha256:\(hex64)")
        let d512 = try Digest(parsing: "sha512:" + String(repeating: "0f", count: 64))
        XCTAssertEqual(d512.algorithm, .sha512)
    }

    func testRejectsMalformedDigests() {
        for bad in ["", "sha256", "sha256:", ":abc", "sha256:\(hex64.uppercased())", "sha256:\(hex64)0",
                    "sha256:\(hex64.dropLast())", "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:../../etc",
                    "SHA256:\(hex64)", "sha256+:\(hex64)", "sha512:\(hex64)"] {
            XCTAssertThrowsError(try Digest(parsing: bad), bad) { error in
                XCTAssertEqual((error as? RegistryError)?.code, .digestInvalid, bad)
            }
        }
    }

    func testComputeMatchesKnownVectors() {
        XCTAssertEqual(Digest.compute(Array("abc".utf8)).description,
                       "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Digest.compute([UInt8](), algorithm: .sha512).hex.prefix(16), "cf83e1357eefb8bd")
    }

    func testHasherIsResumableByCopy() {
        let data = Array("hello, world".utf8)
        var first = DigestHasher(.sha256)
        data[0..<5].withUnsafeBytes { first.update($0) }
        var copy = first  // a saved partial state
        data[5...].withUnsafeBytes { copy.update($0) }
        XCTAssertEqual(copy.finalize(), Digest.compute(data))
        XCTAssertEqual(copy.byteCount, Int64(data.count))
    }
}

final class NameTests: XCTestCase {
    func testValidRepositoryNames() throws {
        for good in ["a", "library/ubuntu", "a0/b-c/d.e/f_g/h__i", "x---y", "a/blobs/b", "manifests/uploads/tags",
                     String(repeating: "a", count: 255)] {
            XCTAssertNoThrow(try RepositoryName(good), good)
        }
    }

    func testInvalidRepositoryNamesCannotTraverse() {
        for bad in ["", "A", "a//b", "/a", "a/", "..", "a/../b", ".", "a/./b", "-a", "a-", "a..b", "a___b", "a_-b",
                    "%2e%2e", "a b", "a\u{0}b", String(repeating: "a", count: 256), "ü"] {
            XCTAssertThrowsError(try RepositoryName(bad), bad) { error in
                XCTAssertEqual((error as? RegistryError)?.code, .nameInvalid, bad)
            }
        }
    }

    func testTags() {
        for good in ["latest", "v1.2.3", "_x", "A-b.c_d", String(repeating: "t", count: 128)] {
            XCTAssertTrue(Tag.isValid(good), good)
        }
        for bad in ["", "-x", ".x", "a/b", "a:b", String(repeating: "t", count: 129), "..", "ä"] {
            XCTAssertThrowsError(try Tag(bad), bad) { error in
                XCTAssertEqual((error as? RegistryError)?.code, .tagInvalid, bad)
            }
        }
    }

    func testReferenceIsDigestWhenItHasAColon() throws {
        XCTAssertEqual(try Reference(parsing: "v1"), .tag(try Tag("v1")))
        let hex = String(repeating: "0", count: 64)
        XCTAssertEqual(try Reference(parsing: "sha256:\(hex)"), .digest(try Digest(parsing: "sha256:\(hex)")))
        XCTAssertThrowsError(try Reference(parsing: "sha256:xyz"))
    }

    func testEveryErrorCodeHasAnErrorStatus() {
        for code in ErrorCode.allCases {
            XCTAssertGreaterThanOrEqual(code.httpStatus, 400, code.rawValue)
            XCTAssertFalse(code.summary.isEmpty)
        }
    }
}

final class ErrorTableTests: XCTestCase {
    /// Every code of the distribution spec's error table exists, with the status it is sent with.
    func testSpecErrorTable() {
        let spec: [(String, Int)] = [
            ("BLOB_UNKNOWN", 404), ("BLOB_UPLOAD_INVALID", 400), ("BLOB_UPLOAD_UNKNOWN", 404),
            ("DIGEST_INVALID", 400), ("MANIFEST_BLOB_UNKNOWN", 400), ("MANIFEST_INVALID", 400),
            ("MANIFEST_UNKNOWN", 404), ("NAME_INVALID", 400), ("NAME_UNKNOWN", 404), ("SIZE_INVALID", 400),
            ("UNAUTHORIZED", 401), ("DENIED", 403), ("UNSUPPORTED", 405), ("TOOMANYREQUESTS", 429),
        ]
        for (code, status) in spec {
            guard let known = ErrorCode(rawValue: code) else {
                XCTFail("missing spec error code \(code)")
                continue
            }
            XCTAssertEqual(known.httpStatus, status, code)
        }
    }
}
