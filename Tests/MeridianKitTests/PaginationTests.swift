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
