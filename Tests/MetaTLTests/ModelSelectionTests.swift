import Testing
@testable import MetaTL

@Suite("Model selection")
struct ModelSelectionTests {
    static func parameters(_ m: MetaTLModel) -> [UInt32] {
        var all: [UInt32] = []
        for name in m.parameterNames { all += (m.tensor(named: name) ?? []).map(\.bitPattern) }
        for l in 0..<3 {
            for v in [false, true] { all += (m.tensor(named: RunningStatistics.name(layer: l, variance: v)) ?? []).map(\.bitPattern) }
        }
        return all
    }

    /// The kept model is the best validation point's, bit for bit: the same as a model trained
    /// straight to that step; and the curve's choice follows the rule.
    @Test(arguments: [SelectionMetric.sampledMRR, .fullMRR])
    func keepsTheBestModelSeenBitForBit(metric: SelectionMetric) throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let c = TrainingAndEvaluationTests.configuration()
        let model = try MetaTLModel(configuration: c, dataset: data)
        var options = FitOptions()
        options.maxSteps = 24; options.evalEvery = 3; options.patience = 0; options.selectBy = metric
        var seen: [ValidationPoint] = []
        let result = try model.fit(on: data, options: options) { _ in true } evaluated: { seen.append($0); return true }
        #expect(result.curve == seen)
        #expect(result.curve.map(\.step) == Array(stride(from: 0, through: 24, by: 3)))
        #expect(result.stepsTaken == 24 && !result.stoppedEarly)
        // The first maximum wins (a later tie is not an improvement).
        let scores = result.curve.map { $0.score(metric) }
        let firstBest = try #require(scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) })
        #expect(result.bestStep == result.curve[firstBest].step)
        #expect(result.bestScore == scores[firstBest])
        if metric == .sampledMRR {
            // So that restoring a mid-training model is exercised, not only the initial one.
            #expect(result.bestStep > 0 && result.bestStep < 24, "best at \(result.bestStep)")
        }
        #expect(try model.stepCount() == result.bestStep)

        let straight = try MetaTLModel(configuration: c, dataset: data)
        try straight.train(on: data, steps: result.bestStep)
        #expect(Self.parameters(model) == Self.parameters(straight))
        #expect(try model.evaluate(on: data, split: .valid, protocol: .sampled) == result.curve[firstBest].sampled)

        // Training on from the restored model continues exactly as the straight run does.
        try model.train(on: data, steps: 2)
        try straight.train(on: data, steps: 2)
        #expect(Self.parameters(model) == Self.parameters(straight))
    }

    /// Patience: training stops after that many evaluations in a row without a new best.
    @Test func stopsWhenPatienceRunsOut() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        var c = TrainingAndEvaluationTests.configuration()
        c.learningRate = 0.05   // overshoots quickly, so validation stops improving within the budget
        let model = try MetaTLModel(configuration: c, dataset: data)
        var options = FitOptions()
        options.maxSteps = 400; options.evalEvery = 4; options.patience = 3
        options.selectBy = .sampledMRR   // calibrated on it: the sampled curve stalls within the budget
        let result = try model.fit(on: data, options: options)
        let scores = result.curve.map { $0.score(options.selectBy) }
        // Replay the rule on the curve: the index where it had to stop.
        var best = scores[0], since = 0, stopAt: Int? = nil
        for (i, s) in scores.enumerated().dropFirst() {
            if s > best { best = s; since = 0 } else { since += 1 }
            if since >= 3 { stopAt = i; break }
        }
        let expectedStop = try #require(stopAt, "the curve never stalled; raise maxSteps or the learning rate")
        #expect(result.stoppedEarly)
        #expect(result.curve.count == expectedStop + 1)
        #expect(result.stepsTaken == expectedStop * 4)
        #expect(result.bestScore == best)
        #expect(try model.stepCount() == result.bestStep)
    }

    /// A callback that says stop ends the fit: from `progress` at step 7 (the steps since the last
    /// validation are validated and compete), or from `evaluated`; the best model is kept.
    @Test func aCallbackCancelsAndTheBestIsKept() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let c = TrainingAndEvaluationTests.configuration()
        var options = FitOptions()
        options.maxSteps = 40; options.evalEvery = 3; options.patience = 0; options.selectBy = .sampledMRR

        let model = try MetaTLModel(configuration: c, dataset: data)
        var seen: [ValidationPoint] = [], steps: [Int] = []
        let result = try model.fit(on: data, options: options) { p in
            steps.append(p.step)
            return p.step < 7
        } evaluated: { seen.append($0); return true }
        #expect(result.cancelled && !result.stoppedEarly)
        #expect(result.stepsTaken == 7 && steps == Array(1...7))
        #expect(result.curve == seen)
        #expect(result.curve.map(\.step) == [0, 3, 6, 7])
        let scores = result.curve.map { $0.score(options.selectBy) }
        let firstBest = try #require(scores.indices.max { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) })
        #expect(result.bestStep == result.curve[firstBest].step)
        #expect(try model.stepCount() == result.bestStep)
        let straight = try MetaTLModel(configuration: c, dataset: data)
        try straight.train(on: data, steps: result.bestStep)
        #expect(Self.parameters(model) == Self.parameters(straight))

        let other = try MetaTLModel(configuration: c, dataset: data)
        let fromValidation = try other.fit(on: data, options: options, progress: nil) { $0.step < 6 }
        #expect(fromValidation.cancelled && fromValidation.stepsTaken == 6)
        #expect(fromValidation.curve.map(\.step) == [0, 3, 6])
        #expect(try other.stepCount() == fromValidation.bestStep)
    }

    @Test func refusesWithoutValidationUsersOrWithBadOptions() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        let model = try MetaTLModel(configuration: TrainingAndEvaluationTests.configuration(), dataset: data)
        var options = FitOptions()
        options.evalEvery = 0
        #expect(throws: MetaTLError.self) { try model.fit(on: data, options: options) }
        options = FitOptions(); options.patience = -1
        #expect(throws: MetaTLError.self) { try model.fit(on: data, options: options) }
        #expect(try model.stepCount() == 0)
    }

    /// The reference's accidental regime: from `evalModeAfter` on, BatchNorm statistics stop
    /// moving, while the parameters keep training.
    @Test func evaluationModeTrainingFreezesRunningStatistics() throws {
        let data = try TrainingAndEvaluationTests.synthetic()
        var c = TrainingAndEvaluationTests.configuration()
        c.evalModeAfter = 2
        let model = try MetaTLModel(configuration: c, dataset: data)
        let name = RunningStatistics.name(layer: 0, variance: false)
        let initial = model.tensor(named: name)
        try model.train(on: data, steps: 2)
        let atTwo = model.tensor(named: name), weightsAtTwo = model.tensor(named: "relation_learner.rel_fc1.fc.weight")
        try model.train(on: data, steps: 3)
        #expect(atTwo != initial)
        #expect(model.tensor(named: name) == atTwo)
        #expect(model.tensor(named: "relation_learner.rel_fc1.fc.weight") != weightsAtTwo)
    }
}
