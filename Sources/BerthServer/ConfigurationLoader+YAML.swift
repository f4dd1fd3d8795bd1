import CYaml
import Yams

/// YAML loaded with two guards around Yams. Yams builds a separate copy of an aliased node at
/// every use, so a few lines of nested aliases (a "billion laughs" document) would take hours and
/// gigabytes: libyaml's own events are counted first, in time and memory proportional to the text.
/// And Yams traps on a mapping key that is a list or a mapping (`? [a, b]`, `{[a]: 1}`): the
/// composed nodes are checked before Yams turns them into values.
extension ConfigurationLoader {
    /// More nodes than any configuration needs (an access list of thousands of rules included).
    static let maxYAMLNodes = 100_000

    /// The YAML value of `text`; throws `YAMLNotUsable` past `maxYAMLNodes` or for a key Yams cannot take.
    static func loadYAML(_ text: String) throws -> Any? {
        if let count = expandedNodeCount(text, limit: maxYAMLNodes), count > maxYAMLNodes {
            throw YAMLNotUsable(reason: "it expands to more than \(maxYAMLNodes) values once its aliases (*name) are resolved; write the values out instead of nesting aliases")
        }
        guard let node = try Yams.compose(yaml: text) else { return nil }
        try checkKeys(node)
        return node.any
    }

    struct YAMLNotUsable: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// Every mapping key is a single value. The walk sees each alias's copy again, which the node
    /// bound above keeps small.
    private static func checkKeys(_ node: Node) throws {
        switch node {
        case .scalar, .alias:
            return
        case .sequence(let sequence):
            for child in sequence { try checkKeys(child) }
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard case .scalar = key else {
                    let place = key.mark.map { " at line \($0.line), column \($0.column)" } ?? ""
                    throw YAMLNotUsable(reason: "the mapping key\(place) is a list or a mapping; keys must be single values such as names")
                }
                try checkKeys(value)
            }
        }
    }

    /// The nodes of the first document with each alias counted as a copy of its anchored node;
    /// counting stops just past `limit`. nil when libyaml cannot parse the text (Yams then
    /// reports the error with its position).
    static func expandedNodeCount(_ text: String, limit: Int) -> Int? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { buffer -> Int? in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var sizes: [String: Int] = [:]  // expanded size of each anchored node
            var open: [(anchor: String?, size: Int)] = []  // sequences and mappings not yet closed
            var total = 0
            func closed(_ size: Int, anchor: String?) {
                if let anchor { sizes[anchor] = size }
                if !open.isEmpty { open[open.count - 1].size += size }
            }
            func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
                pointer.map { String(cString: $0) }
            }
            while total <= limit {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_STREAM_END_EVENT, YAML_DOCUMENT_END_EVENT:
                    return total
                case YAML_SCALAR_EVENT:
                    total += 1
                    closed(1, anchor: name(event.data.scalar.anchor))
                case YAML_ALIAS_EVENT:
                    // Every size counted so far is at most `total`, so this cannot overflow.
                    let size = name(event.data.alias.anchor).flatMap { sizes[$0] } ?? 1
                    total += size
                    closed(size, anchor: nil)
                case YAML_SEQUENCE_START_EVENT:
                    total += 1
                    open.append((name(event.data.sequence_start.anchor), 1))
                case YAML_MAPPING_START_EVENT:
                    total += 1
                    open.append((name(event.data.mapping_start.anchor), 1))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    if let node = open.popLast() { closed(node.size, anchor: node.anchor) }
                default:
                    break
                }
            }
            return total
        }
    }
}
