@testable import BerthServer
import Foundation
import XCTest

final class ConfigurationLoaderTests: XCTestCase {
    func load(_ yaml: String, env: [String: String] = [:], flags: ConfigurationLoader.Flags = .init()) throws -> ConfigurationLoader.Loaded {
        try ConfigurationLoader.load(yaml: yaml, environment: env, flags: flags)
    }

    func problems(_ yaml: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try load(yaml, env: env)
            return []
        } catch let error as ConfigurationError {
            return error.problems
        } catch {
            return ["unexpected \(error)"]
        }
    }

    func testDefaultsWithoutAFile() throws {
        let c = try load("").configuration
        XCTAssertEqual(c.httpAddress, ListenAddress(host: "0.0.0.0", port: 5000))
        XCTAssertEqual(c.rootDirectory, "./data")
        XCTAssertFalse(c.deleteEnabled)
        XCTAssertTrue(c.uploadPurging.enabled)
        XCTAssertEqual(c.uploadPurging.age, .seconds(168 * 3600))
        XCTAssertNil(c.httpSecret)
    }

    func testReferenceStyleFile() throws {
        let yaml = """
            version: 0.1
            log:
              level: debug
              fields:
                service: registry
            storage:
              cache:
                blobdescriptor: inmemory
              filesystem:
                rootdirectory: /srv/registry
              delete:
                enabled: true
              maintenance:
                uploadpurging:
                  enabled: true
                  age: 2h
                  interval: 30m
                  dryrun: true
            http:
              addr: :5001
              secret: s3cret
              headers:
                X-Content-Type-Options: [nosniff]
            health:
              storagedriver:
                enabled: true
            """
        let loaded = try load(yaml)
        let c = loaded.configuration
        XCTAssertEqual(c.logLevel, .debug)
        XCTAssertEqual(c.logFields, ["service": "registry"])
        XCTAssertEqual(c.rootDirectory, "/srv/registry")
        XCTAssertTrue(c.deleteEnabled)
        XCTAssertEqual(c.uploadPurging.age, .seconds(7200))
        XCTAssertEqual(c.uploadPurging.interval, .seconds(1800))
        XCTAssertTrue(c.uploadPurging.dryRun)
        XCTAssertEqual(c.httpAddress, ListenAddress(host: "0.0.0.0", port: 5001))
        XCTAssertEqual(c.httpSecret, "s3cret")
        XCTAssertEqual(c.httpHeaders, [.init(name: "X-Content-Type-Options", value: "nosniff")])
        XCTAssertTrue(loaded.warnings.contains { $0.hasPrefix("storage.cache") })
        XCTAssertTrue(loaded.warnings.contains { $0.hasPrefix("health") })
        // Secrets are masked when the settings are printed.
        XCTAssertFalse(c.describe().joined().contains("s3cret"))
        XCTAssertTrue(c.describe().contains("http.secret: ********"))
    }

    func testPrecedenceFlagsOverEnvironmentOverFile() throws {
        let yaml = "version: 0.1\nhttp:\n  addr: :1111\nstorage:\n  filesystem:\n    rootdirectory: /file\n"
        let env = ["REGISTRY_HTTP_ADDR": "127.0.0.1:2222", "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": "/env",
                   "REGISTRY_STORAGE_DELETE_ENABLED": "true", "REGISTRY_LOG_LEVEL": "warn"]
        let fromEnv = try load(yaml, env: env).configuration
        XCTAssertEqual(fromEnv.httpAddress, ListenAddress(host: "127.0.0.1", port: 2222))
        XCTAssertEqual(fromEnv.rootDirectory, "/env")
        XCTAssertTrue(fromEnv.deleteEnabled)
        XCTAssertEqual(fromEnv.logLevel, .warning)
        let fromFlags = try load(yaml, env: env, flags: .init(addr: "[::1]:3333", root: "/flag")).configuration
        XCTAssertEqual(fromFlags.httpAddress, ListenAddress(host: "::1", port: 3333))
        XCTAssertEqual(fromFlags.rootDirectory, "/flag")
        let fromFile = try load(yaml).configuration
        XCTAssertEqual(fromFile.httpAddress.port, 1111)
        XCTAssertEqual(fromFile.rootDirectory, "/file")
    }

    func testUnknownKeysWarn() throws {
        let loaded = try load("version: 0.1\nhttp:\n  addr: :5000\n  colour: blue\nfrobnicate: 1\n")
        XCTAssertTrue(loaded.warnings.contains("unknown configuration key http.colour is ignored"))
        XCTAssertTrue(loaded.warnings.contains("unknown configuration key frobnicate is ignored"))
    }

    func testKeysBerthCannotHonourAreErrors() {
        XCTAssertTrue(problems("storage:\n  s3:\n    bucket: b\n").contains { $0.hasPrefix("storage.s3:") })
        XCTAssertTrue(problems("auth:\n  htpasswd:\n    realm: r\n    path: /p\n").contains { $0.hasPrefix("auth:") })
        XCTAssertTrue(problems("http:\n  tls:\n    certificate: /c\n").contains { $0.hasPrefix("http.tls:") })
        XCTAssertFalse(problems("", env: ["REGISTRY_STORAGE": "s3"]).isEmpty)
        XCTAssertFalse(problems("", env: ["REGISTRY_AUTH_HTPASSWD_PATH": "/x"]).isEmpty)
    }

    func testInvalidValuesAreErrors() {
        XCTAssertEqual(problems("version: 0.2\n").count, 1)
        XCTAssertEqual(problems("http:\n  addr: nonsense\n").count, 1)
        XCTAssertEqual(problems("http:\n  addr: :99999\n").count, 1)
        XCTAssertEqual(problems("log:\n  level: loud\n").count, 1)
        XCTAssertEqual(problems("storage:\n  delete:\n    enabled: maybe\n").count, 1)
        XCTAssertEqual(problems("storage:\n  maintenance:\n    uploadpurging:\n      age: soon\n").count, 1)
        XCTAssertEqual(problems("storage: [1, 2]\n").count, 1)
        XCTAssertEqual(problems("- just\n- a list\n").count, 1)
        XCTAssertEqual(problems("http: {addr: :5000\n").count, 1)  // not YAML
        // All problems are reported together.
        XCTAssertEqual(problems("version: 9\nlog:\n  level: loud\n").count, 2)
    }

    func testMissingFileIsAClearError() {
        XCTAssertThrowsError(try ConfigurationLoader.load(file: "/nonexistent/config.yml", environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/config.yml"))
        }
    }

    func testDebianDefaultConfigNeedsOnlyAuthRemoved() throws {
        // /etc/docker/registry/config.yml as Debian ships it, minus the auth section.
        let yaml = """
            version: 0.1
            log:
              fields:
                service: registry
            storage:
              cache:
                blobdescriptor: inmemory
              filesystem:
                rootdirectory: /var/lib/docker-registry
              delete:
                enabled: true
            http:
              addr: :5000
              headers:
                X-Content-Type-Options: [nosniff]
            health:
              storagedriver:
                enabled: true
                interval: 10s
                threshold: 3
            """
        let c = try load(yaml).configuration
        XCTAssertEqual(c.rootDirectory, "/var/lib/docker-registry")
        XCTAssertTrue(c.deleteEnabled)
    }

    func testGoDurations() {
        XCTAssertEqual(GoDuration.parse("168h"), .seconds(168 * 3600))
        XCTAssertEqual(GoDuration.parse("1h30m"), .seconds(5400))
        XCTAssertEqual(GoDuration.parse("500ms"), .milliseconds(500))
        XCTAssertEqual(GoDuration.parse("1.5s"), .milliseconds(1500))
        XCTAssertNil(GoDuration.parse("1d"))
        XCTAssertNil(GoDuration.parse(""))
    }

    func testListenAddresses() {
        XCTAssertEqual(ListenAddress(parsing: ":5000"), ListenAddress(host: "0.0.0.0", port: 5000))
        XCTAssertEqual(ListenAddress(parsing: "[::]:80"), ListenAddress(host: "::", port: 80))
        XCTAssertNil(ListenAddress(parsing: "::1:80"))
        XCTAssertNil(ListenAddress(parsing: "host"))
    }
}
