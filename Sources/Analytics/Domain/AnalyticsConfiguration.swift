import Foundation

/// How the analytics service treats events; the defaults suit the embedded `serve`.
public struct AnalyticsConfiguration: Sendable {
    /// Raw events older than this many days are pruned in the background; rollups are kept.
    public var retentionDays: Int
    /// Product-event properties whose values become rollup breakdowns (for example `plan` or `country`). Values
    /// of these properties are stored in plaintext in the rollups; name only non-personal properties here.
    public var propertyBreakdowns: [String]
    /// Events stamped further than this in the future (after skew correction) are rejected.
    public var futureTolerance: TimeInterval
    /// How often the retention pruner runs.
    public var pruneInterval: Duration

    public init(
        retentionDays: Int = 90, propertyBreakdowns: [String] = [], futureTolerance: TimeInterval = 300,
        pruneInterval: Duration = .seconds(3600)
    ) {
        self.retentionDays = retentionDays
        self.propertyBreakdowns = propertyBreakdowns
        self.futureTolerance = futureTolerance
        self.pruneInterval = pruneInterval
    }

    /// `MERIDIAN_ANALYTICS_RETENTION_DAYS` and `MERIDIAN_ANALYTICS_BREAKDOWNS` (comma-separated property names);
    /// unset or unreadable values keep the defaults.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> AnalyticsConfiguration {
        var configuration = AnalyticsConfiguration()
        if let days = environment["MERIDIAN_ANALYTICS_RETENTION_DAYS"].flatMap(Int.init), days > 0 {
            configuration.retentionDays = days
        }
        if let names = environment["MERIDIAN_ANALYTICS_BREAKDOWNS"] {
            configuration.propertyBreakdowns = names.split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return configuration
    }
}
