import HTTPTypes
import Hummingbird
import NIOCore
import MeridianKit
import Testing

@Suite struct PaginationTests {
    struct Item: Encodable, Sendable, Equatable { let id: String }

    @Test func cursorRoundTripsAndRejectsGarbage() {
        let id = "ord_01JABCDEFGHJKMNPQRSTVWXYZ0"
        let cursor = PageRequest.encodeCursor(id)
        #expect(!cursor.contains("="))
        #expect(PageRequest.decodeCursor(cursor) == id)
        #expect(PageRequest.decodeCursor("%%%") == nil)
        #expect(PageRequest.decodeCursor("") == nil)
        #expect(PageRequest.decodeCursor(String(repeating: "A", count: 500)) == nil)
    }

    @Test func pageUsesTheExtraRowOnlyToSignalMore() {
        let request = PageRequest(limit: 2)
        let full = request.page([Item(id: "a"), Item(id: "b"), Item(id: "c")], id: \.id)
        #expect(full.data == [Item(id: "a"), Item(id: "b")])
        #expect(full.nextCursor.flatMap(PageRequest.decodeCursor) == "b")
        let last = request.page([Item(id: "a"), Item(id: "b")], id: \.id)
        #expect(last.nextCursor == nil)
    }
}

@Suite struct QueryReaderTests {
    func reader(_ query: String, known: Set<String>) -> QueryReader {
        let head = HTTPRequest(method: .get, scheme: "https", authority: "meridian.test", path: "/x?\(query)")
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
        return QueryReader(request, known: known)
    }

    @Test func lengthsCountCodePointsAsTheDocumentsMaxLengthDoes() {
        // "o" and four combining marks: one Swift Character, five code points.
        var long = reader("id=o%CC%81%CC%82%CC%83%CC%84", known: ["id"])
        #expect(long.string("id", maxLength: 3) == nil)
        #expect(long.errors.map(\.field) == ["id"])
        var fits = reader("id=o%CC%81%CC%82", known: ["id"])
        #expect(fits.string("id", maxLength: 3) == "o\u{301}\u{302}")
        #expect(fits.errors.isEmpty)
    }

    @Test func plusIsASpaceAsFormsAndBrowsersSendItAndAnEncodedPlusStaysAPlus() {
        var query = reader("event=Signed+Up&tag=c%2B%2B&id=a%20b", known: ["event", "tag", "id"])
        #expect(query.string("event") == "Signed Up")
        #expect(query.string("tag") == "c++")
        #expect(query.string("id") == "a b")
        #expect(query.errors.isEmpty)
    }

    @Test func timesAcceptAnOffsetWhosePlusWasNotEncoded() {
        var query = reader("from=2026-01-31T13:00:00+01:00&to=2026-01-31T12:00:00%2B00:00&bad=2026-01-31", known: ["from", "to", "bad"])
        let from = query.time("from")
        let to = query.time("to")
        let bad = query.time("bad")
        #expect(from?.timeIntervalSince1970 == 1_769_860_800)
        #expect(to?.timeIntervalSince1970 == 1_769_860_800)
        #expect(bad == nil)
        #expect(query.errors.map(\.field) == ["bad"])
    }
}
