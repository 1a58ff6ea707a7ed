import Foundation
@testable import MeridianKit
import Testing

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2024-01-01T12:00:00Z", 1_704_110_400.0),
        ("2024-01-01t12:00:00z", 1_704_110_400.0),
        ("2024-01-01T12:00:00.250Z", 1_704_110_400.25),
        ("2024-01-01T13:30:00+01:30", 1_704_110_400.0),
        ("2024-01-01T10:00:00-02:00", 1_704_110_400.0),
        ("2024-02-29T00:00:00Z", 1_709_164_800.0),
        ("2016-12-31T23:59:60Z", 1_483_228_800.0),
        ("1969-12-31T23:59:59.5Z", -0.5),
        ("5391-01-07T18:42:24.6788+00:09", 107_956_953_204.6788),
    ])
    func acceptsRFC3339DateTimes(text: String, seconds: Double) throws {
        let date = try #require(Timestamp.parse(text))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.000_1)
    }

    @Test(arguments: [
        "2024-01-01T12:99:00Z", "2024-01-01T24:00:00Z", "2024-01-01T12:00:61Z", "2024-13-01T12:00:00Z",
        "2024-00-10T12:00:00Z", "2023-02-29T12:00:00Z", "2024-04-31T12:00:00Z", "2024-01-00T12:00:00Z",
        "2024-01-01T12:00:00", "2024-01-01 12:00:00Z", "2024-01-01T12:00:00.Z", "2024-01-01T12:00:00+0100",
        "2024-01-01T12:00:00+24:00", "2024-01-01T12:00:00+01:60", "2024-01-01T12:00Z", "24-01-01T12:00:00Z",
        "2024-01-01T12:00:00Zjunk", "", "２０２４-01-01T12:00:00Z",
    ])
    func refusesAnythingElse(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func formatsUTCWithMillisecondsAndReadsItsOwnOutput() throws {
        // Foundation switches to the Julian calendar before 1582; RFC 3339 is proleptic Gregorian, so compare after.
        let samples: [Double] = [0, 1_764_122_615.1239, -0.5, 951_782_400, 4_102_444_799.999, 253_402_300_799]
        for seconds in samples {
            let date = Date(timeIntervalSince1970: seconds)
            let text = Timestamp.format(date)
            #expect(text == date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true)
                .timeZone(separator: .omitted)))
            let read = try #require(Timestamp.parse(text))
            #expect(abs(read.timeIntervalSince1970 - (seconds * 1000).rounded(.down) / 1000) < 0.000_1)
        }
    }

    @Test func dayCountingAgreesWithTheCalendarAcrossFourCenturies() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for year in stride(from: 1600, through: 2400, by: 7) {
            for month in [1, 2, 3, 12] {
                let expected = calendar.date(from: DateComponents(year: year, month: month, day: 1))!
                let days = Timestamp.days(year: year, month: month, day: 1)
                #expect(Double(days) * 86_400 == expected.timeIntervalSince1970)
                let civil = Timestamp.civil(fromDays: Int64(days))
                #expect(civil.year == year && civil.month == month && civil.day == 1)
            }
        }
    }
}
