import BerthCore
import BerthStorage
import Foundation

/// What the pages and the JSON API read, with the viewer's access applied: the catalog filtered
/// to what they may pull, and overviews from the storage's overview index.
extension WebUI {
    /// Names the viewer may pull containing `search` (case-insensitive), sorted. The catalog is
    /// read from its index (one `stat` while unchanged), never by walking the storage.
    func visibleRepositories(_ viewer: Viewer, matching search: String) async throws -> [String] {
        var names = try await storage.catalog()
        if !search.isEmpty {
            let needle = search.lowercased()
            names = names.filter { $0.lowercased().contains(needle) }
        }
        if !viewer.seesEverything { names = names.filter { viewer.mayPull($0) } }
        return names
    }

    func overview(_ name: String) async throws -> RepositoryOverview {
        try await storage.repositoryOverview(try RepositoryName(name))
    }

    /// The repository named by a `name` parameter, if the viewer may pull it. One they may not
    /// pull is answered as unknown, so its existence is not revealed.
    func pullableRepository(_ name: String?, _ viewer: Viewer) throws -> RepositoryName {
        guard let name, !name.isEmpty else { throw UIError(.badRequest, "the name parameter (a repository name) is missing") }
        let repository: RepositoryName
        do { repository = try RepositoryName(name) } catch {
            throw UIError(.badRequest, "\(name.prefix(200)) is not a valid repository name: \(error.message)")
        }
        guard viewer.mayPull(name) else {
            throw UIError(.notFound, "repository \(name.prefix(200)) is not known to the registry"
                + (viewer.user == nil && viewer.canSignIn ? " (or you need to sign in to see it)" : ""))
        }
        return repository
    }

    /// Deletes are offered when the configuration allows them at all (per user: `Viewer.mayDelete`).
    var deletesOffered: Bool { settings.deleteEnabled && !settings.readOnly }
}
