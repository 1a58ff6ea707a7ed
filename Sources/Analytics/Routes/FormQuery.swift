import HTTPTypes
import Hummingbird
import MeridianKit

/// Query strings as clients write them: `application/x-www-form-urlencoded`, where `+` stands for a space.
///
/// Event names have spaces ("Signed Up", Segment's own naming convention), and Python's `requests`, browsers'
/// `URLSearchParams` and HTML forms send `event=Signed Up` as `event=Signed+Up`. The kernel's `QueryReader`
/// percent-decodes only (RFC 3986), so without this the name read was "Signed+Up", which matched no rollup and the
/// metrics of every Segment event with a space in its name were 0. A literal plus is sent as `%2B` by those
/// same clients and still arrives as `+`.
enum FormQuery {
    /// A `QueryReader` over the request's query with each `+` read as a space.
    static func reader(_ request: Request, known: Set<String>) -> QueryReader {
        QueryReader(formDecoded(request), known: known)
    }

    static func formDecoded(_ request: Request) -> Request {
        guard let target = request.head.path, let mark = target.firstIndex(of: "?"), target[mark...].contains("+") else {
            return request
        }
        var head = request.head
        head.path = String(target[..<mark]) + target[mark...].replacingOccurrences(of: "+", with: "%20")
        return Request(head: head, body: request.body)
    }
}
