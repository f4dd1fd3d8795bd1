import Crypto
import Foundation
import XCTest

/// `berth scrub` as an operator runs it, beside a registry that keeps serving: images pushed with
/// skopeo, a byte flipped in a layer on disk, found, named, quarantined and pushed again; and the
/// same run through the admin API.
final class ScrubCommandTests: IntegrationTestCase {
    func scrub(_ root: URL, _ flags: [String] = []) async throws -> ProcessResult {
        let result = try await ProcessRunner.run(CommandLineTests.berth, ["scrub", "--root", root.path] + flags,
                                                 timeout: .seconds(120), allowFailure: true)
        // Neither output is a terminal here: plain lines, no progress bar redrawn in place.
        XCTAssertFalse(result.stdout.contains("\r") || result.stderr.contains("\r"), result.stdout + result.stderr)
        return result
    }

    func testScrubFindsNamesAndQuarantinesAFlippedByte() async throws {
        let image = TestImage(layerTars: [Tar.archive(name: "a/data.bin", contents: randomBytes(60_000)),
                                          Tar.archive(name: "b/data.bin", contents: randomBytes(20_000))])
        let other = TestImage.random(architecture: "amd64", layerCount: 1, layerSize: 10_000)
        let root = try temporaryDirectory("scrub-root")
        let berth = try await startBerth(root: root)
        let layouts = try await push([("scrub/app:v1", image), ("scrub/other:latest", other)], to: berth)
        let appLayout = try XCTUnwrap(layouts["scrub/app:v1"])

        let clean = try await scrub(root)
        XCTAssertEqual(clean.status, 0, clean.stdout + clean.stderr)
        XCTAssertTrue(clean.stdout.hasPrefix("checked 7 blobs (") && clean.stdout.contains("2 repositories, 2 manifests, 2 tags"), clean.stdout)
        XCTAssertTrue(clean.stdout.contains("no problems"), clean.stdout)
        XCTAssertTrue(clean.stderr.contains("hashing blobs (") && clean.stderr.contains("checking repositories (2)"), clean.stderr)

        // One byte of a layer flips on disk.
        let layer = image.layers[0]
        let file = root.appendingPathComponent("docker/registry/v2/blobs/sha256/\(layer.hex.prefix(2))/\(layer.hex)/data")
        var bytes = try Data(contentsOf: file)
        bytes[bytes.count / 2] ^= 0x20
        try bytes.write(to: file)

        let found = try await scrub(root)
        XCTAssertEqual(found.status, 1, found.stdout + found.stderr)
        XCTAssertTrue(found.stdout.hasPrefix("blob-corrupt: blob \(layer.digest)"), found.stdout)
        XCTAssertTrue(found.stdout.contains("  tags: scrub/app:v1\n"), found.stdout)
        XCTAssertTrue(found.stdout.contains("  manifests: scrub/app@\(image.manifest.digest)\n"), found.stdout)
        XCTAssertFalse(found.stdout.contains("scrub/other"), found.stdout)
        XCTAssertTrue(found.stdout.contains("1 problems (1 blob-corrupt)"), found.stdout)

        // Berth serves blobs as stored, without hashing them on the way out (sendfile): the client's
        // own digest check is what refuses the damaged layer.
        let served = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/scrub/app/blobs/\(layer.digest)"))
        XCTAssertEqual(served.status, 200)
        XCTAssertNotEqual(Blob.digest(served.body), layer.digest)
        let pulled = try temporaryDirectory("scrub-pulled")
        do {
            try await Skopeo.copy("docker://\(berth.host)/scrub/app:v1", "oci:\(pulled.path):v")
            XCTFail("skopeo pulled a corrupt layer")
        } catch {}

        // The admin API runs the same scrub in the background and reports the same problem.
        let started = try await HTTP.request("POST", try XCTUnwrap(URL(string: "http://\(berth.host)/admin/api/scrub?rateLimit=50MB/s")))
        XCTAssertEqual(started.status, 202, started.text)
        var online: [String: Any] = [:]
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            let status = try await HTTP.request("GET", try XCTUnwrap(URL(string: "http://\(berth.host)/admin/api/scrub")))
            XCTAssertEqual(status.status, 200, status.text)
            online = try XCTUnwrap(try JSONSerialization.jsonObject(with: status.body) as? [String: Any])
            if online["running"] as? Bool == false { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        XCTAssertEqual(online["running"] as? Bool, false, "the online scrub did not finish: \(online)")
        XCTAssertEqual(online["problems"] as? Int, 1, "\(online)")
        XCTAssertEqual(online["rateLimitBytesPerSecond"] as? Int, 50_000_000)
        let onlineFinding = try XCTUnwrap((online["findings"] as? [[String: Any]])?.first)
        XCTAssertEqual(onlineFinding["kind"] as? String, "blob-corrupt")
        XCTAssertEqual(onlineFinding["tags"] as? [String], ["scrub/app:v1"])
        let invalid = try await HTTP.request("POST", try XCTUnwrap(URL(string: "http://\(berth.host)/admin/api/scrub?rateLimit=fast")))
        XCTAssertEqual(invalid.status, 405, invalid.text)

        // Repair quarantines the blob: the registry now answers 404 for it, so the push uploads it again.
        let repaired = try await scrub(root, ["--repair", "--json"])
        XCTAssertEqual(repaired.status, 0, repaired.stdout + repaired.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(repaired.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(report["repaired"] as? Int, 1)
        let quarantine = root.appendingPathComponent("berth/scrub/quarantine")
        let entries = try FileManager.default.contentsOfDirectory(atPath: quarantine.path)
        XCTAssertEqual(entries.count, 1)
        XCTAssertTrue(entries.first?.hasPrefix("sha256-\(layer.hex)-") ?? false, "\(entries)")
        let gone = try await HTTP.request("GET", berth.baseURL.appendingPathComponent("v2/scrub/app/blobs/\(layer.digest)"))
        XCTAssertEqual(gone.status, 404, gone.text)

        // Until the image is pushed again, the scrub says the tag is missing a layer.
        let missing = try await scrub(root, ["--repository", "scrub/app"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stdout.hasPrefix("reference-missing: layer \(layer.digest)"), missing.stdout)
        XCTAssertTrue(missing.stdout.contains("  tags: scrub/app:v1\n"), missing.stdout)
        try await Skopeo.copy("oci:\(appLayout.path):v", "docker://\(berth.host)/scrub/app:v1")
        let mended = try await scrub(root)
        XCTAssertEqual(mended.status, 0, mended.stdout + mended.stderr)
        try await Skopeo.copy("docker://\(berth.host)/scrub/app:v1", "oci:\(pulled.path):v")
        try assertLayout(pulled, tag: "v", holds: image)

        let badRate = try await scrub(root, ["--rate-limit", "fast"])
        XCTAssertEqual(badRate.status, 2)
        XCTAssertTrue(badRate.stderr.contains("--rate-limit fast is not a byte rate"), badRate.stderr)
    }
}
