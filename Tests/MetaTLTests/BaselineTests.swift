import Testing
@testable import MetaTL

@Suite("Baselines")
struct BaselineTests {
    /// Training: (1, 2) is always followed by 3, but 2 is followed by 4 more often overall. A new
    /// user ending in 1, 2 whose next item is 3: second-order counts rank it first, first-order
    /// transitions second (behind 4).
    @Test func secondOrderCountsUseBothTransitionsAndBackOff() throws {
        let sequences: [[Int64]] = [[1, 2, 3], [1, 2, 3], [5, 2, 4], [6, 2, 4], [7, 2, 4], [8, 9, 10]]
        var users: [Int64] = [], items: [Int64] = [], times: [Double] = []
        for (u, s) in sequences.enumerated() {
            for (t, item) in s.enumerated() { users.append(Int64(u)); items.append(item); times.append(Double(t)) }
        }
        var testUsers: [Int64] = [], testItems: [Int64] = [], testTimes: [Double] = []
        for u in 0..<10 {
            // Half end in (1, 2) → 3; half in (9, 2) → 4, a context never seen: back off to 2 → 4.
            let s: [Int64] = u % 2 == 0 ? [10, 1, 2, 3] : [10, 9, 2, 4]
            for (t, item) in s.enumerated() { testUsers.append(Int64(100 + u)); testItems.append(item); testTimes.append(Double(t)) }
        }
        let data = try Dataset(train: Interactions(users: users, items: items, timestamps: times),
                               test: Interactions(users: testUsers, items: testItems, timestamps: testTimes), K: 3, seed: 1)
        let base = Baselines(dataset: data)
        for split in [Split.valid, .test] where data.users(split).count > 0 {
            let users = data.users(split)
            let second = base.evaluate(.secondOrder, on: data, split: split, protocol: .full)
            let first = base.evaluate(.transition, on: data, split: split, protocol: .full)
            // Every user's target is ranked first by second-order counts (seen context or back-off).
            #expect(second.mrr == 1, "\(split): \(second.mrr)")
            // First-order counts put 4 ahead of 3 for the (1, 2) users.
            let oneTwo = (0..<users.count).filter { users.targets[$0] == data.row(ofItem: 3) }.count
            #expect(abs(first.mrr - (Double(users.count - oneTwo) + 0.5 * Double(oneTwo)) / Double(users.count)) < 1e-12)
        }
    }
}

@Suite("Synthetic oracle")
struct SyntheticOracleTests {
    /// The oracle knows each user's direction: it is right whenever the walk did not jump (noise
    /// 0.1, plus the grid's edge), far ahead of transition counts, which only know the last item.
    @Test func theOracleIsTheCeilingTheDemoReports() throws {
        var g = SyntheticData()
        g.side = 20; g.trainUsers = 1500; g.newUsers = 600
        let (train, test, oracle) = g.generateWithOracle()
        #expect(g.generate().train.items == train.items)   // the same draws either way
        let data = try Dataset(train: train, test: test, K: 3, seed: 1)
        let full = oracle.evaluate(on: data, split: .test, protocol: .full)
        let sampled = oracle.evaluate(on: data, split: .test, protocol: .sampled)
        #expect(full.hits1 > 0.75 && full.hits1 < 0.95, "\(full.hits1)")
        #expect(sampled.hits1 >= full.hits1)
        let transitions = Baselines(dataset: data).evaluate(.transition, on: data, split: .test, protocol: .full)
        #expect(full.hits1 > transitions.hits1 + 0.3, "oracle \(full.hits1), transitions \(transitions.hits1)")
    }
}
