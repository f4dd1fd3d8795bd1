import Mustache

// The rows pages repeat 50 times answer the templates' lookups directly: found by reflection
// (Mirror), every lookup of every row allocated a list of all its fields, which was most of a
// page's rendering time.

extension RepositoryRow: MustacheParent {
    func child(named key: String) -> Any? {
        switch key {
        case "name": name
        case "href": href
        case "tagCount": tagCount
        case "size": size
        case "lastPush": lastPush
        case "lastPushISO": lastPushISO
        default: nil
        }
    }
}

extension TagRow: MustacheParent {
    func child(named key: String) -> Any? {
        switch key {
        case "name": name
        case "digest": digest
        case "shortDigest": shortDigest
        case "manifestHref": manifestHref
        case "kind": kind
        case "size": size
        case "pushed": pushed
        case "pushedISO": pushedISO
        case "platforms": platforms
        case "dockerPull": dockerPull
        case "podmanPull": podmanPull
        case "deleteHref": deleteHref as Any?
        default: nil
        }
    }
}

extension Navigation: MustacheParent {
    func child(named key: String) -> Any? {
        switch key {
        case "user": user as Any?
        case "canSignIn": canSignIn
        case "mayAdminister": mayAdminister
        case "csrfToken": csrfToken
        default: nil
        }
    }
}
