import BerthAuth
import BerthServer
import Foundation
import XCTest

/// The web UI with htpasswd authentication and access rules, in a real headless Chromium: an
/// anonymous visitor is sent to sign in, a pull-only user sees only what they may pull and no
/// delete buttons, a user with delete rights sees them; forged and unauthorised POSTs change nothing.
final class UIAuthTests: IntegrationTestCase {
    func testSignInShowsOnlyWhatTheUserMayPullAndDelete() async throws {
        _ = try UIBrowser.chromium()
        let dir = try temporaryDirectory("ui-auth")
        let file = dir.appendingPathComponent("htpasswd").path
        var users = HtpasswdFile.adding(user: "alice", password: "alice-pw", to: "", cost: 4)
        users = HtpasswdFile.adding(user: "bob", password: "bob-pw", to: users, cost: 4)
        try users.write(toFile: file, atomically: true, encoding: .utf8)
        let registry = try await startBerth(root: try temporaryDirectory("root")) { config in
            config.auth.mode = .htpasswd(realm: "Berth", path: file)
            config.auth.rules = AccessRules(rules: [
                AccessRule(users: ["alice"], repositories: ["**"], actions: [.pull, .push, .delete, .admin]),
                AccessRule(users: ["bob"], repositories: ["team/**"], actions: [.pull]),
            ])
        }
        let image = TestImage.random(layerCount: 1, layerSize: 10_000)
        for destination in ["team/app:v1", "secret/vault:v1"] {
            let layout = try temporaryDirectory("layout")
            try OCILayout.write(layout, tag: "v", image: image)
            try await Skopeo.copy("oci:\(layout.path):v", "docker://\(registry.host)/\(destination)", destinationCreds: "alice:alice-pw")
        }
        let base = "http://\(registry.host)"
        let deleteButtons = "document.querySelectorAll('a.delete').length"
        let run = try await UIBrowser.run([
            .viewport(width: 1280, height: 800, mobile: false),
            .goto("\(base)/ui/repository?name=team/app"),
            .screenshot(UIBrowser.screenshot("sign-in.png")),
            .fill(["#username": "bob", "#password": "wrong"]),
            .click("#signin"),
            .fill(["#username": "bob", "#password": "bob-pw"]),
            .click("#signin"),
            .eval(deleteButtons),
            .goto("\(base)/ui/"),
            .goto("\(base)/ui/admin"),
            .goto("\(base)/ui/"),
            .click("form[action='/ui/logout'] button"),
            .goto("\(base)/ui/login"),
            .fill(["#username": "alice", "#password": "alice-pw"]),
            .click("#signin"),
            .goto("\(base)/ui/repository?name=team/app"),
            .eval(deleteButtons),
            .goto("\(base)/ui/admin"),
            .click("#run-gc"),
            .screenshot(UIBrowser.screenshot("storage.png")),
            .click("#compute-usage"),
        ])
        let p = run.pages
        // The anonymous visitor is sent to the sign-in page, which returns them where they were going.
        XCTAssertTrue(p[1].url.contains("/ui/login?next="), p[1].url)
        XCTAssertTrue(p[1].dom.contains(#"id="signin""#))
        XCTAssertFalse(p[1].dom.contains("team/app</a>"))
        XCTAssertTrue(p[4].dom.contains("Wrong user name or password"), p[4].url)
        // bob may pull team/** only: no delete buttons, no secret repository, no storage page.
        XCTAssertTrue(p[6].url.hasSuffix("/ui/repository?name=team/app"), p[6].url)
        XCTAssertTrue(p[6].dom.contains(#"<strong id="user">bob</strong>"#))
        XCTAssertEqual(p[7].value as? Int, 0, "delete buttons shown to a pull-only user")
        XCTAssertTrue(p[8].dom.contains(">team/app</a>"))
        XCTAssertFalse(p[8].dom.contains("secret/vault"))
        XCTAssertFalse(p[8].dom.contains(#"href="/ui/admin""#))
        XCTAssertTrue(p[9].dom.contains("may not administer"), p[9].dom)
        // Signed out, then alice: delete buttons and the storage page.
        XCTAssertFalse(p[11].dom.contains(#"id="user""#))
        XCTAssertTrue(p[14].dom.contains(#"<strong id="user">alice</strong>"#))
        XCTAssertEqual(p[16].value as? Int, 1, "alice's delete button")
        XCTAssertTrue(p[17].dom.contains("Garbage collection") && p[17].dom.contains("Run garbage collection"))
        // A dry-run collection's results, then the usage per repository.
        XCTAssertTrue(p[18].dom.contains("Collection finished (dry run)"), p[18].dom)
        XCTAssertTrue(p[18].dom.contains(#"id="gc""#), "the last collection's report")
        XCTAssertTrue(p[20].dom.contains(#"<table id="usage""#) && p[20].dom.contains("<td>secret/vault</td>"), p[20].dom)
        // The failed sign-in (401) and bob's refused storage page (403) are the only failed loads.
        let unexpected = run.problems.filter { !$0.contains("status of 401") && !$0.contains("status of 403") }
        XCTAssertEqual(unexpected, [], "console errors, exceptions or failed loads")

        // Requests a browser could be tricked into sending change nothing.
        let bobJar = try await Curl.signIn(base, user: "bob", password: "bob-pw", scratch: dir)
        let forged = try await Curl.post(base + "/ui/delete", ["name": "team/app", "reference": "v1"], csrf: "forged", jar: bobJar)
        XCTAssertEqual(forged, 403)
        let bobToken = try await Curl.csrfToken(base, jar: bobJar)
        let pullOnly = try await Curl.post(base + "/ui/delete", ["name": "team/app", "reference": "v1"], csrf: bobToken, jar: bobJar)
        XCTAssertEqual(pullOnly, 403, "a delete by a pull-only user")
        let aliceJar = try await Curl.signIn(base, user: "alice", password: "alice-pw", scratch: dir)
        let otherToken = try await Curl.post(base + "/ui/delete", ["name": "team/app", "reference": "v1"], csrf: bobToken, jar: aliceJar)
        XCTAssertEqual(otherToken, 403, "another session's CSRF token")
        let tags = try await HTTP.request("GET", URL(string: "\(base)/v2/team/app/tags/list")!,
                                          headers: ["Authorization": "Basic " + Data("alice:alice-pw".utf8).base64EncodedString()])
        XCTAssertTrue(tags.text.contains(#""v1""#), tags.text)
        // The JSON API answers scripts with Basic credentials, with the same rules.
        let bobList = try await HTTP.request("GET", URL(string: "\(base)/ui/api/repositories")!,
                                             headers: ["Authorization": "Basic " + Data("bob:bob-pw".utf8).base64EncodedString()])
        XCTAssertTrue(bobList.text.contains("team/app") && !bobList.text.contains("secret"), bobList.text)
        let anonymous = try await HTTP.request("GET", URL(string: "\(base)/ui/api/repositories")!)
        XCTAssertEqual(anonymous.status, 401)
    }
}

/// curl with a cookie jar, as a browser sends form posts (for requests the page itself never makes).
enum Curl {
    static func run(_ arguments: [String]) async throws -> String {
        try await ProcessRunner.run("/usr/bin/curl", ["-sS"] + arguments, timeout: .seconds(30)).stdout
    }

    /// Signs in through the form and returns the cookie jar holding the session.
    static func signIn(_ base: String, user: String, password: String, scratch: URL) async throws -> String {
        let jar = scratch.appendingPathComponent("jar-\(UUID().uuidString)").path
        _ = try await run(["-c", jar, "-b", jar, "-o", "/dev/null", base + "/ui/login"])
        let token = try await csrfToken(base, jar: jar)
        let status = try await run(["-c", jar, "-b", jar, "-o", "/dev/null", "-w", "%{http_code}",
                                    "--data-urlencode", "username=\(user)", "--data-urlencode", "password=\(password)",
                                    "--data-urlencode", "csrf=\(token)", base + "/ui/login"])
        guard status == "303" else { throw TestFailure("sign-in of \(user) answered \(status)") }
        return jar
    }

    /// The session's CSRF token, from the JSON API.
    static func csrfToken(_ base: String, jar: String) async throws -> String {
        let text = try await run(["-c", jar, "-b", jar, base + "/ui/api/session"])
        guard let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let token = json["csrfToken"] as? String else { throw TestFailure("no csrfToken in \(text)") }
        return token
    }

    /// The status of a form POST.
    static func post(_ url: String, _ fields: [String: String], csrf: String, jar: String) async throws -> Int {
        var arguments = ["-b", jar, "-o", "/dev/null", "-w", "%{http_code}", "--data-urlencode", "csrf=\(csrf)"]
        for (key, value) in fields { arguments += ["--data-urlencode", "\(key)=\(value)"] }
        return Int(try await run(arguments + [url])) ?? 0
    }
}
