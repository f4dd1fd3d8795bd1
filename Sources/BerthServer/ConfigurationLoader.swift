import Foundation
import Logging
import Yams

/// A configuration Berth cannot run with; every problem found is listed.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var problems: [String]
    public var description: String {
        "invalid configuration:\n" + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Reads the reference registry's `config.yml` format, applies `REGISTRY_*` environment
/// overrides and command-line flags (flags win over environment, environment over file), and
/// checks every key: unknown keys are warnings, keys Berth cannot honour yet and invalid values
/// are errors.
public struct ConfigurationLoader {
    public struct Loaded: Sendable {
        public var configuration: BerthConfiguration
        public var warnings: [String]
    }

    /// Command-line flags that override file and environment.
    public struct Flags: Sendable {
        public var addr: String?
        public var root: String?
        public init(addr: String? = nil, root: String? = nil) {
            self.addr = addr
            self.root = root
        }
    }

    public static func load(file: String?, environment: [String: String], flags: Flags = .init()) throws -> Loaded {
        var text = ""
        if let file {
            do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ConfigurationError(problems: ["cannot read configuration file \(file): \(error.localizedDescription)"])
            }
        }
        return try load(yaml: text, source: file ?? "(defaults)", environment: environment, flags: flags)
    }

    public static func load(yaml: String, source: String = "config", environment: [String: String],
                            flags: Flags = .init()) throws -> Loaded {
        var loader = ConfigurationLoader()
        loader.environment = environment
        var tree: [String: Any] = [:]
        if !yaml.trimmingCharacters(in: " \n\t\r").isEmpty {
            let parsed: Any?
            do { parsed = try Self.loadYAML(yaml) } catch let error as YAMLNotUsable {
                throw ConfigurationError(problems: ["\(source) is not usable: \(error)"])
            } catch {
                throw ConfigurationError(problems: ["\(source) is not valid YAML: \(error)"])
            }
            guard let dict = parsed as? [String: Any] else {
                throw ConfigurationError(problems: ["\(source) must be a YAML mapping of sections (version, log, http, storage, ...)"])
            }
            tree = dict
        }
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix("REGISTRY_") {
            let path = name.dropFirst("REGISTRY_".count).lowercased().split(separator: "_").map(String.init)
            guard !path.isEmpty else { continue }
            let parsed: Any
            do { parsed = try Self.loadYAML(value) ?? value } catch let error as YAMLNotUsable {
                loader.problems.append("\(name) is not usable: \(error)")
                continue
            } catch {
                parsed = value  // not YAML: the plain string
            }
            Self.set(&tree, path, parsed)
        }
        if let addr = flags.addr { Self.set(&tree, ["http", "addr"], addr) }
        if let root = flags.root { Self.set(&tree, ["storage", "filesystem", "rootdirectory"], root) }

        loader.check(tree, path: [])
        let configuration = loader.build(tree)
        if !loader.problems.isEmpty { throw ConfigurationError(problems: loader.problems) }
        return Loaded(configuration: configuration, warnings: loader.warnings)
    }

    // MARK: - Key table

    package enum Kind {
        case section
        case value
        /// A mapping whose keys are free (headers, log fields).
        case map
        case unsupported(String)
        case ignored(String)
    }

    package static let keys: [String: Kind] = [
        "version": .value,
        "log": .section, "log.level": .value, "log.formatter": .value, "log.fields": .map,
        "log.accesslog": .section, "log.accesslog.disabled": .value,
        "log.hooks": .unsupported("log hooks (e-mail alerts) are not supported"),
        "loglevel": .ignored("the top-level loglevel is deprecated; use log.level"),
        "http": .section, "http.addr": .value, "http.net": .value, "http.secret": .value, "http.headers": .map,
        "http.host": .ignored("Berth returns relative Location URLs, so http.host is not needed"),
        "http.relativeurls": .ignored("Berth always returns relative Location URLs"),
        "http.prefix": .value, "http.draintimeout": .value,
        "http.timeouts": .section, "http.timeouts.header": .value, "http.timeouts.body": .value,
        "http.timeouts.write": .value, "http.timeouts.idle": .value, "http.maxconnections": .value,
        "http.http2": .ignored("HTTP/2 is offered by ALPN whenever TLS is on; http.http2 settings have no effect"),
        "http.tls": .section, "http.tls.certificate": .value, "http.tls.key": .value, "http.tls.clientcas": .value,
        "http.tls.minimumtls": .value,
        "http.tls.ciphersuites": .ignored("Berth uses the TLS library's secure default cipher suites"),
        "http.tls.letsencrypt": .unsupported("Let's Encrypt (http.tls.letsencrypt) is not supported; give http.tls.certificate and key"),
        "http.ratelimit": .section, "http.ratelimit.requestspersecond": .value, "http.ratelimit.burst": .value,
        "http.ratelimit.bytespersecond": .value,
        "http.debug": .section, "http.debug.addr": .value,
        "http.debug.prometheus": .section, "http.debug.prometheus.enabled": .value, "http.debug.prometheus.path": .value,
        "storage": .section,
        "storage.filesystem": .section, "storage.filesystem.rootdirectory": .value, "storage.filesystem.directwrites": .value,
        "storage.filesystem.maxthreads": .ignored("Berth sizes its I/O thread pool itself"),
        "storage.delete": .section, "storage.delete.enabled": .value,
        "storage.maintenance": .section,
        "storage.maintenance.uploadpurging": .section,
        "storage.maintenance.uploadpurging.enabled": .value, "storage.maintenance.uploadpurging.age": .value,
        "storage.maintenance.uploadpurging.interval": .value, "storage.maintenance.uploadpurging.dryrun": .value,
        "storage.maintenance.readonly": .section, "storage.maintenance.readonly.enabled": .value,
        "storage.gc": .section, "storage.gc.interval": .value, "storage.gc.deleteuntagged": .value,
        "storage.gc.graceperiod": .value, "storage.gc.dryrun": .value,
        "storage.scrub": .section, "storage.scrub.interval": .value, "storage.scrub.ratelimit": .value,
        "storage.cache": .section, "storage.cache.blobdescriptor": .value,
        "storage.cache.blobdescriptorsize": .ignored("Berth sizes its in-memory caches itself"),
        "storage.redirect": .section, "storage.redirect.disable": .value,
        "storage.tag": .ignored("storage.tag settings have no effect in Berth"),
        "storage.azure": .unsupported("the azure storage driver is not supported; use storage.filesystem or storage.s3 (most object stores speak S3)"),
        "storage.gcs": .unsupported("the gcs storage driver is not supported; use storage.filesystem or storage.s3 (most object stores speak S3)"),
        "storage.swift": .unsupported("the swift storage driver is not supported; use storage.filesystem or storage.s3 (most object stores speak S3)"),
        "storage.oss": .unsupported("the oss storage driver is not supported; use storage.filesystem or storage.s3 (most object stores speak S3)"),
        "storage.inmemory": .section,
        "auth": .section,
        "auth.htpasswd": .section, "auth.htpasswd.realm": .value, "auth.htpasswd.path": .value,
        "auth.token": .section, "auth.token.realm": .value, "auth.token.service": .value, "auth.token.issuer": .value,
        "auth.token.rootcertbundle": .value, "auth.token.jwks": .value, "auth.token.signingalgorithms": .value,
        "auth.token.autoredirect": .ignored("auth.token.autoredirect has no effect in Berth"),
        "auth.tokenservice": .section, "auth.tokenservice.realm": .value, "auth.tokenservice.service": .value,
        "auth.tokenservice.issuer": .value, "auth.tokenservice.signingkey": .value, "auth.tokenservice.htpasswd": .value,
        "auth.tokenservice.expiration": .value, "auth.tokenservice.refreshexpiration": .value,
        "auth.tokenservice.anonymous": .value,
        "auth.groups": .map,
        "auth.silly": .unsupported("silly auth is a test mode of the reference registry; use auth.htpasswd or auth.tokenservice"),
        "access": .value,
        "immutability": .value,
        "quotas": .value,
        // Checked key by key in ConfigurationLoader+Network.swift, where unknown keys are errors.
        "network": .map,
        "notifications": .section, "notifications.endpoints": .value,
        "notifications.events": .section, "notifications.events.includereferences": .value,
        "redis": .section, "redis.addr": .value, "redis.addrs": .value, "redis.password": .value, "redis.db": .value,
        "redis.dialtimeout": .value, "redis.readtimeout": .value,
        "redis.writetimeout": .ignored("Berth bounds each Redis command by redis.readtimeout"),
        "redis.pool": .ignored("Berth pipelines its Redis commands over one connection; redis.pool has no effect"),
        "redis.tls": .unsupported("TLS to Redis is not supported; reach Redis over a private network"),
        "middleware": .unsupported("middleware (e.g. CloudFront redirects) is not supported by Berth"),
        "health": .section,
        "health.storagedriver": .section, "health.storagedriver.enabled": .value,
        "health.storagedriver.interval": .value, "health.storagedriver.threshold": .value,
        "health.file": .ignored("file health checks (health.file) are not supported; only health.storagedriver is"),
        "health.http": .ignored("HTTP health checks (health.http) are not supported; only health.storagedriver is"),
        "health.tcp": .ignored("TCP health checks (health.tcp) are not supported; only health.storagedriver is"),
        "validation": .section,
        "validation.disabled": .ignored("Berth always validates manifests; validation.disabled has no effect"),
        "validation.enabled": .ignored("Berth always validates manifests; validation.enabled has no effect"),
        "validation.manifests": .section,
        "validation.manifests.urls": .ignored("Berth does not restrict the urls of non-distributable layers; the setting has no effect"),
        "validation.manifests.indexes": .section,
        "validation.manifests.indexes.platforms": .value,
        "validation.manifests.indexes.platformlist": .value,
        "validation.manifests.layers": .value,
        "compatibility": .ignored("compatibility settings have no effect: Berth does not serve schema1 manifests"),
        "retention": .section, "retention.interval": .value, "retention.dryrun": .value, "retention.policies": .value,
        "reporting": .ignored("reporting (bugsnag, newrelic) is not supported; the settings have no effect"),
        "catalog": .ignored("catalog settings have no effect in this version"),
        "ui": .section, "ui.enabled": .value,
    ]

    var problems: [String] = []
    var warnings: [String] = []
    /// The process environment (`storage.s3` falls back to the AWS credential variables).
    var environment: [String: String] = [:]

    mutating func check(_ node: [String: Any], path: [String]) {
        for key in node.keys.sorted() {
            let full = (path + [key.lowercased()]).joined(separator: ".")
            let value = node[key]!
            switch Self.keys[full] ?? Self.s3Keys[full] ?? Self.proxyKeys[full] ?? Self.replicationKeys[full] {
            case nil:
                warnings.append("unknown configuration key \(full) is ignored")
            case .section?:
                if let dict = value as? [String: Any] { check(dict, path: path + [key.lowercased()]) }
                else if full == "storage", let driver = value as? String {
                    if !["filesystem", "inmemory"].contains(driver) {
                        problems.append("storage driver \(driver) is not supported; use storage.filesystem, storage.inmemory or storage.s3")
                    }
                } else if !(value is NSNull) {
                    problems.append("\(full) must be a mapping of settings")
                }
            case .value?, .map?:
                break
            case .unsupported(let why)?:
                problems.append("\(full): \(why)")
            case .ignored(let why)?:
                warnings.append("\(full): \(why)")
            }
        }
    }

    // MARK: - Typed values

    mutating func build(_ tree: [String: Any]) -> BerthConfiguration {
        var c = BerthConfiguration()
        if let v = string(tree, "version") {
            if v != "0.1" { problems.append("version must be 0.1 (the reference registry's configuration format), not \(v)") }
            c.version = v
        }
        if let v = string(tree, "log.level") {
            if let level = Logger.Level(configName: v) { c.logLevel = level }
            else { problems.append("log.level \(v) is not one of error, warn, info, debug") }
        }
        if let v = string(tree, "log.formatter") {
            if let formatter = BerthConfiguration.LogFormatter(rawValue: v.lowercased()) { c.logFormatter = formatter }
            else { problems.append("log.formatter \(v) is not one of text, json") }
        }
        if let v = bool(tree, "log.accesslog.disabled") { c.accessLogDisabled = v }
        if let fields = lookup(tree, "log.fields") {
            if let dict = fields as? [String: Any] {
                for (k, v) in dict { c.logFields[k] = Self.scalarString(v) ?? "\(v)" }
            } else { problems.append("log.fields must be a mapping of names to values") }
        }
        if let v = string(tree, "http.net"), v != "tcp" {
            problems.append("http.net \(v) is not supported; Berth listens on tcp")
        }
        if let v = string(tree, "http.addr") {
            if let address = ListenAddress(parsing: v) { c.httpAddress = address }
            else { problems.append("http.addr \(v) is not a listen address like :5000, 127.0.0.1:5000 or [::1]:5000") }
        }
        if let v = string(tree, "http.prefix"), !v.isEmpty, v != "/" {
            problems.append("http.prefix \(v) is not supported yet; serve Berth at the root path")
        }
        if let v = string(tree, "http.draintimeout") {
            if let d = GoDuration.parse(v), d >= .zero { c.drainTimeout = d }
            else { problems.append("http.draintimeout \(v) is not a duration like 60s") }
        }
        if let v = string(tree, "http.secret"), !v.isEmpty { c.httpSecret = v }
        if let headers = lookup(tree, "http.headers") {
            if let dict = headers as? [String: Any] {
                for name in dict.keys.sorted() {
                    let values: [String]
                    if let list = dict[name] as? [Any] { values = list.compactMap(Self.scalarString) }
                    else if let single = Self.scalarString(dict[name]!) { values = [single] }
                    else { problems.append("http.headers.\(name) must be a value or a list of values"); continue }
                    guard Self.isToken(name) else { problems.append("http.headers: \(name) is not a valid header name"); continue }
                    for v in values { c.httpHeaders.append(.init(name: name, value: v)) }
                }
            } else { problems.append("http.headers must map header names to lists of values") }
        }
        if let storage = lookup(tree, "storage") as? [String: Any], storage["filesystem"] != nil {
            c.rootDirectory = "/var/lib/registry"  // the reference registry's default for this driver
        }
        if let v = string(tree, "storage.filesystem.rootdirectory") {
            if v.isEmpty { problems.append("storage.filesystem.rootdirectory must not be empty") } else { c.rootDirectory = v }
        }
        if let v = bool(tree, "storage.delete.enabled") { c.deleteEnabled = v }
        switch string(tree, "validation.manifests.indexes.platforms")?.lowercased() {
        case nil, "all"?: break
        case "none"?: c.manifestValidation.requireIndexChildren = false
        case let other?:
            problems.append("validation.manifests.indexes.platforms \(other) is not supported; use all (every child manifest must be pushed first) or none (sparse indexes)")
        }
        switch string(tree, "validation.manifests.layers")?.lowercased() {
        case nil, "all"?: break
        case "none"?: c.manifestValidation.requireLayers = false
        case let other?:
            problems.append("validation.manifests.layers \(other) is not one of all (every layer must be pushed first) or none (sparse images)")
        }
        if let v = bool(tree, "storage.maintenance.readonly.enabled") { c.readOnly = v }
        if let v = bool(tree, "ui.enabled") { c.uiEnabled = v }
        buildSecurity(tree, &c)
        buildNetwork(tree, &c)
        buildDebug(tree, &c)
        buildNotifications(tree, &c)
        buildGarbageCollection(tree, &c)
        buildConnectionLimits(tree, &c)
        buildStorage(tree, &c)
        buildProxy(tree, &c)
        buildReplication(tree, &c)
        buildScrub(tree, &c)
        buildRetention(tree, &c)
        buildPolicies(tree, &c)
        if let v = bool(tree, "storage.maintenance.uploadpurging.enabled") { c.uploadPurging.enabled = v }
        if let v = bool(tree, "storage.maintenance.uploadpurging.dryrun") { c.uploadPurging.dryRun = v }
        if let v = duration(tree, "storage.maintenance.uploadpurging.age") { c.uploadPurging.age = v }
        if let v = duration(tree, "storage.maintenance.uploadpurging.interval") {
            if v < .seconds(1) { problems.append("storage.maintenance.uploadpurging.interval must be at least 1s") }
            else { c.uploadPurging.interval = v }
        }
        return c
    }

    func lookup(_ tree: [String: Any], _ key: String) -> Any? {
        var node: Any = tree
        for part in key.split(separator: ".") {
            guard let dict = node as? [String: Any],
                  let next = dict.first(where: { $0.key.lowercased() == part })?.value else { return nil }
            node = next
        }
        return node is NSNull ? nil : node
    }

    mutating func string(_ tree: [String: Any], _ key: String) -> String? {
        guard let v = lookup(tree, key) else { return nil }
        guard let s = Self.scalarString(v) else {
            problems.append("\(key) must be a single value")
            return nil
        }
        return s
    }

    /// `label` names the key in the problem when `tree` is a nested mapping (a list entry).
    mutating func bool(_ tree: [String: Any], _ key: String, label: String? = nil) -> Bool? {
        guard let v = lookup(tree, key) else { return nil }
        if let b = v as? Bool { return b }
        switch Self.scalarString(v)?.lowercased() {
        case "true"?, "yes"?, "on"?, "1"?: return true
        case "false"?, "no"?, "off"?, "0"?: return false
        default:
            problems.append("\(label ?? key) must be true or false, not \(Self.scalarString(v) ?? "a structure")")
            return nil
        }
    }

    mutating func duration(_ tree: [String: Any], _ key: String) -> Duration? {
        guard let s = string(tree, key) else { return nil }
        guard let d = GoDuration.parse(s) else {
            problems.append("\(key) \(s) is not a duration like 168h, 30m or 10s")
            return nil
        }
        return d
    }

    static func scalarString(_ v: Any) -> String? {
        switch v {
        case let s as String: s
        case let b as Bool: b ? "true" : "false"
        case let i as Int: String(i)
        case let d as Double: String(d)
        default: nil
        }
    }

    static func isToken(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }

    static func set(_ tree: inout [String: Any], _ path: [String], _ value: Any) {
        guard let first = path.first else { return }
        let existingKey = tree.keys.first { $0.lowercased() == first } ?? first
        if path.count == 1 {
            tree[existingKey] = value
            return
        }
        var child = tree[existingKey] as? [String: Any] ?? [:]
        set(&child, Array(path.dropFirst()), value)
        tree[existingKey] = child
    }
}
