import BerthAPI
import XCTest

/// `ByteRange` on its own; the HTTP behaviour is in BlobTests and UploadTests. Several cases are
/// regressions found by the fuzz targets (Tests/BerthFuzzTests).
final class ByteRangeTests: XCTestCase {
    func testRanges() {
        XCTAssertEqual(ByteRange.resolve("bytes=0-9", size: 100), .partial(0..<10))
        XCTAssertEqual(ByteRange.resolve(" BYTES=90- ", size: 100), .partial(90..<100))
        XCTAssertEqual(ByteRange.resolve("bytes=-10", size: 100), .partial(90..<100))
        XCTAssertEqual(ByteRange.resolve("bytes=10-5", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange.resolve("bytes=100-", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange.resolve("bytes=-0", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange.resolve("bytes=0-1,5-6", size: 100), .whole)
        XCTAssertEqual(ByteRange.resolve(nil, size: 100), .whole)
    }

    /// Positions past Int64.max used to make the header "malformed" (the whole content at 200);
    /// they are as good as infinite: a last position is clamped, a first one is past the end.
    func testFuzzRegressionHugePositions() {
        XCTAssertEqual(ByteRange.resolve("bytes=0-99999999999999999999", size: 100), .partial(0..<100))
        XCTAssertEqual(ByteRange.resolve("bytes=-99999999999999999999", size: 100), .partial(0..<100))
        XCTAssertEqual(ByteRange.resolve("bytes=99999999999999999999-", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange.resolve("bytes=9223372036854775806-", size: .max), .partial((.max - 1)..<(.max)))
    }

    /// `Int64("+5")` accepted a sign; only digits are positions now ("bytes=5--3" was a 416).
    func testFuzzRegressionSignsAndUnicodeDigitsAreMalformed() {
        XCTAssertEqual(ByteRange.resolve("bytes=+1-2", size: 100), .whole)
        XCTAssertEqual(ByteRange.resolve("bytes=5--3", size: 100), .whole)
        XCTAssertEqual(ByteRange.resolve("bytes=-+3", size: 100), .whole)
        XCTAssertEqual(ByteRange.resolve("bytes=١-٢", size: 100), .whole)
        XCTAssertNil(ByteRange.parseContentRange("+1-2"))
    }

    func testContentRanges() {
        XCTAssertEqual(ByteRange.parseContentRange("0-1023").map { [$0.start, $0.end] }, [0, 1023])
        XCTAssertEqual(ByteRange.parseContentRange("bytes 5-9/100").map { [$0.start, $0.end] }, [5, 9])
        XCTAssertEqual(ByteRange.parseContentRange("bytes=5-9/*").map { [$0.start, $0.end] }, [5, 9])
        XCTAssertNil(ByteRange.parseContentRange("9-5"))
        XCTAssertNil(ByteRange.parseContentRange("1-2-3"))
        XCTAssertNil(ByteRange.parseContentRange("nonsense"))
    }

    /// `end - start + 1` of this range overflowed and trapped the server on a PATCH (UploadTests
    /// has the request); a chunk's length must fit in an Int64.
    func testFuzzRegressionContentRangeLengthOverflow() {
        XCTAssertNil(ByteRange.parseContentRange("0-9223372036854775807"))
        XCTAssertNil(ByteRange.parseContentRange("0-9223372036854775808"))
        XCTAssertEqual(ByteRange.parseContentRange("1-9223372036854775806").map { [$0.start, $0.end] }, [1, .max - 1])
    }
}
