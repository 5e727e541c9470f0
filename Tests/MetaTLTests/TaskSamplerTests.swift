import Testing
@testable import MetaTL

@Suite("Task sampler")
struct TaskSamplerTests {
    /// One training user with the given items (ids = rows here: ids 1...n are all present).
    func dataset(_ sequences: [[Int64]], items: Int64 = 20) throws -> Dataset {
        var train = Interactions()
        for (u, seq) in sequences.enumerated() {
            for (t, item) in seq.enumerated() {
                train.users.append(Int64(u + 1)); train.items.append(item); train.timestamps.append(Double(t))
            }
        }
        // New users covering every id, so ids and rows coincide.
        var test = Interactions()
        for item in 1...items {
            for t in 0..<4 { test.users.append(1000 + item); test.items.append((item + Int64(t) - 1) % items + 1); test.timestamps.append(Double(t)) }
        }
        return try Dataset(train: train, test: test, K: 3, seed: 1)
    }

    func tasks(_ d: Dataset, mode: SamplerMode, count: Int = 400, step: Int = 0, threads: Int = 1,
               negatives: NegativeSampling = .uniform) -> TaskBatch {
        let batch = TaskBatch(tasks: count, positions: 2)
        TaskSampler(data: d, K: 3, mode: mode, seed: 5, negatives: negatives).fill(batch, step: step, threads: threads)
        return batch
    }

    /// All (support…, query) chains of a batch as [x0, x1, x2, x3].
    func chains(_ b: TaskBatch) -> [[Int32]] {
        (0..<b.tasks).map { t in [b.supportHead[2 * t], b.supportHead[2 * t + 1], b.queryHead[t], b.queryTail[t]] }
    }

    @Test func referenceModeKeepsTheReferenceSlips() throws {
        // len 4 = K+1: window mode always picks n = K = 3, whose Python slice seq[-1:2] is
        // empty: an all-padding task. Subsequence mode takes all four items in order.
        let d = try dataset([[1, 2, 3, 4]])
        let seen = Set(chains(tasks(d, mode: .reference)))
        #expect(seen == [[0, 0, 0, 0], [1, 2, 3, 4]])
    }

    @Test func referenceWindowSkipsTheItemBeforeTheTarget() throws {
        // len 6: window n = 4 reads seq[0:3] backwards (1, 2, 3) and jumps to seq[4] = 5.
        let d = try dataset([[1, 2, 3, 4, 5, 6]])
        let seen = Set(chains(tasks(d, mode: .reference, count: 2000)))
        #expect(seen.contains([1, 2, 3, 5]))
        #expect(seen.contains([2, 3, 4, 6]))      // n = 5: seq[0:4] → 2, 3, 4 then 6
        #expect(seen.contains([0, 0, 0, 0]))      // n = 3
    }

    @Test func contiguousWindowTakesTheItemsRightBefore() throws {
        let d = try dataset([[1, 2, 3, 4, 5, 6]])
        let b = tasks(d, mode: .contiguous, count: 2000)
        let seen = Set(chains(b))
        #expect(seen.isSuperset(of: [[1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 6]]))
        #expect(!seen.contains([0, 0, 0, 0]))
        // Every chain is increasing (a subsequence of 1...6).
        #expect(seen.allSatisfy { $0 == $0.sorted() && Set($0).count == 4 })
    }

    /// `.window` draws users equally often; `.everyWindow` in proportion to their windows
    /// (max(1, length - K)): here 1 and 9, so the long user gets 9 tasks in 10. Both take only
    /// consecutive windows.
    @Test func everyWindowWeighsUsersByTheirWindows() throws {
        let long: [Int64] = Array(1...12)
        let d = try dataset([[13, 14, 15], long])
        func longShare(_ mode: SamplerMode) -> Double {
            let b = tasks(d, mode: mode, count: 20_000)
            return Double((0..<b.tasks).filter { b.queryTail[$0] <= 12 }.count) / Double(b.tasks)
        }
        // 20,000 draws: the standard error is about 0.004.
        #expect(abs(longShare(.everyWindow) - 0.9) < 0.02)
        #expect(abs(longShare(.window) - 0.5) < 0.02)
        for chain in chains(tasks(d, mode: .everyWindow, count: 2000)) where chain[3] <= 12 {
            #expect(chain == [chain[3] - 3, chain[3] - 2, chain[3] - 1, chain[3]], "not a window: \(chain)")
        }
    }

    @Test func shortUsersArePaddedNotACrash() throws {
        let d = try dataset([[7, 8], [7, 8, 9]])
        let contiguous = Set(chains(tasks(d, mode: .contiguous)))
        #expect(contiguous == [[0, 0, 7, 8], [0, 7, 8, 9]])
        let reference = Set(chains(tasks(d, mode: .reference)))
        #expect(reference == [[0, 0, 0, 0]])   // the reference's slice is empty for short users
    }

    @Test(arguments: NegativeSampling.allCases)
    func negativesLieOutsideTheUsersItems(negatives: NegativeSampling) throws {
        let d = try dataset([[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13]])
        let b = tasks(d, mode: .contiguous, count: 1000, negatives: negatives)
        for t in 0..<b.tasks {
            let user: Set<Int32> = b.queryTail[t] <= 8 && b.queryHead[t] <= 8 ? Set(1...8) : Set(9...13)
            for n in [2 * t, 2 * t + 1] where b.supportTail[n] != 0 {
                #expect(!user.contains(b.supportNegativeTail[n]) && b.supportNegativeTail[n] >= 1)
            }
            #expect(!user.contains(b.queryNegativeTail[t]))
            #expect(b.supportNegativeHead[2 * t] == b.supportHead[2 * t])
        }
    }

    @Test func batchesDependOnSeedAndStepNotThreads() throws {
        let d = try dataset([[1, 2, 3, 4, 5, 6, 7], [3, 5, 7, 9, 11], [2, 4]])
        let one = tasks(d, mode: .reference, count: 512, step: 3, threads: 1)
        let four = tasks(d, mode: .reference, count: 512, step: 3, threads: 4)
        let other = tasks(d, mode: .reference, count: 512, step: 4, threads: 1)
        #expect(chains(one) == chains(four))
        #expect(one.queryNegativeTail.array == four.queryNegativeTail.array)
        #expect(chains(one) != chains(other))
    }

    /// Popularity negatives follow training frequency: item 3 fills half of the other user's
    /// sequence and must be drawn far more often than uniform sampling would draw it.
    @Test func popularityNegativesFavourFrequentItems() throws {
        let d = try dataset([[3, 4, 3, 5, 3, 6, 3, 7, 3, 8], [9, 10, 11, 12, 13]])
        func share(_ n: NegativeSampling) -> Double {
            let b = tasks(d, mode: .contiguous, count: 2000, negatives: n)
            let user2 = (0..<b.tasks).filter { b.queryHead[$0] >= 9 }
            let hits = user2.filter { b.queryNegativeTail[$0] == 3 }.count
            return Double(hits) / Double(max(user2.count, 1))
        }
        // Uniform: 1 of the 15 items outside user 2's (about 0.07). Popularity: 5 of the 10
        // interactions outside user 2's items are item 3 (0.5).
        #expect(share(.uniform) < 0.15)
        #expect(share(.popularity) > 0.4)
    }
}
