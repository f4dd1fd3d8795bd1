// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "Berth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "berth", targets: ["berth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Webhook notification delivery (Notifications/).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Web UI templates (BerthUI).
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
    ],
    targets: [
        // Pure OCI model: digests, names, references, media types, manifests, error codes.
        .target(
            name: "BerthCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // Storage driver protocol, on-disk layout and the blob/manifest/tag/upload stores.
        .target(
            name: "BerthStorage",
            dependencies: [
                "BerthCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Linux calls Swift's Glibc module lacks (writeback hints, malloc arenas).
        .target(name: "CBerthSystem"),
        // Local filesystem storage driver.
        .target(
            name: "BerthFilesystem",
            dependencies: [
                "BerthStorage",
                "CBerthSystem",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "_NIOFileSystem", package: "swift-nio"),
            ]
        ),
        // Authentication (htpasswd, bearer tokens) and access rules.
        .target(
            name: "BerthAuth",
            dependencies: [
                "BerthCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // OCI Distribution HTTP API on Hummingbird.
        .target(
            name: "BerthAPI",
            dependencies: [
                "BerthCore",
                "BerthStorage",
                "BerthAuth",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The web UI at /ui/ and its small JSON API: server-rendered Mustache pages over the indexes.
        .target(
            name: "BerthUI",
            dependencies: [
                "BerthCore",
                "BerthStorage",
                "BerthAuth",
                "BerthAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // S3 storage driver and the S3 client under it: SigV4 signing, retries, multipart, listing, presigning.
        .target(
            name: "BerthS3",
            dependencies: [
                "BerthStorage",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The checks every storage driver's tests run (filesystem, in-memory, S3).
        .target(
            name: "BerthStorageConformance",
            dependencies: ["BerthCore", "BerthStorage", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // A small Redis client and the shared blob descriptor cache on it (storage.cache.blobdescriptor: redis).
        .target(
            name: "BerthRedis",
            dependencies: [
                "BerthCore", "BerthStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The pull-through cache: an upstream registry client (basic and bearer-token auth) and the cache (proxy).
        .target(
            name: "BerthProxy",
            dependencies: [
                "BerthCore", "BerthStorage", "BerthAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Copying images between registries (berth copy) and replication rules (replication, berth sync).
        .target(
            name: "BerthReplication",
            dependencies: [
                "BerthCore", "BerthStorage", "BerthProxy",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Typed configuration and application assembly.
        .target(
            name: "BerthServer",
            dependencies: [
                "BerthCore",
                "BerthStorage",
                "BerthFilesystem",
                "BerthS3",
                "BerthRedis",
                "BerthProxy",
                "BerthReplication",
                "BerthAPI",
                "BerthAuth",
                "BerthUI",
                "CBerthSystem",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                // HTTPS: HTTP/2 by ALPN (TLSChannel.swift).
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                // Metrics and the debug server (Metrics.swift, DebugServer.swift).
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // The thin `berth` command line.
        .executableTarget(
            name: "berth",
            dependencies: [
                "BerthServer",
                "BerthStorage",
                "BerthAuth",
                "BerthCore",
                "BerthProxy",
                "BerthReplication",
                "CBerthSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Micro-benchmarks of the hot paths (not run by the tests).
        .executableTarget(
            name: "berth-bench",
            dependencies: [
                "BerthCore", "BerthStorage", "BerthFilesystem", "BerthUI",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Fuzz targets for the parsers (route, digest, names, ranges, manifests, configuration) and
        // the mutation engine that runs them in the tests; `berth-fuzz` gives them to libFuzzer (scripts/fuzz).
        .target(name: "BerthFuzzing", dependencies: ["BerthCore", "BerthAPI", "BerthServer"]),
        .executableTarget(name: "berth-fuzz", dependencies: ["BerthFuzzing"]),
        .testTarget(name: "BerthFuzzTests", dependencies: ["BerthFuzzing"]),
        .testTarget(name: "BerthCoreTests", dependencies: ["BerthCore"]),
        .testTarget(
            name: "BerthAuthTests",
            dependencies: [
                "BerthAuth",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "BerthStorageTests", dependencies: ["BerthStorage", "BerthFilesystem", "BerthStorageConformance", "CBerthSystem"]),
        .testTarget(
            name: "BerthAPITests",
            dependencies: [
                "BerthAPI", "BerthServer", "BerthAuth",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "BerthS3Tests",
            dependencies: [
                "BerthS3", "BerthStorageConformance",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "BerthServerTests", dependencies: ["BerthServer", "BerthAuth"]),
        .testTarget(name: "BerthUITests", dependencies: ["BerthUI"]),
        .testTarget(
            name: "BerthRedisTests",
            dependencies: ["BerthRedis", "BerthStorage", "BerthStorageConformance", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "BerthIntegrationTests",
            dependencies: [
                "BerthServer",
                // The GC soak test runs a last collection and reads storage itself.
                "BerthCore", "BerthStorage", "BerthFilesystem",
                // The multi-node tests create their bucket on moto.
                "BerthS3",
                "BerthProxy",
                "BerthReplication",
                .product(name: "Crypto", package: "swift-crypto"),
                // Run the application in-process (a ServiceGroup, shut down gracefully) and read its bound port.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ]
)
