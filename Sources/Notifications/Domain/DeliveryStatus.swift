/// Where one delivery is: `queued → sending → sent | failed → sending → … | dead`.
///
/// `failed` means the last attempt failed transiently and another is scheduled; `dead` means the service gave up
/// (a permanent refusal, or the attempt or age bound was reached): a dead letter, re-sent only on request.
public enum DeliveryStatus: String, CaseIterable, Sendable, Codable {
    case queued
    case sending
    case sent
    case failed
    case dead

    static let names = DeliveryStatus.allCases.map(\.rawValue)
}
