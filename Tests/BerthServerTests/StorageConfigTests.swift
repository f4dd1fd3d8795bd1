@testable import BerthServer
import BerthS3
import Foundation
import XCTest

/// `storage.s3`, `storage.inmemory`, `storage.redirect.disable`, and the choice of one driver.
final class StorageConfigTests: XCTestCase {
    func testFilesystemDirectWrites() throws {
        func threshold(_ value: String?, environment: [String: String] = [:]) throws -> Int64? {
            let section = value.map { "\n    directwrites: \($0)" } ?? ""
            return try ConfigurationLoader.load(yaml: "storage:\n  filesystem:\n    rootdirectory: /srv/berth" + section,
                                                environment: environment).configuration.directWriteThreshold
        }
        XCTAssertEqual(try threshold(nil), 32 << 20)
        XCTAssertEqual(try threshold("256KiB"), 256 << 10)
        XCTAssertEqual(try threshold("0"), 0)
        XCTAssertNil(try threshold("off"))
        XCTAssertEqual(try threshold(nil, environment: ["REGISTRY_STORAGE_FILESYSTEM_DIRECTWRITES": "1GiB"]), 1 << 30)
        let described = try ConfigurationLoader.load(yaml: "storage:\n  filesystem:\n    directwrites: off", environment: [:])
            .configuration.describe().joined(separator: "\n")
        XCTAssertTrue(described.contains("storage.filesystem.directwrites: off"), described)
        XCTAssertThrowsError(try threshold("lots")) { error in
            XCTAssertTrue("\(error)".contains("storage.filesystem.directwrites must be a size"), "\(error)")
        }
    }

    func testS3WithTheReferenceRegistryKeys() throws {
        let loaded = try ConfigurationLoader.load(yaml: """
            version: 0.1
            storage:
              s3:
                bucket: registry-bucket
                region: eu-west-1
                regionendpoint: http://minio.internal:9000
                forcepathstyle: true
                accesskey: AKIAEXAMPLE
                secretkey: very-secret
                rootdirectory: /registry/v2root
                chunksize: 20971520
                encrypt: false
              redirect:
                disable: true
            """, environment: [:])
        XCTAssertEqual(loaded.warnings, ["storage.s3.encrypt: Berth does not use storage.s3.encrypt"])
        let c = loaded.configuration
        guard case .s3(let s3) = c.storageBackend else { return XCTFail("not s3: \(c.storageBackend)") }
        XCTAssertEqual(s3.bucket, "registry-bucket")
        XCTAssertEqual(s3.region, "eu-west-1")
        XCTAssertEqual(s3.endpoint, .init(secure: false, host: "minio.internal", port: 9000))
        XCTAssertTrue(s3.forcePathStyle)
        XCTAssertEqual(s3.credentials, S3Credentials(accessKey: "AKIAEXAMPLE", secretKey: "very-secret"))
        XCTAssertEqual(s3.rootDirectory, "registry/v2root")
        XCTAssertEqual(s3.chunkSize, 20 << 20)
        XCTAssertFalse(c.storageRedirect)
        let described = c.describe().joined(separator: "\n")
        XCTAssertTrue(described.contains("storage.s3.bucket: registry-bucket"), described)
        XCTAssertTrue(described.contains("storage.redirect.disable: true"), described)
        XCTAssertFalse(described.contains("very-secret") || described.contains("AKIAEXAMPLE"), "credentials are masked: \(described)")
        XCTAssertEqual(c.storageLocation, "s3://registry-bucket/registry/v2root")
    }

    func testCredentialsFromTheEnvironmentAndRedirectsByDefault() throws {
        let c = try ConfigurationLoader.load(yaml: "storage:\n  s3:\n    bucket: images\n    region: us-east-1\n", environment: [
            "AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
            "REGISTRY_STORAGE_S3_CHUNKSIZE": "5242880",
        ]).configuration
        guard case .s3(let s3) = c.storageBackend else { return XCTFail("not s3") }
        XCTAssertEqual(s3.credentials.accessKey, "AKIAENV")
        XCTAssertEqual(s3.chunkSize, 5 << 20, "REGISTRY_STORAGE_S3_* overrides apply")
        XCTAssertEqual(s3.endpoint.host, "s3.us-east-1.amazonaws.com")
        XCTAssertTrue(c.storageRedirect, "like the reference registry, S3 pulls redirect unless disabled")
    }

    func testInMemoryAndFilesystem() throws {
        XCTAssertEqual(try ConfigurationLoader.load(yaml: "storage:\n  inmemory:\n", environment: [:]).configuration.storageBackend, .inmemory)
        XCTAssertEqual(try ConfigurationLoader.load(yaml: "storage: inmemory\n", environment: [:]).configuration.storageBackend, .inmemory)
        XCTAssertEqual(try ConfigurationLoader.load(yaml: "version: 0.1\n", environment: [:]).configuration.storageBackend, .filesystem)
    }

    func testMistakesAreNamed() {
        let problems = { (yaml: String) in configurationProblems(yaml) }
        XCTAssertEqual(problems("storage:\n  filesystem:\n    rootdirectory: /x\n  s3:\n    bucket: abc\n    region: us-east-1\n"),
                       ["storage configures filesystem and s3; configure exactly one storage driver"])
        XCTAssertTrue(problems("storage:\n  s3:\n    region: us-east-1\n").contains { $0.contains("bucket") })
        XCTAssertTrue(problems("storage:\n  s3:\n    bucket: abc\n    region: us-east-1\n    accesskey: a\n    secretkey: b\n    chunksize: 1024\n").contains { $0.contains("chunksize") })
        XCTAssertTrue(problems("storage:\n  s3:\n    bucket: abc\n    region: us-east-1\n    accesskey: a\n    secretkey: b\n    secure: maybe\n").contains { $0.contains("secure") })
        XCTAssertTrue(problems("storage:\n  s3:\n    bucket: [a, b]\n").contains { $0 == "storage.s3.bucket must be a single value" })
        XCTAssertTrue(problems("storage:\n  redirect:\n    disable: sometimes\n").contains { $0.contains("storage.redirect.disable") })
    }
}
