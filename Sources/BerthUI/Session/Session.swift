import Crypto
import Foundation

/// A browser's session: who signed in (nil: nobody) and a random nonce the CSRF token derives
/// from. It lives in a cookie signed with a key derived from the server's http secret, so every
/// node sharing that secret accepts it and nothing is kept on the server.
struct Session: Equatable {
    var user: String?
    var nonce: String
    /// Seconds since 1970.
    var expires: Int

    static let lifetime = 12 * 3600

    static func fresh(user: String?, now: Date = Date()) -> Session {
        var rng = SystemRandomNumberGenerator()
        let nonce = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &rng)) }.joined()
        return Session(user: user, nonce: nonce, expires: Int(now.timeIntervalSince1970) + lifetime)
    }
}

/// Signs and checks session cookies and CSRF tokens (HMAC-SHA256).
struct SessionSigner: Sendable {
    static let cookieName = "berth_session"
    private let key: SymmetricKey

    init(secret: String) {
        // A key of its own, so a session cookie can never pass as a signed upload state.
        key = SymmetricKey(data: SHA256.hash(data: Data("berth-ui-session\u{0}\(secret)".utf8)))
    }

    /// `v1.<user, base64url>.<expires>.<nonce>.<mac>`.
    func cookieValue(_ session: Session) -> String {
        let payload = "v1.\(Self.base64url(Data((session.user ?? "").utf8))).\(session.expires).\(session.nonce)"
        return payload + "." + mac(payload)
    }

    /// The `Set-Cookie` header: HttpOnly, SameSite=Strict, limited to `/ui`.
    func setCookie(_ session: Session, secure: Bool) -> String {
        "\(Self.cookieName)=\(cookieValue(session)); Path=/ui; Max-Age=\(Session.lifetime); HttpOnly; SameSite=Strict"
            + (secure ? "; Secure" : "")
    }

    /// The session in a `Cookie` header, if it is there, signed by this key and not expired.
    func session(cookieHeader: String?, now: Date = Date()) -> Session? {
        guard let header = cookieHeader else { return nil }
        for pair in header.split(separator: ";") {
            let trimmed = pair.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix(Self.cookieName + "=") else { continue }
            let value = String(trimmed.dropFirst(Self.cookieName.count + 1))
            if let session = parse(value), session.expires > Int(now.timeIntervalSince1970) { return session }
        }
        return nil
    }

    private func parse(_ value: String) -> Session? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "v1", let expires = Int(parts[2]), !parts[3].isEmpty,
              let userData = Self.fromBase64url(String(parts[1])) else { return nil }
        let payload = parts[0..<4].joined(separator: ".")
        guard Self.constantTimeEqual(mac(payload), String(parts[4])) else { return nil }
        let user = String(decoding: userData, as: UTF8.self)
        return Session(user: user.isEmpty ? nil : user, nonce: String(parts[3]), expires: expires)
    }

    /// The token forms carry; bound to the session's nonce, so it changes with every sign-in.
    func csrfToken(_ session: Session) -> String { mac("csrf." + session.nonce) }

    func checkCSRF(_ token: String?, _ session: Session) -> Bool {
        guard let token else { return false }
        return Self.constantTimeEqual(token, csrfToken(session))
    }

    private func mac(_ text: String) -> String {
        Self.base64url(Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func fromBase64url(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
