import BerthCore
import Logging
import NIOCore

/// The catalog: one entry per repository that holds at least one manifest, kept by push and
/// delete so that listing never walks the storage tree.
extension RegistryStorage {
    /// Adds a repository to the catalog (after a manifest is stored). Checked in storage on every
    /// push, not remembered: another node may have removed the entry meanwhile.
    func addToCatalog(_ repository: RepositoryName) async throws {
        let entry = StoragePath.catalogEntry(repository).path
        if try await driver.exists(entry) { return }
        try await driver.putMarker(entry)
        statistics.record(repositories: 1)
    }

    /// Removes a repository from the catalog when its last manifest is gone. A push racing this
    /// writes its manifest link before it adds the entry; looking again after the removal means
    /// that either this check sees the new link and puts the entry back, or the push adds it after.
    func removeFromCatalogIfEmpty(_ repository: RepositoryName) async throws {
        guard try await manifestDigests(in: repository).isEmpty else { return }
        try await driver.delete(StoragePath.catalogEntry(repository).path)
        statistics.record(repositories: -1)
        if try await !manifestDigests(in: repository).isEmpty { try await addToCatalog(repository) }
    }

    /// All catalogued repository names, sorted. Builds the catalog first if it was never built
    /// (start-up builds it in the background; a request that comes first waits for it).
    public func catalog() async throws -> [String] {
        if !index.catalogBuilt, try await !driver.exists(StoragePath.catalogIndexed.path) {
            try await rebuildCatalog()
        }
        index.catalogBuilt = true
        do {
            return try await index.listings.sortedNames(driver, StoragePath.catalog.path) {
                StoragePath.repositoryName(catalogFileName: $0)?.value
            }
        } catch StorageDriverError.notFound {
            return []
        }
    }

    /// Builds the catalog from storage once (for a data directory written by the reference
    /// registry, or before Berth kept one). Returns the number of repositories found, or nil when
    /// the catalog already existed.
    public func ensureCatalog(logger: Logger) async throws -> Int? {
        if try await driver.exists(StoragePath.catalogIndexed.path) { return nil }
        logger.info("building the repository catalog from storage (once)")
        let count = try await rebuildCatalog()
        logger.info("repository catalog built", metadata: ["repositories": "\(count)"])
        return count
    }

    /// Makes the catalog match storage exactly. Returns the number of repositories.
    @discardableResult
    public func rebuildCatalog() async throws -> Int {
        let repositories = Set(try await repositoriesWithManifests())
        for repository in repositories {
            try await addToCatalog(repository)
        }
        for name in (try? await driver.list(StoragePath.catalog.path)) ?? [] {
            guard let repository = StoragePath.repositoryName(catalogFileName: name) else { continue }
            // A repository pushed to after the walk passed it has manifests now: its entry stays.
            if !repositories.contains(repository), try await manifestDigests(in: repository).isEmpty {
                try await driver.delete(StoragePath.catalogEntry(repository).path)
            }
        }
        try await driver.putMarker(StoragePath.catalogIndexed.path)
        return repositories.count
    }

    /// Rebuilds every index Berth keeps (catalog, tags by digest, referrers) from the reference
    /// layout, for `berth index rebuild`.
    public func rebuildIndexes(logger: Logger) async throws -> Int {
        let repositories = try await repositoriesWithManifests()
        for repository in repositories {
            try await buildIndex(repository)
            logger.info("indexed repository", metadata: ["repository": "\(repository)"])
        }
        return try await rebuildCatalog()
    }

    /// Repositories holding at least one manifest, found by walking the repositories tree.
    func repositoriesWithManifests() async throws -> [RepositoryName] {
        var found: [RepositoryName] = []
        try await walkRepositories { name, children in
            if children.contains("_manifests"), try await !manifestDigests(in: name).isEmpty { found.append(name) }
        }
        return found
    }

    /// Visits every directory under `repositories/` that holds a `_layers`, `_manifests` or
    /// `_uploads` directory, with its child names. Does not descend into those.
    func walkRepositories(_ visit: (RepositoryName, [String]) async throws -> Void) async throws {
        var pending: [[String]] = [[]]
        let root = StoragePath.repositories.path
        while let components = pending.popLast() {
            let dir = ([root] + components).joined(separator: "/")
            let children: [String]
            do { children = try await driver.list(dir) } catch StorageDriverError.notFound { continue }
            if children.contains(where: { $0.hasPrefix("_") }), let name = try? RepositoryName(components.joined(separator: "/")) {
                try await visit(name, children)
            }
            for child in children where !child.hasPrefix("_") && components.count < 64 {
                pending.append(components + [child])
            }
        }
    }
}
