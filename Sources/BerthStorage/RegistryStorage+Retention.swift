import BerthCore
import Foundation

/// Applying retention policies: snapshot each governed repository, plan (RetentionPlanner), and
/// delete through the same calls as the API's DELETE, so indexes and catalog stay current.
/// A push racing a run wins: every deletion is checked against storage just before it happens.
extension RegistryStorage {
    /// Applies `policies` to every catalogued repository. `onRepository` receives each governed
    /// repository's outcome as soon as it is done (for logs and progress); the whole report is
    /// returned at the end. A repository that fails is reported and the run continues.
    public func applyRetention(
        _ policies: RetentionPolicies, dryRun: Bool, now: Date = Date(),
        onRepository: (RetentionReport.Repository) async -> Void = { _ in }
    ) async throws -> RetentionReport {
        var report = RetentionReport(dryRun: dryRun)
        guard !policies.isEmpty else { return report }
        for name in try await catalog() {
            try Task.checkCancellation()
            guard let match = policies.policy(for: name), let repository = try? RepositoryName(name) else { continue }
            var outcome = RetentionReport.Repository(name: name, policy: match.index)
            do {
                try await applyRetention(match.policy, index: match.index, to: repository, dryRun: dryRun, now: now,
                                         into: &outcome)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                outcome.error = "\(error)"
            }
            report.repositories.append(outcome)
            await onRepository(outcome)
        }
        return report
    }

    private func applyRetention(_ policy: RetentionPolicy, index: Int, to repository: RepositoryName, dryRun: Bool,
                                now: Date, into outcome: inout RetentionReport.Repository) async throws {
        let withManifests = policy.deleteUntaggedOlderThan != nil
        let (snapshot, tagLinks) = try await retentionSnapshot(repository, withManifests: withManifests)
        var plan = RetentionPlanner.plan(snapshot, policy: policy, policyIndex: index, now: now)
        outcome.warnings = plan.warnings
        // Immutable tags are never a policy's to delete.
        for deletion in plan.tags {
            guard let rule = immutability.rule(for: deletion.tag, in: repository.value) else { continue }
            outcome.skipped.append(.init(tag: deletion.tag, digest: deletion.digest.description, reason: "immutable (immutability[\(rule)])"))
        }
        plan.tags.removeAll { immutability.rule(for: $0.tag, in: repository.value) != nil }
        if dryRun {
            outcome.tags = plan.tags.map { .init(tag: $0.tag, digest: $0.digest.description, pushed: $0.pushed, rule: $0.rule.description) }
            outcome.manifests = plan.manifests.map { .init(digest: $0.digest.description, pushed: $0.pushed, rule: $0.rule.description) }
            return
        }

        for deletion in plan.tags {
            func skip(_ reason: String) {
                outcome.skipped.append(.init(tag: deletion.tag, digest: deletion.digest.description, reason: reason))
            }
            guard let tag = try? Tag(deletion.tag) else { continue }
            // A push of the tag since the snapshot rewrote its link: the push wins.
            let link = StoragePath.tagCurrentLink(repository, tag)
            guard let info = try await driver.statIfExists(link.path) else { skip("already deleted"); continue }
            let current = try? await readLink(link)
            if current != deletion.digest || Self.changed(info, since: tagLinks[deletion.tag]) {
                skip("pushed again during the run")
                continue
            }
            do {
                try await deleteManifest(.tag(tag), in: repository)
            } catch let error as RegistryError where error.code == .manifestUnknown {
                skip("already deleted")
                continue
            }
            outcome.tags.append(.init(tag: deletion.tag, digest: deletion.digest.description, pushed: deletion.pushed,
                                      rule: deletion.rule.description))
        }

        guard !plan.manifests.isEmpty, let limit = policy.deleteUntaggedOlderThan else { return }
        // Plan the untagged manifests again from what storage holds now and delete only what both
        // plans agree on: a manifest tagged, pushed again or listed by a new index since the first
        // snapshot stays, and so does one that only this run's tag deletions made untagged.
        let (fresh, _) = try await retentionSnapshot(repository, withManifests: true)
        let stillDoomed = Set(RetentionPlanner.untaggedDeletions(fresh, olderThan: limit, now: now).0.map(\.digest))
        for deletion in plan.manifests {
            func skip(_ reason: String) {
                outcome.skipped.append(.init(digest: deletion.digest.description, reason: reason))
            }
            guard stillDoomed.contains(deletion.digest) else {
                skip("tagged, pushed again or needed by a new manifest during the run")
                continue
            }
            // The last moment a new tag can be seen; deleting by digest would take the tag along.
            guard try await tags(pointingAt: deletion.digest, in: repository).isEmpty else {
                skip("tagged during the run")
                continue
            }
            do {
                try await deleteManifest(.digest(deletion.digest), in: repository)
            } catch let error as RegistryError where error.code == .manifestUnknown {
                skip("already deleted")
                continue
            }
            outcome.manifests.append(.init(digest: deletion.digest.description, pushed: deletion.pushed,
                                           rule: deletion.rule.description))
        }
    }

    /// Whether a link was rewritten since it was first seen (a new file, or a new mtime).
    private static func changed(_ info: FileInfo, since first: FileInfo?) -> Bool {
        guard let first else { return true }
        if !info.changeToken.isEmpty || !first.changeToken.isEmpty { return info.changeToken != first.changeToken }
        return info.modified != first.modified
    }

    /// The repository as the planner sees it, and each tag's link as it was read (to notice a
    /// push before deleting). Manifests are read only when the policy needs them.
    func retentionSnapshot(_ repository: RepositoryName,
                           withManifests: Bool) async throws -> (RetentionSnapshot, [String: FileInfo]) {
        var snapshot = RetentionSnapshot(repository: repository.value, tags: [])
        var links: [String: FileInfo] = [:]
        for name in try await listTags(in: repository) {
            guard let tag = try? Tag(name) else { continue }
            let link = StoragePath.tagCurrentLink(repository, tag)
            // A tag deleted since the listing is simply gone; a link that cannot be read is an
            // error, since leaving the tag out could make a policy delete every other tag.
            guard let info = try await driver.statIfExists(link.path) else { continue }
            let digest: Digest
            do { digest = try await readLink(link) } catch StorageDriverError.notFound { continue }
            snapshot.tags.append(.init(name: name, digest: digest, pushed: info.modified))
            links[name] = info
        }
        guard withManifests else { return (snapshot, links) }
        for digest in try await manifestDigests(in: repository) {
            guard let info = try await driver.statIfExists(StoragePath.manifestRevisionLink(repository, digest).path) else { continue }
            var state = RetentionSnapshot.ManifestState(digest: digest, pushed: info.modified, children: nil)
            if let stored = try? await getManifest(.digest(digest), in: repository),
               let parsed = try? ParsedManifest.parse(stored.bytes.readableBytesView, contentType: stored.mediaType) {
                state.children = parsed.manifests.map(\.digest)
                state.subject = parsed.subject?.digest
            }
            snapshot.manifests.append(state)
        }
        return (snapshot, links)
    }
}
