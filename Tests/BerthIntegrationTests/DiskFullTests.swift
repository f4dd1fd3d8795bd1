import Foundation
import XCTest

/// `berth serve` on a small tmpfs that fills up: pushes that run out of space get a 507 with an
/// OCI error body saying so, leave nothing partial behind, the registry keeps serving pulls (and
/// old tags stay as they were), and pushes work again once space is freed.
final class DiskFullTests: IntegrationTestCase {
    static let bigBlob = 3 << 20

    func testFullStorageRefusesPushesCleanlyAndKeepsServing() async throws {
        let mountPoint = try temporaryDirectory("disk-full")
        let work = try temporaryDirectory("disk-full-work")
        try await mountTmpfs(at: mountPoint, size: "8m")
        let root = mountPoint.appendingPathComponent("registry")
        let port = try freeLoopbackPort()
        let server = try BackgroundProcess(CommandLineTests.berth, ["serve", "--addr", "127.0.0.1:\(port)", "--root", root.path],
                                           logURL: work.appendingPathComponent("server.log"))
        cleanups.append { await server.stop() }
        let client = RegistryHTTPClient(base: URL(string: "http://127.0.0.1:\(port)")!)
        try await HTTP.waitUntilReady(client.base, what: "berth on a tmpfs", while: { server.isRunning })

        // Two small images while there is room.
        let first = TestImage.random(layerCount: 2, layerSize: 60_000)
        let second = TestImage.random(layerCount: 2, layerSize: 60_000)
        try await push(first, tag: "first", client)
        try await push(second, tag: "second", client)

        // Leave about 1 MiB free, then push 3 MiB: monolithically, in one POST, in chunks.
        let filler = mountPoint.appendingPathComponent("filler")
        try await fill(filler, leaving: 1 << 20, in: mountPoint)
        let freeBefore = try freeBytes(mountPoint)
        let big = Blob(mediaType: MediaTypes.layer, bytes: randomBytes(Self.bigBlob))
        let bigFile = work.appendingPathComponent("big")
        try big.bytes.write(to: bigFile)

        let started = try await client.request("POST", "/v2/full/big/blobs/uploads/")
        let location = try XCTUnwrap(started.header("Location"))
        let monolithic = try await curl("PUT", client.url(location + "&digest=\(big.digest)"), file: bigFile, work: work)
        assertOutOfSpace(monolithic, "monolithic PUT")
        // The session holds nothing (the failed body was undone); cancelling it leaves no trace.
        let status = try await client.request("GET", location)
        XCTAssertEqual(status.status, 204)
        XCTAssertEqual(status.header("Range"), "0-0")
        let cancelled = try await client.request("DELETE", location)
        XCTAssertEqual(cancelled.status, 204)

        let single = try await curl("POST", client.url("/v2/full/big/blobs/uploads/?digest=\(big.digest)"), file: bigFile, work: work)
        assertOutOfSpace(single, "single POST")

        let chunked = try await client.request("POST", "/v2/full/big/blobs/uploads/")
        let chunkedLocation = try XCTUnwrap(chunked.header("Location"))
        let small = try await client.request("PATCH", chunkedLocation, headers: ["Content-Type": "application/octet-stream",
                                                                                 "Content-Range": "0-99999"],
                                             body: big.bytes.prefix(100_000))
        XCTAssertEqual(small.status, 202, small.text)
        let rest = work.appendingPathComponent("rest")
        try big.bytes.dropFirst(100_000).write(to: rest)
        let patch = try await curl("PATCH", client.url(chunkedLocation), file: rest, work: work,
                                   headers: ["Content-Range: 100000-\(Self.bigBlob - 1)"])
        assertOutOfSpace(patch, "chunked PATCH")
        // The session keeps the chunk that fitted, and only that: it can go on once there is room.
        let kept = try await client.request("GET", chunkedLocation)
        XCTAssertEqual(kept.header("Range"), "0-99999")
        let head = try await client.request("HEAD", "/v2/full/big/blobs/\(big.digest)")
        XCTAssertEqual(head.status, 404)
        let cancelledChunked = try await client.request("DELETE", chunkedLocation)
        XCTAssertEqual(cancelledChunked.status, 204)
        XCTAssertEqual(uploadSessions(root), [], "upload data left after the sessions were cancelled")
        XCTAssertFalse(blobFileExists(root, big), "a partial blob reached the blob store")
        let freeAfter = try freeBytes(mountPoint)
        XCTAssertLessThan(abs(freeAfter - freeBefore), 64 << 10, "the failed pushes left \(freeBefore - freeAfter) bytes behind")

        // Completely full: pulls still work, manifest and tag writes fail cleanly, old tags stay.
        let brim = mountPoint.appendingPathComponent("brim")
        try await fill(brim, leaving: 0, in: mountPoint)
        try await assertPulls(first, tag: "first", client)
        try await assertPulls(second, tag: "second", client)
        let pulled = work.appendingPathComponent("pulled")
        try await Skopeo.copy("docker://127.0.0.1:\(port)/full/images:first", "oci:\(pulled.path):first")
        try assertLayout(pulled, tag: "first", holds: first)

        let fresh = TestImage(architecture: "arm64", layerTars: [])  // its config is a blob not stored yet
        let retagged = try await client.request("PUT", "/v2/full/images/manifests/first",
                                                headers: ["Content-Type": MediaTypes.manifest], body: second.manifest.bytes)
        assertOutOfSpace(retagged, "moving a tag")
        let newTag = try await client.request("PUT", "/v2/full/images/manifests/third",
                                              headers: ["Content-Type": MediaTypes.manifest], body: second.manifest.bytes)
        assertOutOfSpace(newTag, "a new tag")
        let newBlob = try await client.request("POST", "/v2/full/images/blobs/uploads/?digest=\(fresh.config.digest)",
                                               headers: ["Content-Type": "application/octet-stream"], body: fresh.config.bytes)
        assertOutOfSpace(newBlob, "a small blob")
        try await assertPulls(first, tag: "first", client)
        let third = try await client.manifest("full/images", "third")
        XCTAssertNil(third, "a tag written on a full disk is visible")
        let audit = StorageConsistencyAudit.run(root: root)
        XCTAssertEqual(audit.problems, [], "storage damaged by the full disk")

        let log = server.log
        XCTAssertTrue(log.contains("storage is full"), log.suffix(3000).description)
        XCTAssertTrue(log.contains(root.path), "the log names no path on the full file system:\n\(log.suffix(3000))")

        // Space freed: every push works again.
        try FileManager.default.removeItem(at: brim)
        try FileManager.default.removeItem(at: filler)
        let again = try await curl("POST", client.url("/v2/full/big/blobs/uploads/?digest=\(big.digest)"), file: bigFile, work: work)
        XCTAssertEqual(again.status, 201, again.body)
        let pulledBig = try await client.blob("full/big", big.digest)
        XCTAssertEqual(pulledBig, big.bytes)
        let moved = try await client.request("PUT", "/v2/full/images/manifests/first",
                                             headers: ["Content-Type": MediaTypes.manifest], body: second.manifest.bytes)
        XCTAssertEqual(moved.status, 201, moved.text)
        try await assertPulls(second, tag: "first", client)
        let later = TestImage.random(layerCount: 1, layerSize: 200_000)
        try await push(later, tag: "third", client)
        try await assertPulls(later, tag: "third", client)
        XCTAssertEqual(StorageConsistencyAudit.run(root: root).problems, [])
        XCTAssertTrue(server.isRunning, "berth stopped on a full disk")
        await server.stop()
    }

    // MARK: - Helpers

    /// Mounts a tmpfs of `size` at `dir`, unmounted when the test ends however it ends. Skips
    /// the test when this process may not mount (not root, or a container without the capability).
    private func mountTmpfs(at dir: URL, size: String) async throws {
        let mounted = try await ProcessRunner.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", dir.path],
                                                  timeout: .seconds(30), allowFailure: true)
        guard mounted.status == 0 else {
            throw XCTSkip("mounting a tmpfs is not permitted here (the disk-full test needs root and CAP_SYS_ADMIN): \(mounted.stderr)")
        }
        // Registered after the directory's own clean-up, so it runs first (clean-ups run in reverse).
        cleanups.append {
            let result = try? await ProcessRunner.run("/bin/umount", [dir.path], timeout: .seconds(30), allowFailure: true)
            if result?.status != 0 { _ = try? await ProcessRunner.run("/bin/umount", ["-l", dir.path], allowFailure: true) }
        }
    }

    private func freeBytes(_ dir: URL) throws -> Int {
        let attributes = try FileManager.default.attributesOfFileSystem(forPath: dir.path)
        return (attributes[.systemFreeSize] as? NSNumber)?.intValue ?? 0
    }

    /// Writes `file` until only `leaving` bytes are free (0: until the file system refuses).
    private func fill(_ file: URL, leaving: Int, in dir: URL) async throws {
        let count = leaving == 0 ? "" : " count=\(max(try freeBytes(dir) - leaving, 0) / 4096)"
        let dd = try await ProcessRunner.run("/bin/sh", ["-c", "dd if=/dev/zero of='\(file.path)' bs=4096\(count) 2>&1"],
                                             allowFailure: true)
        if leaving == 0 {
            XCTAssertTrue(dd.stdout.contains("No space left"), "dd did not fill the tmpfs: \(dd.stdout)")
            XCTAssertLessThan(try freeBytes(dir), 4096)
        }
    }

    private struct CurlResult {
        var status: Int
        var body: String
    }

    /// A request whose body streams from `file` (as clients push large blobs).
    private func curl(_ method: String, _ url: URL, file: URL, work: URL, headers: [String] = []) async throws -> CurlResult {
        let output = work.appendingPathComponent("curl-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try await ProcessRunner.run("/usr/bin/curl", [
            "-sS", "-X", method, "--data-binary", "@\(file.path)", "-H", "Content-Type: application/octet-stream", "-H", "Expect:",
            "-o", output.path, "-w", "%{http_code}"] + headers.flatMap { ["-H", $0] } + [url.absoluteString], allowFailure: true)
        let body = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard let status = Int(result.stdout), status > 0 else {
            throw TestFailure("curl \(method) \(url) got no answer (exit \(result.status)): \(result.stderr)")
        }
        return CurlResult(status: status, body: body)
    }

    private func assertOutOfSpace(_ result: CurlResult, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        assertOutOfSpace(status: result.status, body: Data(result.body.utf8), what, file: file, line: line)
    }

    private func assertOutOfSpace(_ response: HTTP.Response, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        assertOutOfSpace(status: response.status, body: response.body, what, file: file, line: line)
    }

    private func assertOutOfSpace(status: Int, body: Data, _ what: String, file: StaticString, line: UInt) {
        let text = String(decoding: body, as: UTF8.self)
        XCTAssertEqual(status, 507, "\(what) on a full disk: \(text)", file: file, line: line)
        let json = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
        let error = (json?["errors"] as? [[String: Any]])?.first
        XCTAssertEqual(error?["code"] as? String, "INSUFFICIENT_STORAGE", "\(what): \(text)", file: file, line: line)
        XCTAssertTrue((error?["message"] as? String ?? "").contains("storage is full"), "\(what): \(text)", file: file, line: line)
    }

    private func push(_ image: TestImage, tag: String, _ client: RegistryHTTPClient) async throws {
        for blob in image.blobs {
            let answer = try await client.request("POST", "/v2/full/images/blobs/uploads/?digest=\(blob.digest)",
                                                  headers: ["Content-Type": "application/octet-stream"], body: blob.bytes)
            XCTAssertEqual(answer.status, 201, answer.text)
        }
        let answer = try await client.request("PUT", "/v2/full/images/manifests/\(tag)",
                                              headers: ["Content-Type": MediaTypes.manifest], body: image.manifest.bytes)
        XCTAssertEqual(answer.status, 201, answer.text)
    }

    private func assertPulls(_ image: TestImage, tag: String, _ client: RegistryHTTPClient,
                             file: StaticString = #filePath, line: UInt = #line) async throws {
        let manifest = try await client.manifest("full/images", tag)
        XCTAssertEqual(manifest, image.manifest.bytes, "manifest of full/images:\(tag)", file: file, line: line)
        for blob in image.blobs {
            let bytes = try await client.blob("full/images", blob.digest)
            XCTAssertEqual(bytes, blob.bytes, "blob \(blob.digest) of full/images:\(tag)", file: file, line: line)
        }
    }

    private func uploadSessions(_ root: URL) -> [String] {
        let uploads = root.appendingPathComponent("docker/registry/v2/repositories/full/big/_uploads")
        return (try? FileManager.default.contentsOfDirectory(atPath: uploads.path)) ?? []
    }

    private func blobFileExists(_ root: URL, _ blob: Blob) -> Bool {
        FileManager.default.fileExists(atPath: root.appendingPathComponent(
            "docker/registry/v2/blobs/sha256/\(blob.hex.prefix(2))/\(blob.hex)/data").path)
    }
}
