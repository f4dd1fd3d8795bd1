import BerthAPI
import BerthCore
import BerthStorage
import Foundation
import Hummingbird

/// Deleting tags and manifests (after a confirmation page), storage figures and garbage
/// collection: only for viewers the access rules give `delete` or `admin`.
struct ManagePages {
    let ui: WebUI
    let viewer: Viewer

    /// The repository and reference of a delete, checked: deletes enabled, the viewer may delete.
    private func deletion(_ form: FormData) throws -> (RepositoryName, Reference) {
        let name = try ui.pullableRepository(form["name"], viewer)
        guard ui.settings.deleteEnabled else {
            throw UIError(.methodNotAllowed, "deleting is disabled on this registry (storage.delete.enabled is false)")
        }
        guard !ui.settings.readOnly else {
            throw UIError(.methodNotAllowed, "the registry is read-only (storage.maintenance.readonly.enabled)")
        }
        guard viewer.mayDelete(name.value) else {
            throw UIError(.forbidden, "\(viewer.user.map { "user \($0)" } ?? "an anonymous visitor") may not delete in \(name.value)")
        }
        return (name, try Reference(parsing: form["reference"] ?? ""))
    }

    func confirmDelete(_ query: FormData) async throws -> Response {
        let (name, reference) = try deletion(query)
        var tags: [String] = []
        var isDigest = false
        switch reference {
        case .digest:
            isDigest = true
            tags = try await ui.storage.manifestDetails(reference, in: name).tags
        case .tag:
            _ = try await ui.storage.resolveManifest(reference, in: name)
        }
        let page = ConfirmDeletePage(nav: ui.navigation(viewer), name: name.value, reference: reference.description,
                                     isDigest: isDigest, repositoryHref: Links.repository(name.value), tags: tags)
        return ui.renderer.page("confirm-delete", page, viewer: viewer)
    }

    func delete(_ form: FormData) async throws -> Response {
        let (name, reference) = try deletion(form)
        let overwrite = viewer.actions(on: name.value).contains(.overwrite)
        try await ui.storage.deleteManifest(reference, in: name, overwrite: overwrite)
        if let events = ui.events, events.wants(.delete) {
            var event = RegistryEvent(action: .delete, repository: name.value, actor: viewer.user, requestMethod: "POST")
            switch reference {
            case .digest(let digest): event.digest = digest.description
            case .tag(let tag): event.tag = tag.value
            }
            try await events.record([event])
        }
        // The repository is gone with its last manifest: back to the list.
        let remaining = try await ui.storage.catalog().contains(name.value)
        return PageRenderer.redirect(remaining ? Links.repository(name.value) : "/ui/", viewer: viewer)
    }

    private func requireAdmin() throws -> any AdminOperations {
        guard let admin = ui.admin else { throw UIError(.notFound, "storage administration is not available on this server") }
        guard viewer.mayAdminister else {
            throw UIError(.forbidden, "\(viewer.user.map { "user \($0)" } ?? "an anonymous visitor") may not administer the registry (no access rule grants admin)")
        }
        return admin
    }

    /// `justRun`: a collection this request ran (a dry run is never kept as the last one).
    func admin(_ query: FormData, message: String?, justRun: GCReport? = nil) async throws -> Response {
        let admin = try requireAdmin()
        let counts = ui.storage.statistics.current
        let last: GCReport? = if let justRun { justRun } else { try await admin.lastGarbageCollection() }
        var usage: [UsageRow] = []
        let usageShown = query["usage"] == "true"
        if usageShown {
            usage = try await admin.storageUsage(repository: nil).repositories.map {
                UsageRow(name: $0.name, manifests: $0.manifests, tags: $0.tags, logical: Formatting.bytes($0.logicalBytes),
                         shared: Formatting.bytes($0.sharedBytes), exclusive: Formatting.bytes($0.exclusiveBytes))
            }
        }
        let page = AdminPage(
            nav: ui.navigation(viewer), counts: counts.map(Self.facts) ?? [], countsKnown: counts != nil,
            lastGC: last.map(Self.facts) ?? [], gcKnown: last != nil,
            removals: (last?.removals ?? []).prefix(200).map { KeyValue(key: $0.kind, value: ($0.repository.map { "\($0) " } ?? "") + $0.digest) },
            usage: usage, usageShown: usageShown, message: message)
        return ui.renderer.page("admin", page, viewer: viewer)
    }

    func collectGarbage(_ form: FormData) async throws -> Response {
        let admin = try requireAdmin()
        guard !ui.settings.readOnly else { throw UIError(.methodNotAllowed, "the registry is read-only: no collection runs") }
        let dryRun = form["dryRun"] == "true"
        let report: GCReport
        do {
            report = try await admin.collectGarbage(dryRun: dryRun, deleteUntagged: form["deleteUntagged"] == "true")
        } catch let error as GCError {
            throw UIError(.serviceUnavailable, "\(error)")
        }
        let verb = dryRun ? "would remove" : "removed"
        let message = "Collection finished\(dryRun ? " (dry run)" : ""): \(verb) \(report.manifestsRemoved) manifests and \(report.blobsRemoved) blobs, \(Formatting.bytes(report.bytesReclaimed))."
        return try await self.admin(FormData(""), message: message, justRun: report)
    }

    static func facts(_ counts: StorageCounts) -> [KeyValue] {
        [KeyValue(key: "Repositories", value: "\(counts.repositories)"), KeyValue(key: "Manifests", value: "\(counts.manifests)"),
         KeyValue(key: "Blobs", value: "\(counts.blobs)"), KeyValue(key: "Stored", value: Formatting.bytes(counts.storedBytes)),
         KeyValue(key: "Counted at", value: Formatting.time(counts.takenAt))]
    }

    static func facts(_ report: GCReport) -> [KeyValue] {
        [KeyValue(key: "Started", value: Formatting.time(report.startedAt)),
         KeyValue(key: "Duration", value: String(format: "%.1f s", report.durationSeconds)),
         KeyValue(key: "Mode", value: (report.dryRun ? "dry run" : "collection") + (report.deleteUntagged ? ", untagged manifests too" : "")),
         KeyValue(key: "Scanned", value: "\(report.repositories) repositories, \(report.manifestsScanned) manifests, \(report.blobsScanned) blobs"),
         KeyValue(key: "Removed", value: "\(report.manifestsRemoved) manifests, \(report.layerLinksRemoved) layer links, \(report.blobsRemoved) blobs"),
         KeyValue(key: "Reclaimed", value: Formatting.bytes(report.bytesReclaimed))]
    }
}
