import BerthAPI
@testable import BerthServer
import Foundation
import XCTest

/// `notifications.endpoints` in the reference registry's format, and every problem reported.
final class NotificationConfigTests: XCTestCase {
    private func problems(_ yaml: String) -> [String] { configurationProblems(yaml) }

    private func endpoints(_ body: String) -> String {
        "version: 0.1\nnotifications:\n  endpoints:\n" + body
    }

    func testReferenceStyleEndpoints() throws {
        let yaml = """
            version: 0.1
            notifications:
              events:
                includereferences: true
              endpoints:
                - name: alistener
                  disabled: false
                  url: https://my.listener.com/event
                  headers:
                    Authorization: [Bearer abc]
                    X-Extra: [one, two]
                  timeout: 500ms
                  threshold: 5
                  backoff: 2s
                  ignoredmediatypes:
                    - application/octet-stream
                  ignore:
                    mediatypes:
                      - application/vnd.oci.image.index.v1+json
                    actions:
                      - pull
                - name: second
                  url: http://127.0.0.1:8080/hook
                  disabled: true
            """
        let loaded = try ConfigurationLoader.load(yaml: yaml, environment: [:])
        XCTAssertEqual(loaded.warnings.count, 1, "\(loaded.warnings)")
        XCTAssertTrue(loaded.warnings[0].contains("includereferences"))
        let list = loaded.configuration.notifications.endpoints
        XCTAssertEqual(list.map(\.name), ["alistener", "second"])
        let first = list[0]
        XCTAssertEqual(first.url, URL(string: "https://my.listener.com/event"))
        XCTAssertFalse(first.disabled)
        XCTAssertEqual(first.headers, ["Authorization": ["Bearer abc"], "X-Extra": ["one", "two"]])
        XCTAssertEqual(first.timeout, .milliseconds(500))
        XCTAssertEqual(first.threshold, 5)
        XCTAssertEqual(first.backoff, .seconds(2))
        XCTAssertEqual(first.ignoredMediaTypes, ["application/octet-stream", "application/vnd.oci.image.index.v1+json"])
        XCTAssertEqual(first.ignoredActions, [.pull])
        XCTAssertTrue(first.wants(.push))
        XCTAssertFalse(first.wants(.pull))
        XCTAssertFalse(first.wants(RegistryEvent(action: .push, repository: "a", mediaType: "application/octet-stream")))
        XCTAssertTrue(first.wants(RegistryEvent(action: .push, repository: "a", mediaType: "application/vnd.oci.image.manifest.v1+json")))
        let second = list[1]
        XCTAssertTrue(second.disabled)
        XCTAssertFalse(second.wants(.push), "a disabled endpoint wants nothing")
        XCTAssertEqual(second.timeout, .seconds(1), "the reference registry's defaults")
        XCTAssertEqual(second.threshold, 10)
        XCTAssertEqual(second.backoff, .seconds(1))
    }

    func testNoNotificationsByDefault() throws {
        XCTAssertEqual(try ConfigurationLoader.load(yaml: "version: 0.1", environment: [:]).configuration.notifications,
                       NotificationSettings())
    }

    func testMissingOrInvalidURL() {
        XCTAssertEqual(problems(endpoints("    - name: a\n")).count, 1)
        XCTAssertTrue(problems(endpoints("    - name: a\n")).first?.contains("url must be an absolute http or https URL") ?? false)
        XCTAssertTrue(problems(endpoints("    - name: a\n      url: ftp://host/x\n")).first?.contains("(a).url") ?? false)
        XCTAssertTrue(problems(endpoints("    - name: a\n      url: /relative\n")).first?.contains("url must be") ?? false)
    }

    func testMissingAndDuplicateNames() {
        XCTAssertEqual(problems(endpoints("    - url: http://h/x\n")), ["notifications.endpoints[0].name is required: a unique name for the endpoint"])
        let twice = problems(endpoints("    - name: a\n      url: http://h/x\n    - name: a\n      url: http://h/y\n"))
        XCTAssertEqual(twice, ["notifications.endpoints[1].name a is used twice; give every endpoint its own name"])
    }

    func testBadDurationsAndThreshold() {
        let found = problems(endpoints("""
                - name: a
                  url: http://h/x
                  timeout: soon
                  backoff: 0s
                  threshold: -1

            """))
        XCTAssertEqual(found.count, 3, "\(found)")
        XCTAssertTrue(found.contains { $0.contains("(a).timeout soon is not a duration") })
        XCTAssertTrue(found.contains { $0.contains("(a).backoff 0s is not a duration above zero") })
        XCTAssertTrue(found.contains { $0.contains("(a).threshold must be a whole number") })
    }

    func testUnknownAction() {
        let found = problems(endpoints("    - name: a\n      url: http://h/x\n      ignore:\n        actions: [pull, fetch]\n"))
        XCTAssertEqual(found, ["notifications.endpoints[0] (a).ignore.actions: fetch is not one of push, pull, mount, delete"])
    }

    func testMalformedStructure() {
        XCTAssertTrue(problems("version: 0.1\nnotifications:\n  endpoints: http://h/x\n").first?.contains("must be a list of endpoints") ?? false)
        XCTAssertTrue(problems(endpoints("    - just-a-string\n")).first?.contains("must be a mapping") ?? false)
        let headers = problems(endpoints("    - name: a\n      url: http://h/x\n      headers: [Authorization]\n"))
        XCTAssertTrue(headers.first?.contains("headers must map header names") ?? false, "\(headers)")
    }

    func testHeaderValuesNeverAppearInProblems() {
        let found = problems(endpoints("    - name: a\n      url: http://h/x\n      headers:\n        Authorization:\n          nested: s3cret\n"))
        XCTAssertEqual(found.count, 1)
        XCTAssertFalse(found[0].contains("s3cret"))
    }

    func testUnknownEndpointKeyIsAWarning() throws {
        let loaded = try ConfigurationLoader.load(yaml: endpoints("    - name: a\n      url: http://h/x\n      color: red\n"),
                                                  environment: [:])
        XCTAssertEqual(loaded.warnings, ["unknown configuration key notifications.endpoints[0].color is ignored"])
    }

    func testReadmeExampleLoads() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try XCTUnwrap(text.range(of: "### Notifications")).upperBound
        let block = try XCTUnwrap(text[section...].components(separatedBy: "```yaml\n").dropFirst().first?
            .components(separatedBy: "```").first)
        let loaded = try ConfigurationLoader.load(yaml: "version: 0.1\n" + block, environment: [:])
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertEqual(loaded.configuration.notifications.endpoints.map(\.name), ["ci"])
        XCTAssertEqual(loaded.configuration.notifications.endpoints.first?.ignoredActions, [.pull])
    }
}
