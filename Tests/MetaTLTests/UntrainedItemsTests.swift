import Foundation
import Testing
@testable import MetaTL

@Suite("Untrained items")
struct UntrainedItemsTests {
    /// Items that appear only in new users' interactions were never learned: `recommend` leaves
    /// them out unless asked, the full protocol does not rank them (a target among them is a
    /// miss), and a checkpoint keeps which items were learned (older files: every item).
    @Test func itemsOutsideTheTrainingDataAreLeftOutUnlessAsked() throws {
        var g = SyntheticData()
        g.side = 12; g.trainUsers = 300; g.newUsers = 120; g.seed = 1
        var (train, test) = g.generate()
        // Items 5000... occur only in new users' sequences.
        for i in stride(from: 2, to: test.count, by: 5) { test.items[i] = 5000 + Int64(i % 40) }
        _ = train
        let data = try Dataset(train: train, test: test, K: 3, seed: 1)
        #expect(data.itemsNotInTraining > 0)
        let m = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(), dataset: data)
        try m.train(on: data, steps: 3)
        let untrained = Set(data.itemIDs.dropFirst().filter { $0 >= 5000 })
        let history = Array(data.itemIDs[1...3])
        let served = try m.recommend(history: history, topN: m.rows)
        #expect(served.count == m.rows - 1 - 3 - untrained.count)
        #expect(served.allSatisfy { !untrained.contains($0.item) })
        let all = try m.recommend(history: history, topN: m.rows, includeUntrained: true)
        #expect(all.count == m.rows - 1 - 3)
        var options = RecommendOptions(); options.topN = m.rows
        #expect(try m.recommend(histories: [history], options: options)[0].items == served.map(\.item))
        options.includeUntrained = true
        #expect(try m.recommend(histories: [history], options: options)[0].items == all.map(\.item))
        // Targets among them are misses in the full protocol (and only there).
        let users = data.test, K = 3
        let ranks = try m.ranks(on: data, split: .test, protocol: .full)
        for u in 0..<users.count where untrained.contains(data.itemIDs[Int(users.targets[u])]) {
            #expect(ranks[u] == Metrics.unranked)
        }
        #expect((0..<users.count).contains { untrained.contains(data.itemIDs[Int(users.targets[$0])]) })
        _ = K
        // Saved and loaded: the same items served.
        let loaded = try MetaTLModel.load(checkpoint: try m.checkpointBytes())
        #expect(try loaded.recommend(history: history, topN: m.rows).map(\.item) == served.map(\.item))
        #expect(try loaded.evaluate(on: data, split: .test, protocol: .full) == m.evaluate(on: data, split: .test, protocol: .full))
    }
}
