@testable import BerthServer
import BerthAuth
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
        // health.storagedriver is a real setting now (ConfigurationLoader+Debug.swift).
        XCTAssertFalse(loaded.warnings.contains { $0.hasPrefix("health") })
        XCTAssertTrue(c.observability.storageHealth.enabled)
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
        XCTAssertTrue(problems("storage:\n  azure:\n    accountname: b\n").contains { $0.hasPrefix("storage.azure:") })
        XCTAssertTrue(problems("auth:\n  silly:\n    realm: r\n").contains { $0.hasPrefix("auth.silly:") })
        XCTAssertTrue(problems("http:\n  tls:\n    certificate: /c\n").contains { $0.hasPrefix("http.tls needs both") })
        XCTAssertFalse(problems("", env: ["REGISTRY_STORAGE": "gcs"]).isEmpty)
        XCTAssertEqual(problems("", env: ["REGISTRY_AUTH_HTPASSWD_PATH": "/x"]), [])
    }

    func testSecuritySettings() throws {
        let yaml = """
            http:
              tls: { certificate: /c.pem, key: /k.pem, clientcas: [/ca.pem], minimumtls: tls1.3 }
              ratelimit: { requestspersecond: 5, burst: 10, bytespersecond: 1000000 }
            storage:
              maintenance: { readonly: { enabled: true } }
            auth:
              htpasswd: { realm: Reg, path: /etc/berth/htpasswd }
              groups: { ci: [bot] }
            access:
              - { users: [alice], groups: [ci], repositories: ["team-a/**"], actions: [pull, push] }
              - { users: [admin], actions: [catalog, "*"], repositories: ["**"] }
            """
        let c = try load(yaml).configuration
        XCTAssertEqual(c.tls?.certificate, "/c.pem")
        XCTAssertEqual(c.tls?.clientCAs, ["/ca.pem"])
        XCTAssertEqual(c.tls?.minimumVersion, .tls13)
        XCTAssertEqual(c.rateLimit.requestsPerSecond, 5)
        XCTAssertEqual(c.rateLimit.burst, 10)
        XCTAssertTrue(c.readOnly)
        XCTAssertEqual(c.auth.mode, .htpasswd(realm: "Reg", path: "/etc/berth/htpasswd"))
        XCTAssertEqual(c.auth.rules.groups, ["ci": ["bot"]])
        XCTAssertEqual(c.auth.rules.rules.count, 2)
        XCTAssertEqual(c.auth.rules.rules[0].actions, [.pull, .push])
        XCTAssertEqual(c.auth.rules.rules[1].actions, [.catalog, .pull, .push, .delete])
        XCTAssertTrue(c.describe().contains("auth.htpasswd.path: /etc/berth/htpasswd"))
    }

    func testLogSettings() throws {
        let c = try load("log:\n  formatter: json\n  accesslog:\n    disabled: true\n").configuration
        XCTAssertEqual(c.logFormatter, .json)
        XCTAssertTrue(c.accessLogDisabled)
        XCTAssertEqual(try load("").configuration.logFormatter, .text)
        XCTAssertTrue(problems("log:\n  formatter: logstash\n").contains { $0.contains("log.formatter logstash") })
    }

    func testSecurityMistakesAreErrors() {
        XCTAssertTrue(problems("auth:\n  htpasswd:\n    realm: r\n").contains { $0.contains("auth.htpasswd.path") })
        XCTAssertTrue(problems("access:\n  - { users: [a], repositories: [x], actions: [pull] }\n")
            .contains { $0.contains("access rules need authentication") })
        XCTAssertTrue(problems("auth:\n  htpasswd: { path: /p }\naccess:\n  - { users: [a], repositories: [x], actions: [fly] }\n")
            .contains { $0.contains("fly is not one of") })
        XCTAssertTrue(problems("auth:\n  htpasswd: { path: /p }\naccess:\n  - { groups: [nope], repositories: [x], actions: [pull] }\n")
            .contains { $0.contains("group nope") })
        XCTAssertTrue(problems("auth:\n  htpasswd: { path: /p }\n  token: { realm: r, service: s, issuer: i, jwks: /j }\n")
            .contains { $0.contains("choose one of") })
        XCTAssertTrue(problems("auth:\n  token: { realm: r, service: s, issuer: i }\n").contains { $0.contains("rootcertbundle or jwks") })
        XCTAssertTrue(problems("http:\n  tls: { certificate: /c, key: /k, minimumtls: tls1.0 }\n").contains { $0.contains("insecure") })
        XCTAssertTrue(problems("http:\n  ratelimit: { requestspersecond: -1 }\n").contains { $0.contains("must be a number from 0 to 1e15, not -1") })
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
