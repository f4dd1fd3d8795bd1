import BerthCore
import Foundation

/// Every place Berth stores something, and the one function that turns it into a driver path.
///
/// The layout is the reference registry's, so a `registry:2` data directory is served as is:
///
///     /docker/registry/v2/
///       blobs/<alg>/<first 2 hex>/<hex>/data            blob and manifest content
///       repositories/<name>/
///         _layers/<alg>/<hex>/link                       blob linked into the repository
///         _manifests/revisions/<alg>/<hex>/link          manifest stored in the repository
///         _manifests/tags/<tag>/current/link             digest the tag points at
///         _manifests/tags/<tag>/index/<alg>/<hex>/link   every digest the tag has pointed at
///         _uploads/<id>/data                             upload in progress
///         _uploads/<id>/startedat                        its start time (RFC 3339)
///     /berth/                                            Berth's own files; the reference ignores them
///       http-secret                                      generated upload-state key, if none configured
///       mediatypes/<alg>/<hex>                           Content-Type of a manifest, when not derivable
///       tmp/                                             temporary files before their atomic rename
///       catalog/<name with / as ~>                       one entry per repository holding a manifest
///       catalog-indexed                                  the catalog was built from storage once
///       repositories/<name>/                             indexes kept by push and delete:
///         _indexed                                         this repository's indexes are complete
///         _digest_tags/<alg>/<hex>/<tag>                   tags that point (or pointed) at a manifest
///         _referrers/<alg>/<subject hex>/<alg>-<hex>       descriptor of a manifest whose subject it is
///       gc/                                              garbage collection (docs/garbage-collection.md):
///         pins/<UTC hour>/<ms>-<random>                    digests an operation is about to rely on, one per line
///         quarantine/<alg>-<hex>                           blob content set aside until its deletion is final
///         set-aside/<name with / as ~>                     links a running collection removed (put back after a crash)
///         lock                                             held by the running collection (refreshed while it runs)
///         last-run.json                                    the report of the last collection
///       scrub/                                           integrity scrub (README, "Scrub"):
///         quarantine/<alg>-<hex>-<UTC time>                blob content found corrupt, set aside by --repair
///         last-run.json                                    the report of the last scrub
///       stats.json                                       counts of the last full walk (for metrics)
///       notifications/<endpoint>/                        webhook events not yet delivered to an endpoint:
///         queue/<sequence>-<event id>                      one event (JSON); names sort in arrival order
///         unreadable/<file>                                queued files that could not be decoded, set aside
public enum StoragePath: Sendable, Hashable {
    case blobData(Digest)
    case layerLink(RepositoryName, Digest)
    case manifestRevisionLink(RepositoryName, Digest)
    case manifestRevisions(RepositoryName)
    case tags(RepositoryName)
    case tag(RepositoryName, Tag)
    case tagCurrentLink(RepositoryName, Tag)
    case tagIndexLink(RepositoryName, Tag, Digest)
    case repository(RepositoryName)
    case repositories
    case uploads(RepositoryName)
    case upload(RepositoryName, id: String)
    case uploadData(RepositoryName, id: String)
    case uploadStartedAt(RepositoryName, id: String)
    case httpSecret
    case manifestMediaType(Digest)
    case temporaryDirectory
    case catalog
    case catalogEntry(RepositoryName)
    case catalogIndexed
    case repositoryIndex(RepositoryName)
    case repositoryIndexed(RepositoryName)
    case digestTags(RepositoryName, Digest)
    case digestTag(RepositoryName, Digest, Tag)
    case referrers(RepositoryName, subject: Digest)
    case referrer(RepositoryName, subject: Digest, Digest)
    case blobDirectory(Digest)
    case blobsRoot
    case layerLinks(RepositoryName)
    case gcPins
    case gcPinHour(String)
    case gcPin(hour: String, name: String)
    case gcQuarantine
    case gcQuarantineEntry(Digest)
    case gcLock
    case gcSetAside
    case gcSetAsideJournal(RepositoryName)
    case gcLastRun
    case storageCounts
    /// `stamp` is the scrub's start time, so a blob quarantined twice keeps both copies.
    case scrubQuarantineEntry(Digest, stamp: String)
    case scrubLastRun
    /// `endpoint` is a file-name-safe form of the endpoint's name (`notificationDirectoryName`).
    case notificationQueue(endpoint: String)
    case notificationQueueEntry(endpoint: String, name: String)
    case notificationUnreadable(endpoint: String, name: String)

    static let v2 = "/docker/registry/v2"

    public var path: String {
        switch self {
        case .blobData(let d):
            "\(Self.v2)/blobs/\(d.algorithm.rawValue)/\(d.hex.prefix(2))/\(d.hex)/data"
        case .layerLink(let n, let d):
            "\(Self.v2)/repositories/\(n.value)/_layers/\(d.algorithm.rawValue)/\(d.hex)/link"
        case .manifestRevisionLink(let n, let d):
            "\(Self.v2)/repositories/\(n.value)/_manifests/revisions/\(d.algorithm.rawValue)/\(d.hex)/link"
        case .manifestRevisions(let n):
            "\(Self.v2)/repositories/\(n.value)/_manifests/revisions"
        case .tags(let n):
            "\(Self.v2)/repositories/\(n.value)/_manifests/tags"
        case .tag(let n, let t):
            "\(Self.v2)/repositories/\(n.value)/_manifests/tags/\(t.value)"
        case .tagCurrentLink(let n, let t):
            "\(Self.v2)/repositories/\(n.value)/_manifests/tags/\(t.value)/current/link"
        case .tagIndexLink(let n, let t, let d):
            "\(Self.v2)/repositories/\(n.value)/_manifests/tags/\(t.value)/index/\(d.algorithm.rawValue)/\(d.hex)/link"
        case .repository(let n):
            "\(Self.v2)/repositories/\(n.value)"
        case .repositories:
            "\(Self.v2)/repositories"
        case .uploads(let n):
            "\(Self.v2)/repositories/\(n.value)/_uploads"
        case .upload(let n, let id):
            "\(Self.v2)/repositories/\(n.value)/_uploads/\(id)"
        case .uploadData(let n, let id):
            "\(Self.v2)/repositories/\(n.value)/_uploads/\(id)/data"
        case .uploadStartedAt(let n, let id):
            "\(Self.v2)/repositories/\(n.value)/_uploads/\(id)/startedat"
        case .httpSecret:
            "/berth/http-secret"
        case .manifestMediaType(let d):
            "/berth/mediatypes/\(d.algorithm.rawValue)/\(d.hex)"
        case .temporaryDirectory:
            "/berth/tmp"
        case .catalog:
            "/berth/catalog"
        case .catalogEntry(let n):
            "/berth/catalog/\(Self.catalogFileName(n))"
        case .catalogIndexed:
            "/berth/catalog-indexed"
        case .repositoryIndex(let n):
            "/berth/repositories/\(n.value)"
        case .repositoryIndexed(let n):
            "/berth/repositories/\(n.value)/_indexed"
        case .digestTags(let n, let d):
            "/berth/repositories/\(n.value)/_digest_tags/\(d.algorithm.rawValue)/\(d.hex)"
        case .digestTag(let n, let d, let t):
            "/berth/repositories/\(n.value)/_digest_tags/\(d.algorithm.rawValue)/\(d.hex)/\(t.value)"
        case .referrers(let n, let s):
            "/berth/repositories/\(n.value)/_referrers/\(s.algorithm.rawValue)/\(s.hex)"
        case .referrer(let n, let s, let d):
            "/berth/repositories/\(n.value)/_referrers/\(s.algorithm.rawValue)/\(s.hex)/\(d.algorithm.rawValue)-\(d.hex)"
        case .blobDirectory(let d):
            "\(Self.v2)/blobs/\(d.algorithm.rawValue)/\(d.hex.prefix(2))/\(d.hex)"
        case .blobsRoot:
            "\(Self.v2)/blobs"
        case .layerLinks(let n):
            "\(Self.v2)/repositories/\(n.value)/_layers"
        case .gcPins:
            "/berth/gc/pins"
        case .gcPinHour(let hour):
            "/berth/gc/pins/\(hour)"
        case .gcPin(let hour, let name):
            "/berth/gc/pins/\(hour)/\(name)"
        case .gcQuarantine:
            "/berth/gc/quarantine"
        case .gcQuarantineEntry(let d):
            "/berth/gc/quarantine/\(d.algorithm.rawValue)-\(d.hex)"
        case .gcLock:
            "/berth/gc/lock"
        case .gcSetAside:
            "/berth/gc/set-aside"
        case .gcSetAsideJournal(let n):
            "/berth/gc/set-aside/\(Self.catalogFileName(n))"
        case .gcLastRun:
            "/berth/gc/last-run.json"
        case .storageCounts:
            "/berth/stats.json"
        case .scrubQuarantineEntry(let d, let stamp):
            "/berth/scrub/quarantine/\(d.algorithm.rawValue)-\(d.hex)-\(stamp)"
        case .scrubLastRun:
            "/berth/scrub/last-run.json"
        case .notificationQueue(let e):
            "/berth/notifications/\(e)/queue"
        case .notificationQueueEntry(let e, let name):
            "/berth/notifications/\(e)/queue/\(name)"
        case .notificationUnreadable(let e, let name):
            "/berth/notifications/\(e)/unreadable/\(name)"
        }
    }

    /// Catalog entries live in one flat directory: `/` in a name becomes `~`, which names never contain.
    static func catalogFileName(_ name: RepositoryName) -> String { name.value.replacingOccurrences(of: "/", with: "~") }

    /// An endpoint name as one path component: letters, digits, `.`, `_` and `-` are kept, every
    /// other byte becomes `%XX` (so distinct names stay distinct).
    public static func notificationDirectoryName(_ endpoint: String) -> String {
        var out = ""
        for byte in endpoint.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || c == "_" || c == "-" || (c == "." && !out.isEmpty) {
                out.append(c)
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func repositoryName(catalogFileName: String) -> RepositoryName? {
        try? RepositoryName(catalogFileName.replacingOccurrences(of: "~", with: "/"))
    }
}
