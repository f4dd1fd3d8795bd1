@testable import BerthServer
import Foundation
import XCTest

/// `validation.manifests.indexes.platforms` and `validation.manifests.layers`.
final class ManifestValidationConfigTests: XCTestCase {
    func load(_ yaml: String, env: [String: String] = [:]) throws -> ConfigurationLoader.Loaded {
        try ConfigurationLoader.load(yaml: yaml, environment: env)
    }

    func problems(_ yaml: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try load(yaml, env: env)
            XCTFail("configuration was accepted:\n\(yaml)")
            return []
        } catch let error as ConfigurationError {
            return error.problems
        } catch {
            return ["unexpected \(error)"]
        }
    }

    static func yaml(platforms: String? = nil, layers: String? = nil) -> String {
        var text = "version: 0.1\nvalidation:\n  manifests:\n"
        if let platforms { text += "    indexes:\n      platforms: \(platforms)\n" }
        if let layers { text += "    layers: \(layers)\n" }
        return text
    }

    func testDefaultsRequireEverything() throws {
        let c = try load("").configuration
        XCTAssertTrue(c.manifestValidation.requireIndexChildren)
        XCTAssertTrue(c.manifestValidation.requireLayers)
        XCTAssertTrue(c.describe().contains("validation.manifests.indexes.platforms: all"), "\(c.describe())")
        XCTAssertTrue(c.describe().contains("validation.manifests.layers: all"), "\(c.describe())")
    }

    func testPlatformsNone() throws {
        let loaded = try load(Self.yaml(platforms: "none"))
        XCTAssertFalse(loaded.configuration.manifestValidation.requireIndexChildren)
        XCTAssertTrue(loaded.configuration.manifestValidation.requireLayers)
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertTrue(loaded.configuration.describe().contains("validation.manifests.indexes.platforms: none"))
        XCTAssertTrue(loaded.configuration.describe().contains("validation.manifests.layers: all"))
    }

    func testLayersNone() throws {
        let loaded = try load(Self.yaml(layers: "none"))
        XCTAssertTrue(loaded.configuration.manifestValidation.requireIndexChildren)
        XCTAssertFalse(loaded.configuration.manifestValidation.requireLayers)
        XCTAssertEqual(loaded.warnings, [])
        XCTAssertTrue(loaded.configuration.describe().contains("validation.manifests.layers: none"))
    }

    func testBothAndExplicitAllAndCase() throws {
        let both = try load(Self.yaml(platforms: "None", layers: "NONE")).configuration
        XCTAssertFalse(both.manifestValidation.requireIndexChildren)
        XCTAssertFalse(both.manifestValidation.requireLayers)
        let all = try load(Self.yaml(platforms: "all", layers: "all")).configuration
        XCTAssertTrue(all.manifestValidation.requireIndexChildren)
        XCTAssertTrue(all.manifestValidation.requireLayers)
    }

    func testEnvironmentOverridesTheFile() throws {
        let env = ["REGISTRY_VALIDATION_MANIFESTS_INDEXES_PLATFORMS": "none", "REGISTRY_VALIDATION_MANIFESTS_LAYERS": "none"]
        let c = try load(Self.yaml(platforms: "all", layers: "all"), env: env).configuration
        XCTAssertFalse(c.manifestValidation.requireIndexChildren)
        XCTAssertFalse(c.manifestValidation.requireLayers)
    }

    func testPlatformsListIsRefused() {
        let yaml = Self.yaml(platforms: "list") + "      platformlist:\n        - architecture: amd64\n          os: linux\n"
        let found = problems(yaml)
        XCTAssertEqual(found.count, 1, "\(found)")
        let problem = found.first ?? ""
        XCTAssertTrue(problem.hasPrefix("validation.manifests.indexes.platforms list is not supported"), problem)
        XCTAssertTrue(problem.contains("all") && problem.contains("none"), problem)
    }

    func testOtherValuesAreRefusedNamingTheKey() {
        for value in ["some", "true", "[all]"] {
            let platforms = problems(Self.yaml(platforms: value))
            XCTAssertEqual(platforms.count, 1, "\(value): \(platforms)")
            XCTAssertTrue(platforms.first?.hasPrefix("validation.manifests.indexes.platforms") ?? false, "\(value): \(platforms)")
            let layers = problems(Self.yaml(layers: value))
            XCTAssertEqual(layers.count, 1, "\(value): \(layers)")
            XCTAssertTrue(layers.first?.hasPrefix("validation.manifests.layers") ?? false, "\(value): \(layers)")
        }
        // Both wrong: both reported.
        XCTAssertEqual(problems(Self.yaml(platforms: "list", layers: "partial")).count, 2)
        XCTAssertTrue(problems(Self.yaml(layers: "partial")).first?.contains("partial") ?? false)
    }
}
