import Crypto
import Foundation

/// Signs the `_state` parameter of upload URLs with HMAC-SHA256 under `http.secret`, so that a
/// session can be continued by any process that shares the storage and the secret, and a URL
/// cannot be redirected to another repository's upload.
public struct UploadStateSigner: Sendable {
    let key: SymmetricKey

    public init(secret: String) {
        key = SymmetricKey(data: Data(secret.utf8))
    }

    /// `<payload>.<mac>`, both base64url; the payload binds repository and upload id.
    func token(name: String, id: String) -> String {
        let payload = Self.base64url(Data("\(name)\n\(id)".utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key)
        return payload + "." + Self.base64url(Data(mac))
    }

    /// True when `token` was issued by this secret for exactly this repository and upload.
    func verify(_ token: String, name: String, id: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = Self.decodeBase64url(String(parts[1])) else { return false }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[0].utf8), using: key) else {
            return false
        }
        guard let payload = Self.decodeBase64url(String(parts[0])) else { return false }
        return payload == Data("\(name)\n\(id)".utf8)
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64url(_ s: String) -> Data? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t)
    }
}
