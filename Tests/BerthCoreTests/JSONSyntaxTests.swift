import BerthCore
import XCTest

/// The strict JSON check manifests pass before they are decoded.
final class JSONSyntaxTests: XCTestCase {
    func testValidTexts() {
        for text in [#"{}"#, #"[]"#, #" {"a": [1, -0.5e+3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"]} "#, "0", #""""#] {
            XCTAssertNil(JSONSyntax.problem(in: Array(text.utf8)), text)
        }
    }

    func testInvalidTexts() {
        let cases: [(String, String)] = [
            ("", "unexpected end of the JSON text at byte 0"),
            ("{", "unexpected end of the JSON text at byte 1"),
            (#"{"a":1,}"#, "expected a quoted key at byte 7"),
            ("[1,]", "expected a value at byte 3"),
            ("[1 2]", "expected ',' or ']' at byte 3"),
            ("01", "unexpected text after the JSON value at byte 1"),
            ("1.", "expected a digit at byte 2"),
            ("+1", "expected a value at byte 0"),
            ("{'a':1}", "expected a quoted key at byte 1"),
            (#"{"a" 1}"#, "expected ':' after a key at byte 5"),
            (#""\x""#, "invalid escape in a string at byte 2"),
            (#""\u12"#, #"truncated \u escape at byte 3"#),
            ("tru", "expected true at byte 0"),
            ("{} {}", "unexpected text after the JSON value at byte 3"),
        ]
        for (text, problem) in cases {
            XCTAssertEqual(JSONSyntax.problem(in: Array(text.utf8)), problem, text)
        }
    }

    /// JSONDecoder skipped unknown fields unchecked, so these manifests were accepted although no
    /// other JSON parser reads them. Found by the manifest fuzz target (JSONSerialization disagreed).
    func testFuzzRegressionManifestsWithInvalidJSONInUnknownFieldsAreRefused() {
        let digest = "sha256:" + String(repeating: "1", count: 64)
        let base = #"{"schemaVersion":2,"config":{"mediaType":"x","digest":"\#(digest)","size":1},"layers":[],"#
        let cases: [([UInt8], String)] = [
            (Array((base + "\"x\":\"a\tb\"}").utf8), "unescaped control character in a string"),
            (Array(base.utf8) + [0x22, 0x78, 0x22, 0x3a, 0x22, 0xe0, 0x22, 0x7d], "it is not valid UTF-8"),
            (Array((base + #""x":"\ud800"}"#).utf8), "unpaired surrogate \\ud800"),
            (Array((base + #""x":"\udc00\ud800"}"#).utf8), "unpaired surrogate \\udc00"),
            (Array((base + "\"x\":" + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "}").utf8),
             "nesting deeper than 256 levels"),
        ]
        for (bytes, problem) in cases {
            XCTAssertThrowsError(try ParsedManifest.parse(bytes, contentType: MediaType.ociManifest)) { error in
                let e = error as? RegistryError
                XCTAssertEqual(e?.code, .manifestInvalid)
                XCTAssertTrue(e?.message.hasPrefix("manifest is not valid JSON: \(problem)") ?? false, e?.message ?? "")
            }
        }
        XCTAssertNoThrow(try ParsedManifest.parse(Array((base + #""x":"\ud83d\ude00"}"#).utf8), contentType: MediaType.ociManifest))
    }
}
