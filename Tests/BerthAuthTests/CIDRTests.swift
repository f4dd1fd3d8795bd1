import BerthAuth
import XCTest

/// Address and range parsing and prefix matching: edge prefixes, mapped addresses, bad input.
final class CIDRTests: XCTestCase {
    func ip(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> IPAddress {
        guard let address = IPAddress(s) else {
            XCTFail("\(s) did not parse", file: file, line: line)
            return IPAddress("0.0.0.0")!
        }
        return address
    }

    func cidr(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> CIDR {
        do { return try CIDR(parsing: s) } catch {
            XCTFail("\(s): \(error)", file: file, line: line)
            return try! CIDR(parsing: "0.0.0.0/0")
        }
    }

    func refusal(_ s: String) -> String? {
        do { _ = try CIDR(parsing: s); return nil } catch { return error.description }
    }

    func testIPv4Addresses() {
        XCTAssertEqual(ip("0.0.0.0").description, "0.0.0.0")
        XCTAssertEqual(ip("255.255.255.255").description, "255.255.255.255")
        XCTAssertEqual(ip("10.20.30.40").description, "10.20.30.40")
        XCTAssertEqual(ip("127.0.0.1").family, .v4)
        for bad in ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-1", "01.2.3.4", "1.2.3.04", "1..2.3", "1.2.3.4 ",
                    "a.b.c.d", "1.2.3.4/8", "1234.1.1.1", "+1.2.3.4", "1.2.3.٣"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testIPv6AddressesAndTheirCanonicalText() {
        XCTAssertEqual(ip("::").description, "::")
        XCTAssertEqual(ip("::1").description, "::1")
        XCTAssertEqual(ip("0:0:0:0:0:0:0:1").description, "::1")
        XCTAssertEqual(ip("2001:DB8:0:0:0:0:2:1").description, "2001:db8::2:1")
        XCTAssertEqual(ip("2001:db8:0:1:1:1:1:1").description, "2001:db8:0:1:1:1:1:1")  // one zero group stays
        XCTAssertEqual(ip("2001:0:0:1:0:0:0:1").description, "2001:0:0:1::1")  // the longer run
        XCTAssertEqual(ip("2001:db8:0:0:1:0:0:1").description, "2001:db8::1:0:0:1")  // the first of equal runs
        XCTAssertEqual(ip("fd00::").description, "fd00::")
        XCTAssertEqual(ip("1:2:3:4:5:6:7::").description, "1:2:3:4:5:6:7:0")
        XCTAssertEqual(ip("::2:3:4:5:6:7:8").description, "0:2:3:4:5:6:7:8")
        XCTAssertEqual(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").description, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
        XCTAssertEqual(ip("::1").family, .v6)
        XCTAssertEqual(ip("64:ff9b::192.0.2.33").description, "64:ff9b::c000:221")
        for bad in [":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
                    "12345::", "g::1", "1:2:3:4:5:6:7:", ":1:2:3:4:5:6:7", "::1.2.3", "::1.2.3.4:5", "1.2.3.4::",
                    "fe80::1%eth0", "[::1]", "::ffff:256.0.0.1"] {
            XCTAssertNil(IPAddress(bad), bad)
        }
    }

    func testIPv4MappedAddressesAreIPv4() {
        let mapped = ip("::ffff:127.0.0.2")
        XCTAssertEqual(mapped, ip("127.0.0.2"))
        XCTAssertEqual(mapped.family, .v4)
        XCTAssertEqual(mapped.description, "127.0.0.2")
        XCTAssertEqual(ip("::FFFF:7f00:1"), ip("127.0.0.1"))
        XCTAssertNotEqual(ip("::127.0.0.1"), ip("127.0.0.1"))  // IPv4-compatible, not mapped
        XCTAssertEqual(ip("::127.0.0.1").family, .v6)
    }

    func testIPv4Ranges() {
        let net = cidr("10.20.0.0/16")
        XCTAssertEqual(net.description, "10.20.0.0/16")
        XCTAssertTrue(net.contains(ip("10.20.0.0")))
        XCTAssertTrue(net.contains(ip("10.20.255.255")))
        XCTAssertFalse(net.contains(ip("10.21.0.0")))
        XCTAssertFalse(net.contains(ip("10.19.255.255")))
        XCTAssertTrue(net.contains(ip("::ffff:10.20.1.2")), "mapped clients match IPv4 ranges")

        let everyone = cidr("0.0.0.0/0")
        XCTAssertTrue(everyone.contains(ip("0.0.0.0")))
        XCTAssertTrue(everyone.contains(ip("255.255.255.255")))
        XCTAssertFalse(everyone.contains(ip("::1")), "IPv4 ranges never match IPv6 clients")

        let host = cidr("127.0.0.1/32")
        XCTAssertTrue(host.contains(ip("127.0.0.1")))
        XCTAssertFalse(host.contains(ip("127.0.0.2")))
        XCTAssertEqual(cidr("127.0.0.1"), host, "a plain address is a /32")
        XCTAssertTrue(cidr("128.0.0.0/1").contains(ip("200.1.1.1")))
        XCTAssertFalse(cidr("128.0.0.0/1").contains(ip("127.255.255.255")))
        XCTAssertTrue(cidr("192.168.1.254/31").contains(ip("192.168.1.255")))
        XCTAssertFalse(cidr("192.168.1.254/31").contains(ip("192.168.1.253")))
    }

    func testIPv6Ranges() {
        let ula = cidr("fd00::/8")
        XCTAssertTrue(ula.contains(ip("fd12:3456::1")))
        XCTAssertTrue(ula.contains(ip("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")))
        XCTAssertFalse(ula.contains(ip("fe00::")))
        XCTAssertFalse(ula.contains(ip("fc00::")))

        let everyV6 = cidr("::/0")
        XCTAssertTrue(everyV6.contains(ip("::")))
        XCTAssertTrue(everyV6.contains(ip("2001:db8::1")))
        XCTAssertFalse(everyV6.contains(ip("10.0.0.1")), "::/0 is every IPv6 client, not IPv4 ones")
        XCTAssertFalse(everyV6.contains(ip("::ffff:10.0.0.1")))

        let host = cidr("2001:db8::1/128")
        XCTAssertTrue(host.contains(ip("2001:db8::1")))
        XCTAssertFalse(host.contains(ip("2001:db8::2")))
        XCTAssertEqual(cidr("2001:db8::1"), host, "a plain address is a /128")

        // Prefixes across the middle of the 128 bits.
        XCTAssertTrue(cidr("2001:db8:0:1::/64").contains(ip("2001:db8:0:1:ffff:ffff:ffff:ffff")))
        XCTAssertFalse(cidr("2001:db8:0:1::/64").contains(ip("2001:db8:0:2::")))
        XCTAssertTrue(cidr("2001:db8::8000:0:0:0/65").contains(ip("2001:db8::ffff:0:0:1")))
        XCTAssertFalse(cidr("2001:db8::8000:0:0:0/65").contains(ip("2001:db8::7fff:0:0:1")))
        XCTAssertTrue(cidr("2001:db8::/63").contains(ip("2001:db8:0:1::5")))
        XCTAssertFalse(cidr("2001:db8::/63").contains(ip("2001:db8:0:2::5")))
        XCTAssertEqual(cidr("2001:DB8::/32").description, "2001:db8::/32")
    }

    func testMappedRangesAreIPv4Ranges() {
        let mapped = cidr("::ffff:10.0.0.0/104")
        XCTAssertEqual(mapped, cidr("10.0.0.0/8"))
        XCTAssertEqual(mapped.description, "10.0.0.0/8")
        XCTAssertTrue(mapped.contains(ip("10.1.2.3")))
        XCTAssertEqual(cidr("::ffff:0:0/96"), cidr("0.0.0.0/0"))
        XCTAssertEqual(cidr("::ffff:127.0.0.1"), cidr("127.0.0.1/32"))
        XCTAssertNotNil(refusal("::ffff:0:0/95"))
    }

    func testInvalidRangesSayWhy() {
        XCTAssertEqual(refusal("10.20.1.0/16"),
                       "10.20.1.0/16 has address bits set beyond its /16 prefix; did you mean 10.20.0.0/16?")
        XCTAssertEqual(refusal("fd00::1/8"), "fd00::1/8 has address bits set beyond its /8 prefix; did you mean fd00::/8?")
        XCTAssertEqual(refusal("10.0.0.0/33"), "10.0.0.0/33: the prefix length must be a number from 0 to 32")
        XCTAssertEqual(refusal("::/129"), "::/129: the prefix length must be a number from 0 to 128")
        XCTAssertEqual(refusal("10.0.0.300/8"),
                       "10.0.0.300/8 is not an IPv4 or IPv6 address or range (like 10.20.0.0/16 or fd00::/8)")
        for bad in ["", "/8", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8", "10.0.0.0/ 8", "10.0.0.0/0008",
                    "localhost", "10.0.0.0/x", "fe80::1%eth0/64", "*"] {
            XCTAssertNotNil(refusal(bad), bad)
        }
        XCTAssertNil(refusal(" 10.0.0.0/8 "), "surrounding spaces are allowed")
        XCTAssertNil(refusal("0.0.0.0/0"))
        XCTAssertNil(refusal("::/0"))
    }
}
