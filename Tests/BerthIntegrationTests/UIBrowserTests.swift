import Foundation
import XCTest

/// The web UI in a real headless Chromium against a running Berth holding images pushed with
/// skopeo: every page loads without console errors, shows what was pushed, search narrows the
/// list, and a tag deleted through the UI is gone from the registry API too. Screenshots go to
/// docs/screenshots/ (linked from the README).
final class UIBrowserTests: IntegrationTestCase {
    func testPagesShowPushedImagesAndDeleteRemovesTheTag() async throws {
        _ = try UIBrowser.chromium()
        let registry = try await startBerth(root: try temporaryDirectory("ui-root"))
        let rich = UITestContent.richImage()
        let other = TestImage.random(layerCount: 1, layerSize: 10_000)
        try await push([("library/greeter:1.0", rich), ("team/web:1.0", other), ("team/web:latest", other)], to: registry)
        let index = TestIndex(images: [TestImage.random(architecture: "amd64", layerCount: 1, layerSize: 5_000),
                                       TestImage.random(architecture: "arm64", layerCount: 1, layerSize: 5_000)])
        let layout = try temporaryDirectory("index-layout")
        try OCILayout.write(layout, tag: "v", index: index)
        try await Skopeo.copy("oci:\(layout.path):v", "docker://\(registry.host)/team/multi:v1", all: true)
        let sbom = try await UITestContent.pushReferrer(UITestContent.sbomType, subject: rich.manifest,
                                                        repository: "library/greeter", to: registry)
        let signature = try await UITestContent.pushReferrer(UITestContent.signatureType, subject: rich.manifest,
                                                             repository: "library/greeter", to: registry)

        let base = "http://\(registry.host)"
        let run = try await UIBrowser.run([
            .viewport(width: 1280, height: 800, mobile: false),
            .goto("\(base)/"),
            .screenshot(UIBrowser.screenshot("repositories.png")),
            .goto("\(base)/ui/?q=WEB"),
            .goto("\(base)/ui/repository?name=team/multi"),
            .screenshot(UIBrowser.screenshot("repository.png")),
            .goto("\(base)/ui/manifest?name=library/greeter&reference=1.0"),
            .screenshot(UIBrowser.screenshot("manifest.png")),
            .goto("\(base)/ui/manifest?name=team/multi&reference=v1"),
            .eval("""
                (async () => { const b = document.querySelector('button[data-copy]'); b.click();
                  await new Promise(r => setTimeout(r, 300)); return b.textContent + ' ' + await navigator.clipboard.readText(); })()
                """),
            .viewport(width: 390, height: 844, mobile: true),
            .goto("\(base)/ui/"),
            .screenshot(UIBrowser.screenshot("repositories-phone.png")),
            .goto("\(base)/ui/repository?name=library/greeter"),
            .screenshot(UIBrowser.screenshot("repository-phone.png")),
            .viewport(width: 1280, height: 800, mobile: false),
            .goto("\(base)/ui/repository?name=team/web"),
            .click(#"[id="tag-1.0"] a.delete"#),
            .screenshot(UIBrowser.screenshot("delete-confirm.png")),
            .click("#confirm-delete"),
            // Keyboard: the first Tab reaches the skip link, the next ones the navigation.
            .key("Tab"),
            .eval("document.activeElement.className + ' ' + document.activeElement.getAttribute('href')"),
            .key("Tab"),
            .eval("document.activeElement.textContent"),
            .goto("\(base)/ui/manifest?name=library/greeter&reference=1.0"),
            .eval("document.getElementById('layers').scrollIntoView(); window.scrollY > 0"),
            .screenshot(UIBrowser.screenshot("manifest-layers-referrers.png")),
        ])
        XCTAssertEqual(run.problems, [], "console errors, exceptions or failed loads")
        let p = run.pages
        // `/` sends a browser to the repository list, which shows every pushed repository.
        XCTAssertTrue(p[1].url.hasSuffix("/ui/"), p[1].url)
        for name in ["library/greeter", "team/web", "team/multi"] { XCTAssertTrue(p[1].dom.contains(">\(name)</a>"), name) }
        XCTAssertTrue(p[1].dom.contains("3 repositories"))
        // Search narrows the list (case-insensitively).
        XCTAssertTrue(p[3].dom.contains(">team/web</a>"))
        XCTAssertFalse(p[3].dom.contains(">library/greeter</a>"))
        XCTAssertTrue(p[3].dom.contains("1 repository"))
        // The index's tag lists its platforms and a pull command.
        XCTAssertTrue(p[4].dom.contains("linux/amd64") && p[4].dom.contains("linux/arm64"), "platforms of the index")
        XCTAssertTrue(p[4].dom.contains(index.index.digest.prefix(19)), "the index digest")
        XCTAssertTrue(p[4].dom.contains("docker pull \(registry.host)/team/multi:v1"))
        XCTAssertTrue(p[4].dom.contains("podman pull \(registry.host)/team/multi:v1"))
        // The manifest page: layers, config and referrers grouped by artifact type.
        let manifest = p[6].dom
        XCTAssertTrue(manifest.contains(rich.manifest.digest))
        for layer in rich.layers { XCTAssertTrue(manifest.contains(layer.digest), "layer \(layer.digest)") }
        for text in ["/usr/bin/greeter --listen", "0.0.0.0:8080", "GREETING=hello", "8080/tcp", "maintainer",
                     "RUN adduser app", "linux/amd64", UITestContent.sbomType, UITestContent.signatureType,
                     String(sbom.prefix(19)), String(signature.prefix(19))] {
            XCTAssertTrue(manifest.contains(text), "manifest page shows \(text)")
        }
        XCTAssertTrue(p[8].dom.contains(index.images[1].manifest.digest.prefix(19)), "index children")
        // The copy button puts the pull command on the clipboard.
        XCTAssertEqual(p[9].value as? String, "Copied docker pull \(registry.host)/team/multi@\(index.index.digest)")
        XCTAssertTrue(p[11].dom.contains(">team/multi</a>"), "phone view of the list")
        // Deleting through the UI: a confirmation page, then the tag is gone from the page and the API.
        XCTAssertTrue(p[17].dom.contains("Delete tag?"), p[17].url)
        XCTAssertTrue(p[19].url.contains("/ui/repository?name=team/web"), p[19].url)
        XCTAssertFalse(p[19].dom.contains(#"id="tag-1.0""#))
        XCTAssertTrue(p[19].dom.contains(#"id="tag-latest""#))
        let tags = try await Skopeo.listTags("docker://\(registry.host)/team/web")
        XCTAssertEqual(tags, ["latest"])
        XCTAssertEqual(p[21].value as? String, "skip #main")
        XCTAssertEqual(p[23].value as? String, "Berth")
        XCTAssertEqual(p[25].value as? Bool, true, "the manifest page scrolls to its layers")
        let gone = try await HTTP.request("GET", URL(string: "\(base)/v2/team/web/manifests/1.0")!)
        XCTAssertEqual(gone.status, 404)
    }

    func testJSONAPIAndErrorPages() async throws {
        let registry = try await startBerth(root: try temporaryDirectory("ui-api"))
        let image = TestImage.random(layerCount: 1, layerSize: 10_000)
        try await push([("apps/one:v1", image), ("apps/two:v1", image), ("tools/three:v1", image)], to: registry)
        let base = "http://\(registry.host)"
        let list = try await HTTP.request("GET", URL(string: "\(base)/ui/api/repositories?q=apps&perPage=1")!)
        XCTAssertEqual(list.status, 200)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: list.body) as? [String: Any])
        XCTAssertEqual(json["total"] as? Int, 2)
        XCTAssertEqual(json["pages"] as? Int, 2)
        let rows = try XCTUnwrap(json["repositories"] as? [[String: Any]])
        XCTAssertEqual(rows.first?["name"] as? String, "apps/one")
        XCTAssertEqual(rows.first?["tagCount"] as? Int, 1)
        let size = Int64(image.manifest.bytes.count + image.config.bytes.count + image.layers[0].bytes.count)
        XCTAssertEqual((rows.first?["totalBytes"] as? NSNumber)?.int64Value, size)

        let repository = try await HTTP.request("GET", URL(string: "\(base)/ui/api/repository?name=apps/two")!)
        XCTAssertTrue(repository.text.contains(image.manifest.digest), repository.text)
        let manifest = try await HTTP.request("GET", URL(string: "\(base)/ui/api/manifest?name=apps/two&reference=v1")!)
        XCTAssertTrue(manifest.text.contains(image.layers[0].digest), manifest.text)
        XCTAssertTrue(manifest.text.contains(#""tags":["v1"]"#), manifest.text)

        // Bad input: clear HTML error pages with the right status; the server stays up.
        let unknown = try await HTTP.request("GET", URL(string: "\(base)/ui/repository?name=no/such")!)
        XCTAssertEqual(unknown.status, 404)
        XCTAssertTrue(unknown.text.contains("no/such"), unknown.text)
        XCTAssertEqual(unknown.header("Content-Type"), "text/html; charset=utf-8")
        XCTAssertNotNil(unknown.header("Content-Security-Policy"))
        let invalid = try await HTTP.request("GET", URL(string: "\(base)/ui/repository?name=UPPER%2F..")!)
        XCTAssertEqual(invalid.status, 400)
        let badReference = try await HTTP.request("GET", URL(string: "\(base)/ui/manifest?name=apps/one&reference=sha256:xyz")!)
        XCTAssertEqual(badReference.status, 400, badReference.text)
        let noPage = try await HTTP.request("GET", URL(string: "\(base)/ui/nothing")!)
        XCTAssertEqual(noPage.status, 404)
        let apiUnknown = try await HTTP.request("GET", URL(string: "\(base)/ui/api/manifest?name=apps/one&reference=v9")!)
        XCTAssertEqual(apiUnknown.status, 404)
        XCTAssertTrue(apiUnknown.text.contains(#""error""#), apiUnknown.text)
        // A POST without the session's CSRF token changes nothing.
        let forged = try await HTTP.request("POST", URL(string: "\(base)/ui/delete")!,
                                            headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                            body: Data("name=apps/one&reference=v1&csrf=forged".utf8))
        XCTAssertEqual(forged.status, 403)
        let tags = try await Skopeo.listTags("docker://\(registry.host)/apps/one")
        XCTAssertEqual(tags, ["v1"])
        // The registry API is unchanged beside the UI; `/` without a browser's Accept is still the API's.
        let catalog = try await HTTP.request("GET", URL(string: "\(base)/v2/_catalog")!)
        XCTAssertEqual(catalog.status, 200)
        let root = try await HTTP.request("GET", URL(string: "\(base)/")!, headers: ["Accept": "application/json"])
        XCTAssertEqual(root.status, 404)
    }
}
