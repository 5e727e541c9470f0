import Foundation
import Testing
@testable import MetaTL

@Suite("Transition prior")
struct TransitionPriorTests {
    static func trained(steps: Int = 4) throws -> (MetaTLModel, Dataset) {
        let data = try TrainingAndEvaluationTests.synthetic()
        let m = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(), dataset: data)
        try m.train(on: data, steps: steps)
        return (m, data)
    }

    /// Training 1→2 three times, 1→3 once, 2→5/6/7, 3→4, 4→4; new users end in 1.
    static func handData() throws -> Dataset {
        var train = Interactions()
        let seqs: [[Int64]] = [[1, 2, 5], [1, 2, 6], [1, 2, 7], [1, 3, 4], [4, 4], [6, 7, 1]]
        for (u, s) in seqs.enumerated() {
            for (t, i) in s.enumerated() { train.users.append(Int64(u)); train.items.append(i); train.timestamps.append(Double(t)) }
        }
        var test = Interactions()
        let newUsers: [[Int64]] = [[5, 6, 1, 3], [7, 5, 1, 4], [6, 5, 1, 2], [4, 7, 1, 3]]
        for (u, s) in newUsers.enumerated() {
            for (t, i) in s.enumerated() { test.users.append(Int64(100 + u)); test.items.append(i); test.timestamps.append(Double(t)) }
        }
        return try Dataset(train: train, test: test, K: 3, seed: 1)
    }

    /// count(head → tail) straight from the training sequences (rows).
    static func directCounts(_ data: Dataset) -> [Int64: Float] {
        var out: [Int64: Float] = [:]
        for u in 0..<data.trainUserCount {
            let s = Array(data.trainItems[data.trainOffsets[u]..<data.trainOffsets[u + 1]])
            for i in 0..<max(0, s.count - 1) { out[Int64(s[i]) << 32 | Int64(s[i + 1]), default: 0] += 1 }
        }
        return out
    }

    @Test func countsAreTheBaselinesCounts() throws {
        for data in [try TrainingAndEvaluationTests.synthetic(), try Self.handData()] {
            let prior = TransitionPrior(counting: data)
            let base = Baselines(dataset: data)
            #expect(prior.offsets == base.offsets && prior.tails == base.tails && prior.counts == base.counts)
            #expect(TransitionPrior.problem(rows: prior.rows, offsets: prior.offsets, tails: prior.tails, counts: prior.counts) == nil)
            let direct = Self.directCounts(data)
            #expect(prior.tails.count == direct.count)
            for (key, c) in direct {
                #expect(prior.count(head: Int32(key >> 32), tail: Int32(key & 0xFFFF_FFFF)) == c)
            }
            #expect(prior.count(head: 0, tail: 1) == 0)
        }
    }

    @Test func weightZeroIsNoPriorBitForBit() throws {
        let (m, data) = try Self.trained()
        let history = Array(data.itemIDs[5...7])
        func observe() throws -> ([Metrics], [Int64], [UInt32], [UInt32]) {
            let metrics = try Split.allCases.flatMap { s in try EvaluationProtocol.allCases.map { try m.evaluate(on: data, split: s, protocol: $0) } }
            let rec = try m.recommend(history: history, topN: 20)
            let r = try m.adapt(history: history)
            let scores = try m.score(relation: r, lastItem: history[2], candidates: Array(data.itemIDs[1...]))
            return (metrics, rec.map(\.item), rec.map(\.score.bitPattern), scores.map(\.bitPattern))
        }
        let before = try observe()
        try m.attachTransitionPrior(from: data, weight: .fixed(0))
        let zero = try observe()
        #expect(zero.0 == before.0 && zero.1 == before.1 && zero.2 == before.2 && zero.3 == before.3)
        try m.attachTransitionPrior(from: data, weight: .fixed(4))
        let four = try observe()
        #expect(four.3 != before.3)
        // The report's pure row stays the pure model's.
        let report = try EvaluationReport(model: m, dataset: data)
        #expect(report.systems.prefix(2) == ["metatl", EvaluationReport.priorSystem])
        #expect(report.metrics(.test, "metatl", .full) == before.0[2 + 1])
        #expect(report.metrics(.test, EvaluationReport.priorSystem, .full) == four.0[2 + 1])
        try m.detachTransitionPrior()
        let detached = try observe()
        #expect(detached.0 == before.0 && detached.1 == before.1 && detached.2 == before.2 && detached.3 == before.3)
        #expect(try EvaluationReport(model: m, dataset: data).systems.first(where: { $0 == EvaluationReport.priorSystem }) == nil)
    }

    @Test func weightsAreValidated() throws {
        let (m, data) = try Self.trained(steps: 1)
        for w: Float in [-1, .nan, .infinity, 2e15] {
            #expect(throws: MetaTLError.self) { try m.attachTransitionPrior(from: data, weight: .fixed(w)) }
        }
        #expect(try m.attachedTransitionPrior() == nil)
    }

    /// Scores with the relation chosen by hand: E[1] = 0 and E[t] = x_t on one axis, r' = 0, so
    /// the distance part is -|x_t| and the prior adds w·log(1 + count(1 → t)).
    @Test func handComputedScoresReorderCandidates() throws {
        let data = try Self.handData()
        var c = TrainingAndEvaluationTests.configuration(); c.dim = 2
        let m = try MetaTLModel(configuration: c, dataset: data)
        let x: [Int64: Float] = [1: 0, 2: 3, 3: 1, 4: 0.5, 5: 2, 6: 2.5, 7: 4]
        var table = [Float](repeating: 0, count: m.rows * 2)
        for (id, v) in x { table[Int(try #require(data.row(ofItem: id))) * 2] = v }
        try m.setTensor(named: "embedding.embedding.weight", to: table)
        let candidates: [Int64] = [2, 3, 4, 5, 6, 7]
        let pure = try m.score(relation: [0, 0], lastItem: 1, candidates: candidates)
        #expect(pure == candidates.map { -(x[$0] ?? 0) })
        try m.attachTransitionPrior(from: data, weight: .fixed(1))
        let blended = try m.score(relation: [0, 0], lastItem: 1, candidates: candidates)
        let counts: [Int64: Float] = [2: 3, 3: 1]   // 1→2 three times, 1→3 once
        for (i, id) in candidates.enumerated() {
            #expect(abs(blended[i] - (-(x[id] ?? 0) + Float(Foundation.log(1 + Double(counts[id] ?? 0))))) < 1e-6)
        }
        // Distances alone: 4, 3, 5, 6, 2, 7. With the prior 3 (-1 + log 2) passes 4 (-0.5), and
        // 2 (-3 + log 4) passes 5 (-2) and 6 (-2.5).
        let order = { (s: [Float]) in candidates.indices.sorted { s[$0] > s[$1] }.map { candidates[$0] } }
        #expect(order(pure) == [4, 3, 5, 6, 2, 7])
        #expect(order(blended) == [3, 4, 2, 5, 6, 7])
    }

    /// Both protocols and recommend against a direct computation: TransE score plus
    /// w·log(1 + count) with the counts taken straight from the sequences.
    @Test func evaluationAndRecommendMatchADirectComputation() throws {
        for data in [try Self.handData(), try TrainingAndEvaluationTests.synthetic()] {
            let m = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(), dataset: data)
            try m.train(on: data, steps: 2)
            let w: Float = 8
            try m.attachTransitionPrior(from: data, weight: .fixed(w))
            let prior = try #require(try m.attachedTransitionPrior())
            let counts = Self.directCounts(data)
            func bonus(_ h: Int32, _ t: Int32) -> Float { w * Foundation.log(1 + (counts[Int64(h) << 32 | Int64(t)] ?? 0)) }
            var reordered = false
            for split in Split.allCases where data.users(split).count > 0 {
                let users = data.users(split), K = 3, N = users.sampledNegatives
                let adapted = m.adaptedRelations(of: users)
                let sampled = m.ranks(of: users, protocol: .sampled, prior: prior)
                let full = m.ranks(of: users, protocol: .full, prior: prior)
                let pureFull = m.ranks(of: users, protocol: .full, prior: nil)
                let served = m.servingRelations(of: users)   // the full protocol adapts as serving does
                adapted.withUnsafeBufferPointer { buf in
                  served.withUnsafeBufferPointer { sbuf in
                    guard let base = buf.baseAddress, let sbase = sbuf.baseAddress else { return }
                    let scorer = m.pairScorer(relations: base, prior: nil)
                    let serving = m.pairScorer(relations: sbase, prior: nil)
                    for u in 0..<users.count {
                        let head = users.inputs[u * K + K - 1], target = users.targets[u]
                        func s(_ t: Int32) -> Float { scorer.score(user: u, head: head, tail: t) + bonus(head, t) }
                        let t = s(target)
                        let sampledRank = 1 + (0..<N).filter { s(users.negatives[u * N + $0]) >= t }.count
                        #expect(sampled[u] == sampledRank)
                        let inputs = Set(users.inputs[(u * K)..<(u * K + K)])
                        // Full: the position in the list recommend returns (ties to the smaller row).
                        func f(_ t: Int32) -> Float { serving.score(user: u, head: head, tail: t) + bonus(head, t) }
                        let ft = f(target)
                        let above = (1..<Int32(m.rows)).filter {
                            $0 != target && !inputs.contains($0) && (f($0) > ft || (f($0) == ft && $0 < target))
                        }.count
                        #expect(full[u] == 1 + above, "user \(u): \(full[u]) vs \(1 + above)")
                        if full[u] != pureFull[u] { reordered = true }
                    }
                  }
                }
            }
            #expect(reordered, "the prior should move some target")
            // recommend: every item but the history, by blended score, ties to the smaller row.
            let history: [Int64] = Array(data.itemIDs[1...3])
            let rows = history.compactMap { data.row(ofItem: $0) }
            let r = try m.adapt(history: history)
            let all = Array(data.itemIDs[1...])
            let direct = try m.score(relation: r, lastItem: history[2], candidates: all)
            r.withUnsafeBufferPointer { buf in
                guard let base = buf.baseAddress else { return }
                let scorer = m.pairScorer(relations: base, prior: nil)
                for (i, id) in all.enumerated() {
                    guard let row = data.row(ofItem: id) else { continue }
                    let expected = scorer.score(user: 0, head: rows[2], tail: row) + bonus(rows[2], row)
                    #expect(direct[i] == expected)
                }
            }
            let expected = all.indices.filter { !history.contains(all[$0]) }
                .sorted { direct[$0] > direct[$1] || (direct[$0] == direct[$1] && $0 < $1) }.prefix(5).map { all[$0] }
            let got = try m.recommend(history: history, topN: 5)
            #expect(got.map(\.item) == expected)
        }
    }

    @Test func chooseOnValidationPicksTheGridsFirstArgmax() throws {
        let (m, data) = try Self.trained(steps: 20)
        let choice = try m.attachTransitionPrior(from: data, weight: .chooseOnValidation)
        #expect(choice.validationFullMRR.map(\.weight) == TransitionPrior.weightGrid)
        var expected: [Double] = []
        for w in TransitionPrior.weightGrid {
            try m.attachTransitionPrior(from: data, weight: .fixed(w))
            expected.append(try m.evaluate(on: data, split: .valid, protocol: .full).mrr)
        }
        #expect(choice.validationFullMRR.map(\.mrr) == expected)
        let best = expected.indices.first { expected[$0] == expected.max() }
        #expect(choice.weight == TransitionPrior.weightGrid[best ?? -1])
        #expect(expected.max() ?? 0 > expected[0], "on planted first-order patterns the prior helps: \(expected)")
    }

    @Test func checkpointRoundTripKeepsThePrior() throws {
        let (m, data) = try Self.trained()
        try m.attachTransitionPrior(from: data, weight: .fixed(2.75))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-prior-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try m.save(to: file)
        let loaded = try MetaTLModel.load(from: file)
        #expect(try loaded.attachedTransitionPrior() == m.attachedTransitionPrior())
        #expect(try loaded.attachedTransitionPrior()?.weight.bitPattern == Float(2.75).bitPattern)
        let history = Array(data.itemIDs[5...7])
        let a = try m.recommend(history: history, topN: 10), b = try loaded.recommend(history: history, topN: 10)
        #expect(a.map(\.item) == b.map(\.item) && a.map(\.score.bitPattern) == b.map(\.score.bitPattern))
        for method in EvaluationProtocol.allCases {
            #expect(try loaded.evaluate(on: data, split: .test, protocol: method) == m.evaluate(on: data, split: .test, protocol: method))
        }
        // Without a prior nothing is written and nothing comes back.
        try m.detachTransitionPrior()
        let plain = try m.checkpointData()
        #expect(plain.range(of: Data("transition_prior".utf8)) == nil)
        #expect(try MetaTLModel.load(checkpoint: plain, name: "p").attachedTransitionPrior() == nil)
    }

    @Test func damagedPriorsAreRefusedWithMessages() throws {
        let data = try Self.handData()
        let m = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(), dataset: data)
        let good = TransitionPrior(counting: data)
        let rows = good.rows, nnz = good.tails.count
        func load(offsets: [Int]? = nil, tails: [Int32]? = nil, counts: [Float]? = nil, weight: Float = 1) -> String {
            m.transitionPrior = TransitionPrior(unchecked: rows, offsets: offsets ?? good.offsets, tails: tails ?? good.tails,
                                                counts: counts ?? good.counts, weight: weight)
            defer { m.transitionPrior = nil }
            do { _ = try MetaTLModel.load(checkpoint: m.checkpointData(), name: "c"); return "loaded" } catch {
                #expect(error.kind == .badCheckpoint)
                return error.message
            }
        }
        #expect(load() == "loaded")
        var shifted = good.offsets; shifted[0] = 1
        #expect(load(offsets: shifted).contains("offsets must start at 0"))
        var decreasing = good.offsets; decreasing[2] = decreasing[1] + 5; decreasing[3] = decreasing[1]
        #expect(load(offsets: decreasing).contains("transition prior offsets"))
        var short = good.offsets; short[rows] = nnz - 1
        #expect(load(offsets: short).contains("decrease") || load(offsets: short).contains("end at"))
        var zeroTail = good.tails; zeroTail[0] = 0
        #expect(load(tails: zeroTail).contains("is not an item row"))
        var bigTail = good.tails; bigTail[0] = Int32(rows)
        #expect(load(tails: bigTail).contains("is not an item row"))
        var unsorted = good.tails
        if let h = (0..<rows).first(where: { good.offsets[$0 + 1] - good.offsets[$0] >= 2 }) {
            unsorted.swapAt(good.offsets[h], good.offsets[h] + 1)
            #expect(load(tails: unsorted).contains("strictly increasing"))
        }
        var nan = good.counts; nan[0] = .nan
        #expect(load(counts: nan).contains("not finite and non-negative"))
        var negative = good.counts; negative[0] = -1
        #expect(load(counts: negative).contains("not finite and non-negative"))
        #expect(load(weight: -1).contains("weight must be finite"))
        #expect(load(weight: .nan).contains("weight must be finite"))
        #expect(load(weight: .infinity).contains("weight must be finite"))
        #expect(load(counts: Array(good.counts.dropLast())).contains("c: tensor transition_prior.counts has shape"))
        // An incomplete prior: one of its entries renamed (the checksums then also name it).
        m.transitionPrior = good
        defer { m.transitionPrior = nil }
        var data2 = try m.checkpointData()
        let key = Data("\"transition_prior.counts\":{".utf8)
        if let r = data2.range(of: key) { data2.replaceSubrange(r, with: Data("\"transition_prior.cOunts\":{".utf8)) }
        do { _ = try MetaTLModel.load(checkpoint: data2, name: "c"); Issue.record("loaded") } catch {
            #expect(error.message.contains("transition prior is incomplete"), "\(error.message)")
        }
    }
}
