import PostgresNIO
import SQLiteNIO

/// Recognises a unique-constraint violation reported by either engine, so that a repository can let the
/// database's unique index decide a race (two concurrent writers of the same key) and turn the loser into a
/// 409 instead of a 500. This is the one place that knows each engine's error type.
public enum UniqueConstraintViolation {
    public static func matches(_ error: any Error) -> Bool {
        if let error = error as? SQLiteError {
            // sqlite-nio opens connections with extended result codes, so a unique index or primary key
            // collision is reported as its own reason.
            return error.reason == .constraintUniqueFailed || error.reason == .constraintPrimaryKeyFailed
        }
        if let error = error as? PSQLError {
            return error.serverInfo?[.sqlState] == PostgresError.Code.uniqueViolation.raw
        }
        // postgres-kit's query path may hand over the legacy error type.
        if let error = error as? PostgresError {
            return error.code == .uniqueViolation
        }
        return false
    }
}
