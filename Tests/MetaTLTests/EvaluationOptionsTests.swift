import Foundation
import Testing
@testable import MetaTL

/// The sampled protocol's number of negatives and the report's cutoffs, as options.
@Suite struct EvaluationOptionsTests {
    static func rows() -> (Interactions, Interactions) {
        var g = SyntheticData()
        g.side = 8
        g.trainUsers = 300
        g.newUsers = 150
        return g.generate()
    }

    /// With n negatives a sampled rank is at most n + 1; each user's first draws are the same
    /// whatever n (so 100 is exactly the reference protocol as before); the full protocol does
    /// not change.
    @Test func sampledNegativesIsAnOption() throws {
        let (train, test) = Self.rows()
        let standard = try Dataset(train: train, test: test)
        let five = try Dataset(train: train, test: test, sampledNegatives: 5)
        #expect(standard.test.sampledNegatives == 100 && five.test.sampledNegatives == 5)
        let u = five.test
        for i in 0..<u.count {
            #expect(Array(u.negatives[(i * 5)..<(i * 5 + 5)]) == Array(standard.test.negatives[(i * 100)..<(i * 100 + 5)]))
        }
        var c = Configuration()
        c.dim = 8; c.hidden1 = 8; c.hidden2 = 8; c.batchSize = 32; c.threads = 1
        let m = try MetaTLModel(configuration: c, dataset: standard)
        _ = try m.train(on: standard, steps: 3)
        let ranks = try m.ranks(on: five, split: .test, protocol: .sampled)
        #expect(ranks.allSatisfy { $0 >= 1 && $0 <= 6 })
        #expect(try m.ranks(on: five, split: .test, protocol: .full) == m.ranks(on: standard, split: .test, protocol: .full))
        let baseline = Baselines(dataset: five).ranks(.transition, on: five, split: .test, protocol: .sampled)
        #expect(baseline.allSatisfy { $0 >= 1 && $0 <= 6 })
        #expect(throws: MetaTLError.self) { _ = try Dataset(train: train, test: test, sampledNegatives: 0) }
        #expect(throws: MetaTLError.self) { _ = try Dataset(train: train, test: test, sampledNegatives: 100_001) }
    }

    /// NDCG@k and Hits@k at any cutoff, by the same rule as 1, 5 and 10; the report's table and
    /// JSON carry them.
    @Test func cutoffsAreAnOption() throws {
        let ranks = [1, 3, 15, 30, Metrics.unranked]
        let m = Metrics(ranks: ranks, cutoffs: [20, 10, 20])
        #expect(m.moreCutoffs.map(\.k) == [20])
        #expect(m.moreCutoffs[0].hits == 3.0 / 5)
        #expect(abs(m.moreCutoffs[0].ndcg - (1 + 1 / log2(4.0) + 1 / log2(16.0)) / 5) < 1e-15)
        let ten = Metrics.at(10, ranks: ranks), five = Metrics.at(5, ranks: ranks), one = Metrics.at(1, ranks: ranks)
        #expect(ten.hits == m.hits10 && ten.ndcg == m.ndcg10 && five.ndcg == m.ndcg5 && one.hits == m.hits1)
        #expect(m.named.map(\.name) == ["MRR", "NDCG@1", "NDCG@5", "NDCG@10", "NDCG@20", "Hits@1", "Hits@5", "Hits@10", "Hits@20"])
        // Decoding what an earlier version encoded (no moreCutoffs) still works.
        let old = #"{"mrr":0.5,"ndcg1":0,"ndcg5":0,"ndcg10":0,"hits1":0,"hits5":0,"hits10":0,"users":2}"#
        #expect(try JSONDecoder().decode(Metrics.self, from: Data(old.utf8)).mrr == 0.5)

        let (model, data) = try CheckpointTests.trainedModel()
        let report = try EvaluationReport(model: model, dataset: data, cutoffs: [50])
        #expect(report.table().contains("NDCG@50") && report.table().contains("Hits@50"))
        let test = try #require(report.dictionary()["test"] as? [String: Any])
        let metatl = try #require((test["metatl"] as? [String: Any])?["full"] as? [String: Any])
        let hits50 = try #require(metatl["Hits@50"] as? Double), hits10 = try #require(metatl["Hits@10"] as? Double)
        #expect(hits50 >= hits10)
        #expect(throws: MetaTLError.self) { _ = try EvaluationReport(model: model, dataset: data, cutoffs: [0]) }
    }
}
