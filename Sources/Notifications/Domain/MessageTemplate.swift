import Foundation
import MeridianKit
import Mustache

/// A notification template: a subject, a plain-text and an optional HTML part, each Mustache, and the variables
/// they may use. Values are HTML-escaped in the HTML part (Mustache's default), left as they are in the subject
/// and the text part; `{{{name}}}` opts out of escaping where a trusted value is meant.
struct MessageTemplate: Sendable, Equatable {
    var subject: String
    var text: String
    var html: String?
    var variables: [String]

    /// Every problem of the template, by field: a part that does not parse, or a name it uses that is not
    /// declared in `variables`.
    func problems() -> [(field: String, message: String)] {
        var problems: [(String, String)] = []
        let declared = Set(variables)
        for (field, source) in parts {
            do {
                _ = try MustacheTemplate(string: source)
                let unknown = try TemplateVariables.topLevelNames(in: source).filter { !declared.contains($0) }
                for name in unknown {
                    problems.append((field, "uses the variable \"\(name)\", which is not declared in variables"))
                }
            } catch let error as MustacheTemplate.ParserError {
                problems.append(
                    (field, "is not a valid Mustache template (line \(error.context.lineNumber), column "
                        + "\(error.context.columnNumber): \(error.error))"))
            } catch let error as TemplateVariables.ScanError {
                if case .unsupported(let message) = error { problems.append((field, message)) }
            } catch {
                problems.append((field, "is not a valid Mustache template"))
            }
        }
        return problems
    }

    private var parts: [(String, String)] {
        [("subject", subject), ("text", text)] + (html.map { [("html", $0)] } ?? [])
    }

    /// Renders every part with `data`. Throws `MissingData` naming the declared variables `data` lacks, so a
    /// message never goes out with a hole in it.
    func render(_ data: [String: JSONValue]) throws -> RenderedMessage {
        let missing = variables.filter { data[$0] == nil }
        if !missing.isEmpty { throw MissingData(names: missing) }
        let context = data.mapValues(\.mustacheValue)
        return RenderedMessage(
            subject: try Self.plain(subject, context).trimmingCharacters(in: .whitespacesAndNewlines),
            text: try Self.plain(text, context),
            html: try html.map { try MustacheTemplate(string: $0).render(context) })
    }

    struct MissingData: Error {
        let names: [String]
    }

    /// Text rendering: the `CONTENT_TYPE` pragma switches Mustache's HTML escaping off for this part only.
    private static func plain(_ source: String, _ context: [String: Any]) throws -> String {
        try MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + source).render(context)
    }
}

/// What a template produces, and what a notification without a template carries directly.
struct RenderedMessage: Sendable, Equatable, Codable {
    var subject: String
    var text: String
    var html: String?
}

extension JSONValue {
    /// The value in the shapes Mustache walks: dictionaries, arrays and scalars.
    var mustacheValue: Any {
        switch self {
        case .null: return ""
        case .bool(let value): return value
        case .integer(let value): return value
        case .number(let value): return value
        case .string(let value): return value
        case .array(let values): return values.map(\.mustacheValue)
        case .object(let members): return members.mapValues(\.mustacheValue)
        }
    }
}
