import BerthAPI
import BerthCore

/// Words and shapes the generators combine.
enum Words {
    static let names = ["library/ubuntu", "a", "a/b/c", "my-org/my.app__x", "x/blobs/y", "manifests", "a/tags/list/b",
                        "blobs/uploads", "a--b", "r/referrers", "0", "a/manifests/b"]
    static let digests = ["sha256:" + String(repeating: "a", count: 64), "sha512:" + String(repeating: "0", count: 128),
                          "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]
    static let junk = ["", "/", "//", ".", "..", "%2F", "%2e%2e", "A", "-", "_", "__", "a..b", "\u{0130}", " ", "?", "#",
                       "\u{0000}", "a" + String(repeating: "b", count: 300)]
}

extension FuzzTarget {
    /// `Route(path:)`: never traps, and agrees with the spec's URL patterns matched by regular
    /// expressions (`/v2/<name>/manifests/<reference>`, ...; the first pattern that matches wins).
    package static let route = FuzzTarget(
        name: "route",
        dictionary: ["/v2/", "/v2", "/", "//", "blobs/", "blobs/uploads/", "uploads/", "manifests/", "tags/list", "tags/",
                     "referrers/", "_catalog", "/admin/api/", "gc", "storage", "sha256:", "%2F", "..", ".", "-", "?x=1"],
        generate: { random in
            var parts: [String] = []
            for _ in 0...random.below(3) { parts.append(random.chance(80) ? random.pick(Words.names) : random.pick(Words.junk)) }
            let tail = random.pick(["manifests/latest", "manifests/" + random.pick(Words.digests), "blobs/" + random.pick(Words.digests),
                                    "blobs/uploads/", "blobs/uploads", "blobs/uploads/0b1c-id", "tags/list",
                                    "referrers/" + random.pick(Words.digests), "manifests/", "blobs/", random.pick(Words.junk)])
            let prefix = random.pick(["/v2/", "/v2/", "/v2/", "/v2", "v2/", "/admin/api/", "/V2/"])
            return Array((prefix + parts.joined(separator: "/") + "/" + tail).utf8)
        },
        check: { input throws(FuzzFailure) in
            let path = input.text
            let route = Route(path: path)
            let expected = RouteOracle.route(path)
            try expect(route == expected, "Route(path: \(FuzzTarget.literal(input))) is \(String(describing: route)), the spec's patterns give \(String(describing: expected))")
            guard let route else { return "none" }
            if let name = route.repository, RepositoryName.isValid(name) {
                try expect(Grammar.isName(name), "the route's repository \(name) passed RepositoryName.isValid but not the spec's grammar")
            }
            try expect(!route.allowedMethods.isEmpty, "\(route) answers no method")
            return route.pattern
        })
}

/// The spec's endpoint patterns as regular expressions over the whole path: the name is
/// everything before the endpoint's fixed words, the last component never holds a '/'.
enum RouteOracle {
    // Unicode-scalar semantics set once: each call of matchingSemantics makes a regex compiled anew.
    nonisolated(unsafe) static let tags = #/(?s)\/v2\/(?<name>.+)\/tags\/list/#.matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let uploads = #/(?s)\/v2\/(?<name>.+)\/blobs\/uploads\/?/#.matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let upload = #/(?s)\/v2\/(?<name>.+)\/blobs\/uploads\/(?<id>[^\/]+)/#.matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let manifest = #/(?s)\/v2\/(?<name>.+)\/manifests\/(?<last>[^\/]+)/#.matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let blob = #/(?s)\/v2\/(?<name>.+)\/blobs\/(?<last>[^\/]+)/#.matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let referrers = #/(?s)\/v2\/(?<name>.+)\/referrers\/(?<last>[^\/]+)/#.matchingSemantics(.unicodeScalar)

    static func route(_ path: String) -> Route? {
        switch path {
        case "/v2", "/v2/": return .base
        case "/v2/_catalog": return .catalog
        case "/admin/api/gc": return .admin(.gc)
        case "/admin/api/storage": return .admin(.storage)
        default: break
        }
        func whole<Output>(_ regex: Regex<Output>) -> Regex<Output>.Match? {
            try? regex.wholeMatch(in: path)
        }
        if let m = whole(tags) { return .tags(name: String(m.name)) }
        if let m = whole(uploads) { return .uploads(name: String(m.name)) }
        if let m = whole(upload) { return .upload(name: String(m.name), id: String(m.id)) }
        if let m = whole(manifest) { return .manifest(name: String(m.name), reference: String(m.last)) }
        if let m = whole(blob) { return .blob(name: String(m.name), digest: String(m.last)) }
        if let m = whole(referrers) { return .referrers(name: String(m.name), digest: String(m.last)) }
        return nil
    }
}
