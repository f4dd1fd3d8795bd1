import Foundation
import Logging
import NIOHTTP2
import NIOSSL
import Synchronization

/// Builds the server's TLS context from the `http.tls` files. Every problem names the setting
/// and the file, so an operator knows which one to fix.
enum TLSContextLoader {
    static func makeContext(_ settings: TLSSettings) throws -> NIOSSLContext {
        let chain = try certificates(at: settings.certificate, setting: "http.tls.certificate")
        let key = try privateKey(at: settings.key)
        var clientCAs: [NIOSSLCertificate] = []
        for path in settings.clientCAs {
            clientCAs += try certificates(at: path, setting: "http.tls.clientcas")
        }

        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = settings.minimumVersion == .tls13 ? .tlsv13 : .tlsv12
        tls.applicationProtocols = NIOHTTP2SupportedALPNProtocols  // h2, then http/1.1
        if !clientCAs.isEmpty {
            // Mutual TLS: a client certificate is required and must chain to one of these CAs.
            tls.certificateVerification = .noHostnameVerification
            tls.trustRoots = .certificates(clientCAs)
            tls.sendCANameList = true
        }
        do {
            return try NIOSSLContext(configuration: tls)
        } catch {
            throw problem("http.tls.key", settings.key,
                          "the TLS library refused it together with the certificate \(settings.certificate) (\(error)); "
                              + "check that the key belongs to that certificate")
        }
    }

    /// The PEM certificates in `path` (a chain or a CA bundle), at least one.
    private static func certificates(at path: String, setting: String) throws -> [NIOSSLCertificate] {
        let bytes = try read(path, setting: setting)
        let parsed: [NIOSSLCertificate]
        do {
            parsed = try NIOSSLCertificate.fromPEMBytes(bytes)
        } catch {
            throw problem(setting, path, "it is not a PEM certificate file (\(error))")
        }
        guard !parsed.isEmpty else {
            throw problem(setting, path, "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return parsed
    }

    private static func privateKey(at path: String) throws -> NIOSSLPrivateKey {
        let bytes = try read(path, setting: "http.tls.key")
        do {
            return try NIOSSLPrivateKey(bytes: bytes, format: .pem)
        } catch {
            throw problem("http.tls.key", path, "it is not an unencrypted PEM private key (\(error))")
        }
    }

    private static func read(_ path: String, setting: String) throws -> [UInt8] {
        do {
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw problem(setting, path, "cannot read it (\(error.localizedDescription)); check the path and its permissions")
        }
    }

    private static func problem(_ setting: String, _ path: String, _ reason: String) -> ConfigurationError {
        ConfigurationError(problems: ["\(setting) \(path) cannot be used: \(reason)"])
    }
}

/// The TLS context new connections start with. A reload replaces it whole: connections already
/// open keep the context (and certificate) they began with.
final class TLSContextBox: Sendable {
    let settings: TLSSettings
    private let context: Mutex<NIOSSLContext>

    /// Loads the files; throws `ConfigurationError` when they cannot be used.
    init(settings: TLSSettings) throws {
        self.settings = settings
        self.context = Mutex(try TLSContextLoader.makeContext(settings))
        TLSReloadRegistry.register(self)
    }

    var current: NIOSSLContext { context.withLock { $0 } }

    /// Re-reads the files; on error the current context stays in service.
    func reload() throws {
        let fresh = try TLSContextLoader.makeContext(settings)
        context.withLock { $0 = fresh }
    }
}

/// The live HTTPS listeners of this process, for `reloadTLS`.
enum TLSReloadRegistry {
    private struct Entry: Sendable {
        weak var box: TLSContextBox?
    }

    private static let entries = Mutex<[Entry]>([])

    static func register(_ box: TLSContextBox) {
        entries.withLock {
            $0.removeAll { $0.box == nil }
            $0.append(Entry(box: box))
        }
    }

    static var live: [TLSContextBox] { entries.withLock { $0.compactMap(\.box) } }
}

/// What `reloadTLS` did.
public struct TLSReloadOutcome: Sendable, Equatable {
    /// Listeners now serving the re-read files.
    public var reloaded = 0
    /// Why the others still serve their previous certificate.
    public var problems: [String] = []

    public init(reloaded: Int = 0, problems: [String] = []) {
        self.reloaded = reloaded
        self.problems = problems
    }
}

/// Re-reads the certificate, key and client CAs of every HTTPS listener in this process (what
/// SIGHUP does). New connections use the new files; open connections keep theirs. Files that
/// cannot be used are logged and the previous certificate stays in service.
@discardableResult
public func reloadTLS(logger: Logger) -> TLSReloadOutcome {
    var outcome = TLSReloadOutcome()
    for box in TLSReloadRegistry.live {
        do {
            try box.reload()
            outcome.reloaded += 1
            logger.info("TLS certificate reloaded; new connections use it",
                        metadata: ["certificate": "\(box.settings.certificate)", "key": "\(box.settings.key)"])
        } catch {
            let reason = (error as? ConfigurationError)?.problems.joined(separator: "; ") ?? "\(error)"
            outcome.problems.append(reason)
            logger.error("TLS reload failed, still serving the previous certificate: \(reason). Fix the files and send SIGHUP again.")
        }
    }
    return outcome
}
