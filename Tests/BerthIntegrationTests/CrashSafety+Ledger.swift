import Foundation
import Synchronization

/// What the crash-test clients saw: which images, tags, deletes and blobs the registry
/// acknowledged, and what was still in flight when it was killed. The checks after each restart
/// hold the registry to it.
final class CrashLedger: Sendable {
    struct TagKey: Hashable, Sendable, CustomStringConvertible {
        var repository: String
        var tag: String
        var description: String { "\(repository):\(tag)" }
    }

    /// A blob upload the test checks once after the next restart.
    struct BlobRecord: Sendable {
        var repository: String
        var blob: Blob
        /// Answered 201. Such a blob must still be there unless a collection started since
        /// (a blob no manifest references is fair game for one); unacknowledged ones must be
        /// whole or absent.
        var acknowledged: Bool
        var collectionsAtAck: Int
    }

    /// A chunked upload cut off by the kill, to be resumed (or restarted) after the restart.
    struct InterruptedUpload: Sendable {
        var repository: String
        /// The session's upload URL (path and query), nil when even the POST got no answer.
        var location: String?
        var blob: Blob
        /// The image the blob belongs to, and the tag it was being pushed to.
        var image: TestImage
        var tag: String
    }

    struct State: Sendable {
        /// Every manifest ever pushed, by digest.
        var images: [String: TestImage] = [:]
        /// What each tag may point at now (nil: absent). One element once settled; more while an
        /// operation on the tag was in flight at a kill.
        var tags: [TagKey: Set<String?>] = [:]
        /// Manifests whose delete was acknowledged (202): never to be seen again.
        var deleted: [(repository: String, digest: String)] = []
        var blobs: [BlobRecord] = []
        var interrupted: [InterruptedUpload] = []
        /// Collections started (the admin API call was sent).
        var collections = 0
        var operations: [String: Int] = [:]
        var acknowledged = 0
        var inFlightAtKill = 0
        /// Answers no correct registry gives; the test fails on them.
        var failures: [String] = []
    }

    let state = Mutex(State())

    func count(_ operation: String) { state.withLock { $0.operations[operation, default: 0] += 1 } }

    func fail(_ what: String) { state.withLock { $0.failures.append(what) } }

    func acknowledged() { state.withLock { $0.acknowledged += 1 } }

    func inFlight() { state.withLock { $0.inFlightAtKill += 1 } }

    func remember(_ image: TestImage) { state.withLock { $0.images[image.manifest.digest] = image } }

    func image(_ digest: String) -> TestImage? { state.withLock { $0.images[digest] } }

    var collections: Int { state.withLock { $0.collections } }

    func collectionStarted() { state.withLock { $0.collections += 1 } }

    func record(_ blob: BlobRecord) { state.withLock { $0.blobs.append(blob) } }

    func interrupted(_ upload: InterruptedUpload) { state.withLock { $0.interrupted.append(upload) } }

    /// Before a tag write: the tag may now be what it was or `digest` (nil: deleted).
    /// Returns the previous possibilities, for `settle` or `revert`.
    func tagWriteStarts(_ key: TagKey, _ digest: String?) -> Set<String?> {
        state.withLock {
            let before = $0.tags[key] ?? [nil]
            $0.tags[key] = before.union([digest])
            return before
        }
    }

    func settle(_ key: TagKey, _ digest: String?) { state.withLock { $0.tags[key] = [digest] } }

    func revert(_ key: TagKey, _ before: Set<String?>) { state.withLock { $0.tags[key] = before } }

    /// Tags of `repository` that surely point at a manifest, with it.
    func settledTags(in repository: String) -> [(TagKey, String)] {
        state.withLock { state in
            state.tags.compactMap { key, values -> (TagKey, String)? in
                guard key.repository == repository, values.count == 1, let digest = values.first ?? nil else { return nil }
                return (key, digest)
            }.sorted { $0.0.tag < $1.0.tag }
        }
    }

    /// A manifest delete by digest starts: every tag that may point at it may now be absent.
    func manifestDeleteStarts(_ repository: String, _ digest: String) {
        state.withLock { state in
            for (key, values) in state.tags where key.repository == repository && values.contains(digest) {
                state.tags[key] = values.union([nil])
            }
        }
    }

    /// The delete was acknowledged: no tag points at the manifest any more, and it is gone.
    func manifestDeleted(_ repository: String, _ digest: String) {
        state.withLock { state in
            for (key, values) in state.tags where key.repository == repository && values.contains(digest) {
                var rest = values
                rest.remove(digest)
                state.tags[key] = rest.isEmpty ? [nil] : rest.union([nil])
            }
            state.deleted.append((repository, digest))
        }
    }
}

/// A flag shared between the clients and the killer.
final class CrashFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set(_ on: Bool) { value.withLock { $0 = on } }
}
