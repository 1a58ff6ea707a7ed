import Foundation
import MeridianKit

/// Puts a client's timestamps on the server's clock. A client stamps events with its own clock and the batch
/// with `sent_at` when sending; the difference between our receipt time and `sent_at` is the client's skew (plus
/// the transit time, which is small), added to every event time of the batch.
struct EventClock: Sendable {
    let receivedAt: Date
    let skew: TimeInterval
    let futureTolerance: TimeInterval
    let retention: TimeInterval

    init(receivedAt: Date, sentAt: Date?, configuration: AnalyticsConfiguration) {
        self.receivedAt = receivedAt
        self.skew = sentAt.map { receivedAt.timeIntervalSince($0) } ?? 0
        self.futureTolerance = configuration.futureTolerance
        self.retention = TimeInterval(configuration.retentionDays) * 86_400
    }

    enum Rejection: Error {
        case future, tooOld
        var message: String {
            switch self {
            case .future: "is in the future, even after correcting the client's clock with sent_at"
            case .tooOld: "is older than the retention period"
            }
        }
    }

    /// The corrected time of an event stamped `timestamp` (now when the client sent none), in microseconds.
    func occurredAt(_ timestamp: Date?) -> Result<Int64, Rejection> {
        guard let timestamp else { return .success(Timestamp.micros(receivedAt)) }
        let corrected = timestamp.addingTimeInterval(skew)
        if corrected.timeIntervalSince(receivedAt) > futureTolerance { return .failure(.future) }
        if receivedAt.timeIntervalSince(corrected) > retention { return .failure(.tooOld) }
        return .success(Timestamp.micros(corrected))
    }
}
