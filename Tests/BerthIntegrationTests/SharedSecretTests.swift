import Foundation
import XCTest

/// Without `http.secret`, Berth generates one key and keeps it in `<root>/berth/http-secret`, so
/// every process sharing the storage signs and accepts the same upload URLs.
final class SharedSecretTests: IntegrationTestCase {
    /// A session started on A continues on B when neither has http.secret configured.
    func testUploadContinuesWithTheSecretKeptInStorage() async throws {
        let root = try temporaryDirectory("root")
        let chunk = randomBytes(50_000)
        let a = try await startBerth(root: root)
        let started = try await HTTP.request("POST", a.baseURL.appendingPathComponent("v2/kept/secret/blobs/uploads/"))
        XCTAssertEqual(started.status, 202, started.text)
        let location = try XCTUnwrap(started.header("Location"))
        let patched = try await HTTP.request("PATCH", URL(string: "http://\(a.host)\(location)")!,
                                             headers: ["Content-Type": "application/octet-stream"], body: chunk)
        XCTAssertEqual(patched.status, 202, patched.text)
        let next = try XCTUnwrap(patched.header("Location"))
        await a.stop()

        let secretFile = root.appendingPathComponent("berth/http-secret").path
        let secret = try String(contentsOfFile: secretFile, encoding: .utf8)
        XCTAssertFalse(secret.isEmpty)

        let b = try await startBerth(root: root)
        let digest = Blob.digest(chunk)
        let put = try await HTTP.request("PUT", URL(string: "http://\(b.host)\(next)&digest=\(digest)")!, body: Data())
        XCTAssertEqual(put.status, 201, put.text)
        let get = try await HTTP.request("GET", b.baseURL.appendingPathComponent("v2/kept/secret/blobs/\(digest)"))
        XCTAssertEqual(get.body, chunk)
        XCTAssertEqual(try String(contentsOfFile: secretFile, encoding: .utf8), secret, "the kept secret changed")
    }

    /// Several instances starting at the same time on a fresh storage must still agree on one
    /// generated secret: an upload URL issued by any of them is accepted by all the others.
    /// The disagreement is a race, so a few rounds of simultaneous starts are tried.
    func testInstancesStartingTogetherAgreeOnTheGeneratedSecret() async throws {
        let instances = 6
        for round in 1...8 {
            let root = try temporaryDirectory("race-\(round)")
            let registries = try await withThrowingTaskGroup(of: TestRegistry.self) { group in
                for _ in 0..<instances {
                    group.addTask { try await TestRegistry.start(root: root.path) }
                }
                return try await group.reduce(into: [TestRegistry]()) { $0.append($1) }
            }
            var refused: [String] = []
            for (i, issuer) in registries.enumerated() {
                let started = try await HTTP.request("POST", issuer.baseURL.appendingPathComponent("v2/race/blobs/uploads/"))
                let location = try XCTUnwrap(started.header("Location"), started.text)
                for (j, other) in registries.enumerated() where j != i {
                    let status = try await HTTP.request("GET", URL(string: "http://\(other.host)\(location)")!)
                    if status.status != 204 { refused.append("\(i)->\(j): \(status.status) \(status.errorCode ?? "")") }
                }
            }
            for registry in registries { await registry.stop() }
            if !refused.isEmpty {
                XCTFail("""
                    round \(round): \(instances) instances started together on one fresh storage without http.secret \
                    use different secrets; upload URLs refused (issuer->checker): \(refused.joined(separator: ", ")). \
                    RegistryStorage.loadOrCreateHTTPSecret replaces a secret another process already wrote and read \
                    back, instead of creating the file only if it does not exist
                    """)
                return
            }
        }
    }
}
