import BerthAuth
import BerthCore
import Foundation

/// Who may sign in to the UI, and what each user may do: the same users and access rules as the API.
public enum UIAuthentication: Sendable {
    /// No authentication (`auth` unset): everyone may do everything.
    case open
    /// htpasswd users (`auth.htpasswd`, or `auth.tokenservice`'s) and the access rules.
    case users(HtpasswdFile, AccessRules)
    /// Tokens from an outside token service (`auth.token`): no passwords to check here, so no
    /// sign-in; only what the rules grant anonymous users is shown.
    case external(AccessRules)
}

/// The person looking at a page: their session and what the access rules let them do.
struct Viewer {
    let session: Session
    let authentication: UIAuthentication
    /// The CSRF token for the forms on the page.
    let csrfToken: String
    /// A `Set-Cookie` value when the session is new (first visit, sign-in, sign-out).
    var setCookie: String?

    var user: String? { session.user }

    var authenticationOn: Bool {
        if case .open = authentication { false } else { true }
    }

    /// Whether sign-in is possible at all (there are passwords to check).
    var canSignIn: Bool {
        if case .users = authentication { true } else { false }
    }

    /// Anonymous visitors of a registry with authentication are sent to sign in, unless the rules
    /// let anonymous users pull something.
    var mustSignIn: Bool {
        switch authentication {
        case .open: false
        case .users(_, let rules): user == nil && !rules.grantsAnonymous
        case .external: false
        }
    }

    func actions(on repository: String) -> Set<AccessAction> {
        switch authentication {
        case .open: [.pull, .push, .delete]
        case .users(_, let rules): rules.actions(for: user, repository: repository)
        case .external(let rules): rules.grantsAnonymous ? rules.actions(for: nil, repository: repository) : []
        }
    }

    func mayPull(_ repository: String) -> Bool { actions(on: repository).contains(.pull) }
    func mayDelete(_ repository: String) -> Bool { actions(on: repository).contains(.delete) }

    var mayAdminister: Bool {
        switch authentication {
        case .open: true
        case .users(_, let rules): rules.allows(.admin, for: user)
        case .external: false
        }
    }

    /// Whether the viewer sees every repository (no per-name rule checks needed).
    var seesEverything: Bool {
        if case .open = authentication { true } else { false }
    }
}
