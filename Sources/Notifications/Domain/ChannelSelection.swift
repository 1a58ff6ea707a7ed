/// Which channels a message to a user goes out on, given what the sender asked for and the user's preferences.
///
/// Without preferences every channel is on. A user's opt-out of a category on a channel removes that channel,
/// except for critical categories (security, receipts), which reach the user whatever they chose.
enum ChannelSelection {
    struct Result: Equatable, Sendable {
        var channels: [Channel]
        /// Channels left out, with the reason, so the sender can see why.
        var skipped: [(channel: Channel, reason: String)]

        static func == (lhs: Result, rhs: Result) -> Bool {
            lhs.channels == rhs.channels && lhs.skipped.map(\.channel) == rhs.skipped.map(\.channel)
        }
    }

    /// `requested` nil means "the user's preferred channels". `optedOut` are the channels the user switched off
    /// for `category`.
    static func select(requested: [Channel]?, category: String, optedOut: Set<Channel>) -> Result {
        let wanted = requested ?? Channel.allCases
        if Category.isCritical(category) { return Result(channels: wanted, skipped: []) }
        var result = Result(channels: [], skipped: [])
        for channel in wanted {
            if optedOut.contains(channel) {
                result.skipped.append((channel, "the recipient opted out of \(category) messages by \(channel.rawValue)"))
            } else {
                result.channels.append(channel)
            }
        }
        return result
    }
}
