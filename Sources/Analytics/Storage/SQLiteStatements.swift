/// Statement text for `SQLiteWriter.query`, which takes its values by position.
enum SQLiteStatements {
    /// ` VALUES (?, …), (?, …)`: `rows` groups of `columns` placeholders.
    static func values(rows: Int, columns: Int) -> String {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
        var text = " VALUES "
        text.reserveCapacity(text.utf8.count + rows * (row.utf8.count + 1))
        for index in 0..<rows {
            if index > 0 { text += "," }
            text += row
        }
        return text
    }
}
