import Foundation
import Testing
@testable import MetaTL

/// Never a silent wrong answer: training that diverges fails with `.diverged` and leaves the
/// model as it was, evaluation never scores a NaN model as perfect, and checkpoints are checked
/// by meaning and by checksum.
@Suite("Finite or failed")
struct FiniteOrFailedTests {
    typealias T = TrainingAndEvaluationTests

    /// Every parameter, Adam moment and running statistic, as bits.
    static func state(_ m: MetaTLModel) -> [UInt32] {
        let a = m.arena, o = m.optimizer
        return (0..<(3 * a.total)).map { i in
            (i < a.total ? a.params[i] : i < 2 * a.total ? o.firstMoment[i - a.total] : o.secondMoment[i - 2 * a.total]).bitPattern
        } + (0..<m.running.storage.count).map { m.running.storage[$0].bitPattern }
    }

    static func file(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-finite-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    // MARK: 1. A diverged model never scores perfect

    @Test(arguments: [Float(1e30), 1e19])
    func anAbsurdLearningRateFailsAtTheFirstStepAndChangesNothing(lr: Float) throws {
        let data = try T.synthetic()
        var c = T.configuration(); c.learningRate = lr
        let m = try MetaTLModel(configuration: c, dataset: data)
        let before = Self.state(m)
        do {
            try m.train(on: data, steps: 10)
            Issue.record("training with learning rate \(lr) returned normally")
        } catch {
            #expect(error.kind == .diverged)
            #expect(error.message.contains("step 1"), "\(error.message)")
        }
        #expect(m.step == 0)
        let unchanged = Self.state(m) == before
        #expect(unchanged, "the refused step changed the model")
        // Still a healthy, saveable model.
        let path = Self.file("m.safetensors")
        try m.save(to: path)
        _ = try MetaTLModel.load(from: path)
    }

    @Test func aStepThatProducesNaNIsRefusedWithTheModelAsItWas() throws {
        let data = try T.synthetic()
        let m = try MetaTLModel(configuration: T.configuration(), dataset: data)
        try m.train(on: data, steps: 3)
        // Poison one weight of the relation learner behind the checks' back (nothing public can).
        m.arena.param(m.arena.layers[0].weight)[0] = .nan
        let before = Self.state(m)
        do {
            try m.train(on: data, steps: 5)
            Issue.record("training a NaN model returned normally")
        } catch {
            #expect(error.kind == .diverged)
            #expect(error.message.contains("step 4"), "\(error.message)")
        }
        #expect(m.step == 3)
        let unchanged = Self.state(m) == before
        #expect(unchanged, "the refused step changed the model (running statistics included)")
    }

    @Test func theStepCheckRefusesEachKindOfBadValue() throws {
        let (model, batch) = try GradientCheckTests.tinyModel(dropout: 0, inner: .reference)
        let ws = MetaStepWorkspace(capacity: batch.tasks, configuration: model.configuration, rows: model.rows)
        model.prepareGradients(for: batch)
        let result = model.metaGradients(batch, workspace: ws, embeddingTerms: true)
        func problem() -> String? {
            model.stepProblem(result, workspace: ws, tasks: batch.tasks, terms: ws.embeddingGradient.count)
        }
        #expect(problem() == nil)
        let dense = model.arena.grads + model.arena.embedding.count
        dense[3] = 1e20
        #expect(problem()?.contains("gradient of the relation learner") == true, "\(problem() ?? "nil")")
        dense[3] = .nan
        #expect(problem() != nil)
        dense[3] = 0
        ws.learner.dX0.pointer[1] = 1e13   // one term; the sum over the terms could pass the limit
        #expect(problem()?.contains("embedding gradient term") == true, "\(problem() ?? "nil")")
        ws.learner.dX0.pointer[1] = 0
        ws.queryNegScore.pointer[0] = -.infinity
        #expect(problem()?.contains("score is not finite") == true, "\(problem() ?? "nil")")
        ws.queryNegScore.pointer[0] = -1
        model.running.variance(1)[0] = -1
        #expect(problem()?.contains("running statistics") == true, "\(problem() ?? "nil")")
        model.running.variance(1)[0] = 1
        #expect(problem() == nil)
        var bad = result
        bad.queryLoss = .nan
        #expect(model.stepProblem(bad, workspace: ws, tasks: batch.tasks, terms: 1)?.contains("loss") == true)
    }

    @Test func aNaNModelEvaluatesToZeroNotOne() throws {
        let data = try T.synthetic()
        let m = try MetaTLModel(configuration: T.configuration(), dataset: data)
        let e = m.arena.embedding
        m.arena.param(e).update(repeating: .nan, count: e.count)
        for method in EvaluationProtocol.allCases {
            let metrics = try m.evaluate(on: data, split: .test, protocol: method)
            #expect(metrics.users == data.test.count)
            for (name, value) in metrics.named { #expect(value == 0, "\(method) \(name) = \(value)") }
        }
        let history = Array(data.itemIDs[1...3])
        #expect(throws: MetaTLError.self) { _ = try m.recommend(history: history, topN: 5) }
        #expect(throws: MetaTLError.self) { _ = try m.adapt(history: history) }
    }

    @Test func nonFiniteCandidatesRankLastAndANonFiniteTargetIsAMiss() {
        #expect(Metrics(ranks: [Metrics.unranked, Metrics.unranked]).mrr == 0)
        let m = Metrics(ranks: [1, Metrics.unranked])
        #expect(m.mrr == 0.5 && m.hits1 == 0.5 && m.users == 2)
    }

    @Test func fitStopsAtADivergenceAndKeepsAFiniteBestModel() throws {
        let data = try T.synthetic()
        var c = T.configuration(); c.learningRate = 1e30
        let m = try MetaTLModel(configuration: c, dataset: data)
        var options = FitOptions(); options.maxSteps = 20; options.evalEvery = 5
        let result = try m.fit(on: data, options: options)
        #expect(result.divergence?.contains("step 1") == true, "\(result.divergence ?? "nil")")
        #expect(result.stepsTaken == 0 && result.bestStep == 0)
        #expect(m.valueProblem() == nil)
        for p in result.curve { for (_, v) in p.sampled.named + p.full.named { #expect(v.isFinite && v >= 0 && v <= 1) } }
    }

    @Test func setTensorRefusesWhatTheModelCannotHold() throws {
        let m = try MetaTLModel(configuration: T.configuration(), items: 10)
        let name = m.parameterNames[1]
        let n = m.tensor(named: name)?.count ?? 0
        #expect(throws: MetaTLError.self) { try m.setTensor(named: name, to: [Float](repeating: .nan, count: n)) }
        #expect(throws: MetaTLError.self) { try m.setTensor(named: name, to: [Float](repeating: 3e38, count: n)) }
        let variance = RunningStatistics.name(layer: 0, variance: true)
        #expect(throws: MetaTLError.self) { try m.setTensor(named: variance, to: [-1, 1]) }
        try m.setTensor(named: name, to: [Float](repeating: 0.5, count: n))
    }

    @Test func aModelThatLoadWouldRefuseIsNotSaved() throws {
        let m = try MetaTLModel(configuration: T.configuration(), items: 10)
        m.arena.param(m.arena.embedding)[20] = .infinity
        let path = Self.file("bad.safetensors")
        #expect(throws: MetaTLError.self) { try m.save(to: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    // MARK: 2. Checkpoints checked by meaning and by checksum

    /// A trained model's checkpoint with one tensor's values changed, saved WITHOUT checksums
    /// (as an older file or a hand-made one would be), so only the meaning checks stand between
    /// it and the model.
    static func handMade(_ m: MetaTLModel, change name: String, _ edit: (inout [Float]) -> Void) throws -> Data {
        let good = try SafeTensors.File(data: m.checkpointData(), name: "good")
        var tensors: [SafeTensors.Tensor] = []
        for (key, entry) in good.entries.sorted(by: { $0.value.range.lowerBound < $1.value.range.lowerBound }) {
            if entry.dtype == .i64 {
                tensors.append(.init(name: key, dtype: .i64, shape: entry.shape, bytes: SafeTensors.bytes(try good.int64s(key, shape: entry.shape))))
            } else {
                var values = try good.floats(key, shape: entry.shape)
                if key == name { edit(&values) }
                tensors.append(.init(name: key, dtype: .f32, shape: entry.shape, bytes: SafeTensors.bytes(values)))
            }
        }
        let metadata = good.metadata.filter { $0.key != CheckpointChecksums.key }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return SafeTensors.serialize(tensors, metadata: metadata)
    }

    @Test func valuesAModelCannotHoldAreRefusedOnLoad() throws {
        let (m, _) = try CheckpointTests.trainedModel()
        // Unchanged but without checksums (an older file): loads.
        _ = try MetaTLModel.load(checkpoint: try Self.handMade(m, change: "") { _ in }, name: "old")
        let cases: [(String, (inout [Float]) -> Void, String)] = [
            ("embedding.embedding.weight", { $0[7] = .nan }, "non-finite"),
            ("embedding.embedding.weight", { $0[7] = 3e38 }, "beyond the limit"),
            ("relation_learner.rel_fc2.fc.bias", { $0[0] = -.infinity }, "non-finite"),
            ("optimizer.exp_avg_sq.relation_learner.rel_fc1.fc.weight", { $0[3] = -1e-3 }, "non-negative"),
            ("optimizer.exp_avg.embedding.embedding.weight", { $0[150] = 1 }, "first moment"),
            ("relation_learner.rel_fc3.bn.running_var", { $0[0] = -1 }, "non-negative"),
            ("relation_learner.rel_fc1.bn.running_mean", { $0[0] = .nan }, "non-finite"),
        ]
        for (name, edit, why) in cases {
            let data = try Self.handMade(m, change: name, edit)
            do {
                _ = try MetaTLModel.load(checkpoint: data, name: "hand-made")
                Issue.record("\(name): loaded")
            } catch {
                #expect(error.kind == .badCheckpoint)
                #expect(error.message.contains(name) && error.message.contains(why), "\(name): \(error.message)")
            }
        }
    }

    /// Replaces the `n`th occurrence (0-based) of `old` in `data` with `new` (same length).
    static func replacing(_ data: Data, _ old: Data, _ new: Data, occurrence n: Int = 0) -> Data? {
        var data = data, from = data.startIndex
        for _ in 0..<n {
            guard let r = data.range(of: old, in: from..<data.endIndex) else { return nil }
            from = r.upperBound
        }
        guard let r = data.range(of: old, in: from..<data.endIndex) else { return nil }
        data.replaceSubrange(r, with: new)
        return data
    }

    @Test func changesThatStillLookLikeAModelAreCaughtByTheChecksums() throws {
        let (m, _) = try CheckpointTests.trainedModel()
        let good = try m.checkpointData()
        _ = try MetaTLModel.load(checkpoint: good, name: "good")
        let file = try SafeTensors.File(data: good, name: "good")

        // A changed digit of the learning rate in the configuration metadata.
        var lr = good
        let at = try #require(good.range(of: Data("learning_rate".utf8))).upperBound
        let digit = try #require((at..<(at + 30)).first { (0x31...0x38).contains(good[$0]) })
        lr[digit] += 1
        // One Adam value nudged by one ulp, and one vocabulary id changed: both still valid values.
        func patched(_ key: String, at index: Int, width: Int, _ change: (UInt64) -> UInt64) throws -> Data {
            let entry = try #require(file.entries[key])
            var data = good
            let at = file.dataStart + entry.range.lowerBound + index * width
            var value: UInt64 = 0
            for b in 0..<width { value |= UInt64(data[at + b]) << (8 * UInt64(b)) }
            value = change(value)
            for b in 0..<width { data[at + b] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(b))) }
            return data
        }
        let adam = try patched("optimizer.exp_avg_sq.relation_learner.rel_fc1.fc.weight", at: 5, width: 4) { $0 + 1 }
        let vocabulary = try patched("vocabulary.item_ids", at: 3, width: 8) { $0 + 1_000_000 }
        for (what, data) in [("metadata", lr), ("Adam state", adam), ("vocabulary", vocabulary)] {
            do {
                _ = try MetaTLModel.load(checkpoint: data, name: "changed")
                Issue.record("a changed \(what) loaded")
            } catch {
                #expect(error.kind == .badCheckpoint)
                #expect(error.message.contains("checksum"), "\(what): \(error.message)")
            }
        }
    }
}
