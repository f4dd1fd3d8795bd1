import Crypto
import Foundation
import XCTest

@testable import BerthS3

/// The signer against AWS's published S3 examples and, for requests those do not cover (encoded
/// keys, many query parameters, session tokens), against botocore signing the same requests.
final class SigV4SignerTests: XCTestCase {
    // The example credentials, bucket and instant of AWS's SigV4 documentation for S3.
    let example = SigV4Signer(
        credentials: S3Credentials(
            accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        region: "us-east-1")
    let host = "examplebucket.s3.amazonaws.com"
    let may24 = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z

    func authorization(_ headers: [(String, String)]) -> String? {
        headers.first { $0.0 == "Authorization" }?.1
    }

    func testDocumentedGetObjectWithRange() {
        let headers = example.signatureHeaders(
            method: "GET", host: host, encodedPath: "/test.txt", query: [], headers: [("Range", "bytes=0-9")],
            payloadHash: SigV4Signer.emptyPayloadHash, date: may24)
        XCTAssertEqual(
            authorization(headers),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        XCTAssertEqual(headers.first { $0.0 == "x-amz-date" }?.1, "20130524T000000Z")
    }

    func testDocumentedPutObject() {
        let payloadHash = SHA256.hash(data: Data("Welcome to Amazon S3.".utf8)).hexString
        XCTAssertEqual(payloadHash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let headers = example.signatureHeaders(
            method: "PUT", host: host, encodedPath: S3URIEncoding.encodePath("/test$file.text"), query: [],
            headers: [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            payloadHash: payloadHash, date: may24)
        XCTAssertEqual(
            authorization(headers),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                + "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
                + "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    func testDocumentedBucketRequestsWithQueries() {
        let lifecycle = example.signatureHeaders(
            method: "GET", host: host, encodedPath: "/", query: [("lifecycle", "")], headers: [],
            payloadHash: SigV4Signer.emptyPayloadHash, date: may24)
        XCTAssertEqual(
            authorization(lifecycle)?.suffix(64), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
        // Given out of order: the canonical query sorts them.
        let list = example.signatureHeaders(
            method: "GET", host: host, encodedPath: "/", query: [("prefix", "J"), ("max-keys", "2")], headers: [],
            payloadHash: SigV4Signer.emptyPayloadHash, date: may24)
        XCTAssertEqual(
            authorization(list)?.suffix(64), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    func testDocumentedPresignedURL() {
        let query = example.presignedQuery(
            method: "GET", host: host, encodedPath: "/test.txt", query: [], expires: 86400, date: may24)
        XCTAssertEqual(
            query,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    func testPathEncodingKeepsSlashesAndUnreservedOnly() {
        XCTAssertEqual(S3URIEncoding.encodePath("a b+c/ü~_.-/x=y&z"), "a%20b%2Bc/%C3%BC~_.-/x%3Dy%26z")
        XCTAssertEqual(SigV4Signer.canonicalQuery([("b", "2 3"), ("a", "x/y"), ("a", "w")]), "a=w&a=x%2Fy&b=2%203")
    }

    /// Requests with awkward keys, queries and a session token, signed here and by botocore.
    func testMatchesBotocoreByteForByte() throws {
        struct Case: Codable {
            var method: String
            var key: String
            var query: [[String]]
            var headers: [[String]]
            var payloadHash: String
            var token: String?
            var expires: Int?
        }
        let keys = [
            "photos/2024/a b+c.txt", "ünïcödé/日本語 ~tilde", "special !'()*$&,;=@:[]", "a//double/slash/", "%41 literal",
        ]
        var cases: [Case] = []
        for (index, key) in keys.enumerated() {
            let token: String? = index % 2 == 0 ? nil : "FQoGZXIvYXdzE+token/with=chars"
            cases.append(
                Case(
                    method: "PUT", key: key, query: [["partNumber", "3"], ["uploadId", "abc~_-. +/=\(index)"]],
                    headers: [["Content-Type", "application/octet-stream"], ["x-amz-copy-source", "/b/\(key)"]],
                    payloadHash: SigV4Signer.unsignedPayload, token: token))
            cases.append(
                Case(
                    method: "GET", key: key,
                    query: [["list-type", "2"], ["prefix", key], ["continuation-token", "1/ab+c=="], ["uploads", ""]],
                    headers: [["Range", "bytes=5-  10"]], payloadHash: SigV4Signer.emptyPayloadHash, token: token))
            cases.append(
                Case(method: "GET", key: key, query: [], headers: [], payloadHash: "", token: token, expires: 900 + index))
        }
        let input = String(decoding: try JSONEncoder().encode(cases), as: UTF8.self)
        let oracle = try runCommand(["python3", "-c", Self.botocoreScript], input: input).split(separator: "\n")
        XCTAssertEqual(oracle.count, cases.count)
        for (testCase, expected) in zip(cases, oracle) {
            let signer = SigV4Signer(
                credentials: S3Credentials(
                    accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    sessionToken: testCase.token),
                region: "eu-central-1")
            let path = "/bucket/" + S3URIEncoding.encodePath(testCase.key)
            let query = testCase.query.map { ($0[0], $0[1]) }
            if let expires = testCase.expires {
                let presigned = signer.presignedQuery(
                    method: "GET", host: "s3.example.test:9000", encodedPath: path, query: query, expires: expires,
                    date: may24)
                XCTAssertEqual(
                    presigned.components(separatedBy: "X-Amz-Signature=").last,
                    expected.components(separatedBy: "X-Amz-Signature=").last, "presigned \(testCase.key)")
            } else {
                let headers = signer.signatureHeaders(
                    method: testCase.method, host: "s3.example.test:9000", encodedPath: path, query: query,
                    headers: testCase.headers.map { ($0[0], $0[1]) }, payloadHash: testCase.payloadHash, date: may24)
                XCTAssertEqual(authorization(headers), String(expected), "\(testCase.method) \(testCase.key)")
            }
        }
    }

    /// Signs each case of a JSON list on stdin with botocore at 2013-05-24T00:00:00Z; prints one
    /// Authorization header (or presigned URL) a line.
    static let botocoreScript = """
        import sys, json, datetime
        import botocore.auth as auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        from botocore.utils import percent_encode
        auth.get_current_datetime = lambda: datetime.datetime(2013, 5, 24, 0, 0, 0)
        for case in json.load(sys.stdin):
            credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", case.get("token"))
            url = "http://s3.example.test:9000/bucket/" + percent_encode(case["key"], safe="/~")
            params = [(name, value) for name, value in case["query"]]
            if case.get("expires"):
                request = AWSRequest(method="GET", url=url, params=params)
                auth.S3SigV4QueryAuth(credentials, "s3", "eu-central-1", expires=case["expires"]).add_auth(request)
                print(request.url)
            else:
                class Signer(auth.S3SigV4Auth):
                    def payload(self, request):
                        return case["payloadHash"]
                request = AWSRequest(method=case["method"], url=url, params=params,
                                     headers={name: value for name, value in case["headers"]})
                Signer(credentials, "s3", "eu-central-1").add_auth(request)
                print(request.headers["Authorization"])
        """
}
