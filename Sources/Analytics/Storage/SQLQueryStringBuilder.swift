import SQLKit

/// Schema statements built at run time (the column type differs per engine) as raw SQL.
enum SQLQueryStringBuilder {
    static func make(_ statement: String) -> SQLQueryString { SQLQueryString(statement) }
}
