import Foundation
import Hummingbird

/// `application/x-www-form-urlencoded` fields, from a query string or a form body.
struct FormData {
    private(set) var fields: [String: String] = [:]

    init(_ encoded: String) {
        for pair in encoded.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = Self.decode(parts[0]), fields[key] == nil else { continue }
            fields[key] = parts.count > 1 ? Self.decode(parts[1]) ?? "" : ""
        }
    }

    subscript(_ key: String) -> String? { fields[key] }

    /// The query string of a request.
    static func query(_ request: Request) -> FormData { FormData(request.uri.query ?? "") }

    /// A form body of at most 64 KiB.
    static func body(_ request: Request) async throws -> FormData {
        let buffer = try await request.body.collect(upTo: 64 << 10)
        return FormData(String(buffer: buffer))
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
