import Foundation
import BerthAPI
import BerthCore
import BerthServer

extension FuzzTarget {
    /// `ConfigurationLoader.load`: the input is a YAML file, then after a line `#env` the
    /// environment (`REGISTRY_...=value` lines). It loads, or throws `ConfigurationError` listing
    /// problems that each say something; no other error, no trap, no alias bomb expanded. A loaded
    /// configuration can be described (`berth config check`) and its rate limits used.
    package static let config = FuzzTarget(
        name: "config",
        dictionary: ["\n", "  ", ": ", "- ", "&a ", "*a", "&b [*a, *a, *a, *a]", "[", "]", "{", "}", ",", "---\n", "...\n",
                     "!!str ", "!!binary ", "!!float ", "? ", "|\n", ">\n", "'", "\"", "#env\n", "REGISTRY_", "_", "=",
                     "~", "null", ".inf", ".nan", "1e300", "-1", "99999999999h", "<<: *a"] + Mutator.numbers + ConfigGenerator.keys,
        generate: { random in Array(ConfigGenerator.generate(&random).utf8) },
        check: { input throws(FuzzFailure) in
            let text = input.text
            let parts = text.components(separatedBy: "\n#env\n")
            var environment: [String: String] = [:]
            for line in parts.dropFirst().joined(separator: "\n").split(separator: "\n") {
                let pair = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                environment[String(pair[0])] = pair.count > 1 ? String(pair[1]) : ""
            }
            let loaded: ConfigurationLoader.Loaded
            do {
                loaded = try ConfigurationLoader.load(yaml: parts[0], environment: environment)
            } catch let error as ConfigurationError {
                try expect(!error.problems.isEmpty && error.problems.allSatisfy { !$0.isEmpty }, "ConfigurationError without a problem stated")
                return "problem: " + (error.problems.first ?? "").prefix { $0 != " " }
            } catch {
                throw FuzzFailure("ConfigurationLoader.load threw \(type(of: error)), not ConfigurationError: \(error)")
            }
            let c = loaded.configuration
            _ = c.describe()
            let limits = c.rateLimit
            try expect(limits.requestsPerSecond.isFinite && limits.bytesPerSecond.isFinite && limits.burst >= 0, "rate limits \(limits)")
            try expect((0...65535).contains(c.httpAddress.port), "port \(c.httpAddress.port)")
            try expect(c.drainTimeout >= .zero && c.uploadPurging.interval >= .seconds(1), "durations \(c.drainTimeout), \(c.uploadPurging.interval)")
            if limits.isEnabled {
                // Over the limit at once: the 429 must state a Retry-After, however small the rate.
                let limiter = RateLimiter(requestsPerSecond: limits.requestsPerSecond, burst: limits.burst, bytesPerSecond: limits.bytesPerSecond)
                for _ in 0..<3 {
                    if case .failure(let error) = attempt({ () throws(RegistryError) in try limiter.admit(client: "fuzz", bytes: 1 << 40) }) {
                        try expect(error.headers["Retry-After"].flatMap { Int($0) }.map { $0 >= 1 } ?? false, "429 without a Retry-After: \(error)")
                    }
                }
            }
            return "loaded, \(loaded.warnings.isEmpty ? "no" : "some") warnings"
        })
}

/// Configurations built from the loader's own key table, with values from a list of awkward ones.
enum ConfigGenerator {
    static let keys = ConfigurationLoader.keys.keys.sorted()
    static let values = ["true", "false", "yes", "0", "1", "-1", "1.5", "1e300", "1e-300", ".inf", "-.inf", ".nan", "~", "''",
                         "10s", "1.5h", "500ms", "99999999999h", "1e20s", "-5m", "inf", ":5000", "127.0.0.1:5000", "[::1]:99999",
                         "0.1", "info", "json", "tcp", "/tmp/x", "library/*", "[a, b]", "{x: 1}", "[]", "{}", "\"\\u0000\"",
                         "[{name: a, match: '*', keep: 3}]", "[{scope: 'library/*', users: [alice], access: [pull]}]",
                         "{repositories: {'a/*': 1GiB}}", "!!binary aGk=", "&x [1, 2]", "*x", "1e9GiB", "2^64"]

    static func generate(_ random: inout FuzzRandom) -> String {
        var tree: [String: Any] = [:]
        for _ in 0...random.below(8) {
            let path = random.pick(keys).split(separator: ".").map(String.init)
            insert(&tree, path, random.pick(values))
        }
        var yaml = random.chance(80) ? "version: 0.1\n" : ""
        yaml += render(tree, indent: 0)
        if random.chance(10) {
            // An alias bomb: each level nine copies of the one before.
            yaml += "bomb:\n  l0: &l0 [x, x, x, x, x, x, x, x, x]\n"
            for level in 1..<random.pick([3, 6, 9]) {
                yaml += "  l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
            }
        }
        if random.chance(5) {
            let depth = random.pick([50, 500, 2000])
            yaml += "log:\n  fields: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
        }
        if random.chance(40) {
            yaml += "\n#env\n"
            for _ in 0...random.below(3) {
                let key = random.pick(keys).uppercased().replacingOccurrences(of: ".", with: "_")
                yaml += "REGISTRY_\(key)=\(random.pick(values))\n"
            }
        }
        return yaml
    }

    private static func insert(_ tree: inout [String: Any], _ path: [String], _ value: String) {
        guard let first = path.first else { return }
        if path.count == 1 { tree[first] = value; return }
        var child = tree[first] as? [String: Any] ?? [:]
        insert(&child, Array(path.dropFirst()), value)
        tree[first] = child
    }

    private static func render(_ tree: [String: Any], indent: Int) -> String {
        var out = ""
        for key in tree.keys.sorted() {
            let pad = String(repeating: " ", count: indent)
            if let child = tree[key] as? [String: Any] {
                out += "\(pad)\(key):\n" + render(child, indent: indent + 2)
            } else {
                out += "\(pad)\(key): \(tree[key] ?? "")\n"
            }
        }
        return out
    }
}
