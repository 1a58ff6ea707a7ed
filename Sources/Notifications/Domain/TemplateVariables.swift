/// The names a Mustache template refers to outside any section, found by scanning its tags. Inside a section
/// names resolve against the section's item first, so only the top level can be checked against the declared
/// variables; a section's own name is a top-level reference.
///
/// Partials and delimiter changes are refused: templates live in the database, one at a time, and a changed
/// delimiter would hide tags from this scan.
enum TemplateVariables {
    enum ScanError: Error, Equatable {
        case unsupported(String)
    }

    static func topLevelNames(in template: String) throws -> [String] {
        var names: [String] = []
        var depth = 0
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            rest = rest[open.upperBound...]
            let triple = rest.hasPrefix("{")
            let closing = triple ? "}}}" : "}}"
            guard let close = rest.range(of: closing) else { break }
            var tag = rest[rest.startIndex..<close.lowerBound]
            rest = rest[close.upperBound...]
            if triple { tag = tag.dropFirst() }
            tag = tag.drop(while: \.isWhitespace)
            guard let sigil = tag.first else { continue }
            switch sigil {
            case "!", "%": continue
            case ">", "<", "$": throw ScanError.unsupported("partials and blocks are not supported")
            case "=": throw ScanError.unsupported("changing the delimiters is not supported")
            case "/":
                depth = max(0, depth - 1)
            case "#", "^":
                if depth == 0, let name = root(of: tag.dropFirst()) { names.append(name) }
                depth += 1
            case "&":
                if depth == 0, let name = root(of: tag.dropFirst()) { names.append(name) }
            default:
                if depth == 0, let name = root(of: tag) { names.append(name) }
            }
        }
        var seen = Set<String>()
        return names.filter { seen.insert($0).inserted }
    }

    /// `order.total` refers to `order`; `.` (the current item) and transforms (`uppercased(name)`) are unwrapped.
    private static func root(of tag: Substring) -> String? {
        var name = tag.trimmingCharacters(in: .whitespaces)[...]
        if let open = name.lastIndex(of: "("), name.hasSuffix(")") {
            name = name[name.index(after: open)..<name.index(before: name.endIndex)]
        }
        guard name != ".", !name.isEmpty else { return nil }
        return String(name.split(separator: ".", maxSplits: 1).first ?? name)
    }
}
