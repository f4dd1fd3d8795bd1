import BerthAuth
import BerthCore
import XCTest

final class AccessRulesTests: XCTestCase {
    func testGlobs() {
        XCTAssertTrue(Glob.matches("team-a/**", "team-a/app"))
        XCTAssertTrue(Glob.matches("team-a/**", "team-a/x/y"))
        XCTAssertFalse(Glob.matches("team-a/**", "team-a"))
        XCTAssertFalse(Glob.matches("team-a/**", "team-ab/x"))
        XCTAssertTrue(Glob.matches("team-a/*", "team-a/app"))
        XCTAssertFalse(Glob.matches("team-a/*", "team-a/x/y"))
        XCTAssertTrue(Glob.matches("**", "anything/at/all"))
        XCTAssertTrue(Glob.matches("*/app", "x/app"))
        XCTAssertFalse(Glob.matches("*/app", "x/y/app"))
        XCTAssertTrue(Glob.matches("a/**/b", "a/b"))
        XCTAssertTrue(Glob.matches("a/**/b", "a/x/y/b"))
        XCTAssertTrue(Glob.matches("lib?", "lib1"))
        XCTAssertFalse(Glob.matches("lib?", "lib/"))
        XCTAssertTrue(Glob.matches("exact", "exact"))
        XCTAssertFalse(Glob.matches("exact", "exact2"))
    }

    func testNoRulesMeansAuthenticatedUsersMayDoEverything() {
        let rules = AccessRules()
        XCTAssertEqual(rules.actions(for: "alice", repository: "x"), [.pull, .push, .delete])
        XCTAssertEqual(rules.actions(for: nil, repository: "x"), [])
        XCTAssertTrue(rules.mayListCatalog("alice"))
        XCTAssertFalse(rules.mayListCatalog(nil))
    }

    func testRulesGrantByUserGroupWildcardAndAnonymous() {
        let rules = AccessRules(rules: [
            AccessRule(users: ["alice"], repositories: ["team-a/**"], actions: [.pull, .push, .delete]),
            AccessRule(groups: ["ci"], repositories: ["team-a/**", "tools/*"], actions: [.pull, .push]),
            AccessRule(users: ["*"], repositories: ["public/**"], actions: [.pull]),
            AccessRule(users: ["anonymous"], repositories: ["public/open"], actions: [.pull]),
            AccessRule(users: ["admin"], actions: [.catalog]),
        ], groups: ["ci": ["bot"]])
        XCTAssertEqual(rules.actions(for: "alice", repository: "team-a/app"), [.pull, .push, .delete])
        XCTAssertEqual(rules.actions(for: "alice", repository: "team-b/app"), [])
        XCTAssertEqual(rules.actions(for: "bot", repository: "tools/lint"), [.pull, .push])
        XCTAssertEqual(rules.actions(for: "bot", repository: "tools/a/b"), [])
        XCTAssertEqual(rules.actions(for: "carol", repository: "public/x"), [.pull])
        XCTAssertEqual(rules.actions(for: nil, repository: "public/x"), [])
        XCTAssertEqual(rules.actions(for: nil, repository: "public/open"), [.pull])
        XCTAssertTrue(rules.mayListCatalog("admin"))
        XCTAssertFalse(rules.mayListCatalog("alice"))
        XCTAssertTrue(rules.grantsAnonymous)
        XCTAssertEqual(rules.problems(), [])
    }

    func testProblemsAreReported() {
        let rules = AccessRules(rules: [
            AccessRule(groups: ["nobody"], repositories: ["x"], actions: [.pull]),
            AccessRule(users: ["a"], actions: [.pull]),
            AccessRule(users: ["a"], repositories: ["x"], actions: []),
        ])
        let problems = rules.problems()
        XCTAssertTrue(problems.contains { $0.contains("group nobody") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("names no repositories") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("grants no actions") }, "\(problems)")
    }

    func testScopesParseAndPrint() {
        let s = AccessScope(parsing: "repository:localhost:5000/team/app:pull,push")
        XCTAssertEqual(s?.type, "repository")
        XCTAssertEqual(s?.name, "localhost:5000/team/app")
        XCTAssertEqual(s?.actions, ["pull", "push"])
        XCTAssertEqual(AccessScope.repository("a/b", [.push, .pull]).description, "repository:a/b:pull,push")
        XCTAssertEqual(AccessScope.catalog.description, "registry:catalog:*")
        XCTAssertNil(AccessScope(parsing: "repository"))
        XCTAssertNil(AccessScope(parsing: ":x:pull"))
    }
}
