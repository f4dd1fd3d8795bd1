import BerthRedis
import BerthS3
import BerthStorage

/// `storage.filesystem`, `storage.inmemory` or `storage.s3`: which driver holds the registry's
/// content; `storage.redirect.disable` (as in the reference registry) stops the S3 driver's
/// 307 redirects of blob GETs to presigned URLs.
///
///     storage:
///       s3:
///         bucket: registry
///         region: us-east-1
///         regionendpoint: http://minio:9000   # any S3-compatible server
///         forcepathstyle: true
///         accesskey: ...                      # or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
///         secretkey: ...
///         rootdirectory: /registry
///         chunksize: 10485760                 # multipart part size, at least 5 MiB
///       redirect:
///         disable: false                      # default: pulls are redirected to presigned URLs
public enum StorageBackend: Sendable, Equatable {
    case filesystem
    case inmemory
    case s3(S3Configuration)

    var name: String {
        switch self {
        case .filesystem: "filesystem"
        case .inmemory: "inmemory"
        case .s3: "s3"
        }
    }
}

extension ConfigurationLoader {
    /// The keys of `storage.s3` that configure the driver, and those accepted but without effect.
    static let s3Keys: [String: Kind] = {
        var keys: [String: Kind] = ["storage.s3": .section]
        for name in ["bucket", "region", "regionendpoint", "accesskey", "secretkey", "sessiontoken", "forcepathstyle",
                     "rootdirectory", "chunksize", "secure", "skipverify"] {
            keys["storage.s3." + name] = .value
        }
        for name in ["encrypt", "keyid", "v4auth", "storageclass", "objectacl", "useragent", "usedualstack", "accelerate",
                     "loglevel", "multipartcopychunksize", "multipartcopymaxconcurrency", "multipartcopythresholdsize",
                     "maxrequestspersecond", "maxretries", "checksumdisabled", "checksumalgorithm"] {
            keys["storage.s3." + name] = .ignored("Berth does not use storage.s3.\(name)")
        }
        return keys
    }()

    mutating func buildStorage(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        if let name = lookup(tree, "storage") as? String {
            if name.lowercased() == "inmemory" { c.storageBackend = .inmemory }
            return
        }
        let storage = lookup(tree, "storage") as? [String: Any] ?? [:]
        let drivers = ["filesystem", "inmemory", "s3"].filter { name in storage.keys.contains { $0.lowercased() == name } }
        if drivers.count > 1 {
            problems.append("storage configures \(drivers.joined(separator: " and ")); configure exactly one storage driver")
            return
        }
        switch drivers.first {
        case "inmemory"?:
            c.storageBackend = .inmemory
        case "s3"?:
            var options: [String: String] = [:]
            for (name, value) in (lookup(tree, "storage.s3") as? [String: Any]) ?? [:] {
                guard case .value? = Self.s3Keys["storage.s3." + name.lowercased()] else { continue }  // ignored keys warned of already
                guard let text = Self.scalarString(value) else {
                    problems.append("storage.s3.\(name.lowercased()) must be a single value")
                    continue
                }
                options[name.lowercased()] = text
            }
            do {
                c.storageBackend = .s3(try S3Configuration.parse(options, environment: environment))
            } catch {
                problems.append(error.description)
            }
        default:
            c.storageBackend = .filesystem
            if let text = string(tree, "storage.filesystem.directwrites") {
                if ["off", "false", "no"].contains(text.lowercased()) {
                    c.directWriteThreshold = nil
                } else if let size = StorageQuotas.parseSize(text) {
                    c.directWriteThreshold = size
                } else {
                    problems.append("storage.filesystem.directwrites must be a size (32MiB, the default, or 0 for every upload) or off, not \(text)")
                }
            }
        }
        if let disable = bool(tree, "storage.redirect.disable") { c.storageRedirect = !disable }
        buildRedis(tree, &c)
    }

    /// `storage.cache.blobdescriptor: redis` with a `redis` section: the blob descriptor cache
    /// the nodes share (BerthRedis).
    mutating func buildRedis(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        var addresses: [String] = []
        if let list = lookup(tree, "redis.addrs") {
            if let items = list as? [Any] { addresses = items.compactMap(Self.scalarString) }
            else if let one = Self.scalarString(list) { addresses = one.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        }
        if addresses.isEmpty, let one = string(tree, "redis.addr") { addresses = [one] }
        var settings = RedisSettings(addresses: addresses)
        settings.password = string(tree, "redis.password")
        if let db = string(tree, "redis.db") {
            if let n = Int(db), n >= 0 { settings.db = n } else { problems.append("redis.db must be a database number (0, 1, ...), not \(db)") }
        }
        if let d = duration(tree, "redis.dialtimeout") { settings.dialTimeout = d }
        if let d = duration(tree, "redis.readtimeout") { settings.readTimeout = d }
        for address in addresses where !address.contains(":") {
            problems.append("redis address \(address) must be host:port, e.g. redis.internal:6379")
        }
        switch string(tree, "storage.cache.blobdescriptor")?.lowercased() {
        case "redis"?:
            if addresses.isEmpty {
                problems.append("storage.cache.blobdescriptor is redis but no Redis is configured; set redis.addr (host:port)")
            } else {
                c.redis = settings
            }
        case "inmemory"?:
            warnings.append("storage.cache.blobdescriptor: inmemory: Berth always keeps its own bounded in-memory caches; this setting changes nothing")
        case nil:
            if !addresses.isEmpty {
                warnings.append("redis is configured but storage.cache.blobdescriptor is not redis; Redis is not used")
            }
        case let other?:
            problems.append("storage.cache.blobdescriptor must be redis or inmemory, not \(other)")
        }
    }
}

extension BerthConfiguration {
    /// Where the content lives, for logs: a local directory or an `s3://bucket/prefix` URL.
    var storageLocation: String {
        switch storageBackend {
        case .filesystem: absolutePath(rootDirectory)
        case .inmemory: "(memory)"
        case .s3(let s3): "s3://\(s3.bucket)" + (s3.rootDirectory.isEmpty ? "" : "/" + s3.rootDirectory)
        }
    }

    /// The storage lines of `berth config` (secrets masked).
    func storageDescription() -> [String] {
        var lines: [String]
        switch storageBackend {
        case .filesystem:
            lines = ["storage.filesystem.rootdirectory: \(rootDirectory)",
                     "storage.filesystem.directwrites: " + (directWriteThreshold.map { "\($0) bytes" } ?? "off")]
        case .inmemory: lines = ["storage.inmemory: (content is lost when the process ends)"]
        case .s3(let s3):
            lines = [
                "storage.s3.bucket: \(s3.bucket)", "storage.s3.region: \(s3.region)",
                "storage.s3.regionendpoint: \(s3.endpoint.scheme)://\(s3.endpoint.authority)",
                "storage.s3.forcepathstyle: \(s3.forcePathStyle)", "storage.s3.rootdirectory: /\(s3.rootDirectory)",
                "storage.s3.chunksize: \(s3.chunkSize)", "storage.s3.skipverify: \(s3.skipVerify)",
                "storage.s3.accesskey: \(s3.credentials.accessKey.isEmpty ? "(none)" : "********")",
            ]
            lines.append("storage.redirect.disable: \(!storageRedirect)")
        }
        if let redis {
            lines += [
                "storage.cache.blobdescriptor: redis",
                "redis.addrs: \(redis.addresses.joined(separator: ", "))", "redis.db: \(redis.db)",
                "redis.password: \(redis.password == nil ? "(none)" : "********")",
            ]
        }
        return lines
    }
}
