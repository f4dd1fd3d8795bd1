/// Network access rules from configuration (`network`):
///
///     network:
///       trustedproxies: ["10.0.0.5/32"]
///       allow: ["0.0.0.0/0", "::/0"]
///       deny: ["203.0.113.0/24"]
///       actions:
///         push: { allow: ["10.20.0.0/16"] }
///
/// A request is refused when its client address is in a deny list (the global one or its
/// action's), or when an allow list applies (global or its action's) and the address is in
/// none of its ranges. Every list that applies must let the address through, so the global
/// lists bound what the per-action ones can open. The rules are configuration only, so every
/// node given the same file decides the same way.
public struct NetworkRules: Sendable, Equatable {
    /// Allow and deny ranges; an empty allow list lets every address through.
    public struct Lists: Sendable, Equatable {
        public var allow: [CIDR]
        public var deny: [CIDR]

        public init(allow: [CIDR] = [], deny: [CIDR] = []) {
            self.allow = allow
            self.deny = deny
        }

        public var isEmpty: Bool { allow.isEmpty && deny.isEmpty }
    }

    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    public var trustedProxies: [CIDR]
    public var global: Lists
    public var actions: [AccessAction: Lists]

    public init(trustedProxies: [CIDR] = [], global: Lists = Lists(), actions: [AccessAction: Lists] = [:]) {
        self.trustedProxies = trustedProxies
        self.global = global
        self.actions = actions
    }

    /// Nothing configured: clients are the connections' peers and nobody is refused.
    public var isEmpty: Bool { trustedProxies.isEmpty && !restrictsAccess }

    /// Whether any allow or deny list exists (trusted proxies alone refuse nobody).
    public var restrictsAccess: Bool { !global.isEmpty || actions.values.contains { !$0.isEmpty } }

    /// Why `client` may not do `actions` (none: a request such as `GET /v2/` or `/token`, which
    /// only the global lists govern); nil when it may.
    public func refusal(for client: ClientAddress, actions wanted: [AccessAction]) -> NetworkRefusal? {
        let applicable = [(key: "network", lists: global, action: AccessAction?.none)]
            + wanted.compactMap { action in actions[action].map { ("network.actions.\(action.rawValue)", $0, action) } }
        let doing = wanted.isEmpty ? "use this registry" : wanted.map(\.rawValue).joined(separator: " and ")
        let who = client.address == nil
            ? "a client whose address is unknown (\(client.unknownReason ?? "no address"))" : "client \(client.text)"
        func refuse(_ rule: String, _ why: String, _ action: AccessAction?) -> NetworkRefusal {
            NetworkRefusal(rule: rule, action: action ?? wanted.first, message: "\(who) may not \(doing): \(why)")
        }
        guard let address = client.address else {
            // An address that cannot be read matches no range: refuse wherever a rule applies
            // rather than guess, so that an unreadable header never slips past a deny list.
            guard let first = applicable.first(where: { !$0.lists.isEmpty }) else { return nil }
            let rule = first.key + (first.lists.deny.isEmpty ? ".allow" : ".deny")
            return refuse(rule, "\(rule) applies", first.action)
        }
        for (key, lists, action) in applicable {
            if let range = lists.deny.first(where: { $0.contains(address) }) {
                return refuse("\(key).deny", "in \(key).deny (\(range))", action)
            }
        }
        for (key, lists, action) in applicable where !lists.allow.isEmpty && !lists.allow.contains(where: { $0.contains(address) }) {
            return refuse("\(key).allow", "not in \(key).allow", action)
        }
        return nil
    }

    /// Who a request comes from. The connection's peer, unless the peer is a trusted proxy:
    /// then the forwarded hops are read from the right (the hop the proxy itself added) and the
    /// first one that is not a trusted proxy is the client. Hops further left were written by
    /// whoever sent the request to the proxy and are never believed.
    ///
    /// `X-Forwarded-For` and `Forwarded` are both read. A proxy that maintains one of them passes
    /// the other through as the client sent it, so when both are present and name different
    /// clients, the client is unknown (and refused wherever a rule applies) rather than taken
    /// from a header the client may have written.
    public func clientAddress(peer: String?, xForwardedFor: [String], forwarded: [String]) -> ClientAddress {
        guard let peer, let peerAddress = ForwardedHeaders.address(peer[...]) else {
            return ClientAddress(address: nil, text: ClientAddress.printable(peer ?? "unknown"))
        }
        guard trustedProxies.contains(where: { $0.contains(peerAddress) }) else {
            return ClientAddress(address: peerAddress)
        }
        let hops = [ForwardedHeaders.xForwardedFor(xForwardedFor), ForwardedHeaders.forwardedFor(forwarded)]
            .filter { !($0.count == 1 && $0[0].isEmpty) && !$0.isEmpty }
        let clients = hops.map { resolve($0, proxy: peerAddress) }
        guard let first = clients.first else { return ClientAddress(address: peerAddress) }
        guard clients.allSatisfy({ $0.address != nil && $0.address == first.address }) || clients.count == 1 else {
            return ClientAddress(address: nil, text: "unknown", proxy: peerAddress,
                                 unknownReason: "X-Forwarded-For and Forwarded name different clients")
        }
        return first
    }

    /// The right-most hop that is not a trusted proxy (the left-most when all are).
    private func resolve(_ hops: [Substring], proxy: IPAddress) -> ClientAddress {
        var client: IPAddress?
        for hop in hops.reversed() {
            guard let address = ForwardedHeaders.address(hop) else {
                return ClientAddress(address: nil, text: "unknown", proxy: proxy,
                                     unknownReason: "trusted proxy \(proxy) forwarded \(ClientAddress.printable(hop))")
            }
            client = address
            if !trustedProxies.contains(where: { $0.contains(address) }) { break }
        }
        return ClientAddress(address: client, proxy: proxy)
    }
}

/// Where a request comes from, for network rules, rate limits, logs and events.
public struct ClientAddress: Sendable, Equatable {
    /// nil when it could not be read (a forwarded hop that is no address, conflicting headers).
    public var address: IPAddress?
    /// The address as logged; `unknown` when there is none.
    public var text: String
    /// The trusted proxy the address was forwarded by; nil for the connection's own peer.
    public var proxy: IPAddress?
    /// Why the address is unknown, for logs.
    public var unknownReason: String?

    public init(address: IPAddress?, text: String? = nil, proxy: IPAddress? = nil, unknownReason: String? = nil) {
        self.address = address
        self.text = text ?? address?.description ?? "unknown"
        self.proxy = proxy
        self.unknownReason = unknownReason
    }

    /// At most 64 visible ASCII characters of `s`, so a forwarded header cannot forge log lines.
    static func printable(_ s: some StringProtocol) -> String {
        String(String(s).unicodeScalars.prefix(64).map { $0.value > 0x20 && $0.value < 0x7f ? Character($0) : "?" })
    }
}

/// A request the network rules refuse: 403 `DENIED` with `message`.
public struct NetworkRefusal: Sendable, Equatable {
    /// The list that refused, e.g. `network.actions.push.allow`.
    public var rule: String
    /// The action refused; nil for requests of no action (`GET /v2/`, `/token`).
    public var action: AccessAction?
    public var message: String

    public init(rule: String, action: AccessAction?, message: String) {
        self.rule = rule
        self.action = action
        self.message = message
    }
}
