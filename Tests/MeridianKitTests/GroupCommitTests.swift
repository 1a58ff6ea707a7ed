import MeridianTestSupport
import Synchronization
import Testing

@testable import MeridianKit

/// `GroupCommit`: submissions that arrive while a write runs are written together as the next group, each is
/// answered with its own outcome, a failed write fails only its group, and a cancelled leader does not cancel
/// the write its group waits on.
@Suite struct GroupCommitTests {
    struct Refused: Error {}

    /// A write that records each group it is given and holds the first one until `release` is called.
    final class HeldWrite: Sendable {
        let groups = Mutex<[[Int]]>([])
        let cancelledInsideWrite = Mutex(false)
        private let gate = AsyncStream<Void>.makeStream()

        func write(_ items: [Int]) async throws -> [Int] {
            let isFirst = groups.withLock { groups in
                groups.append(items)
                return groups.count == 1
            }
            if isFirst {
                for await _ in gate.stream { break }
                if Task.isCancelled { cancelledInsideWrite.withLock { $0 = true } }
            }
            if items.contains(99) { throw Refused() }
            return items.map { $0 * 10 }
        }

        func release() { gate.continuation.yield() }
    }

    @Test func aBurstDuringAWriteIsWrittenAsOneGroup() async throws {
        let held = HeldWrite()
        let commit = GroupCommit<Int, Int>(maxWeight: 100) { try await held.write($0) }
        async let first = commit.submit(0)
        try await waitUntil { held.groups.withLock { $0.count } == 1 }
        let results = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for item in 1...5 { group.addTask { (item, try await commit.submit(item)) } }
            try await waitUntil { commit.queued == 5 }
            held.release()
            var results: [Int: Int] = [:]
            for try await (item, outcome) in group { results[item] = outcome }
            return results
        }
        #expect(try await first == 0)
        #expect(results == [1: 10, 2: 20, 3: 30, 4: 40, 5: 50])
        let groups = held.groups.withLock { $0 }
        #expect(groups.count == 2)
        #expect(groups.first == [0])
        #expect(groups.last?.sorted() == [1, 2, 3, 4, 5])
        #expect(commit.queued == 0)
    }

    @Test func aGroupStopsAtTheWeightLimit() async throws {
        let held = HeldWrite()
        let commit = GroupCommit<Int, Int>(maxWeight: 5) { try await held.write($0) }
        async let first = commit.submit(0)
        try await waitUntil { held.groups.withLock { $0.count } == 1 }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for item in 1...4 {
                group.addTask {
                    let outcome = try await commit.submit(item, weight: 2)
                    #expect(outcome == item * 10)
                }
            }
            try await waitUntil { commit.queued == 4 }
            held.release()
            try await group.waitForAll()
        }
        _ = try await first
        let sizes = held.groups.withLock { $0.map(\.count) }
        // Weights of 2 under a limit of 5: two submissions a group.
        #expect(sizes == [1, 2, 2])
    }

    @Test func aFailedWriteFailsOnlyItsGroup() async throws {
        let held = HeldWrite()
        let commit = GroupCommit<Int, Int>(maxWeight: 2) { try await held.write($0) }
        async let first = commit.submit(0)
        try await waitUntil { held.groups.withLock { $0.count } == 1 }
        let outcomes = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            // 99 and 1 queue first and share a group that fails; 2 and 3 are written next.
            group.addTask { (99, (try? await commit.submit(99)) != nil) }
            try await waitUntil { commit.queued == 1 }
            group.addTask { (1, (try? await commit.submit(1)) != nil) }
            try await waitUntil { commit.queued == 2 }
            for item in 2...3 { group.addTask { (item, (try? await commit.submit(item)) != nil) } }
            try await waitUntil { commit.queued == 4 }
            held.release()
            var outcomes: [Int: Bool] = [:]
            for try await (item, written) in group { outcomes[item] = written }
            return outcomes
        }
        #expect(try await first == 0)
        #expect(outcomes == [99: false, 1: false, 2: true, 3: true])
    }

    @Test func aCancelledLeaderStillWritesItsGroup() async throws {
        let held = HeldWrite()
        let commit = GroupCommit<Int, Int>(maxWeight: 100) { try await held.write($0) }
        let leader = Task { try await commit.submit(0) }
        try await waitUntil { held.groups.withLock { $0.count } == 1 }
        leader.cancel()
        held.release()
        #expect(try await leader.value == 0)
        #expect(held.cancelledInsideWrite.withLock { $0 } == false)
        // The lead was handed back: a later submission is written at once.
        #expect(try await commit.submit(7) == 70)
    }
}
