import Foundation
import Testing
@testable import MetaTL

/// Batch recommendations over a large catalogue go through the matrix-product screen
/// (``CatalogueScreen``): they must be exactly the item-by-item answers, items, scores and
/// order, ties and every candidate rule included.
@Suite("Catalogue screen")
struct CatalogueScreenTests {
    /// 20,000 items (above ``CatalogueScreen/minimumRows``), 19,000 of them in training; every
    /// user of the new-user file is a history to serve.
    static func data() throws -> Dataset {
        let items = 20_000
        var train = Interactions(), test = Interactions()
        var x: UInt64 = 12345
        func next(_ n: Int) -> Int64 { x = x &* 6364136223846793005 &+ 1442695040888963407; return Int64((x >> 33) % UInt64(n)) }
        for u in 0..<1000 {
            for t in 0..<19 { train.users.append(Int64(u)); train.items.append(Int64(1 + (u * 19 + t) % 19_000)); train.timestamps.append(Double(t)) }
        }
        for u in 0..<80 {
            for t in 0..<5 {
                test.users.append(Int64(10_000 + u))
                test.items.append(t == 4 ? Int64(19_001 + u) : 1 + next(items)); test.timestamps.append(Double(t))
            }
        }
        return try Dataset(train: train, test: test)
    }

    /// Batch and single recommendations through the screen against the item-by-item answers.
    static func check(_ m: MetaTLModel, _ data: Dataset, _ options: RecommendOptions, histories: [[Int64]]) throws {
        let batch = try m.recommend(histories: histories, options: options)
        let single = try histories.map { h in
            try m.recommend(history: h, topN: options.topN, excludeHistory: options.excludeHistory, includeUntrained: options.includeUntrained)
        }
        m.screenMinimumRows = .max
        defer { m.screenMinimumRows = CatalogueScreen.minimumRows }
        for ((h, got), one) in zip(zip(histories, batch), single) {
            let exact = try m.recommend(history: h, topN: options.topN, excludeHistory: options.excludeHistory,
                                        includeUntrained: options.includeUntrained)
            #expect(got.items == exact.map(\.item) && one.map(\.item) == exact.map(\.item))
            #expect(got.scores.map(\.bitPattern) == exact.map(\.score.bitPattern))
            #expect(one.map(\.score.bitPattern) == exact.map(\.score.bitPattern))
        }
    }

    /// evaluate's full-protocol ranks, screened and item by item.
    static func checkRanks(_ m: MetaTLModel, _ data: Dataset) throws {
        let users = data.test
        let relations = m.servingRelations(of: users)
        try relations.withUnsafeBufferPointer { r in
            let base = try #require(r.baseAddress)
            var a = [Float](repeating: 0, count: users.count), b = a
            let screened = a.withUnsafeMutableBufferPointer { m.fullRanks(users, relations: base, prior: m.scoringPrior, targetScores: $0.baseAddress) }
            let plain = b.withUnsafeMutableBufferPointer {
                m.fullRanks(users, relations: base, prior: m.scoringPrior, targetScores: $0.baseAddress, screened: false)
            }
            #expect(screened == plain)
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern))   // the targets' scores too
            #expect(screened.contains { $0 != Metrics.unranked })
        }
    }

    @Test(arguments: ["recommended", "reference"])
    func theScreenGivesTheExactAnswers(preset: String) throws {
        let data = try Self.data()
        var c = try #require(Configuration.preset(named: preset))
        c.dim = 16; c.hidden1 = 16; c.hidden2 = 16; c.batchSize = 64; c.threads = 2
        let m = try MetaTLModel(configuration: c, dataset: data)
        _ = try m.train(on: data, steps: 2)
        // Plant exact ties: rows 11...20 copies of row 10 (tables and bias).
        let d = c.dim
        for table in [m.headTable, m.tailTable] {
            for r in 11...20 { (table + r * d).update(from: table + 10 * d, count: d) }
        }
        if let bias = m.arena.itemBias.map({ m.arena.param($0) }) { for r in 11...20 { bias[r] = bias[10] } }
        var histories: [[Int64]] = []
        for u in 0..<40 { histories.append([Int64(1 + u * 7), Int64(2 + u * 13), 10]) }
        histories.append([5, 9, 10, 11, 12])
        var options = RecommendOptions()
        options.topN = 25
        try Self.check(m, data, options, histories: histories)
        options.excludeHistory = false
        options.includeUntrained = true
        try Self.check(m, data, options, histories: histories)
        // The full protocol's ranks through the screen are the item-by-item ranks.
        try Self.checkRanks(m, data)
        // With a transition prior attached.
        _ = try m.attachTransitionPrior(from: data, weight: .fixed(2))
        options = RecommendOptions()
        options.topN = 10
        try Self.check(m, data, options, histories: histories)
        try Self.checkRanks(m, data)
        // Allowed and blocked lists: against the item-by-item path with the same candidates.
        options.allowed = (1...5000).map { Int64($0) }
        options.blocked = [10, 11]
        let batch = try m.recommend(histories: histories, options: options)
        m.screenMinimumRows = .max
        defer { m.screenMinimumRows = CatalogueScreen.minimumRows }
        for (h, got) in zip(histories, batch) {
            let all = try m.recommend(history: h, topN: 20_000)
            let exact = all.filter { $0.item <= 5000 && $0.item != 10 && $0.item != 11 }.prefix(10)
            #expect(got.items == exact.map(\.item) && got.scores == exact.map(\.score), "\(got.items) \(got.scores) vs \(exact.map(\.item)) \(exact.map(\.score))")
        }
    }
}
