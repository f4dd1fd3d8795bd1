import BerthAPI
import BerthAuth
import BerthFilesystem
import BerthStorage
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Builds the registry application from a checked configuration: filesystem storage, the API
/// responder and the background services. `onServerRunning` receives the bound channel (tests
/// listen on port 0 and read the port from it).
public func buildApplication(
    _ config: BerthConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    let storage = try await openStorage(config)
    // --- TLS (http.tls): HTTPS with HTTP/2 by ALPN and no sendfile (TLSChannel.swift); plain HTTP otherwise.
    let server = try serverBuilder(tls: config.tls)
    // --- end TLS
    let root = absolutePath(config.rootDirectory)

    let secret: String
    if let configured = config.httpSecret {
        secret = configured
    } else {
        secret = try await storage.loadOrCreateHTTPSecret()
        logger.info("http.secret is not set: using the key kept in storage; set http.secret on every node when several processes share this storage",
                    metadata: ["path": "\(root)\(StoragePath.httpSecret.path)"])
    }
    let access = try makeAccessControl(config, logger: logger)
    let limits = config.rateLimit
    let api = RegistryAPI(
        storage: storage,
        signer: UploadStateSigner(secret: secret),
        settings: APISettings(deleteEnabled: config.deleteEnabled,
                              extraHeaders: config.httpHeaders.map { ($0.name, $0.value) },
                              readOnly: config.readOnly,
                              rateLimiter: limits.isEnabled
                                  ? RateLimiter(requestsPerSecond: limits.requestsPerSecond, burst: limits.burst,
                                                bytesPerSecond: limits.bytesPerSecond)
                                  : nil),
        access: access)
    var logger = logger
    for (k, v) in config.logFields { logger[metadataKey: k] = "\(v)" }
    let purger = UploadPurger(storage: storage, settings: config.uploadPurging, logger: logger)
    let catalogBuilder = CatalogBuilder(storage: storage, logger: logger)
    logger.info("starting Berth", metadata: [
        "addr": "\(config.httpAddress)", "storage": "filesystem", "root": "\(root)", "delete": "\(config.deleteEnabled)",
    ])
    return Application(
        responder: api,
        server: server,
        configuration: .init(
            address: .hostname(config.httpAddress.host, port: config.httpAddress.port),
            serverName: nil,
            reuseAddress: true),
        services: [purger, catalogBuilder],
        onServerRunning: onServerRunning,
        logger: logger)
}

/// Who may do what, from `auth` and `access`.
func makeAccessControl(_ config: BerthConfiguration, logger: Logger) throws -> AccessControl {
    if config.tls != nil {
        throw ConfigurationError(problems: ["http.tls is not served by this build yet; terminate TLS in a proxy in front of Berth"])
    }
    switch config.auth.mode {
    case .none:
        return .open
    case .htpasswd(let realm, let path):
        let file: HtpasswdFile
        do { file = try HtpasswdFile(path: path) } catch {
            throw ConfigurationError(problems: ["auth.htpasswd.path: \(error)"])
        }
        if file.users.isEmpty {
            logger.warning("the htpasswd file has no users: every request will be refused until users are added",
                           metadata: ["path": "\(path)"])
        }
        return AccessControl(mode: .htpasswd(realm: realm, file: file), rules: config.auth.rules, logger: logger)
    case .token, .tokenService:
        throw ConfigurationError(problems: ["token authentication is not enforced by this build yet; use auth.htpasswd"])
    }
}

/// The storage a configuration names, checked to be usable.
public func openStorage(_ config: BerthConfiguration) async throws -> RegistryStorage {
    let root = absolutePath(config.rootDirectory)
    let driver = FilesystemDriver(root: root)
    do {
        try await driver.prepare()
    } catch {
        throw ConfigurationError(problems: [
            "storage.filesystem.rootdirectory \(root) cannot be used: \(error). Create it or choose a writable directory.",
        ])
    }
    return RegistryStorage(driver: driver, validation: config.manifestValidation)
}

func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    let cwd = FileManager.default.currentDirectoryPath
    var rel = path
    while rel.hasPrefix("./") { rel.removeFirst(2) }
    return rel.isEmpty || rel == "." ? cwd : cwd + "/" + rel
}
