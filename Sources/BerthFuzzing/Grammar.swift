import BerthCore

/// The distribution and image specs' grammars written as regular expressions, independently of
/// the hand-written byte parsers in BerthCore, so each target can compare the two.
enum Grammar {
    nonisolated(unsafe) static let name = #/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*/#
        .matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let tag = #/[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}/#.matchingSemantics(.unicodeScalar)
    /// The image spec's digest; the encoding's form depends on the algorithm (below).
    nonisolated(unsafe) static let digest = #/(?<algorithm>[a-z0-9]+(?:[+._-][a-z0-9]+)*):(?<encoded>[a-zA-Z0-9=_-]+)/#
        .matchingSemantics(.unicodeScalar)
    nonisolated(unsafe) static let lowerHex = #/[a-f0-9]+/#.matchingSemantics(.unicodeScalar)

    static func isName(_ s: String) -> Bool { s.utf8.count <= 255 && s.wholeMatch(of: name) != nil }
    static func isTag(_ s: String) -> Bool { s.wholeMatch(of: tag) != nil }

    /// The registered algorithms Berth verifies, with their encoded lengths.
    static let algorithms = ["sha256": 64, "sha512": 128]

    static func isSupportedDigest(_ s: String) -> Bool {
        guard let match = s.wholeMatch(of: digest), let length = algorithms[String(match.algorithm)] else { return false }
        return match.encoded.count == length && String(match.encoded).wholeMatch(of: lowerHex) != nil
    }
}

extension Collection<UInt8> {
    var text: String { String(decoding: self, as: UTF8.self) }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws(FuzzFailure) {
    if !condition { throw FuzzFailure(message()) }
}

/// What a parser that throws `RegistryError` returned, kept apart from the checks' own failures.
func attempt<T>(_ body: () throws(RegistryError) -> T) -> Result<T, RegistryError> {
    do { return .success(try body()) } catch { return .failure(error) }
}
