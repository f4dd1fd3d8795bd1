import AsyncHTTPClient
import BerthCore
import BerthProxy
import BerthStorage
import Foundation
import Logging
import Synchronization

/// `replication`: rules pushing this Berth's repositories to remote registries.
public struct ReplicationSettings: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var name: String
        public var remoteURL: String
        public var username: String?
        public var password: String?
        /// Repository globs (`team/**`); a repository matching any is replicated.
        public var repositories: [String] = ["**"]
        /// Tag globs (`v*`); a tag matching any (and `tagPattern`, when set) is replicated.
        public var tags: [String] = ["*"]
        /// A regular expression tags must also match (`^v[0-9]+\.[0-9]+$`).
        public var tagPattern: String?
        /// Put before each repository name at the remote (`mirror/` puts `team/app` at `mirror/team/app`).
        public var destinationPrefix: String = ""
        /// Deleting a manifest here deletes it at the remote too.
        public var deletes = false

        public init(name: String, remoteURL: String) {
            self.name = name
            self.remoteURL = remoteURL
        }

        public func matches(repository: String) -> Bool { repositories.contains { Glob.matches($0, repository) } }

        public func matches(tag: String) -> Bool {
            guard tags.contains(where: { Glob.matches($0, tag) }) else { return false }
            guard let tagPattern else { return true }
            return tag.range(of: tagPattern, options: .regularExpression) != nil
        }
    }

    public var rules: [Rule]
    /// How often every rule is run in full (the catch-up for pushes missed while a remote was down).
    public var interval: Duration

    public init(rules: [Rule], interval: Duration = .seconds(600)) {
        self.rules = rules
        self.interval = interval
    }
}

/// How one rule stands (the admin API's and `berth sync`'s report).
public struct ReplicationStatus: Sendable, Codable, Equatable {
    public var rule: String
    public var remote: String
    public var imagesReplicated = 0
    public var imagesFailed = 0
    public var deletesReplicated = 0
    public var pending = 0
    public var lastSyncStarted: Date?
    public var lastSyncFinished: Date?
    public var lastSuccess: Date?
    public var lastError: String?
    public var copied = CopyReport()
}

/// Replicates on each push (queued, retried with backoff) and runs every rule in full every
/// `interval`, so a remote that was down receives everything once it is back.
public final class Replicator: Sendable {
    struct Job: Sendable, Hashable {
        enum Kind: Sendable, Hashable { case copy, delete }
        var rule: Int
        var kind: Kind
        var repository: String
        var reference: String
    }

    public let settings: ReplicationSettings
    let storage: RegistryStorage
    let remotes: [UpstreamRegistry]
    let logger: Logger
    private let statuses: Mutex<[ReplicationStatus]>
    private let queue = Mutex<(jobs: [Job], waiter: CheckedContinuation<Void, Never>?)>(([], nil))

    public init(settings: ReplicationSettings, storage: RegistryStorage, http: HTTPClient, logger: Logger) {
        self.settings = settings
        self.storage = storage
        self.logger = logger
        remotes = settings.rules.map {
            UpstreamRegistry(remoteURL: $0.remoteURL, username: $0.username, password: $0.password, http: http, logger: logger)
        }
        statuses = Mutex(settings.rules.map { ReplicationStatus(rule: $0.name, remote: $0.remoteURL) })
    }

    public func status() -> [ReplicationStatus] {
        let pending = queue.withLock { $0.jobs }
        return statuses.withLock { list in
            list.enumerated().map { index, status in
                var status = status
                status.pending = pending.filter { $0.rule == index }.count
                return status
            }
        }
    }

    // MARK: - Events

    /// Queues the replication a push or delete asks for (pushes of tags the rules select, deletes
    /// for rules that replicate them).
    public func noticed(action: String, repository: String, tag: String?, digest: String?) {
        var jobs: [Job] = []
        for (index, rule) in settings.rules.enumerated() where rule.matches(repository: repository) {
            switch action {
            case "push":
                if let tag, rule.matches(tag: tag) { jobs.append(Job(rule: index, kind: .copy, repository: repository, reference: tag)) }
            case "delete":
                if rule.deletes, let reference = digest ?? tag {
                    jobs.append(Job(rule: index, kind: .delete, repository: repository, reference: reference))
                }
            default:
                break
            }
        }
        guard !jobs.isEmpty else { return }
        let waiter = queue.withLock { q -> CheckedContinuation<Void, Never>? in
            for job in jobs where !q.jobs.contains(job) { q.jobs.append(job) }
            defer { q.waiter = nil }
            return q.waiter
        }
        waiter?.resume()
    }

    /// Works through queued jobs until cancelled: each is tried up to five times (1 s, 2 s, 4 s,
    /// 8 s apart); what still fails is left to the next full run.
    public func runQueue() async {
        while !Task.isCancelled {
            let job = await nextJob()
            guard let job else { continue }
            var delay = Duration.seconds(1)
            for attempt in 1...5 {
                do {
                    try await perform(job)
                    break
                } catch {
                    record(job.rule) { $0.lastError = "\(job.repository):\(job.reference): \(error)" }
                    logger.warning("replication failed; retrying", metadata: [
                        "rule": "\(settings.rules[job.rule].name)", "repository": "\(job.repository)", "reference": "\(job.reference)",
                        "attempt": "\(attempt)", "error": "\(error)",
                    ])
                    if attempt == 5 {
                        record(job.rule) { $0.imagesFailed += 1 }
                    } else {
                        try? await Task.sleep(for: delay)
                        delay *= 2
                    }
                }
            }
            queue.withLock { q in q.jobs.removeAll { $0 == job } }
        }
    }

    private func nextJob() async -> Job? {
        if let job = queue.withLock({ $0.jobs.first }) { return job }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = queue.withLock { q -> Bool in
                    if !q.jobs.isEmpty { return true }
                    q.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = queue.withLock { q -> CheckedContinuation<Void, Never>? in
                defer { q.waiter = nil }
                return q.waiter
            }
            waiter?.resume()
        }
        return queue.withLock { $0.jobs.first }
    }

    private func record(_ rule: Int, _ change: (inout ReplicationStatus) -> Void) {
        statuses.withLock { change(&$0[rule]) }
    }

    func copier(_ rule: Int, progress: @escaping @Sendable (String, Int64, Int64) -> Void = { _, _, _ in }) -> ImageCopier {
        ImageCopier(source: StorageImageSource(storage: storage), destination: remotes[rule], progress: progress)
    }

    private func perform(_ job: Job) async throws {
        let rule = settings.rules[job.rule]
        let target = rule.destinationPrefix + job.repository
        switch job.kind {
        case .copy:
            let report = try await copier(job.rule).copy(from: job.repository, job.reference, to: target, as: job.reference, all: true)
            record(job.rule) {
                $0.imagesReplicated += 1
                $0.copied += report
                $0.lastSuccess = Date()
            }
        case .delete:
            let answer = try await remotes[job.rule].send(.DELETE, "/v2/\(target)/manifests/\(job.reference)", repository: target,
                                                          actions: "pull,push,delete")
            _ = try? await answer.body.collect(upTo: 64 << 10)
            guard answer.status == 202 || answer.status == 404 else {
                throw CopyError("\(rule.remoteURL) refused to delete \(target):\(job.reference) (HTTP \(answer.status))")
            }
            record(job.rule) { $0.deletesReplicated += 1 }
        }
    }

    // MARK: - Full runs

    /// Runs every rule in full: each selected tag whose digest differs at the remote (or is
    /// missing there) is copied. Returns the statuses after the run.
    @discardableResult
    public func syncAll(progress: @escaping @Sendable (String) -> Void = { _ in }) async -> [ReplicationStatus] {
        let repositories = ((try? await storage.catalog()) ?? []).compactMap { try? RepositoryName($0) }
        for (index, rule) in settings.rules.enumerated() {
            record(index) { $0.lastSyncStarted = Date() }
            var failed = false
            for repository in repositories where rule.matches(repository: repository.value) {
                let tags = ((try? await storage.listTags(in: repository)) ?? []).filter(rule.matches(tag:))
                for tag in tags {
                    do {
                        let local = try await storage.resolveManifest(.tag(try Tag(tag)), in: repository)
                        let copier = copier(index)
                        let target = rule.destinationPrefix + repository.value
                        if try await copier.destinationDigest(target, tag) == local.description { continue }
                        progress("\(rule.name): \(repository.value):\(tag) → \(rule.remoteURL)/\(target)")
                        let report = try await copier.copy(from: repository.value, tag, to: target, as: tag, all: true)
                        record(index) {
                            $0.imagesReplicated += 1
                            $0.copied += report
                            $0.lastSuccess = Date()
                        }
                    } catch {
                        failed = true
                        record(index) {
                            $0.imagesFailed += 1
                            $0.lastError = "\(repository.value):\(tag): \(error)"
                        }
                        logger.warning("replication failed", metadata: [
                            "rule": "\(rule.name)", "repository": "\(repository.value)", "tag": "\(tag)", "error": "\(error)",
                        ])
                    }
                }
            }
            record(index) {
                $0.lastSyncFinished = Date()
                if !failed { $0.lastError = nil }
            }
        }
        return status()
    }
}
