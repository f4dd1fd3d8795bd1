/// What the templates render. Plain stored values only: the templates read them by reflection
/// (computed properties are invisible to them), and every string is escaped on output.

struct KeyValue {
    var key: String
    var value: String
}

/// The header of every page: who is signed in and where they may go.
struct Navigation {
    var user: String?
    /// Whether there are passwords to check (htpasswd users), so a sign-in link is shown.
    var canSignIn: Bool
    var mayAdminister: Bool
    var csrfToken: String
}

struct PageLinks {
    var page: Int
    var pages: Int
    var previous: String?
    var next: String?
    var several: Bool

    init(_ pager: Pager, _ link: (Int) -> String) {
        page = pager.page
        pages = pager.pages
        (previous, next) = pager.links(link)
        several = pager.pages > 1
    }
}

struct RepositoryRow {
    var name: String
    var href: String
    var tagCount: Int
    var size: String
    var lastPush: String
    var lastPushISO: String
}

struct RepositoryListPage {
    var nav: Navigation
    var title = "Repositories"
    var query: String
    /// The search, when there is one.
    var searched: String?
    var total: String
    var rows: [RepositoryRow]
    var pager: PageLinks
    var empty: Bool
}

struct TagRow {
    var name: String
    var digest: String
    var shortDigest: String
    var manifestHref: String
    var kind: String
    var size: String
    var pushed: String
    var pushedISO: String
    var platforms: [String]
    var dockerPull: String
    var podmanPull: String
    var deleteHref: String?
}

struct RepositoryPage {
    var nav: Navigation
    var title: String
    var name: String
    var tagCount: String
    var size: String
    var lastPush: String?
    var rows: [TagRow]
    var pager: PageLinks
    var empty: Bool
}

struct LayerRow {
    var index: Int
    var digest: String
    var shortDigest: String
    var mediaType: String
    var size: String
}

struct ChildRow {
    var platform: String
    var digest: String
    var shortDigest: String
    var href: String
    var kind: String
    var size: String
}

struct ReferrerRow {
    var digest: String
    var shortDigest: String
    var href: String
    var size: String
    var annotations: [KeyValue]
}

struct ReferrerGroup {
    var artifactType: String
    var count: Int
    var referrers: [ReferrerRow]
}

struct HistoryRow {
    var created: String
    var createdBy: String
    var comment: String?
    var emptyLayer: Bool
}

/// Optional strings are nil when absent: an empty string would still open a `{{#section}}`.
struct ConfigSection {
    var digest: String
    var size: String
    var platform: String
    var created: String?
    var author: String?
    var user: String?
    var workingDir: String?
    var entrypoint: String?
    var cmd: String?
    var env: [String]
    var labels: [KeyValue]
    var ports: [String]
    var history: [HistoryRow]
}

struct ManifestPage {
    var nav: Navigation
    var title: String
    var name: String
    var repositoryHref: String
    var digest: String
    var mediaType: String
    var kind: String
    var artifactType: String?
    var size: String
    var totalSize: String
    var tags: [String]
    var pullByDigest: String
    var layers: [LayerRow]
    var config: ConfigSection?
    var children: [ChildRow]
    var referrerGroups: [ReferrerGroup]
    var annotations: [KeyValue]
    var subjectHref: String?
    var subjectDigest: String?
    var deleteHref: String?
    var raw: String
}

struct ConfirmDeletePage {
    var nav: Navigation
    var title = "Delete"
    var name: String
    var reference: String
    var isDigest: Bool
    var repositoryHref: String
    /// For a manifest: the tags that go with it.
    var tags: [String]
}

struct AdminPage {
    var nav: Navigation
    var title = "Storage"
    var counts: [KeyValue]
    var countsKnown: Bool
    var lastGC: [KeyValue]
    var gcKnown: Bool
    var removals: [KeyValue]
    var usage: [UsageRow]
    var usageShown: Bool
    var message: String?
}

struct UsageRow {
    var name: String
    var manifests: Int
    var tags: Int
    var logical: String
    var shared: String
    var exclusive: String
}

struct SignInPage {
    var nav: Navigation
    var title = "Sign in"
    var next: String
    var error: String?
    var unavailable: Bool
}

struct ErrorPage {
    var nav: Navigation
    var title: String
    var status: Int
    var message: String
}
