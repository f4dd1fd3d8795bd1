import AsyncHTTPClient
import BerthFilesystem
import BerthProxy
import BerthRedis
import BerthS3
import BerthStorage
import Foundation
import Logging
import Synchronization

/// The storage a configuration names, checked to be usable.
/// With `metrics`, every driver call is counted and timed (`MeteredStorageDriver`).
public func openStorage(_ config: BerthConfiguration, metrics: BerthMetrics? = nil,
                        logger: Logger = Logger(label: "berth.storage")) async throws -> RegistryStorage {
    let driver: any StorageDriver
    switch config.storageBackend {
    case .filesystem:
        let root = absolutePath(config.rootDirectory)
        let filesystem = FilesystemDriver(root: root, directWriteThreshold: config.directWriteThreshold)
        do {
            try await filesystem.prepare()
        } catch {
            throw ConfigurationError(problems: [
                "storage.filesystem.rootdirectory \(root) cannot be used: \(error). Create it or choose a writable directory.",
            ])
        }
        driver = filesystem
    case .inmemory:
        driver = InMemoryDriver()
    case .s3(let s3):
        driver = try await openS3(s3, logger: logger)
    }
    let metered: any StorageDriver = metrics.map { MeteredStorageDriver(driver, metrics: $0) } ?? driver
    let descriptors = config.redis.map { RedisBlobDescriptorCache(client: RedisClient(settings: $0, logger: logger)) }
    return RegistryStorage(driver: metered, validation: config.manifestValidation, immutability: config.immutability,
                           quotas: config.quotas, descriptors: descriptors)
}

/// S3 clients live as long as the process: storage is used until the last request drains, and the
/// connections close with the process.
private let s3Clients = Mutex<[S3Client]>([])

private func openS3(_ configuration: S3Configuration, logger: Logger) async throws -> S3Driver {
    let client = S3Client(configuration: configuration, logger: logger)
    s3Clients.withLock { $0.append(client) }
    let location = "s3://\(configuration.bucket)/\(configuration.rootDirectory) at \(configuration.endpoint.scheme)://\(configuration.endpoint.authority)"
    do {
        _ = try await client.listObjectsV2(maxKeys: 1)
    } catch let error as S3Error where error.code == "NoSuchBucket" {
        throw ConfigurationError(problems: [
            "storage.s3: bucket \(configuration.bucket) does not exist (\(location)); create it, or correct storage.s3.bucket",
        ])
    } catch let error as S3Error where error.status == 403 {
        throw ConfigurationError(problems: [
            "storage.s3: access to \(location) was refused (\(error.code): \(error.message)); check storage.s3.accesskey and secretkey (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and the bucket's policy",
        ])
    } catch {
        throw ConfigurationError(problems: [
            "storage.s3: \(location) cannot be reached: \(error); check storage.s3.regionendpoint, secure and the network",
        ])
    }
    return S3Driver(client: client, logger: logger)
}

/// The upstream HTTP client lives as long as the process, like the S3 clients.
private let upstreamClients = Mutex<[HTTPClient]>([])

/// An HTTP client for other registries (upstreams, replication remotes), kept for the process's
/// life; redirects are followed (registries often send blob downloads to object storage).
public func upstreamHTTPClient() -> HTTPClient {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 16)
    configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
    configuration.redirectConfiguration = .follow(max: 5, allowCycles: false)
    let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    upstreamClients.withLock { $0.append(client) }
    return client
}

/// The pull-through cache for `proxy`.
func makePullThroughCache(_ settings: ProxySettings, storage: RegistryStorage, logger: Logger) -> ProxyCache {
    let client = upstreamHTTPClient()
    for upstream in settings.upstreams {
        logger.info("pull-through cache", metadata: [
            "prefix": "\(upstream.prefix.isEmpty ? "(every repository)" : upstream.prefix)", "upstream": "\(upstream.remoteURL)",
            "ttl": "\(GoDuration.format(upstream.ttl))",
        ])
    }
    return ProxyCache(settings: settings, storage: storage, http: client, logger: logger)
}
