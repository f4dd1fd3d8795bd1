import BerthCore

/// Tags that may never move or go once they exist (`immutability` in the configuration):
///
///     immutability:
///       - repositories: ["**"]
///         tags: ["v*.*.*"]          # release tags
///       - repositories: ["prod/**"]
///         tags: ["*"]
///         except: ["latest"]        # everything but latest
///
/// A push that would point such a tag at another manifest, a delete of the tag, and a delete of
/// the manifest it points at are refused with `DENIED`, unless the user holds the `overwrite`
/// action. Pushing the same manifest again is fine. Retention policies leave these tags alone.
public struct TagImmutability: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var repositories: [String]
        public var tags: [String]
        public var except: [String]

        public init(repositories: [String], tags: [String], except: [String] = []) {
            self.repositories = repositories
            self.tags = tags
            self.except = except
        }
    }

    public var rules: [Rule]

    public init(rules: [Rule] = []) { self.rules = rules }

    public static let none = TagImmutability()

    public var isEmpty: Bool { rules.isEmpty }

    /// The index of the first rule making `tag` of `repository` immutable, if any.
    public func rule(for tag: String, in repository: String) -> Int? {
        rules.firstIndex { rule in
            rule.repositories.contains { Glob.matches($0, repository) }
                && rule.tags.contains { Glob.matches($0, tag) }
                && !rule.except.contains { Glob.matches($0, tag) }
        }
    }

    func refusal(_ tag: Tag, in repository: RepositoryName, rule: Int, _ what: String) -> RegistryError {
        RegistryError(.denied,
                      "tag \(tag) of repository \(repository) is immutable (immutability[\(rule)]): \(what); push a new tag instead, or ask for the overwrite permission",
                      detail: ["tag": tag.value])
    }
}
