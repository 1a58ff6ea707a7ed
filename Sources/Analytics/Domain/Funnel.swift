/// Ordered funnels: how many users did step 1, then step 2 after it, then step 3 after that, all within
/// `window` of their step 1. Pure: the caller hands over each user's events (in time order).
struct Funnel: Sendable {
    var steps: [String]
    /// Microseconds from a user's first step to their last.
    var window: Int64
    /// Step 1 must happen in `[from, to)`; later steps may fall after `to`, within the window.
    var from: Int64
    var to: Int64

    /// The furthest step (1-based; 0 for none) one user reached. Every step-1 occurrence in the range is tried
    /// as a start, since a later start can reach further than an earlier one.
    func stepsReached(_ events: [(name: String, time: Int64)]) -> Int {
        var best = 0
        for (start, event) in events.enumerated()
        where event.name == steps[0] && event.time >= from && event.time < to {
            var reached = 1
            let deadline = event.time + window
            var index = start + 1
            while reached < steps.count, index < events.count, events[index].time <= deadline {
                if events[index].name == steps[reached] { reached += 1 }
                index += 1
            }
            best = max(best, reached)
            if best == steps.count { break }
        }
        return best
    }

    /// Users reaching each step, given every user's reach.
    func counts(reaches: some Sequence<Int>) -> [Int] {
        var counts = [Int](repeating: 0, count: steps.count)
        for reach in reaches where reach > 0 {
            for step in 0..<reach { counts[step] += 1 }
        }
        return counts
    }
}
