import BerthS3
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Three `berth serve` processes over one bucket of a real S3-compatible server (moto, on
/// loopback), sharing one `http.secret`, behind nginx balancing round-robin: the deployment the
/// README's "Running several nodes" section describes, with the blob descriptor cache in Redis
/// (Debian's redis-server).
final class S3Cluster: @unchecked Sendable {
    // Only touched by the test that owns it.
    let work: URL
    let motoPort: Int
    let bucket: String
    let config: URL
    var nodes: [(port: Int, process: BackgroundProcess)] = []
    let balancerPort: Int
    private var moto: BackgroundProcess?
    private var redis: BackgroundProcess?
    private var nginx: BackgroundProcess?

    var balancer: String { "127.0.0.1:\(balancerPort)" }
    func node(_ i: Int) -> String { "127.0.0.1:\(nodes[i].port)" }
    func nodeURL(_ i: Int) -> URL { URL(string: "http://\(node(i))")! }
    var balancerURL: URL { URL(string: "http://\(balancer)")! }

    static let secret = "multi-node-shared-secret"

    init(work: URL, redirect: Bool = true, nodeCount: Int = 3) async throws {
        self.work = work
        motoPort = try freeLoopbackPort()
        balancerPort = try freeLoopbackPort()
        bucket = "berth-cluster-" + UUID().uuidString.lowercased().prefix(8)
        config = work.appendingPathComponent("berth.yml")
        guard let motoServer = Self.findExecutable("moto_server") else {
            throw TestFailure("moto_server is not on PATH; install it with: pip install \"moto[server]\" (scripts/test does)")
        }
        moto = try BackgroundProcess(motoServer, ["-H", "127.0.0.1", "-p", String(motoPort)],
                                     logURL: work.appendingPathComponent("moto.log"))
        try await waitForPort(motoPort, what: "moto_server")
        let s3 = try S3Configuration.parse([
            "bucket": bucket, "region": "us-east-1", "regionendpoint": "http://127.0.0.1:\(motoPort)",
            "forcepathstyle": "true", "accesskey": "cluster", "secretkey": "cluster-secret",
        ], environment: [:])
        try await S3Client.withClient(configuration: s3) { try await $0.createBucket() }
        let redisPort = try freeLoopbackPort()
        guard let redisServer = Self.findExecutable("redis-server", extra: ["/usr/bin"]) else {
            throw TestFailure("redis-server is missing; install Debian's redis-server package (scripts/test does)")
        }
        redis = try BackgroundProcess(redisServer, ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                      logURL: work.appendingPathComponent("redis.log"))
        try await waitForPort(redisPort, what: "redis-server", http: false)
        try """
            version: 0.1
            log:
              level: info
            http:
              secret: \(Self.secret)
            redis:
              addr: 127.0.0.1:\(redisPort)
            storage:
              cache:
                blobdescriptor: redis
              delete:
                enabled: true
              redirect:
                disable: \(!redirect)
              s3:
                bucket: \(bucket)
                region: us-east-1
                regionendpoint: http://127.0.0.1:\(motoPort)
                forcepathstyle: true
                accesskey: cluster
                secretkey: cluster-secret
                rootdirectory: /registry
                chunksize: 5242880
            """.write(to: config, atomically: true, encoding: .utf8)
        for i in 0..<nodeCount { nodes.append(try await startNode(i, port: try freeLoopbackPort())) }
        try await startBalancer()
    }

    /// Starts node `i` on `port` (again, after a kill).
    func startNode(_ i: Int, port: Int) async throws -> (port: Int, process: BackgroundProcess) {
        let process = try BackgroundProcess(CommandLineTests.berth, ["serve", config.path, "--addr", "127.0.0.1:\(port)"],
                                            logURL: work.appendingPathComponent("node\(i)-\(port).log"))
        try await HTTP.waitUntilReady(URL(string: "http://127.0.0.1:\(port)")!, what: "node \(i)", timeout: .seconds(60),
                                      while: { process.isRunning })
        return (port, process)
    }

    func restartNode(_ i: Int) async throws {
        nodes[i] = try await startNode(i, port: nodes[i].port)
    }

    func kill9(_ i: Int) {
        kill(nodes[i].process.process.processIdentifier, SIGKILL)
    }

    private func startBalancer() async throws {
        guard let nginxPath = Self.findExecutable("nginx", extra: ["/usr/sbin"]) else {
            throw TestFailure("nginx is missing; install Debian's nginx package (scripts/test does)")
        }
        let prefix = work.appendingPathComponent("nginx")
        try FileManager.default.createDirectory(at: prefix.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let upstreams = nodes.map { "    server 127.0.0.1:\($0.port) max_fails=1 fail_timeout=30s;" }.joined(separator: "\n")
        let conf = prefix.appendingPathComponent("nginx.conf")
        try Self.nginxConfiguration(upstreams: upstreams, listen: "127.0.0.1:\(balancerPort)", prefix: prefix.path)
            .write(to: conf, atomically: true, encoding: .utf8)
        nginx = try BackgroundProcess(nginxPath, ["-p", prefix.path, "-c", conf.path],
                                      logURL: work.appendingPathComponent("nginx.out"))
        try await waitForPort(balancerPort, what: "nginx")
    }

    /// The README's nginx example, with this cluster's addresses and files kept in `prefix`.
    static func nginxConfiguration(upstreams: String, listen: String, prefix: String) -> String {
        """
        daemon off;
        master_process off;
        worker_processes 1;
        error_log \(prefix)/logs/error.log warn;
        pid \(prefix)/nginx.pid;
        events { worker_connections 1024; }
        http {
          access_log \(prefix)/logs/access.log;
          client_body_temp_path \(prefix)/body;
          proxy_temp_path \(prefix)/proxy;
          fastcgi_temp_path \(prefix)/fastcgi;
          uwsgi_temp_path \(prefix)/uwsgi;
          scgi_temp_path \(prefix)/scgi;
          upstream berth {
        \(upstreams)
            keepalive 32;
          }
          server {
            listen \(listen);
            client_max_body_size 0;
            chunked_transfer_encoding on;
            location / {
              proxy_pass http://berth;
              proxy_http_version 1.1;
              proxy_set_header Connection "";
              proxy_set_header Host $http_host;
              proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
              proxy_set_header X-Forwarded-Proto $scheme;
              proxy_request_buffering off;
              proxy_buffering off;
              proxy_read_timeout 900s;
              proxy_next_upstream error timeout http_502 http_503;
            }
          }
        }
        """
    }

    func stop() async {
        // Throw-away helpers: nginx and redis-server linger on SIGTERM, moto ignores it.
        await nginx?.stop(grace: .milliseconds(300))
        for node in nodes { await node.process.stop() }
        await moto?.stop(grace: .milliseconds(300))
        await redis?.stop(grace: .milliseconds(300))
    }

    func logs() -> String {
        nodes.enumerated().map { "--- node \($0.offset):\n" + String($0.element.process.log.suffix(3000)) }.joined(separator: "\n")
    }

    private func waitForPort(_ port: Int, what: String, http: Bool = true) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if http, (try? await HTTP.onOwnThread({ try HTTP.probeStatus(URL(string: "http://127.0.0.1:\(port)/")!) })) != nil { return }
            if !http, (try? RawConnection(port: port)) != nil { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("\(what) did not answer on 127.0.0.1:\(port) within 30 s")
    }

    static func findExecutable(_ name: String, extra: [String] = []) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + extra + [NSHomeDirectory() + "/.local/bin"]
        return path.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
