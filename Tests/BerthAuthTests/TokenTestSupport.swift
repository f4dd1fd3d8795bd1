import Crypto
import Foundation
import XCTest
import _CryptoExtras

/// Test helpers: hand-made JWTs (signed with swift-crypto, independently of the code under
/// test), certificates made by the openssl command, temporary files.
enum TokenFixture {
    static let issuer = "auth.test"
    static let audience = "registry.test"

    /// A temporary directory, removed when the test case ends.
    static func directory(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("berth-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    /// Runs a shell command line in `directory`; its standard output.
    @discardableResult
    static func shell(_ command: String, in directory: URL) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = directory
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw FixtureError("`\(command)` failed: \(String(decoding: message, as: UTF8.self))")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A self-signed certificate (PEM) for the private key `keyPEM`, made by `openssl req -x509`.
    static func certificate(keyPEM: String, in directory: URL) throws -> String {
        let name = UUID().uuidString
        try keyPEM.write(to: directory.appendingPathComponent("\(name).key"), atomically: true, encoding: .utf8)
        return try shell("openssl req -x509 -new -key \(name).key -subj /CN=berth-test -days 2 -out - 2>/dev/null", in: directory)
    }

    /// The Docker key id of a PEM certificate, computed with openssl and coreutils.
    static func libtrustKeyID(certificatePEM: String, in directory: URL) throws -> String {
        let name = UUID().uuidString
        try certificatePEM.write(to: directory.appendingPathComponent("\(name).crt"), atomically: true, encoding: .utf8)
        let encoded = try shell("openssl x509 -in \(name).crt -pubkey -noout | openssl pkey -pubin -outform DER"
                                + " | openssl dgst -sha256 -binary | head -c 30 | base32 -w 0", in: directory)
        let chars = Array(encoded.trimmingCharacters(in: .whitespacesAndNewlines))
        return stride(from: 0, to: chars.count, by: 4).map { String(chars[$0..<$0 + 4]) }.joined(separator: ":")
    }

    static func base64url(_ data: some DataProtocol) -> String {
        Data(data).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func json(_ object: Any) -> Data {
        try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// A compact JWS of `header` and `claims` signed by `sign` (an empty signature when nil).
    static func jws(_ header: [String: Any], _ claims: [String: Any], sign: ((Data) throws -> Data)?) throws -> String {
        let input = base64url(json(header)) + "." + base64url(json(claims))
        let signature = try sign?(Data(input.utf8)) ?? Data()
        return input + "." + base64url(signature)
    }

    static func es256(_ key: P256.Signing.PrivateKey) -> (Data) throws -> Data {
        { try key.signature(for: $0).rawRepresentation }
    }

    static func rs256(_ key: _RSA.Signing.PrivateKey) -> (Data) throws -> Data {
        { try key.signature(for: SHA256.hash(data: $0), padding: .insecurePKCS1v1_5).rawRepresentation }
    }

    static func ps256(_ key: _RSA.Signing.PrivateKey) -> (Data) throws -> Data {
        { try key.signature(for: SHA256.hash(data: $0), padding: .PSS).rawRepresentation }
    }

    /// Valid claims for `audience` from `issuer`, changed by `changes`.
    static func claims(_ changes: [String: Any] = [:]) -> [String: Any] {
        let now = Int(Date().timeIntervalSince1970)
        var claims: [String: Any] = [
            "iss": issuer, "sub": "alice", "aud": audience, "exp": now + 300, "nbf": now - 5, "iat": now - 5,
            "jti": UUID().uuidString,
            "access": [["type": "repository", "name": "team-a/app", "actions": ["pull", "push"]]],
        ]
        for (key, value) in changes { claims[key] = value }
        return claims
    }

    /// The RFC 7638 thumbprint of a P-256 key, written out here independently.
    static func thumbprint(_ key: P256.Signing.PublicKey) -> String {
        let point = Array(key.x963Representation)
        let json = #"{"crv":"P-256","kty":"EC","x":"\#(base64url(point[1...32]))","y":"\#(base64url(point[33...64]))"}"#
        return base64url(Data(SHA256.hash(data: Data(json.utf8))))
    }

    /// The claims of a JWT, decoded without any check.
    static func payload(_ token: String) throws -> [String: Any] {
        let part = String(token.split(separator: ".")[1])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: try XCTUnwrap(decode(part))) as? [String: Any])
    }

    static func header(_ token: String) throws -> [String: Any] {
        let part = String(token.split(separator: ".")[0])
        return try XCTUnwrap(JSONSerialization.jsonObject(with: try XCTUnwrap(decode(part))) as? [String: Any])
    }

    static func decode(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        s += String(repeating: "=", count: (4 - s.count % 4) % 4)
        return Data(base64Encoded: s)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Asserts that `body` throws an error whose description contains `reason`.
func assertRejected(_ reason: String, file: StaticString = #filePath, line: UInt = #line,
                    _ body: () async throws -> Void) async {
    do {
        try await body()
        XCTFail("accepted; expected a rejection with \"\(reason)\"", file: file, line: line)
    } catch {
        XCTAssertTrue("\(error)".contains(reason), "rejected with \"\(error)\"; expected \"\(reason)\"", file: file, line: line)
    }
}
