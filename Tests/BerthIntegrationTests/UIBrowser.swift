import Foundation
import XCTest

/// A real headless Chromium driven over the DevTools protocol by `Tests/UIBrowser/browser.py`:
/// each run gets a fresh profile (no cookies), performs the steps in order and reports the pages
/// it saw and every console error, uncaught exception and failed load.
enum UIBrowser {
    static let candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]

    /// The browser binary; skips the test with the reason when there is none (scripts/test installs `chromium`).
    static func chromium() throws -> String {
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no Chromium found (\(candidates.joined(separator: ", "))): install the Debian package chromium (./scripts/test does) to run the browser tests")
        }
        return path
    }

    /// The repository's folder (for the driver script and docs/screenshots/).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let screenshots = repositoryRoot.appendingPathComponent("docs/screenshots")

    static func screenshot(_ name: String) -> String {
        try? FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
        return screenshots.appendingPathComponent(name).path
    }

    enum Step {
        case goto(String)
        case viewport(width: Int, height: Int, mobile: Bool)
        case fill([String: String])
        case click(String)
        case screenshot(String)
        case eval(String)
        case key(String)

        var json: [String: Any] {
            switch self {
            case .goto(let url): ["goto": url, "dom": true]
            case .viewport(let w, let h, let mobile): ["viewport": [w, h], "mobile": mobile]
            case .fill(let fields): ["fill": fields]
            case .click(let selector): ["click": selector, "dom": true]
            case .screenshot(let path): ["screenshot": path]
            case .eval(let expression): ["eval": expression]
            case .key(let name): ["key": name]
            }
        }
    }

    struct PageResult {
        var url: String
        var status: Int?
        var dom: String
        var value: Any?
    }

    struct Run {
        var pages: [PageResult]
        var problems: [String]
    }

    /// Runs the steps in one browser session; throws if the driver failed or a step did.
    static func run(_ steps: [Step]) async throws -> Run {
        let plan: [String: Any] = ["chromium": try chromium(), "steps": steps.map(\.json)]
        let input = String(decoding: try JSONSerialization.data(withJSONObject: plan), as: UTF8.self)
        let script = repositoryRoot.appendingPathComponent("Tests/UIBrowser/browser.py").path
        let result = try await ProcessRunner.run("/usr/bin/python3", [script], timeout: .seconds(180), stdin: input)
        guard let json = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let rawSteps = json["steps"] as? [[String: Any]] else {
            throw TestFailure("the browser driver printed no report:\n\(result.stdout)\n\(result.stderr)")
        }
        if let error = rawSteps.last?["error"] as? String {
            throw TestFailure("the browser failed at step \(rawSteps.count) of \(steps.count): \(error)")
        }
        let pages = rawSteps.map {
            PageResult(url: $0["url"] as? String ?? "", status: $0["status"] as? Int, dom: $0["dom"] as? String ?? "",
                       value: $0["value"])
        }
        return Run(pages: pages, problems: json["problems"] as? [String] ?? [])
    }
}
