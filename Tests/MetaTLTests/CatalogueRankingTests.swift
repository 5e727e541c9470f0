import Testing
@testable import MetaTL

@Suite("Catalogue ranking")
struct CatalogueRankingTests {
    /// `evaluate`'s full protocol ranks every user's target exactly where `recommend` lists it
    /// for the user's inputs, ties included: items are made to tie with the targets by copying
    /// a target's rows (tail table or E, and its bias) onto its neighbours, so that several
    /// items score the same bits; with and without a transition prior, for both presets.
    @Test(arguments: Configuration.presetNames)
    func evaluateRanksEachTargetWhereRecommendListsIt(preset: String) throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let c = TrainingAndEvaluationTests.configuration(threads: 2, preset: preset)
        let m = try MetaTLModel(configuration: c, dataset: data)
        try m.train(on: data, steps: 3)
        let users = data.users(.test), K = c.K, d = c.dim
        // Ties: the rows after the first users' targets get the targets' rows.
        let table = c.tailEmbeddings ? "tail_embedding.weight" : "embedding.embedding.weight"
        var rowsOfTable = try #require(m.tensor(named: table))
        var bias = c.itemBias ? try #require(m.tensor(named: "item_bias.weight")) : []
        for u in 0..<min(30, users.count) {
            let target = Int(users.targets[u]), twin = target + 1
            guard twin < m.rows else { continue }
            for j in 0..<d { rowsOfTable[twin * d + j] = rowsOfTable[target * d + j] }
            if !bias.isEmpty { bias[twin] = bias[target] }
        }
        try m.setTensor(named: table, to: rowsOfTable)
        if !bias.isEmpty { try m.setTensor(named: "item_bias.weight", to: bias) }

        for withPrior in [false, true] {
            if withPrior { try m.attachTransitionPrior(from: data, weight: .fixed(2)) }
            var positions: [Int] = [], ties = 0
            for u in 0..<users.count {
                let history = (0..<K).map { data.itemIDs[Int(users.inputs[u * K + $0])] }
                let list = try m.recommend(history: history, topN: m.rows)
                let target = data.itemIDs[Int(users.targets[u])]
                guard let p = list.firstIndex(where: { $0.item == target }) else { positions.append(Metrics.unranked); continue }
                positions.append(p + 1)
                if (p > 0 && list[p - 1].score == list[p].score) || (p + 1 < list.count && list[p + 1].score == list[p].score) {
                    ties += 1
                }
            }
            #expect(ties >= 10, "the test should exercise ties (\(ties) targets tie)")
            let ranks = m.ranks(of: users, protocol: .full, prior: m.scoringPrior)
            #expect(ranks == positions)
            #expect(try m.evaluate(on: data, split: .test, protocol: .full) == Metrics(ranks: positions))
        }
    }

    /// The rule itself: ties go to the smaller row, inputs are not candidates (once each), a
    /// non-finite score is never ranked.
    @Test func tiesGoToTheSmallerRowAndInputsAreLeftOut() {
        let scores: [Float] = [-.infinity, 2, 5, 5, .nan, 5, .infinity, 1]
        func rank(_ target: Int, _ inputs: [Int32]) -> Int {
            scores.withUnsafeBufferPointer { CatalogueOrder.rank(of: target, scores: $0.baseAddress!, rows: scores.count, excluding: inputs[...]) }
        }
        #expect(rank(3, []) == 2)            // row 2 ties and lists first; 4 (NaN) and 6 (inf) never count
        #expect(rank(2, []) == 1)
        #expect(rank(5, []) == 3)
        #expect(rank(5, [2, 2, 5]) == 2)     // 2 is an input (once); the target itself stays a candidate
        #expect(rank(4, []) == Metrics.unranked)
        var top = TopN(capacity: 3)
        for (row, s) in scores.enumerated() { top.offer(row: Int32(row), score: s) }
        #expect(top.sorted().map(\.row) == [2, 3, 5])
    }
}
