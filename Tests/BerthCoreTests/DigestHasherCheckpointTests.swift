import BerthCore
import Crypto
import XCTest

final class DigestHasherCheckpointTests: XCTestCase {
    /// A hash continued from a checkpoint taken at any offset ends where one pass would, for both
    /// algorithms and at every offset within and across block boundaries.
    func testContinuingFromACheckpointMatchesOnePass() throws {
        var generator = SystemRandomNumberGenerator()
        let data = (0..<1_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for algorithm in DigestAlgorithm.allCases {
            let whole = Digest.compute(data, algorithm: algorithm)
            for split in [0, 1, 55, 63, 64, 65, 111, 127, 128, 129, 500, 999, 1_000] {
                var first = DigestHasher(algorithm)
                data[..<split].withUnsafeBytes { first.update($0) }
                let checkpoint = try XCTUnwrap(first.checkpoint)
                var resumed = try XCTUnwrap(DigestHasher(checkpoint: checkpoint), "\(algorithm) at \(split)")
                XCTAssertEqual(resumed.byteCount, Int64(split))
                XCTAssertEqual(resumed.algorithm, algorithm)
                data[split...].withUnsafeBytes { resumed.update($0) }
                XCTAssertEqual(resumed.finalize(), whole, "\(algorithm) split at \(split)")
            }
        }
        // An independent implementation agrees on the one-pass result.
        XCTAssertEqual(Digest.compute(data).hex,
                       SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined())
    }

    func testMalformedCheckpointsAreRefused() throws {
        var hasher = DigestHasher(.sha256)
        [UInt8](repeating: 7, count: 70).withUnsafeBytes { hasher.update($0) }
        let good = try XCTUnwrap(hasher.checkpoint)
        XCTAssertNil(DigestHasher(checkpoint: []))
        XCTAssertNil(DigestHasher(checkpoint: Array(good.dropLast())))
        XCTAssertNil(DigestHasher(checkpoint: good + [0]))
        var wrongAlgorithm = good
        wrongAlgorithm[4] = 9
        XCTAssertNil(DigestHasher(checkpoint: wrongAlgorithm))
        var wrongMagic = good
        wrongMagic[0] = 0x41
        XCTAssertNil(DigestHasher(checkpoint: wrongMagic))
    }
}
