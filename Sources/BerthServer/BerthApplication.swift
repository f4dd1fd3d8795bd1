import BerthAPI
import BerthAuth
import BerthFilesystem
import BerthReplication
import BerthStorage
import BerthUI
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the registry application from a checked configuration: filesystem storage, the API
/// responder and the background services. `onServerRunning` receives the bound channel (tests
/// listen on port 0 and read the port from it).
public func buildApplication(
    _ config: BerthConfiguration,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws -> some ApplicationProtocol {
    var logger = logger
    for (k, v) in config.logFields { logger[metadataKey: k] = "\(v)" }
    let observability = MetricsAndHealth(config)  // http.debug and health.storagedriver (DebugServer.swift)
    let storage = try await openStorage(config, metrics: observability.metrics)
    // --- TLS (http.tls): HTTPS with HTTP/2 by ALPN and no sendfile (TLSChannel.swift); plain HTTP otherwise.
    let connections = ConnectionStats(maxConnections: config.connections.resolvedMaxConnections(fileLimit: raiseOpenFileLimit()))
    observability.metrics?.observeConnections(connections)
    let server = try serverBuilder(tls: config.tls, limits: config.connections, stats: connections)
    // --- end TLS
    let root = config.storageLocation

    let secret: String
    if let configured = config.httpSecret {
        secret = configured
    } else {
        secret = try await storage.loadOrCreateHTTPSecret()
        logger.info("http.secret is not set: using the key kept in storage; set http.secret on every node when several processes share this storage",
                    metadata: ["path": "\(root)\(StoragePath.httpSecret.path)"])
    }
    let (access, tokenService) = try await makeAccessControl(config, logger: logger)
    let limits = config.rateLimit
    // --- Notifications: the sink queues events durably; its deliverers run as services (below).
    let notifications = try await makeEventSink(config, storage: storage, metrics: observability.metrics, logger: logger)
    let replicator = config.replication.map { Replicator(settings: $0, storage: storage, http: upstreamHTTPClient(), logger: logger) }
    let pullThrough = config.proxy.map { makePullThroughCache($0, storage: storage, logger: logger) }
    let events: (any EventSink)? = replicator.map { ReplicatingEventSink(notifications: notifications, replicator: $0) } ?? notifications
    // --- end notifications
    let collector = GarbageCollectionService(storage: storage, settings: config.garbageCollection,
                                             metrics: observability.metrics, logger: logger)
    let scrubber = ScrubService(storage: storage, settings: config.scrub, metrics: observability.metrics, logger: logger)
    let statistics: [any Service] = observability.metrics.map {
        [StorageStatisticsService(storage: storage, metrics: $0, logger: logger)]
    } ?? []
    let ui = try makeWebUI(config, storage: storage, secret: secret, access: access, tokenService: tokenService,
                           admin: collector, events: events)
    let api = RegistryAPI(
        storage: storage,
        signer: UploadStateSigner(secret: secret),
        settings: APISettings(deleteEnabled: config.deleteEnabled,
                              extraHeaders: config.httpHeaders.map { ($0.name, $0.value) },
                              readOnly: config.readOnly,
                              rateLimiter: limits.isEnabled
                                  ? RateLimiter(requestsPerSecond: limits.requestsPerSecond, burst: limits.burst,
                                                bytesPerSecond: limits.bytesPerSecond)
                                  : nil,
                              network: config.network, redirect: config.storageRedirect),
        access: access,
        tokenService: tokenService,
        observers: makeRequestObservers(config, metrics: observability.metrics, logger: logger),
        events: events,
        admin: collector,
        scrub: scrubber,
        pages: ui,
        pullThrough: pullThrough,
        replication: replicator.map { ReplicationAdmin(replicator: $0) })
    if let replicator { observability.metrics?.observeReplication(replicator) }
    if let pullThrough { observability.metrics?.observeProxy(pullThrough) }
    let purger = UploadPurger(storage: storage, settings: config.uploadPurging, logger: logger)
    let catalogBuilder = CatalogBuilder(storage: storage, logger: logger)
    let retention = RetentionService(storage: storage, settings: config.retention, readOnly: config.readOnly,
                                     metrics: observability.metrics, logger: logger)
    logger.info("starting Berth", metadata: [
        "addr": "\(config.httpAddress)", "storage": "\(config.storageBackend.name)", "root": "\(root)", "delete": "\(config.deleteEnabled)",
    ])
    var services: [any Service] = [purger, catalogBuilder, collector, scrubber, retention, MemoryTrimmer()]
    services += statistics + observability.services(storage: storage, logger: logger)
    if ui != nil { services.append(OverviewIndexer(storage: storage, logger: logger)) }  // web UI: repository overviews
    services += notificationServices(notifications)  // notifications: one deliverer per endpoint
    if let replicator { services.append(ReplicationService(replicator: replicator, logger: logger)) }
    return Application(
        responder: HealthCheckedResponder(inner: api, readiness: observability.readiness),
        server: server,
        configuration: .init(
            address: .hostname(config.httpAddress.host, port: config.httpAddress.port),
            serverName: nil,
            // Room for bursts of new connections (the kernel caps it at net.core.somaxconn).
            backlog: 4096,
            reuseAddress: true),
        services: services,
        onServerRunning: onServerRunning,
        logger: logger)
}

/// The web UI (`ui.enabled`), with the API's users (the same loaded htpasswd file) and access rules.
func makeWebUI(_ config: BerthConfiguration, storage: RegistryStorage, secret: String, access: AccessControl,
               tokenService: TokenService?, admin: any AdminOperations, events: (any EventSink)?) throws -> WebUI? {
    guard config.uiEnabled else { return nil }
    let authentication: UIAuthentication
    switch (access.mode, tokenService) {
    case (.open, _): authentication = .open
    case (.htpasswd(_, let file), _): authentication = .users(file, access.rules)
    case (.token, let service?): authentication = .users(service.users, access.rules)
    case (.token, nil): authentication = .external(access.rules)
    }
    let settings = UISettings(deleteEnabled: config.deleteEnabled, readOnly: config.readOnly, network: config.network,
                              secure: config.tls != nil)
    return try WebUI(storage: storage, authentication: authentication, settings: settings, secret: secret, admin: admin, events: events)
}

/// Who may do what, from `auth` and `access`, and Berth's own token service when configured.
func makeAccessControl(_ config: BerthConfiguration, logger: Logger) async throws -> (AccessControl, TokenService?) {
    switch config.auth.mode {
    case .none:
        return (.open, nil)
    case .htpasswd(let realm, let path):
        let file = try openHtpasswd(path, key: "auth.htpasswd.path", logger: logger)
        return (AccessControl(mode: .htpasswd(realm: realm, file: file), rules: config.auth.rules, logger: logger), nil)
    case .token(let settings):
        let bundle = try settings.rootCertBundle.map { try readSetting($0, key: "auth.token.rootcertbundle") }
        let jwks = try settings.jwks.map { try readSetting($0, key: "auth.token.jwks") }
        let verifier: JWTTokenVerifier
        do {
            verifier = try await JWTTokenVerifier(issuer: settings.issuer, audience: settings.service,
                                                  rootCertBundlePEM: bundle, jwksJSON: jwks, algorithms: settings.signingAlgorithms)
        } catch {
            throw ConfigurationError(problems: ["auth.token: the signing keys cannot be used: \(error)"])
        }
        let mode = AccessControl.Mode.token(realm: settings.realm, service: settings.service, verifier: verifier)
        return (AccessControl(mode: mode, rules: config.auth.rules, logger: logger), nil)
    case .tokenService(let settings):
        let key = try readSetting(settings.signingKey, key: "auth.tokenservice.signingkey")
        let issuer: TokenIssuer
        do {
            issuer = try await TokenIssuer(issuer: settings.issuer, service: settings.service, signingKeyPEM: key,
                                           expiration: settings.expiration, refreshExpiration: settings.refreshExpiration)
        } catch {
            throw ConfigurationError(problems: ["auth.tokenservice.signingkey \(settings.signingKey) cannot be used: \(error)"])
        }
        let users = try openHtpasswd(settings.htpasswd, key: "auth.tokenservice.htpasswd", logger: logger)
        let realm = settings.realm ?? ""
        let service = TokenService(issuer: issuer, users: users, rules: config.auth.rules, service: settings.service,
                                   realm: realm, allowAnonymous: settings.anonymous)
        let mode = AccessControl.Mode.token(realm: realm, service: settings.service, verifier: issuer.verifier)
        return (AccessControl(mode: mode, rules: config.auth.rules, logger: logger), service)
    }
}

private func openHtpasswd(_ path: String, key: String, logger: Logger) throws -> HtpasswdFile {
    let file: HtpasswdFile
    do { file = try HtpasswdFile(path: path) } catch {
        throw ConfigurationError(problems: ["\(key): \(error)"])
    }
    if file.users.isEmpty {
        logger.warning("the htpasswd file has no users: every request will be refused until users are added",
                       metadata: ["path": "\(path)"])
    }
    return file
}

private func readSetting(_ path: String, key: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
        throw ConfigurationError(problems: ["\(key) \(path) cannot be read: \(error.localizedDescription)"])
    }
}

func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    let cwd = FileManager.default.currentDirectoryPath
    var rel = path
    while rel.hasPrefix("./") { rel.removeFirst(2) }
    return rel.isEmpty || rel == "." ? cwd : cwd + "/" + rel
}
