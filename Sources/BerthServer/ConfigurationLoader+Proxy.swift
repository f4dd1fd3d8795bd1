import BerthCore
import BerthProxy
import Foundation

/// `proxy`: the pull-through cache. The reference registry's keys (`remoteurl`, `username`,
/// `password`, `ttl`) make every repository a mirror of one upstream; Berth's `upstreams` list
/// maps repository prefixes to several, and repositories no prefix maps take pushes as usual.
///
///     proxy:
///       upstreams:
///         - prefix: docker.io               # docker.io/library/alpine mirrors library/alpine there
///           remoteurl: https://registry-1.docker.io
///           username: me                    # optional; bearer-token and basic auth are spoken
///           password: secret
///           ttl: 10m                        # tags are revalidated (HEAD) this long after the last check
///         - prefix: ghcr.io
///           remoteurl: https://ghcr.io
extension ConfigurationLoader {
    static let proxyKeys: [String: Kind] = [
        "proxy": .section, "proxy.remoteurl": .value, "proxy.username": .value, "proxy.password": .value,
        "proxy.ttl": .value, "proxy.upstreams": .value,
    ]

    mutating func buildProxy(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        var upstreams: [ProxySettings.Upstream] = []
        if let remote = string(tree, "proxy.remoteurl") {
            if let upstream = proxyUpstream(prefix: "", remote: remote, tree: tree, at: "proxy") { upstreams.append(upstream) }
        }
        if let list = lookup(tree, "proxy.upstreams") {
            guard let entries = list as? [Any] else {
                problems.append("proxy.upstreams must be a list of { prefix, remoteurl, username, password, ttl }")
                return
            }
            for (index, entry) in entries.enumerated() {
                let label = "proxy.upstreams[\(index)]"
                guard let map = entry as? [String: Any] else { problems.append("\(label) must be a mapping"); continue }
                for key in map.keys where !["prefix", "remoteurl", "username", "password", "ttl"].contains(key.lowercased()) {
                    problems.append("\(label).\(key) is not a known setting (prefix, remoteurl, username, password, ttl)")
                }
                guard let prefix = map.first(where: { $0.key.lowercased() == "prefix" }).flatMap({ Self.scalarString($0.value) }),
                      !prefix.isEmpty, RepositoryName.isValid(prefix) else {
                    problems.append("\(label).prefix must be the start of repository names, like docker.io or mirror/ghcr")
                    continue
                }
                guard let remote = map.first(where: { $0.key.lowercased() == "remoteurl" }).flatMap({ Self.scalarString($0.value) }) else {
                    problems.append("\(label).remoteurl is missing")
                    continue
                }
                if let upstream = proxyUpstream(prefix: prefix, remote: remote, tree: map, at: label) { upstreams.append(upstream) }
            }
        }
        if upstreams.contains(where: { $0.prefix.isEmpty }), upstreams.count > 1 {
            problems.append("proxy.remoteurl mirrors every repository; use proxy.upstreams alone to map several prefixes")
        }
        let prefixes = upstreams.map(\.prefix)
        if Set(prefixes).count != prefixes.count { problems.append("proxy.upstreams maps the same prefix twice") }
        if !upstreams.isEmpty { c.proxy = ProxySettings(upstreams: upstreams) }
    }

    private mutating func proxyUpstream(prefix: String, remote: String, tree: [String: Any], at label: String) -> ProxySettings.Upstream? {
        guard let url = URL(string: remote), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
            problems.append("\(label).remoteurl \(remote) must be an http:// or https:// URL of a registry")
            return nil
        }
        var upstream = ProxySettings.Upstream(prefix: prefix, remoteURL: remote)
        let section = label == "proxy" ? lookup(tree, "proxy") as? [String: Any] ?? [:] : tree
        func field(_ key: String) -> String? { section.first { $0.key.lowercased() == key }.flatMap { Self.scalarString($0.value) } }
        upstream.username = field("username")
        upstream.password = field("password")
        if (upstream.username == nil) != (upstream.password == nil) {
            problems.append("\(label): give both username and password, or neither")
        }
        if let ttl = field("ttl") {
            if let d = GoDuration.parse(ttl), d >= .zero { upstream.ttl = d } else { problems.append("\(label).ttl \(ttl) is not a duration like 10m or 1h") }
        }
        return upstream
    }
}
