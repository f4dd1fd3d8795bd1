import BerthServer
import Foundation

/// A CA, two server certificates for 127.0.0.1 and localhost (serials A1 and B2), a client
/// certificate from the CA and a self-signed "rogue" client certificate, made with `openssl`.
struct TestPKI {
    struct Pair { var cert, key: String }

    let dir: URL
    var ca: String { dir.appendingPathComponent("ca.crt").path }
    var serverA: Pair { pair("server-a") }
    var serverB: Pair { pair("server-b") }
    var client: Pair { pair("client") }
    var rogue: Pair { pair("rogue") }

    static func make(in dir: URL) async throws -> TestPKI {
        let pki = TestPKI(dir: dir)
        try """
            [req]
            distinguished_name = dn
            x509_extensions = ca
            prompt = no
            [dn]
            CN = berth-test-ca
            [ca]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            """.write(to: dir.appendingPathComponent("openssl.cnf"), atomically: true, encoding: .utf8)
        try await pki.openssl(["req", "-x509", "-days", "2", "-keyout", "ca.key", "-out", "ca.crt"] + pki.newKey)
        try await pki.issue("server-a", serial: "0xA1", usage: "serverAuth")
        try await pki.issue("server-b", serial: "0xB2", usage: "serverAuth")
        try await pki.issue("client", serial: "0xC3", usage: "clientAuth")
        try await pki.openssl(["req", "-x509", "-days", "2", "-subj", "/CN=rogue", "-keyout", "rogue.key", "-out", "rogue.crt"] + pki.newKey)
        return pki
    }

    func settings(_ pair: Pair) -> TLSSettings { TLSSettings(certificate: pair.cert, key: pair.key) }

    /// A directory holding the CA as `ca.crt`, as skopeo's and podman's `--cert-dir` want it.
    func clientCertDirectory(in dir: URL) throws -> URL {
        let certDir = dir.appendingPathComponent("certs")
        try FileManager.default.createDirectory(at: certDir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ca, toPath: certDir.appendingPathComponent("ca.crt").path)
        return certDir
    }

    /// Copies `pair` over the files of `target` (what an operator does before SIGHUP).
    func install(_ pair: Pair, as target: Pair) throws {
        for (from, to) in [(pair.cert, target.cert), (pair.key, target.key)] {
            try? FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
    }

    private func pair(_ name: String) -> Pair {
        Pair(cert: dir.appendingPathComponent("\(name).crt").path, key: dir.appendingPathComponent("\(name).key").path)
    }

    private var newKey: [String] {
        ["-config", "openssl.cnf", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    }

    private func issue(_ name: String, serial: String, usage: String) async throws {
        try """
            basicConstraints = CA:FALSE
            subjectAltName = IP:127.0.0.1,DNS:localhost
            extendedKeyUsage = \(usage)
            """.write(to: dir.appendingPathComponent("\(name).ext"), atomically: true, encoding: .utf8)
        try await openssl(["req", "-new", "-subj", "/CN=berth-test-\(name)", "-keyout", "\(name).key", "-out", "\(name).csr"] + newKey)
        try await openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", serial,
                           "-days", "2", "-extfile", "\(name).ext", "-out", "\(name).crt"])
    }

    /// Runs openssl in `dir` (through `env -C`, so relative names land there).
    private func openssl(_ arguments: [String]) async throws {
        try await ProcessRunner.run("/usr/bin/env", ["-C", dir.path, "/usr/bin/openssl"] + arguments, timeout: .seconds(30))
    }
}
