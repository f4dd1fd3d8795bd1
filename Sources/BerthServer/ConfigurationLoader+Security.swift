import BerthAuth
import Foundation

/// `http.tls`, `http.ratelimit`, `auth`, `auth.groups` and `access`.
extension ConfigurationLoader {
    mutating func buildSecurity(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        buildTLS(tree, &c)
        buildRateLimit(tree, &c)
        buildAuth(tree, &c)
        buildAccess(tree, &c)
    }

    private mutating func buildTLS(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        let certificate = string(tree, "http.tls.certificate")
        let key = string(tree, "http.tls.key")
        guard certificate != nil || key != nil || lookup(tree, "http.tls.clientcas") != nil else { return }
        guard let certificate, let key, !certificate.isEmpty, !key.isEmpty else {
            problems.append("http.tls needs both certificate and key (PEM files)")
            return
        }
        var tls = TLSSettings(certificate: certificate, key: key)
        tls.clientCAs = stringList(tree, "http.tls.clientcas")
        if let v = string(tree, "http.tls.minimumtls") {
            switch v.lowercased() {
            case "tls1.2", "tls12", "1.2": tls.minimumVersion = .tls12
            case "tls1.3", "tls13", "1.3": tls.minimumVersion = .tls13
            case "tls1.0", "tls1.1": problems.append("http.tls.minimumtls \(v) is insecure and not offered; use tls1.2 or tls1.3")
            default: problems.append("http.tls.minimumtls \(v) is not one of tls1.2, tls1.3")
            }
        }
        c.tls = tls
    }

    private mutating func buildRateLimit(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        if let v = number(tree, "http.ratelimit.requestspersecond") { c.rateLimit.requestsPerSecond = v }
        if let v = number(tree, "http.ratelimit.burst") { c.rateLimit.burst = Int(v) }
        if let v = number(tree, "http.ratelimit.bytespersecond") { c.rateLimit.bytesPerSecond = v }
    }

    private mutating func buildAuth(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        var modes: [String] = []
        if lookup(tree, "auth.htpasswd") != nil {
            modes.append("htpasswd")
            let realm = string(tree, "auth.htpasswd.realm") ?? "Berth Registry"
            if let path = string(tree, "auth.htpasswd.path"), !path.isEmpty {
                c.auth.mode = .htpasswd(realm: realm, path: path)
            } else {
                problems.append("auth.htpasswd.path must name the htpasswd file (create it with `berth htpasswd add FILE USER`)")
            }
        }
        if lookup(tree, "auth.token") != nil {
            modes.append("token")
            let realm = string(tree, "auth.token.realm") ?? ""
            let service = string(tree, "auth.token.service") ?? ""
            let issuer = string(tree, "auth.token.issuer") ?? ""
            for (key, value) in [("realm", realm), ("service", service), ("issuer", issuer)] where value.isEmpty {
                problems.append("auth.token.\(key) is required")
            }
            var token = AuthSettings.TokenSettings(realm: realm, service: service, issuer: issuer)
            token.rootCertBundle = string(tree, "auth.token.rootcertbundle")
            token.jwks = string(tree, "auth.token.jwks")
            token.signingAlgorithms = stringList(tree, "auth.token.signingalgorithms")
            if token.rootCertBundle == nil && token.jwks == nil {
                problems.append("auth.token needs rootcertbundle or jwks: the keys that sign the tokens")
            }
            for alg in token.signingAlgorithms where !Self.asymmetricAlgorithms.contains(alg) {
                problems.append("auth.token.signingalgorithms: \(alg) is not one of \(Self.asymmetricAlgorithms.joined(separator: ", "))")
            }
            c.auth.mode = .token(token)
        }
        if lookup(tree, "auth.tokenservice") != nil {
            modes.append("tokenservice")
            let service = string(tree, "auth.tokenservice.service") ?? ""
            let issuer = string(tree, "auth.tokenservice.issuer") ?? "berth"
            let key = string(tree, "auth.tokenservice.signingkey") ?? ""
            let users = string(tree, "auth.tokenservice.htpasswd") ?? ""
            if service.isEmpty { problems.append("auth.tokenservice.service is required (the name clients ask tokens for, e.g. the registry's host name)") }
            if key.isEmpty { problems.append("auth.tokenservice.signingkey must name a PEM private key (EC P-256 or RSA)") }
            if users.isEmpty { problems.append("auth.tokenservice.htpasswd must name the htpasswd file of the users") }
            var settings = AuthSettings.TokenServiceSettings(service: service, issuer: issuer, signingKey: key, htpasswd: users)
            settings.realm = string(tree, "auth.tokenservice.realm")
            if settings.realm?.isEmpty ?? true {
                problems.append("auth.tokenservice.realm is required: the absolute URL of this registry's /token endpoint as clients reach it, e.g. https://registry.example.com/token")
            }
            if let v = duration(tree, "auth.tokenservice.expiration") { settings.expiration = v }
            if let v = duration(tree, "auth.tokenservice.refreshexpiration") { settings.refreshExpiration = v }
            if let v = bool(tree, "auth.tokenservice.anonymous") { settings.anonymous = v }
            c.auth.mode = .tokenService(settings)
        }
        if modes.count > 1 {
            problems.append("auth configures \(modes.joined(separator: " and ")); choose one of htpasswd, token, tokenservice")
        }
        if let groups = lookup(tree, "auth.groups") {
            if let dict = groups as? [String: Any] {
                for (name, members) in dict {
                    guard let list = members as? [Any] else {
                        problems.append("auth.groups.\(name) must be a list of user names")
                        continue
                    }
                    c.auth.rules.groups[name] = list.compactMap(Self.scalarString)
                }
            } else {
                problems.append("auth.groups must map group names to lists of users")
            }
        }
    }

    private mutating func buildAccess(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        guard let value = lookup(tree, "access") else { return }
        guard let list = value as? [Any] else {
            problems.append("access must be a list of rules like { users: [alice], repositories: [\"team-a/**\"], actions: [pull, push] }")
            return
        }
        for (i, item) in list.enumerated() {
            guard let dict = item as? [String: Any] else {
                problems.append("access[\(i)] must be a mapping with users, groups, repositories and actions")
                continue
            }
            for key in dict.keys where !["users", "groups", "repositories", "actions"].contains(key.lowercased()) {
                problems.append("access[\(i)].\(key) is not one of users, groups, repositories, actions")
            }
            func list(_ key: String) -> [String] {
                (dict.first { $0.key.lowercased() == key }?.value as? [Any])?.compactMap(Self.scalarString) ?? []
            }
            var actions = Set<AccessAction>()
            for name in list("actions") {
                if let parsed = AccessAction.parse(name) { actions.formUnion(parsed) }
                else { problems.append("access[\(i)].actions: \(name) is not one of pull, push, delete, overwrite, catalog, admin, *") }
            }
            c.auth.rules.rules.append(AccessRule(users: list("users"), groups: list("groups"),
                                                 repositories: list("repositories"), actions: actions))
        }
        problems += c.auth.rules.problems()
        if c.auth.mode == .none, !c.auth.rules.isEmpty {
            problems.append("access rules need authentication: configure auth.htpasswd, auth.token or auth.tokenservice")
        }
    }

    static let asymmetricAlgorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

    /// A list of strings, or one string as a one-element list.
    mutating func stringList(_ tree: [String: Any], _ key: String) -> [String] {
        guard let v = lookup(tree, key) else { return [] }
        if let list = v as? [Any] { return list.compactMap(Self.scalarString) }
        if let s = Self.scalarString(v) { return [s] }
        problems.append("\(key) must be a list of values")
        return []
    }

    mutating func number(_ tree: [String: Any], _ key: String) -> Double? {
        guard let v = lookup(tree, key) else { return nil }
        // The bound keeps every later conversion to Int (a burst, a Retry-After) from overflowing.
        guard let s = Self.scalarString(v), let d = Double(s), d >= 0, d <= 1e15 else {
            problems.append("\(key) must be a number from 0 to 1e15, not \(Self.scalarString(v) ?? "a structure")")
            return nil
        }
        return d
    }
}

extension BerthConfiguration {
    /// The security settings as `key: value` lines, secrets masked.
    func describeSecurity() -> [String] {
        var lines: [String] = []
        if let tls {
            lines += ["http.tls.certificate: \(tls.certificate)", "http.tls.key: \(tls.key)",
                      "http.tls.minimumtls: \(tls.minimumVersion.rawValue)"]
            if !tls.clientCAs.isEmpty { lines.append("http.tls.clientcas: \(tls.clientCAs.joined(separator: ", "))") }
        }
        switch auth.mode {
        case .none: lines.append("auth: (none: anyone may pull, push and delete)")
        case .htpasswd(let realm, let path): lines += ["auth.htpasswd.realm: \(realm)", "auth.htpasswd.path: \(path)"]
        case .token(let t):
            lines += ["auth.token.realm: \(t.realm)", "auth.token.service: \(t.service)", "auth.token.issuer: \(t.issuer)"]
            if let b = t.rootCertBundle { lines.append("auth.token.rootcertbundle: \(b)") }
            if let j = t.jwks { lines.append("auth.token.jwks: \(j)") }
        case .tokenService(let t):
            lines += ["auth.tokenservice.realm: \(t.realm ?? "")", "auth.tokenservice.service: \(t.service)",
                      "auth.tokenservice.issuer: \(t.issuer)", "auth.tokenservice.signingkey: \(t.signingKey)",
                      "auth.tokenservice.htpasswd: \(t.htpasswd)", "auth.tokenservice.anonymous: \(t.anonymous)"]
        }
        if !auth.rules.isEmpty { lines.append("access: \(auth.rules.rules.count) rule(s)") }
        if rateLimit.isEnabled {
            lines.append("http.ratelimit: \(rateLimit.requestsPerSecond) req/s (burst \(rateLimit.burst)), \(rateLimit.bytesPerSecond) bytes/s")
        }
        return lines
    }
}
