import Foundation
import MeridianKit
import MeridianTestSupport
import Testing

@testable import Analytics

@Suite struct RollupIntervalTests {
    @Test func bucketsRoundDown() {
        let minute = RollupInterval.minute.micros
        #expect(RollupInterval.minute.bucket(0) == 0)
        #expect(RollupInterval.minute.bucket(minute - 1) == 0)
        #expect(RollupInterval.minute.bucket(minute) == minute)
        #expect(RollupInterval.minute.bucket(-1) == -minute)
        #expect(RollupInterval.day.bucket(Timestamp.micros(Date(timeIntervalSince1970: 86_400 * 3 + 5))) == 3 * RollupInterval.day.micros)
    }

    /// The cover of a range is exact: its buckets tile `[from, to)` with no gap and no overlap, whatever the
    /// alignment, and it uses whole days where it can.
    @Test func timeCoverTilesTheRangeExactly() {
        var generator = SeededGenerator(seed: 7)
        let minute = RollupInterval.minute.micros
        for _ in 0..<500 {
            let from = Int64.random(in: 0..<20_000, using: &generator) * minute
            let to = from + Int64.random(in: 1..<20_000, using: &generator) * minute
            var pieces: [(Int64, Int64)] = []
            for range in TimeCover(from: from, to: to).ranges {
                #expect(range.interval.bucket(range.first) == range.first)
                var bucket = range.first
                while bucket <= range.last {
                    pieces.append((bucket, bucket + range.interval.micros))
                    bucket += range.interval.micros
                }
            }
            pieces.sort { $0.0 < $1.0 }
            #expect(pieces.first?.0 == from)
            #expect(pieces.last?.1 == to)
            for index in pieces.indices.dropFirst() { #expect(pieces[index - 1].1 == pieces[index].0) }
        }
        let day = RollupInterval.day.micros
        let cover = TimeCover(from: day + 30 * minute, to: 5 * day)
        #expect(cover.ranges.map(\.interval) == [.minute, .hour, .day])
    }
}

/// The order PostgreSQL transactions create and lock rollup rows in: the primary key's, text by UTF-8 bytes
/// (`COLLATE "C"`), which is not Swift's `<` for text that is not in NFC.
@Suite struct RollupKeyOrderTests {
    static func key(_ interval: RollupInterval = .day, _ name: String = "e", dimension: String = "", bucket: Int64 = 0, value: String = "") -> RollupKey {
        RollupKey(interval: interval, bucket: bucket, name: name, dimension: dimension, value: value)
    }

    @Test func fieldsCompareInPrimaryKeyOrder() {
        let keys = [
            Self.key(.minute), Self.key(.hour, "b"), Self.key(.hour, "a", dimension: "plan"), Self.key(.hour, "a", bucket: 60),
            Self.key(.hour, "a", bucket: 60, value: "x"), Self.key(.day, "z"),
        ]
        let sorted = keys.sorted(by: RollupKey.primaryKeyOrder)
        #expect(sorted.map { "\($0.interval.rawValue)/\($0.name)/\($0.dimension)/\($0.bucket)/\($0.value)" } == [
            "day/z//0/", "hour/a//60/", "hour/a//60/x", "hour/a/plan/0/", "hour/b//0/", "minute/e//0/",
        ])
    }

    @Test func textComparesByItsBytes() {
        // "e" + combining acute (65 CC 81) < "f" (66) < precomposed "é" (C3 A9); Swift's `<` puts both forms of
        // é after f, as equals.
        let names = ["\u{E9}", "f", "e\u{301}"]
        let sorted = names.map { Self.key(.day, $0) }.sorted(by: RollupKey.primaryKeyOrder).map { Array($0.name.utf8) }
        #expect(sorted == [[0x65, 0xCC, 0x81], [0x66], [0xC3, 0xA9]])
        #expect(!RollupKey.primaryKeyOrder(Self.key(.day, "\u{E9}"), Self.key(.day, "e\u{301}")))
        #expect(RollupKey.primaryKeyOrder(Self.key(.day, "e\u{301}"), Self.key(.day, "\u{E9}")))
    }
}

@Suite struct FunnelTests {
    /// The hand-computed case: steps view → cart → buy within 10 minutes, step 1 in [0, 100 min).
    @Test func handComputedFunnel() {
        let minute: Int64 = 60_000_000
        let funnel = Funnel(steps: ["view", "cart", "buy"], window: 10 * minute, from: 0, to: 100 * minute)
        let users: [String: [(name: String, time: Int64)]] = [
            // All three in order, in the window: reaches 3.
            "a": [("view", 1 * minute), ("cart", 2 * minute), ("buy", 3 * minute)],
            // Buys before carting: the order matters, reaches 2 (view, cart).
            "b": [("view", 1 * minute), ("buy", 2 * minute), ("cart", 3 * minute)],
            // Buys too late for the first view but in time for the second: reaches 3.
            "c": [("view", 1 * minute), ("cart", 2 * minute), ("view", 20 * minute), ("cart", 21 * minute), ("buy", 25 * minute)],
            // Cart outside the window: reaches 1.
            "d": [("view", 1 * minute), ("cart", 12 * minute)],
            // Never viewed in range (the view is after `to`): reaches 0.
            "e": [("view", 100 * minute), ("cart", 101 * minute)],
            // Only carts: reaches 0.
            "f": [("cart", 5 * minute), ("buy", 6 * minute)],
        ]
        let reaches = users.mapValues { funnel.stepsReached($0) }
        #expect(reaches == ["a": 3, "b": 2, "c": 3, "d": 1, "e": 0, "f": 0])
        #expect(funnel.counts(reaches: reaches.values) == [4, 3, 2])
    }

    @Test func windowDurations() {
        #expect(FunnelRoutes.seconds("90") == 90)
        #expect(FunnelRoutes.seconds("30m") == 1800)
        #expect(FunnelRoutes.seconds("12h") == 43_200)
        #expect(FunnelRoutes.seconds("7d") == 604_800)
        #expect(FunnelRoutes.seconds("d") == nil)
        #expect(FunnelRoutes.seconds("-5m") == nil)
        #expect(FunnelRoutes.seconds("999999999999999999d") == nil)
    }
}

@Suite struct EventClockTests {
    /// A client whose clock is an hour behind: its event times move forward by the hour.
    @Test func sentAtCorrectsTheClientsSkew() throws {
        let now = Date()
        let clock = EventClock(
            receivedAt: now, sentAt: now.addingTimeInterval(-3600), configuration: AnalyticsConfiguration())
        let stamped = now.addingTimeInterval(-3600 - 60)
        #expect(try clock.occurredAt(stamped).get() == Timestamp.micros(now.addingTimeInterval(-60)))
        #expect(try clock.occurredAt(nil).get() == Timestamp.micros(now))
    }

    @Test func futureAndExpiredTimesAreRejected() {
        let now = Date()
        let clock = EventClock(receivedAt: now, sentAt: nil, configuration: AnalyticsConfiguration(retentionDays: 30))
        #expect(throws: EventClock.Rejection.future) { try clock.occurredAt(now.addingTimeInterval(301)).get() }
        #expect((try? clock.occurredAt(now.addingTimeInterval(299)).get()) != nil)
        #expect(throws: EventClock.Rejection.tooOld) { try clock.occurredAt(now.addingTimeInterval(-31 * 86_400)).get() }
    }
}
