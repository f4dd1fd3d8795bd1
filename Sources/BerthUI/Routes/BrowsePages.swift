import BerthCore
import BerthStorage
import Foundation
import Hummingbird

/// The repository list, a repository's tags and a manifest, as HTML.
struct BrowsePages {
    let ui: WebUI
    let viewer: Viewer
    /// The registry's host as the browser reached it, for pull commands.
    let host: String

    static let repositoriesPerPage = 50
    static let tagsPerPage = 50

    func repositories(_ query: FormData) async throws -> Response {
        let search = (query["q"] ?? "").trimmingCharacters(in: .whitespaces)
        let names = try await ui.visibleRepositories(viewer, matching: search)
        let pager = Pager(count: names.count, page: Int(query["page"] ?? "") ?? 1, perPage: Self.repositoriesPerPage)
        var rows: [RepositoryRow] = []
        for name in names[pager.range] {
            guard let overview = try? await ui.overview(name) else { continue }
            rows.append(RepositoryRow(name: name, href: Links.repository(name), tagCount: overview.tagCount,
                                      size: Formatting.bytes(overview.totalBytes), lastPush: Formatting.time(overview.lastPush),
                                      lastPushISO: Formatting.iso(overview.lastPush)))
        }
        let links = PageLinks(pager) { "/ui/?q=\(Formatting.query(search))&page=\($0)" }
        let page = RepositoryListPage(nav: ui.navigation(viewer), query: search, searched: Formatting.nonEmpty(search),
                                      total: Formatting.count(names.count, "repository", "repositories"), rows: rows,
                                      pager: links, empty: rows.isEmpty)
        return ui.renderer.page("repositories", page, viewer: viewer)
    }

    func repository(_ query: FormData) async throws -> Response {
        let name = try ui.pullableRepository(query["name"], viewer)
        let overview = try await ui.overview(name.value)
        let pager = Pager(count: overview.tags.count, page: Int(query["page"] ?? "") ?? 1, perPage: Self.tagsPerPage)
        let mayDelete = ui.deletesOffered && viewer.mayDelete(name.value)
        let rows = overview.tags[pager.range].map { tag in
            TagRow(name: tag.name, digest: tag.digest, shortDigest: Formatting.shortDigest(tag.digest),
                   manifestHref: Links.manifest(name.value, tag.digest), kind: Formatting.kind(tag.mediaType),
                   size: Formatting.bytes(tag.size), pushed: Formatting.time(tag.pushedAt), pushedISO: Formatting.iso(tag.pushedAt),
                   platforms: tag.platforms, dockerPull: "docker pull \(host)/\(name.value):\(tag.name)",
                   podmanPull: "podman pull \(host)/\(name.value):\(tag.name)",
                   deleteHref: mayDelete ? Links.delete(name.value, tag.name) : nil)
        }
        let links = PageLinks(pager) { "\(Links.repository(name.value))&page=\($0)" }
        let page = RepositoryPage(nav: ui.navigation(viewer), title: name.value, name: name.value,
                                  tagCount: Formatting.count(overview.tagCount, "tag", "tags"), size: Formatting.bytes(overview.totalBytes),
                                  lastPush: Formatting.nonEmpty(Formatting.time(overview.lastPush)),
                                  rows: rows, pager: links, empty: rows.isEmpty)
        return ui.renderer.page("repository", page, viewer: viewer)
    }

    func manifest(_ query: FormData) async throws -> Response {
        let name = try ui.pullableRepository(query["name"], viewer)
        let reference = try Reference(parsing: query["reference"] ?? "")
        let details = try await ui.storage.manifestDetails(reference, in: name)
        let repo = name.value
        let m = details.manifest
        let layers = m.layers.enumerated().map { i, layer in
            LayerRow(index: i + 1, digest: layer.digest.description, shortDigest: Formatting.shortDigest(layer.digest.description),
                     mediaType: layer.mediaType, size: Formatting.bytes(layer.size))
        }
        let children = details.children.map { child in
            ChildRow(platform: child.platform?.text ?? "unknown", digest: child.descriptor.digest.description,
                     shortDigest: Formatting.shortDigest(child.descriptor.digest.description),
                     href: Links.manifest(repo, child.descriptor.digest.description),
                     kind: Formatting.kind(child.descriptor.mediaType), size: Formatting.bytes(child.descriptor.size))
        }
        let total = details.size + (m.config?.size ?? 0) + m.layers.reduce(0) { $0 + $1.size }
            + m.manifests.reduce(0) { $0 + $1.size }
        let page = ManifestPage(
            nav: ui.navigation(viewer), title: "\(repo)@\(Formatting.shortDigest(details.digest.description))", name: repo,
            repositoryHref: Links.repository(repo), digest: details.digest.description, mediaType: details.mediaType,
            kind: Formatting.kind(details.mediaType), artifactType: m.artifactType, size: Formatting.bytes(details.size),
            totalSize: Formatting.bytes(total), tags: details.tags, pullByDigest: "docker pull \(host)/\(repo)@\(details.digest)",
            layers: layers, config: configSection(details), children: children,
            referrerGroups: Self.referrerGroups(details.referrers, repository: repo),
            annotations: Self.keyValues(m.annotations), subjectHref: m.subject.map { Links.manifest(repo, $0.digest.description) },
            subjectDigest: m.subject?.digest.description,
            deleteHref: ui.deletesOffered && viewer.mayDelete(repo) ? Links.delete(repo, details.digest.description) : nil,
            raw: String(decoding: details.bytes.readableBytesView.prefix(64 << 10), as: UTF8.self))
        return ui.renderer.page("manifest", page, viewer: viewer)
    }

    private func configSection(_ details: ManifestDetails) -> ConfigSection? {
        guard let config = details.configuration, let descriptor = details.manifest.config else { return nil }
        let settings = config.config
        return ConfigSection(
            digest: descriptor.digest.description, size: Formatting.bytes(descriptor.size), platform: config.platform ?? "unknown",
            created: Formatting.nonEmpty(config.created), author: Formatting.nonEmpty(config.author),
            user: Formatting.nonEmpty(settings?.user), workingDir: Formatting.nonEmpty(settings?.workingDir),
            entrypoint: Formatting.nonEmpty(Self.command(settings?.entrypoint)), cmd: Formatting.nonEmpty(Self.command(settings?.cmd)),
            env: settings?.env ?? [], labels: Self.keyValues(settings?.labels), ports: (settings?.exposedPorts ?? [:]).keys.sorted(),
            history: (config.history ?? []).map {
                HistoryRow(created: $0.created ?? "", createdBy: $0.createdBy ?? "", comment: Formatting.nonEmpty($0.comment),
                           emptyLayer: $0.emptyLayer ?? false)
            })
    }

    /// `["sh", "-c", "x y"]` as a shell would need it typed.
    static func command(_ words: [String]?) -> String {
        (words ?? []).map { $0.contains(where: { " \"'$\\".contains($0) }) || $0.isEmpty ? "\"\($0.replacingOccurrences(of: "\"", with: "\\\""))\"" : $0 }
            .joined(separator: " ")
    }

    static func keyValues(_ map: [String: String]?) -> [KeyValue] {
        (map ?? [:]).sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: $0.value) }
    }

    /// Referrers grouped by artifact type (signatures, SBOMs, attestations, ...), groups sorted by type.
    static func referrerGroups(_ referrers: [Descriptor], repository: String) -> [ReferrerGroup] {
        Dictionary(grouping: referrers) { $0.artifactType ?? $0.mediaType }
            .sorted { $0.key < $1.key }
            .map { type, members in
                ReferrerGroup(artifactType: type, count: members.count, referrers: members.map {
                    ReferrerRow(digest: $0.digest.description, shortDigest: Formatting.shortDigest($0.digest.description),
                                href: Links.manifest(repository, $0.digest.description), size: Formatting.bytes($0.size),
                                annotations: keyValues($0.annotations))
                })
            }
    }
}

/// The UI's own URLs.
enum Links {
    static func repository(_ name: String) -> String { "/ui/repository?name=\(Formatting.query(name))" }
    static func manifest(_ name: String, _ reference: String) -> String {
        "/ui/manifest?name=\(Formatting.query(name))&reference=\(Formatting.query(reference))"
    }
    static func delete(_ name: String, _ reference: String) -> String {
        "/ui/delete?name=\(Formatting.query(name))&reference=\(Formatting.query(reference))"
    }
}
