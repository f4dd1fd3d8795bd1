import BerthReplication
import Foundation

/// `replication`: rules that push repositories to remote registries.
///
///     replication:
///       interval: 10m                 # every rule in full this often (and shortly after start)
///       rules:
///         - name: backup
///           remoteurl: https://backup.example.com
///           username: berth
///           password: secret
///           repositories: ["team/**"]   # globs (default: every repository)
///           tags: ["v*", "latest"]      # globs (default: every tag)
///           tagpattern: '^v[0-9.]+$'    # optional regular expression tags must also match
///           prefix: mirror/             # optional: put team/app at mirror/team/app
///           deletes: false              # replicate manifest deletes too
extension ConfigurationLoader {
    static let replicationKeys: [String: Kind] = ["replication": .section, "replication.interval": .value, "replication.rules": .value]
    static let ruleFields: Set<String> = ["name", "remoteurl", "username", "password", "repositories", "tags", "tagpattern", "prefix", "deletes"]

    mutating func buildReplication(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        guard let list = lookup(tree, "replication.rules") else { return }
        guard let entries = list as? [Any] else {
            problems.append("replication.rules must be a list of rules ({ name, remoteurl, repositories, tags, ... })")
            return
        }
        var rules: [ReplicationSettings.Rule] = []
        for (index, entry) in entries.enumerated() {
            let label = "replication.rules[\(index)]"
            guard let map = entry as? [String: Any] else { problems.append("\(label) must be a mapping"); continue }
            func field(_ key: String) -> Any? { map.first { $0.key.lowercased() == key }?.value }
            for key in map.keys where !Self.ruleFields.contains(key.lowercased()) {
                problems.append("\(label).\(key) is not a known setting (\(Self.ruleFields.sorted().joined(separator: ", ")))")
            }
            let name = field("name").flatMap(Self.scalarString) ?? "rule\(index + 1)"
            guard let remote = field("remoteurl").flatMap(Self.scalarString), let url = URL(string: remote),
                  ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                problems.append("\(label).remoteurl must be the http:// or https:// URL of the registry to push to")
                continue
            }
            var rule = ReplicationSettings.Rule(name: name, remoteURL: remote)
            rule.username = field("username").flatMap(Self.scalarString)
            rule.password = field("password").flatMap(Self.scalarString)
            if (rule.username == nil) != (rule.password == nil) { problems.append("\(label): give both username and password, or neither") }
            for (key, path) in [("repositories", \ReplicationSettings.Rule.repositories), ("tags", \ReplicationSettings.Rule.tags)] {
                guard let value = field(key) else { continue }
                let globs = (value as? [Any])?.compactMap(Self.scalarString) ?? Self.scalarString(value).map { [$0] } ?? []
                if globs.isEmpty { problems.append("\(label).\(key) must be a glob or a list of globs") } else { rule[keyPath: path] = globs }
            }
            if let pattern = field("tagpattern").flatMap(Self.scalarString) {
                if (try? NSRegularExpression(pattern: pattern)) == nil {
                    problems.append("\(label).tagpattern \(pattern) is not a valid regular expression")
                } else {
                    rule.tagPattern = pattern
                }
            }
            if let prefix = field("prefix").flatMap(Self.scalarString) { rule.destinationPrefix = prefix.hasSuffix("/") || prefix.isEmpty ? prefix : prefix + "/" }
            if let deletes = field("deletes") {
                switch Self.scalarString(deletes)?.lowercased() {
                case "true"?: rule.deletes = true
                case "false"?: rule.deletes = false
                default: problems.append("\(label).deletes must be true or false")
                }
            }
            rules.append(rule)
        }
        let names = rules.map(\.name)
        if Set(names).count != names.count { problems.append("replication.rules: each rule needs its own name") }
        var settings = ReplicationSettings(rules: rules)
        if let interval = duration(tree, "replication.interval") {
            if interval < .seconds(1) { problems.append("replication.interval must be at least 1s") } else { settings.interval = interval }
        }
        if !rules.isEmpty { c.replication = settings }
    }
}
