import XCTest

@testable import BerthS3

final class S3ConfigurationTests: XCTestCase {
    func testCustomEndpointWithPathStyleAndRootDirectory() throws {
        let configuration = try S3Configuration.parse(
            [
                "bucket": "registry", "regionendpoint": "http://127.0.0.1:9000", "forcepathstyle": "true",
                "accesskey": "AK", "secretkey": "SK", "rootdirectory": "/berth/v2/", "chunksize": "5242880",
            ], environment: [:])
        XCTAssertEqual(configuration.endpoint, .init(secure: false, host: "127.0.0.1", port: 9000))
        XCTAssertEqual(configuration.endpoint.authority, "127.0.0.1:9000")
        XCTAssertEqual(configuration.region, "us-east-1")
        XCTAssertTrue(configuration.forcePathStyle)
        XCTAssertEqual(configuration.rootDirectory, "berth/v2")
        XCTAssertEqual(configuration.chunkSize, 5 << 20)
        XCTAssertEqual(configuration.credentials, S3Credentials(accessKey: "AK", secretKey: "SK"))
    }

    func testAWSDefaultsAndEnvironmentCredentials() throws {
        let configuration = try S3Configuration.parse(
            ["bucket": "my.bucket", "region": "eu-west-1"],
            environment: ["AWS_ACCESS_KEY_ID": "ENVAK", "AWS_SECRET_ACCESS_KEY": "ENVSK", "AWS_SESSION_TOKEN": "TOKEN"])
        XCTAssertEqual(configuration.endpoint, .init(secure: true, host: "s3.eu-west-1.amazonaws.com"))
        XCTAssertEqual(configuration.endpoint.authority, "s3.eu-west-1.amazonaws.com")
        XCTAssertEqual(configuration.credentials, S3Credentials(accessKey: "ENVAK", secretKey: "ENVSK", sessionToken: "TOKEN"))
        XCTAssertFalse(configuration.forcePathStyle)
        XCTAssertEqual(configuration.chunkSize, S3Configuration.defaultChunkSize)
        // Keys in the file win over the environment; secure=false without an endpoint means plain HTTP to AWS.
        let explicit = try S3Configuration.parse(
            ["bucket": "abc", "region": "us-west-2", "accesskey": "FILE", "secretkey": "FILESK", "secure": "false"],
            environment: ["AWS_ACCESS_KEY_ID": "ENVAK", "AWS_SECRET_ACCESS_KEY": "ENVSK"])
        XCTAssertEqual(explicit.credentials.accessKey, "FILE")
        XCTAssertEqual(explicit.endpoint.scheme, "http")
    }

    func testBadOptionsSayWhatToChange() {
        func message(_ options: [String: String]) -> String {
            do {
                _ = try S3Configuration.parse(options, environment: [:])
                return "accepted"
            } catch {
                return error.description
            }
        }
        let credentials = ["accesskey": "a", "secretkey": "s"]
        XCTAssertTrue(message(credentials.merging(["region": "x"]) { $1 }).contains("storage.s3.bucket is missing"))
        XCTAssertTrue(message(credentials.merging(["bucket": "Bad_Bucket", "region": "x"]) { $1 }).contains("not a valid bucket name"))
        XCTAssertTrue(message(credentials.merging(["bucket": "abc"]) { $1 }).contains("storage.s3.region is missing"))
        XCTAssertTrue(message(["bucket": "abc", "region": "x"]).contains("AWS_ACCESS_KEY_ID"))
        XCTAssertTrue(message(credentials.merging(["bucket": "abc", "region": "x", "chunksize": "1000"]) { $1 }).contains("5 MiB"))
        XCTAssertTrue(message(credentials.merging(["bucket": "abc", "region": "x", "secure": "maybe"]) { $1 }).contains("use true or false"))
        XCTAssertTrue(message(credentials.merging(["bucket": "abc", "regionendpoint": "ftp://h"]) { $1 }).contains("not an http(s) URL"))
        XCTAssertTrue(message(credentials.merging(["bucket": "abc", "region": "x", "encrypt": "true"]) { $1 }).contains("storage.s3.encrypt is not a known option"))
    }
}
