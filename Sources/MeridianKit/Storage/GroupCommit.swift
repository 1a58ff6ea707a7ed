import Synchronization

/// Writes concurrent submissions together: while one group is being written, the submissions that arrive wait
/// and are written as the next group, in one call to `write` (one transaction, one commit, one fsync), so a
/// burst of requests shares the cost of a durable commit instead of queueing for one commit each.
///
/// There is no background task: the first submitter finds no write in progress and leads; it writes the group
/// at the head of the queue (its own submission first), answers the others in it, then hands the lead to the
/// submission now at the head of the queue, whose task writes the next group. Each submitter is answered once,
/// either with its result or with the lead. The write runs in its own task, so a leader whose request is
/// cancelled does not cancel the write that the rest of its group is waiting on.
public final class GroupCommit<Item: Sendable, Outcome: Sendable>: Sendable {
    public typealias Write = @Sendable ([Item]) async throws -> [Outcome]

    private enum Turn: Sendable {
        case written(Outcome)
        case lead
    }

    private struct Submission: Sendable {
        let item: Item
        let weight: Int
        let answer: CheckedContinuation<Turn, any Error>
    }

    private struct State: Sendable {
        var queue: [Submission] = []
        var writing = false
        var submitted = 0
    }

    private let state = Mutex(State())
    private let maxWeight: Int
    private let write: Write

    /// `write` is given the items of one group in submission order and answers one outcome per item, in the
    /// same order. A group holds submissions up to a total `weight` of `maxWeight` (one heavier submission
    /// is written alone).
    public init(maxWeight: Int, write: @escaping Write) {
        self.maxWeight = max(1, maxWeight)
        self.write = write
    }

    public func submit(_ item: Item, weight: Int = 1) async throws -> Outcome {
        let turn = try await withCheckedThrowingContinuation { (answer: CheckedContinuation<Turn, any Error>) in
            let leads = state.withLock { state in
                state.queue.append(Submission(item: item, weight: weight, answer: answer))
                state.submitted += 1
                guard !state.writing else { return false }
                state.writing = true
                return true
            }
            if leads { answer.resume(returning: .lead) }
        }
        switch turn {
        case .written(let outcome): return outcome
        case .lead: return try await lead()
        }
    }

    /// Writes the group at the head of the queue, whose first submission is the leader's own (the lead only
    /// ever goes to the head), answers the others and passes the lead on.
    private func lead() async throws -> Outcome {
        let group = state.withLock { state in
            var total = 0
            var count = 0
            for submission in state.queue {
                if count > 0 && total + submission.weight > maxWeight { break }
                total += submission.weight
                count += 1
            }
            let group = Array(state.queue.prefix(count))
            state.queue.removeFirst(count)
            return group
        }
        let items = group.map(\.item)
        let write = self.write
        let result = await Task { try await write(items) }.result.flatMap { outcomes in
            outcomes.count == items.count ? .success(outcomes) : .failure(WriteAnsweredWrongCount())
        }
        for (index, submission) in group.enumerated().dropFirst() {
            submission.answer.resume(with: result.map { .written($0[index]) })
        }
        let next = state.withLock { state -> Submission? in
            guard let head = state.queue.first else {
                state.writing = false
                return nil
            }
            return head
        }
        next?.answer.resume(returning: .lead)
        return try result.map { $0[0] }.get()
    }

    /// Submissions waiting for a group, and submissions ever made (tests watch them to know that a burst is
    /// queued).
    public var queued: Int { state.withLock { $0.queue.count } }
    public var submitted: Int { state.withLock { $0.submitted } }

    struct WriteAnsweredWrongCount: Error {}
}
