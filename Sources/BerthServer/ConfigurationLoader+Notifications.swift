import BerthAPI
import Foundation

/// `notifications`: webhook endpoints that receive push, pull, mount and delete events.
public struct NotificationSettings: Sendable, Equatable {
    /// One receiver of events (`notifications.endpoints[i]`).
    public struct Endpoint: Sendable, Equatable {
        /// Unique among the endpoints; names the endpoint's queue in storage and its log lines.
        public var name: String
        /// A disabled endpoint gets nothing queued and nothing delivered.
        public var disabled = false
        /// Where events are POSTed (http or https).
        public var url: URL
        /// Added to every request, e.g. `Authorization`. Values are never logged.
        public var headers: [String: [String]] = [:]
        /// Limit on one delivery request, connection included.
        public var timeout: Duration = .seconds(1)
        /// Consecutive failed deliveries after which a warning is logged.
        public var threshold = 10
        /// First wait after a failure; doubled after each further failure, up to `maximumBackoff`.
        public var backoff: Duration = .seconds(1)
        /// Events whose target has one of these media types are not sent to this endpoint.
        public var ignoredMediaTypes: Set<String> = []
        /// Events with one of these actions are not sent to this endpoint.
        public var ignoredActions: Set<RegistryEvent.Action> = []

        public init(name: String, url: URL) {
            self.name = name
            self.url = url
        }

        /// Whether this endpoint takes the event (it is enabled and ignores neither its action nor its media type).
        public func wants(_ event: RegistryEvent) -> Bool {
            wants(event.action) && !(event.mediaType.map(ignoredMediaTypes.contains) ?? false)
        }

        /// Whether this endpoint takes events of this action at all.
        public func wants(_ action: RegistryEvent.Action) -> Bool { !disabled && !ignoredActions.contains(action) }
    }

    public var endpoints: [Endpoint] = []

    /// The longest wait between retries of a failing endpoint.
    public static let maximumBackoff: Duration = .seconds(300)

    public init() {}
}

extension ConfigurationLoader {
    static let endpointKeys: Set<String> = [
        "name", "disabled", "url", "headers", "timeout", "threshold", "backoff", "ignoredmediatypes", "ignore",
    ]

    mutating func buildNotifications(_ tree: [String: Any], _ c: inout BerthConfiguration) {
        if lookup(tree, "notifications.events.includereferences") != nil {
            warnings.append("notifications.events.includereferences: events never include references; the setting has no effect")
        }
        guard let value = lookup(tree, "notifications.endpoints") else { return }
        guard let list = value as? [Any] else {
            problems.append("notifications.endpoints must be a list of endpoints like { name: hook, url: https://example.com/events }")
            return
        }
        var names: Set<String> = []
        for (i, item) in list.enumerated() {
            guard let dict = item as? [String: Any] else {
                problems.append("notifications.endpoints[\(i)] must be a mapping with name, url and optional settings")
                continue
            }
            guard let endpoint = buildEndpoint(dict, key: "notifications.endpoints[\(i)]") else { continue }
            if !names.insert(endpoint.name).inserted {
                problems.append("notifications.endpoints[\(i)].name \(endpoint.name) is used twice; give every endpoint its own name")
                continue
            }
            c.notifications.endpoints.append(endpoint)
        }
    }

    private mutating func buildEndpoint(_ dict: [String: Any], key: String) -> NotificationSettings.Endpoint? {
        for k in dict.keys.sorted() where !Self.endpointKeys.contains(k.lowercased()) {
            warnings.append("unknown configuration key \(key).\(k) is ignored")
        }
        let name = string(dict, "name") ?? ""
        if name.isEmpty { problems.append("\(key).name is required: a unique name for the endpoint") }
        let label = name.isEmpty ? key : "\(key) (\(name))"
        let text = string(dict, "url") ?? ""
        let url = URL(string: text)
        let scheme = url?.scheme?.lowercased()
        guard let url, scheme == "http" || scheme == "https", url.host?.isEmpty == false else {
            problems.append("\(label).url must be an absolute http or https URL like https://example.com/events, not \"\(text)\"")
            return nil
        }
        guard !name.isEmpty else { return nil }
        var endpoint = NotificationSettings.Endpoint(name: name, url: url)
        if let v = bool(dict, "disabled") { endpoint.disabled = v }
        endpoint.headers = endpointHeaders(dict, label: label)
        if let v = positiveDuration(dict, "timeout", label: label) { endpoint.timeout = v }
        if let v = positiveDuration(dict, "backoff", label: label) { endpoint.backoff = v }
        if let v = string(dict, "threshold") {
            if let n = Int(v), n > 0 { endpoint.threshold = n }
            else { problems.append("\(label).threshold must be a whole number of failures above 0, not \(v)") }
        }
        endpoint.ignoredMediaTypes = Set(stringList(dict, "ignoredmediatypes"))
        endpoint.ignoredMediaTypes.formUnion(stringList(dict, "ignore.mediatypes"))
        for action in stringList(dict, "ignore.actions") {
            if let a = RegistryEvent.Action(rawValue: action.lowercased()) { endpoint.ignoredActions.insert(a) }
            else { problems.append("\(label).ignore.actions: \(action) is not one of push, pull, mount, delete") }
        }
        return endpoint
    }

    private mutating func endpointHeaders(_ dict: [String: Any], label: String) -> [String: [String]] {
        guard let value = lookup(dict, "headers") else { return [:] }
        guard let map = value as? [String: Any] else {
            problems.append("\(label).headers must map header names to lists of values, like Authorization: [Bearer <token>]")
            return [:]
        }
        var headers: [String: [String]] = [:]
        for (name, values) in map {
            guard Self.isToken(name) else {
                problems.append("\(label).headers: \(name) is not a valid header name")
                continue
            }
            // Values are secrets as often as not: the problem names the header only.
            if let list = values as? [Any] {
                headers[name] = list.compactMap(Self.scalarString)
            } else if let one = Self.scalarString(values) {
                headers[name] = [one]
            } else {
                problems.append("\(label).headers.\(name) must be a list of values")
            }
        }
        return headers
    }

    private mutating func positiveDuration(_ dict: [String: Any], _ key: String, label: String) -> Duration? {
        guard let s = string(dict, key) else { return nil }
        guard let d = GoDuration.parse(s), d > .zero else {
            problems.append("\(label).\(key) \(s) is not a duration above zero like 1s, 500ms or 2m")
            return nil
        }
        return d
    }
}
