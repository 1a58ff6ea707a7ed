import Foundation
import MeridianKit
import SQLKit

/// Authorization codes, refresh tokens and issued access tokens. The functions take the `SQLDatabase` of a
/// transaction the caller opened, because a redemption, its checks and the tokens it issues must commit (or
/// fail) together.
enum GrantStore {
    // MARK: Authorization codes

    /// The columns of `authorization_codes` that hold ciphertext (the redirect URI and PKCE challenge the
    /// client sent); the code itself is stored only as its hash.
    static let encryptedColumns: [EncryptedColumn] = [
        EncryptedColumn(table: "authorization_codes", column: "redirect_uri", idColumn: "code_hash"),
        EncryptedColumn(table: "authorization_codes", column: "code_challenge", idColumn: "code_hash"),
    ]

    static func insert(_ code: AuthorizationCode, cipher: FieldCipher, _ sql: any SQLDatabase) async throws {
        let seal = { (value: String, column: String) in
            try cipher.seal(value, table: "authorization_codes", column: column, rowID: code.codeHash)
        }
        try await sql.insert(into: "authorization_codes")
            .columns(
                "code_hash", "client_id", "user_id", "redirect_uri", "code_challenge", "code_challenge_method",
                "scope", "family_id", "created_at", "expires_at"
            )
            .values(
                SQLBind(code.codeHash), SQLBind(code.clientID), SQLBind(code.userID),
                SQLBind(try seal(code.redirectURI, "redirect_uri")),
                SQLBind(try code.codeChallenge.map { try seal($0, "code_challenge") }), SQLBind(code.codeChallengeMethod), SQLBind(code.scope),
                SQLBind(code.familyID), SQLBind(Timestamp.micros(code.createdAt)),
                SQLBind(Timestamp.micros(code.expiresAt))
            )
            .run()
        if Int.random(in: 0..<100) == 0 {
            // Expired codes are useless, and used ones matter only while their tokens could be replayed.
            let horizon = Timestamp.micros(code.createdAt) - Int64(RefreshToken.lifetime * 1_000_000)
            try await sql.delete(from: "authorization_codes").where("expires_at", .lessThan, SQLBind(horizon)).run()
        }
    }

    /// The code as stored, without spending it.
    static func code(hash codeHash: String, cipher: FieldCipher, _ sql: any SQLDatabase) async throws
        -> AuthorizationCode?
    {
        try await sql.select().columns(codeColumns).from("authorization_codes")
            .where("code_hash", .equal, SQLBind(codeHash)).first().map { try code(from: $0, cipher: cipher) }
    }

    /// What a redemption found: the code or token claimed now by this call, or one that was already used (a
    /// replay). The conditional update decides between concurrent redemptions: exactly one claims it.
    enum Redemption<Grant: Sendable>: Sendable {
        case claimed(Grant)
        case alreadyUsed(Grant)
    }

    /// Marks the code used. Nil when no such code exists.
    static func redeem(codeHash: String, now: Date, cipher: FieldCipher, _ sql: any SQLDatabase) async throws
        -> Redemption<AuthorizationCode>?
    {
        let claimed = try await sql.update("authorization_codes").set("used_at", to: SQLBind(Timestamp.micros(now)))
            .where("code_hash", .equal, SQLBind(codeHash))
            .where(SQLColumn("used_at"), .is, SQLLiteral.null)
            .returning(codeColumns).first()
        if let claimed { return .claimed(try code(from: claimed, cipher: cipher)) }
        return try await code(hash: codeHash, cipher: cipher, sql).map { .alreadyUsed($0) }
    }

    static let codeColumns: [any SQLExpression] = [
        "code_hash", "client_id", "user_id", "redirect_uri", "code_challenge", "code_challenge_method", "scope",
        "family_id", "created_at", "expires_at", "used_at",
    ].map { SQLColumn($0) }

    static func code(from row: any SQLRow, cipher: FieldCipher) throws -> AuthorizationCode {
        let codeHash = try row.decode(column: "code_hash", as: String.self)
        let open = { (sealed: Data, column: String) in
            try cipher.open(sealed, table: "authorization_codes", column: column, rowID: codeHash)
        }
        return AuthorizationCode(
            codeHash: codeHash,
            clientID: try row.decode(column: "client_id", as: String.self),
            userID: try row.decode(column: "user_id", as: String.self),
            redirectURI: try open(row.decode(column: "redirect_uri", as: Data.self), "redirect_uri"),
            codeChallenge: try row.decode(column: "code_challenge", as: Data?.self).map { try open($0, "code_challenge") },
            codeChallengeMethod: try row.decode(column: "code_challenge_method", as: String?.self),
            scope: try row.decode(column: "scope", as: String.self),
            familyID: try row.decode(column: "family_id", as: String.self),
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)),
            expiresAt: date(try row.decode(column: "expires_at", as: Int64.self)),
            usedAt: try row.decode(column: "used_at", as: Int64?.self).map(date))
    }

    // MARK: Refresh tokens

    static func insert(_ token: RefreshToken, _ sql: any SQLDatabase) async throws {
        try await sql.insert(into: "refresh_tokens")
            .columns(
                "token_hash", "family_id", "code_hash", "client_id", "user_id", "scope", "created_at", "expires_at"
            )
            .values(
                SQLBind(token.tokenHash), SQLBind(token.familyID), SQLBind(token.codeHash), SQLBind(token.clientID),
                SQLBind(token.userID), SQLBind(token.scope), SQLBind(Timestamp.micros(token.createdAt)),
                SQLBind(Timestamp.micros(token.expiresAt))
            )
            .run()
        if Int.random(in: 0..<200) == 0 {
            // An expired token redeems nothing; a day's grace keeps recent replays recognisable as such.
            let horizon = Timestamp.micros(token.createdAt) - 86_400 * 1_000_000
            try await sql.delete(from: "refresh_tokens").where("expires_at", .lessThan, SQLBind(horizon)).run()
        }
    }

    static func refreshToken(hash: String, _ sql: any SQLDatabase) async throws -> RefreshToken? {
        try await sql.select().columns(refreshColumns).from("refresh_tokens")
            .where("token_hash", .equal, SQLBind(hash)).first().map(refreshToken(from:))
    }

    /// Marks the refresh token used (see `redeem(codeHash:)`). Nil when no such token exists.
    static func use(refreshHash: String, now: Date, _ sql: any SQLDatabase) async throws -> Redemption<RefreshToken>? {
        let claimed = try await sql.update("refresh_tokens").set("used_at", to: SQLBind(Timestamp.micros(now)))
            .where("token_hash", .equal, SQLBind(refreshHash))
            .where(SQLColumn("used_at"), .is, SQLLiteral.null)
            .returning(refreshColumns).first()
        if let claimed { return .claimed(try refreshToken(from: claimed)) }
        return try await refreshToken(hash: refreshHash, sql).map { .alreadyUsed($0) }
    }

    static let refreshColumns: [any SQLExpression] = [
        "token_hash", "family_id", "code_hash", "client_id", "user_id", "scope", "created_at", "expires_at",
        "used_at", "revoked_at",
    ].map { SQLColumn($0) }

    static func refreshToken(from row: any SQLRow) throws -> RefreshToken {
        RefreshToken(
            tokenHash: try row.decode(column: "token_hash", as: String.self),
            familyID: try row.decode(column: "family_id", as: String.self),
            codeHash: try row.decode(column: "code_hash", as: String?.self),
            clientID: try row.decode(column: "client_id", as: String.self),
            userID: try row.decode(column: "user_id", as: String.self),
            scope: try row.decode(column: "scope", as: String.self),
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)),
            expiresAt: date(try row.decode(column: "expires_at", as: Int64.self)),
            usedAt: try row.decode(column: "used_at", as: Int64?.self).map(date),
            revokedAt: try row.decode(column: "revoked_at", as: Int64?.self).map(date))
    }

    // MARK: Access tokens

    static func insert(_ token: IssuedAccessToken, _ sql: any SQLDatabase) async throws {
        try await sql.insert(into: "issued_access_tokens")
            .columns("jti", "family_id", "client_id", "subject", "issued_at", "expires_at")
            .values(
                SQLBind(token.jti), SQLBind(token.familyID), SQLBind(token.clientID), SQLBind(token.subject),
                SQLBind(Timestamp.micros(token.issuedAt)), SQLBind(Timestamp.micros(token.expiresAt))
            )
            .run()
        if Int.random(in: 0..<200) == 0 {
            // A record outlives its token only to answer introspection, which says inactive anyway once it expired.
            let horizon = Timestamp.micros(token.issuedAt) - 86_400 * 1_000_000
            try await sql.delete(from: "issued_access_tokens").where("expires_at", .lessThan, SQLBind(horizon)).run()
        }
    }

    static func accessToken(jti: String, _ sql: any SQLDatabase) async throws -> IssuedAccessToken? {
        try await sql.select().columns("jti", "family_id", "client_id", "subject", "issued_at", "expires_at", "revoked_at")
            .from("issued_access_tokens").where("jti", .equal, SQLBind(jti)).first()
            .map { row in
                IssuedAccessToken(
                    jti: try row.decode(column: "jti", as: String.self),
                    familyID: try row.decode(column: "family_id", as: String?.self),
                    clientID: try row.decode(column: "client_id", as: String.self),
                    subject: try row.decode(column: "subject", as: String.self),
                    issuedAt: date(try row.decode(column: "issued_at", as: Int64.self)),
                    expiresAt: date(try row.decode(column: "expires_at", as: Int64.self)),
                    revokedAt: try row.decode(column: "revoked_at", as: Int64?.self).map(date))
            }
    }

    static func revokeAccessToken(jti: String, now: Date, _ sql: any SQLDatabase) async throws {
        try await sql.update("issued_access_tokens").set("revoked_at", to: SQLBind(Timestamp.micros(now)))
            .where("jti", .equal, SQLBind(jti)).where(SQLColumn("revoked_at"), .is, SQLLiteral.null).run()
    }

    // MARK: Families

    /// Revokes every refresh and access token of a grant: what a replayed code or refresh token triggers, and
    /// what revoking a refresh token does (RFC 7009 section 2.1).
    static func revokeFamily(_ familyID: String, now: Date, _ sql: any SQLDatabase) async throws {
        let micros = SQLBind(Timestamp.micros(now))
        try await sql.update("refresh_tokens").set("revoked_at", to: micros)
            .where("family_id", .equal, SQLBind(familyID)).where(SQLColumn("revoked_at"), .is, SQLLiteral.null).run()
        try await sql.update("issued_access_tokens").set("revoked_at", to: micros)
            .where("family_id", .equal, SQLBind(familyID)).where(SQLColumn("revoked_at"), .is, SQLLiteral.null).run()
    }

    private static func date(_ micros: Int64) -> Date { Timestamp.date(micros: micros) }
}
