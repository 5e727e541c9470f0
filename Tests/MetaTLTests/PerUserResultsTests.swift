import Testing
@testable import MetaTL

@Suite("Per-user results")
struct PerUserResultsTests {
    /// The report's per-user ranks give its metrics; the CSV holds one row per user, system and
    /// protocol; the paired bootstrap's interval holds the observed difference, is zero for a
    /// system against itself, and is the same for the same seed.
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
        #expect(csv.first == "user,split,system,protocol,rank")
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
