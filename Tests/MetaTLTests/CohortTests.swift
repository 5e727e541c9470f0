import Testing
@testable import MetaTL

@Suite("New cohorts")
struct CohortTests {
    /// A trained model meets next month's users: a dataset built over its vocabulary maps items
    /// by id, leaves out (and counts) interactions with items it never saw, and evaluates and
    /// serves as on the model's own data.
    @Test func aModelEvaluatesACohortWithUnknownItemsSkippedAndCounted() throws {
        let (m, data) = try CheckpointTests.trainedModel()
        var g = SyntheticData()
        g.side = 12; g.trainUsers = 300; g.newUsers = 120; g.seed = 1
        var (train, test) = g.generate()
        // Next month: some interactions with items the model never saw (ids beyond its catalogue).
        var unknown = 0
        for i in stride(from: 0, to: test.count, by: 7) { test.items[i] = 1_000_000 + Int64(i); unknown += 1 }
        for i in stride(from: 0, to: train.count, by: 50) { train.items[i] = 2_000_000 + Int64(i); unknown += 1 }
        let cohort = try Dataset(train: train, test: test, K: 3, seed: 1, vocabularyOf: m)
        #expect(cohort.unknownInteractions == unknown)
        #expect(cohort.itemIDs == m.itemIDs)
        let full = try m.evaluate(on: cohort, split: .test, protocol: .full)
        let sampled = try m.evaluate(on: cohort, split: .test, protocol: .sampled)
        #expect(full.users == cohort.test.count && full.users > 0 && full.mrr > 0 && sampled.mrr > full.mrr)
        // Its own data, built over its own vocabulary, is the same dataset: the same metrics.
        let (ownTrain, ownTest) = g.generate()
        let own = try Dataset(train: ownTrain, test: ownTest, K: 3, seed: 1, vocabularyOf: m)
        #expect(own.unknownInteractions == 0)
        for p in EvaluationProtocol.allCases {
            #expect(try m.evaluate(on: own, split: .test, protocol: p) == m.evaluate(on: data, split: .test, protocol: p))
        }
        // Or an error naming the first unknown item.
        do {
            _ = try Dataset(train: train, test: test, K: 3, seed: 1, trainName: "next_train.csv", vocabularyOf: m, unknownItems: .fail)
            Issue.record("an unknown item was accepted")
        } catch {
            #expect(error.kind == .unknownItem && error.message.contains("next_train.csv: row 1: field 'item': item id 2000000"), "\(error.message)")
        }
    }
}
