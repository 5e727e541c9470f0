import Testing
@testable import MetaTL

@Suite("Per-user results")
struct PerUserResultsTests {
    /// The report's per-user ranks give its metrics; the CSV holds one row per user, system and
    /// protocol; the paired bootstrap's interval holds the observed difference, is zero for a
    /// system against itself, and is the same for the same seed.
    /// The target's score beside its rank: the full protocol's is the serving score
    /// (`score(relation: adapt(history: inputs), ...)`), bit for bit; a baseline's is its count
    /// score.
    @Test func targetScoresAreTheServingScores() throws {
        let (m, data) = try CheckpointTests.trainedModel()
        let users = data.users(.test), K = users.K
        let full = try m.targets(on: data, split: .test, protocol: .full)
        #expect(full.ranks == (try m.ranks(on: data, split: .test, protocol: .full)))
        for u in 0..<min(users.count, 20) {
            let inputs = (0..<K).map { data.itemIDs[Int(users.inputs[u * K + $0])] }
            let target = data.itemIDs[Int(users.targets[u])]
            let served = try m.score(relation: m.adapt(history: inputs), lastItem: inputs[K - 1], candidates: [target])
            #expect(Double(served[0]) == full.scores[u])
        }
        let sampled = try m.targets(on: data, split: .test, protocol: .sampled)
        #expect(sampled.scores.count == users.count && sampled.scores.allSatisfy(\.isFinite))
        let pop = Baselines(dataset: data).targets(.popularity, on: data, split: .test, protocol: .full)
        // Popularity scores are the counts over (the largest + 1): below 1, they only break the transitions' ties.
        let counts = data.trainingItemCounts(), top = Float(counts.max() ?? 0) + 1
        for u in 0..<users.count { #expect(pop.scores[u] == Double(Float(counts[Int(users.targets[u])]) / top)) }
        let report = try EvaluationReport(model: m, dataset: data)
        let row = try #require(report.perUserCSV().split(separator: "\n").first { $0.contains(",test,metatl,full,") })
        let fields = row.split(separator: ",", omittingEmptySubsequences: false)
        #expect(fields.count == 6 && Double(String(fields[5])) == full.scores[0])
    }

    @Test func ranksGiveTheMetricsAndTheBootstrapBehaves() throws {
        let (m, data) = try CheckpointTests.trainedModel()
        try m.attachTransitionPrior(from: data, weight: .fixed(1))
        let report = try EvaluationReport(model: m, dataset: data)
        for split in Split.allCases {
            for method in EvaluationProtocol.allCases {
                for system in report.systems {
                    let ranks = try #require(report.ranks[split]?[system]?[method])
                    #expect(Metrics(ranks: ranks) == report.metrics(split, system, method))
                }
                #expect(try m.ranks(on: data, split: split, protocol: method) == report.ranks[split]?[EvaluationReport.priorSystem]?[method])
            }
        }
        let csv = report.perUserCSV().split(separator: "\n")
        #expect(csv.first == "user,split,system,protocol,rank,score")
        #expect(csv.count == 1 + (data.valid.count + data.test.count) * report.systems.count * 2)
        let b = try #require(report.pairedBootstrap(.test, .full, system: EvaluationReport.priorSystem, baseline: "popularity"))
        #expect(b.low <= b.difference && b.difference <= b.high && b.low < b.high)
        let again = try #require(report.pairedBootstrap(.test, .full, system: EvaluationReport.priorSystem, baseline: "popularity"))
        #expect(again == b)
        let itself = try #require(report.pairedBootstrap(.test, .full, system: "transition", baseline: "transition"))
        #expect(itself == (0, 0, 0))
        #expect(report.pairedBootstrap(.test, .full, system: "oracle", baseline: "transition") == nil)
    }
}
