import Crypto
import Foundation

/// An Ed25519 key pair a forger would make.
struct Curve25519SigningKeyForTests {
    let key = Curve25519.Signing.PrivateKey()
    var publicKeyBase64: String { key.publicKey.rawRepresentation.base64EncodedString() }
    func sign(_ message: Data) throws -> String { try key.signature(for: message).base64EncodedString() }
}
