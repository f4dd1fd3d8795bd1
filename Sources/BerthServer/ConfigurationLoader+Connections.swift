/// `http.timeouts` and `http.maxconnections`: how long a connection may stall and how many may be
/// open, so that slow or hostile clients (slowloris, bodies that stop, responses nobody reads,
/// thousands of idle sockets) cannot hold the server's memory or file descriptors.
///
///     http:
///       timeouts:
///         header: 30s   # a request head must arrive whole within this, from its first byte
///         body: 60s     # a request body that sends nothing for this long is cut off
///         write: 60s    # a response the client does not read for this long is cut off
///         idle: 2m      # a keep-alive connection with no request (or a TLS handshake) is closed after this
///       maxconnections: 10000   # default: half the process's open-file limit
public struct ConnectionLimits: Sendable, Equatable {
    public var header: Duration = .seconds(30)
    public var body: Duration = .seconds(60)
    public var write: Duration = .seconds(60)
    public var idle: Duration = .seconds(120)
    /// nil: half the open-file limit (each connection may also hold a file open), see `resolvedMaxConnections`.
    public var maxConnections: Int?

    public init() {}

    /// The connection cap in force: the configured one, or half the open-file limit `fileLimit`.
    public func resolvedMaxConnections(fileLimit: Int) -> Int {
        maxConnections ?? max(64, fileLimit / 2)
    }

    func describe() -> [String] {
        [
            "http.timeouts.header: \(GoDuration.format(header))",
            "http.timeouts.body: \(GoDuration.format(body))",
            "http.timeouts.write: \(GoDuration.format(write))",
            "http.timeouts.idle: \(GoDuration.format(idle))",
            "http.maxconnections: \(maxConnections.map(String.init) ?? "(half the open-file limit)")",
        ]
    }
}

extension ConfigurationLoader {
    mutating func buildConnectionLimits(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        let timeouts: [(String, WritableKeyPath<ConnectionLimits, Duration>)] = [
            ("header", \.header), ("body", \.body), ("write", \.write), ("idle", \.idle),
        ]
        for (name, path) in timeouts {
            guard let v = duration(tree, "http.timeouts.\(name)") else { continue }
            if v < .milliseconds(100) || v > .seconds(24 * 3600) {
                problems.append("http.timeouts.\(name) \(GoDuration.format(v)) must be between 100ms and 24h")
            } else {
                c.connections[keyPath: path] = v
            }
        }
        if let raw = string(tree, "http.maxconnections") {
            if let n = Int(raw), n >= 1 {
                c.connections.maxConnections = n
            } else {
                problems.append("http.maxconnections \(raw) must be a whole number of connections, at least 1")
            }
        }
    }
}
