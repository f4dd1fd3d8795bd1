import Crypto
import Foundation
import XCTest

/// Several stateless nodes over one S3 bucket behind nginx (S3Cluster): uploads continue on any
/// node, every node serves what any node stored, and a node killed mid-push costs the client
/// only a retry.
final class MultiNodeTests: IntegrationTestCase {
    func startCluster(redirect: Bool = true) async throws -> S3Cluster {
        let cluster = try await S3Cluster(work: try temporaryDirectory("cluster"), redirect: redirect)
        cleanups.append { await cluster.stop() }
        return cluster
    }

    /// A chunked upload started on node 0 whose every PATCH, the status query and the final PUT
    /// each go to another node; chunks straddle the 5 MiB part size.
    func testChunkedUploadWhosePatchesLandOnDifferentNodes() async throws {
        let cluster = try await startCluster()
        let sizes = [3 << 20, 6 << 20, 100_000, 7 << 20, 1]
        let content = randomBytes(sizes.reduce(0, +))
        let digest = "sha256:" + SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined()
        let started = try await HTTP.request("POST", cluster.nodeURL(0).appendingPathComponent("v2/cluster/chunked/blobs/uploads/"))
        XCTAssertEqual(started.status, 202, started.text)
        var location = try XCTUnwrap(started.header("Location"))
        var offset = 0
        for (index, size) in sizes.enumerated() {
            let node = (index + 1) % 3
            if index == 2 {
                // A chunk that does not start where the upload stands is refused by any node.
                let wrong = try await HTTP.request("PATCH", url(location, on: cluster, node: node),
                                                   headers: ["Content-Range": "\(offset + 1)-\(offset + 1)", "Content-Type": "application/octet-stream"],
                                                   body: Data([0]))
                XCTAssertEqual(wrong.status, 416, wrong.text)
                XCTAssertEqual(wrong.header("Range"), "0-\(offset - 1)")
                let status = try await HTTP.request("GET", url(location, on: cluster, node: (node + 1) % 3))
                XCTAssertEqual(status.status, 204, status.text)
                XCTAssertEqual(status.header("Range"), "0-\(offset - 1)", "node \((node + 1) % 3) sees the upload's progress")
            }
            let chunk = content[offset..<offset + size]
            let response = try await HTTP.request(
                "PATCH", url(location, on: cluster, node: node),
                headers: ["Content-Range": "\(offset)-\(offset + size - 1)", "Content-Type": "application/octet-stream"],
                body: Data(chunk))
            XCTAssertEqual(response.status, 202, "PATCH \(index) on node \(node): \(response.text)\n\(cluster.logs())")
            offset += size
            XCTAssertEqual(response.header("Range"), "0-\(offset - 1)", "after PATCH \(index) on node \(node)")
            location = try XCTUnwrap(response.header("Location"))
        }
        var finish = URLComponents(url: url(location, on: cluster, node: 2), resolvingAgainstBaseURL: false)!
        finish.queryItems = (finish.queryItems ?? []) + [URLQueryItem(name: "digest", value: digest)]
        let put = try await HTTP.request("PUT", finish.url!)
        XCTAssertEqual(put.status, 201, "\(put.text)\n\(cluster.logs())")
        for node in 0..<3 {
            let blob = try await HTTP.request("GET", cluster.nodeURL(node).appendingPathComponent("v2/cluster/chunked/blobs/\(digest)"))
            XCTAssertEqual(blob.status, 200, "node \(node)")
            XCTAssertTrue(blob.body == content, "node \(node) serves the blob the five chunks made (\(blob.body.count) bytes)")
        }
    }

    /// skopeo pushes through nginx, pulls from each node directly; then a node is killed with
    /// SIGKILL in the middle of a second push, whose retry completes through the other nodes.
    /// Catalog and tag lists are the same from every node, the restarted one included, and
    /// `berth scrub` finds nothing wrong in the bucket.
    func testPushThroughBalancerPullFromEachNodeAndSurviveAKilledNode() async throws {
        let cluster = try await startCluster()
        let first = TestImage.random(layerCount: 4, layerSize: 1 << 20)
        let layouts = try temporaryDirectory("layouts")
        try OCILayout.write(layouts.appendingPathComponent("first"), tag: "v", image: first)
        try await Skopeo.copy("oci:\(layouts.path)/first:v", "docker://\(cluster.balancer)/cluster/app:v1")
        for node in 0..<3 {
            let pulled = layouts.appendingPathComponent("pulled-\(node)")
            try await Skopeo.copy("docker://\(cluster.node(node))/cluster/app:v1", "oci:\(pulled.path):v")
            try assertLayout(pulled, tag: "v", holds: first)
        }

        // The second push: 6 layers of 6 MiB, each several S3 parts. A node dies once it is underway.
        let second = TestImage.random(layerCount: 6, layerSize: 6 << 20)
        try OCILayout.write(layouts.appendingPathComponent("second"), tag: "v", image: second)
        let accessLog = cluster.work.appendingPathComponent("nginx/logs/access.log")
        let linesBefore = Self.lineCount(accessLog)
        let push = Task {
            try await ProcessRunner.run(Tools.skopeo, [
                "--insecure-policy", "copy", "--quiet", "--preserve-digests", "--retry-times", "3", "--dest-tls-verify=false",
                "oci:\(layouts.path)/second:v", "docker://\(cluster.balancer)/cluster/app:v2",
            ], timeout: .seconds(180), allowFailure: true)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while Self.lineCount(accessLog) < linesBefore + 4, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        cluster.kill9(1)
        let firstAttempt = try await push.value
        var attempts = 1
        if firstAttempt.status != 0 {
            // skopeo gave up on the request the dying node cut: the user runs the command again.
            attempts += 1
            try await Skopeo.copy("oci:\(layouts.path)/second:v", "docker://\(cluster.balancer)/cluster/app:v2")
        }
        print("multi-node: the push with node 1 killed took \(attempts) skopeo run(s); first: status \(firstAttempt.status) \(firstAttempt.stderr.suffix(300))")
        for node in [0, 2] {
            let pulled = layouts.appendingPathComponent("second-\(node)")
            try await Skopeo.copy("docker://\(cluster.node(node))/cluster/app:v2", "oci:\(pulled.path):v")
            try assertLayout(pulled, tag: "v", holds: second)
        }
        try await cluster.restartNode(1)
        let pulled = layouts.appendingPathComponent("second-restarted")
        try await Skopeo.copy("docker://\(cluster.node(1))/cluster/app:v2", "oci:\(pulled.path):v")
        try assertLayout(pulled, tag: "v", holds: second)

        var catalogs: [String] = []
        var tagLists: [String] = []
        for node in 0..<3 {
            catalogs.append(try await HTTP.request("GET", cluster.nodeURL(node).appendingPathComponent("v2/_catalog")).text)
            tagLists.append(try await HTTP.request("GET", cluster.nodeURL(node).appendingPathComponent("v2/cluster/app/tags/list")).text)
        }
        XCTAssertEqual(Set(catalogs).count, 1, "every node lists the same catalog: \(catalogs)")
        XCTAssertEqual(Set(tagLists).count, 1, "every node lists the same tags: \(tagLists)")
        XCTAssertTrue(tagLists[0].contains("\"v1\"") && tagLists[0].contains("\"v2\""), tagLists[0])

        let scrub = try await ProcessRunner.run(CommandLineTests.berth, ["scrub", cluster.config.path], timeout: .seconds(120), allowFailure: true)
        XCTAssertEqual(scrub.status, 0, "berth scrub over the bucket:\n\(scrub.stdout)\n\(scrub.stderr)")

        // The maintenance commands work on the bucket: v1 deleted through one node, collected by
        // `berth garbage-collect`, gone from every node; v2 untouched.
        let deleted = try await HTTP.request("DELETE", cluster.nodeURL(2).appendingPathComponent("v2/cluster/app/manifests/\(first.manifest.digest)"))
        XCTAssertEqual(deleted.status, 202, deleted.text)
        let gc = try await ProcessRunner.run(CommandLineTests.berth, ["garbage-collect", cluster.config.path, "--grace-period", "0s", "--pin-window", "0s"],
                                             timeout: .seconds(120), allowFailure: true)
        XCTAssertEqual(gc.status, 0, "berth garbage-collect over the bucket:\n\(gc.stdout)\n\(gc.stderr)")
        for node in 0..<3 {
            for layer in first.layers {
                let head = try await HTTP.request("HEAD", cluster.nodeURL(node).appendingPathComponent("v2/cluster/app/blobs/\(layer.digest)"))
                XCTAssertEqual(head.status, 404, "v1's layer after the collection, node \(node)")
            }
            for layer in second.layers {
                let head = try await HTTP.request("HEAD", cluster.nodeURL(node).appendingPathComponent("v2/cluster/app/blobs/\(layer.digest)"))
                XCTAssertEqual(head.status, 200, "v2's layer after the collection, node \(node)")
            }
        }
        let du = try await ProcessRunner.run(CommandLineTests.berth, ["du", "--config", cluster.config.path], timeout: .seconds(60), allowFailure: true)
        XCTAssertEqual(du.status, 0, "berth du over the bucket:\n\(du.stdout)\n\(du.stderr)")
        XCTAssertTrue(du.stdout.contains("cluster/app"), du.stdout)
    }

    /// Blob GETs are redirected to presigned S3 URLs by default; with `storage.redirect.disable`
    /// the nodes stream them. skopeo pulls both ways.
    func testBlobGetsRedirectToPresignedURLsUnlessDisabled() async throws {
        for redirect in [true, false] {
            let cluster = try await startCluster(redirect: redirect)
            let image = TestImage.random(layerCount: 1, layerSize: 300_000)
            let layouts = try temporaryDirectory("redirect")
            try OCILayout.write(layouts.appendingPathComponent("image"), tag: "v", image: image)
            try await Skopeo.copy("oci:\(layouts.path)/image:v", "docker://\(cluster.balancer)/cluster/redirect:v")
            let layer = image.layers[0]
            let port = cluster.nodes[0].port
            let head = try await HTTP.onOwnThread { () -> String in
                let connection = try RawConnection(port: port)
                connection.send("GET /v2/cluster/redirect/blobs/\(layer.digest) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return connection.receive(until: "\r\n\r\n")
            }
            if redirect {
                XCTAssertTrue(head.hasPrefix("HTTP/1.1 307"), head)
                let location = try XCTUnwrap(head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location: ") }
                    .map { String($0.dropFirst(10)) })
                XCTAssertTrue(location.hasPrefix("http://127.0.0.1:\(cluster.motoPort)/") && location.contains("X-Amz-Signature="), location)
                let fetched = try await HTTP.request("GET", try XCTUnwrap(URL(string: location)))
                XCTAssertTrue(fetched.body == layer.bytes, "the presigned URL serves the blob")
            } else {
                XCTAssertTrue(head.hasPrefix("HTTP/1.1 200"), head)
            }
            let pulled = layouts.appendingPathComponent("pulled")
            try await Skopeo.copy("docker://\(cluster.node(1))/cluster/redirect:v", "oci:\(pulled.path):v")
            try assertLayout(pulled, tag: "v", holds: image)
            await cluster.stop()
        }
    }

    private func url(_ location: String, on cluster: S3Cluster, node: Int) -> URL {
        var components = URLComponents(string: location)!
        components.scheme = "http"
        components.host = "127.0.0.1"
        components.port = cluster.nodes[node].port
        return components.url!
    }

    static func lineCount(_ file: URL) -> Int {
        ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}
