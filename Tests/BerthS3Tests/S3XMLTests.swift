import XCTest

@testable import BerthS3

final class S3XMLTests: XCTestCase {
    func testParsesAListingWithNamespacesEntitiesAndCDATA() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <!-- a comment -->
              <Name>b</Name><IsTruncated>true</IsTruncated>
              <Contents><Key>a &amp; b &lt;c&gt; &#252;&#x263A;</Key><ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>
              <Contents><Key><![CDATA[raw &amp; <kept>]]></Key><Empty/></Contents>
              <s3:Prefixed xmlns:s3="x" attr='a>b'>v</s3:Prefixed>
            </ListBucketResult>
            """
        let root = try S3XMLElement.parse(Array(xml.utf8))
        XCTAssertEqual(root.name, "ListBucketResult")
        XCTAssertEqual(root["IsTruncated"], "true")
        let contents = root.all("Contents")
        XCTAssertEqual(contents.count, 2)
        XCTAssertEqual(contents[0]["Key"], "a & b <c> ü☺")
        XCTAssertEqual(contents[0]["ETag"], "\"abc\"")
        XCTAssertEqual(contents[1]["Key"], "raw &amp; <kept>")
        XCTAssertEqual(contents[1]["Empty"], "")
        XCTAssertEqual(root["Prefixed"], "v")
    }

    func testMalformedDocumentsAreErrors() {
        XCTAssertThrowsError(try S3XMLElement.parse(Array("<a><b></a>".utf8)))
        XCTAssertThrowsError(try S3XMLElement.parse(Array("<a>".utf8)))
        XCTAssertThrowsError(try S3XMLElement.parse(Array("".utf8)))
        XCTAssertThrowsError(try S3XMLElement.parse(Array("<a>&bogus;</a>".utf8)))
    }

    func testEscapeRoundTrips() throws {
        let text = "k<&>\"' ü"
        let root = try S3XMLElement.parse(Array(("<r>" + S3XMLElement.tag("Key", text) + "</r>").utf8))
        XCTAssertEqual(root["Key"], text)
    }
}
