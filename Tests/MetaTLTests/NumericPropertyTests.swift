import Foundation
import Testing
@testable import MetaTL

/// A seeded property test over random settings, divergent ones included (absurd learning rates,
/// inner step sizes and margins): whatever training does, every reported metric is finite and in
/// [0, 1], the model fit keeps is within ``ValueLimits``, and every saved file loads back as the
/// same model.
@Suite("Numeric properties")
struct NumericPropertyTests {
    static let data: Dataset? = {
        var g = SyntheticData()
        g.side = 6; g.trainUsers = 80; g.newUsers = 40; g.seed = 7
        let (train, test) = g.generate()
        return try? Dataset(train: train, test: test, K: 3, seed: 7)
    }()

    @Test(arguments: 0..<24)
    func anySettingsGiveFiniteMetricsAndLoadableModels(trial: Int) throws {
        let data = try #require(Self.data)
        var rng = RandomGenerator(seed: 20_261_201, stream: UInt64(trial))
        func pick<T>(_ options: [T]) -> T { options[Int(rng.uniform() * Double(options.count)) % options.count] }
        var c = pick([Configuration.reference, .recommended])
        c.dim = pick([1, 2, 5, 8]); c.hidden1 = pick([1, 3, 8]); c.hidden2 = pick([1, 4, 6])
        c.batchSize = pick([1, 3, 16, 40])
        c.learningRate = pick([1e-4, 1e-3, 0.1, 10, 1e6, 1e13, 1e19, 1e30, .greatestFiniteMagnitude])
        c.beta = pick([0, 5, 1e4, 1e20, 3e38])
        c.margin = pick([0, 1, 1e8, 1e30])
        c.dropout = pick([0, 0.5, 0.99])
        c.seed = UInt64(trial)
        c.sampler = pick(SamplerMode.allCases); c.innerStep = pick([.reference, .perTask])
        c.evalModeAfter = pick([nil, 0, 3]); c.threads = pick([1, 2])
        c.negatives = pick([nil, .uniform, .popularity])
        var options = FitOptions()
        options.maxSteps = pick([0, 1, 7, 15]); options.evalEvery = pick([1, 3, 5]); options.patience = pick([0, 1, 3])
        options.selectBy = pick(SelectionMetric.allCases)
        let settings = "trial \(trial): loss \(c.loss) lr \(c.learningRate) beta \(c.beta) margin \(c.margin) dim \(c.dim) batch \(c.batchSize)"

        let model = try MetaTLModel(configuration: c, dataset: data)
        let result = try model.fit(on: data, options: options)
        for point in result.curve {
            for (name, value) in point.sampled.named + point.full.named {
                #expect(value.isFinite && value >= 0 && value <= 1, "\(settings): \(name) = \(value) at step \(point.step)")
            }
        }
        #expect(result.bestScore.isFinite && result.bestScore >= 0 && result.bestScore <= 1, "\(settings)")
        #expect(model.valueProblem() == nil, "\(settings): the kept model: \(model.valueProblem() ?? "")")
        for split in [Split.valid, .test] {
            for method in EvaluationProtocol.allCases {
                let m = try model.evaluate(on: data, split: split, protocol: method)
                for (name, value) in m.named { #expect(value.isFinite && value >= 0 && value <= 1, "\(settings): \(name)") }
            }
        }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-property-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("best.safetensors").path
        try model.save(to: path)
        let loaded = try MetaTLModel.load(from: path)
        let same = FiniteOrFailedTests.state(loaded) == FiniteOrFailedTests.state(model) && loaded.step == model.step
        #expect(same, "\(settings): the loaded model differs from the saved one")

        // Training on from the kept model either works or fails with a clear status, and the
        // model stays saveable either way.
        do { try model.train(on: data, steps: 3) } catch {
            #expect(error.kind == .diverged, "\(settings): \(error.message)")
        }
        #expect(model.valueProblem() == nil, "\(settings)")
        try model.save(to: path)
        _ = try MetaTLModel.load(from: path)
        // Serving answers or refuses clearly; it never returns NaN scores.
        let history = Array(data.itemIDs[1...3])
        if let top = try? model.recommend(history: history, topN: 5) {
            #expect(top.allSatisfy { $0.score.isFinite }, "\(settings)")
        }
    }
}
