import BerthAPI
import BerthCore
import XCTest

final class RateLimiterTests: XCTestCase {
    func testRequestBucketRefillsAtTheConfiguredRate() throws {
        let limiter = RateLimiter(requestsPerSecond: 2, burst: 2, bytesPerSecond: 0)
        let start = ContinuousClock.now
        try limiter.admit(client: "a", bytes: 0, now: start)
        try limiter.admit(client: "a", bytes: 0, now: start)
        XCTAssertThrowsError(try limiter.admit(client: "a", bytes: 0, now: start)) { error in
            let e = error as? RegistryError
            XCTAssertEqual(e?.code, .tooManyRequests)
            XCTAssertEqual(e?.headers["Retry-After"], "1")
        }
        try limiter.admit(client: "b", bytes: 0, now: start)  // clients are counted apart
        try limiter.admit(client: "a", bytes: 0, now: start + .milliseconds(600))
    }

    /// A large transfer is let through and puts the client in debt; it waits until repaid.
    func testByteBucketLetsATransferThroughThenMakesTheClientWait() throws {
        let limiter = RateLimiter(requestsPerSecond: 0, burst: 0, bytesPerSecond: 1000)
        let start = ContinuousClock.now
        try limiter.admit(client: "a", bytes: 5000, now: start)
        XCTAssertThrowsError(try limiter.admit(client: "a", bytes: 0, now: start + .seconds(1))) { error in
            XCTAssertEqual((error as? RegistryError)?.headers["Retry-After"], "3")
        }
        try limiter.admit(client: "a", bytes: 0, now: start + .seconds(4))
        limiter.charge(client: "a", bytes: 10_000)  // a download
        XCTAssertThrowsError(try limiter.admit(client: "a", bytes: 0, now: start + .seconds(5)))
        try limiter.admit(client: "a", bytes: 0, now: start + .seconds(15))
    }
}

extension RateLimiterTests {
    /// A tiny configured rate made the wait about 1e300 s, and `Int(wait)` trapped on the 429.
    /// Found by the config fuzz target, which uses the rate limits of every configuration that loads.
    func testFuzzRegressionTinyRateCapsRetryAfter() {
        let limiter = RateLimiter(requestsPerSecond: 1e-300, burst: 1, bytesPerSecond: 0)
        let now = ContinuousClock.now
        XCTAssertNoThrow(try limiter.admit(client: "a", bytes: 0, now: now))
        XCTAssertThrowsError(try limiter.admit(client: "a", bytes: 0, now: now)) { error in
            XCTAssertEqual((error as? RegistryError)?.headers["Retry-After"], "1000000000")
        }
    }
}
