import Foundation

/// The validation number that picks the best model during ``MetaTLModel/fit(on:options:progress:evaluated:)``.
public enum SelectionMetric: String, Sendable, CaseIterable, Codable {
    /// MRR over each user's target and 100 sampled negatives (the reference's protocol).
    case sampledMRR = "sampled_mrr"
    /// MRR of the target among every catalogue item.
    case fullMRR = "full_mrr"
}

/// How ``MetaTLModel/fit(on:options:progress:evaluated:)`` trains and chooses.
public struct FitOptions: Sendable, Equatable {
    /// At most this many training steps.
    public var maxSteps = 20_000
    /// Evaluate on the validation users every this many steps (and after the last one).
    public var evalEvery = 250
    /// Stop after this many evaluations in a row without a new best (0: never stop early).
    public var patience = 8
    /// The validation number to maximise: by default the full-catalogue MRR, the ranking users
    /// get (the reference's sampled protocol is ``SelectionMetric/sampledMRR``).
    public var selectBy: SelectionMetric = .fullMRR

    /// The defaults above.
    public init() {}

    func validate() throws(MetaTLError) {
        guard maxSteps >= 0 else { throw .invalidArgument("maxSteps must be non-negative (got \(maxSteps))") }
        guard evalEvery >= 1 else { throw .invalidArgument("evalEvery must be at least 1 (got \(evalEvery))") }
        guard patience >= 0 else { throw .invalidArgument("patience must be non-negative (got \(patience))") }
    }
}

/// One validation of a fit: the model after `step` steps.
public struct ValidationPoint: Sendable, Equatable, Codable {
    /// The model's step count when evaluated.
    public var step: Int
    /// Mean query loss over the training steps since the previous point (nil for the point
    /// taken before training).
    public var trainLoss: Double?
    /// Validation users, sampled protocol.
    public var sampled: Metrics
    /// Validation users, full-catalogue ranking.
    public var full: Metrics
    /// Training speed since the previous point (evaluation excluded).
    public var stepsPerSecond: Double
    /// Seconds since the fit started (evaluation included).
    public var elapsed: Double

    /// The number ``FitOptions/selectBy`` maximises.
    public func score(_ metric: SelectionMetric) -> Double {
        switch metric {
        case .sampledMRR: sampled.mrr
        case .fullMRR: full.mrr
        }
    }
}

/// What ``MetaTLModel/fit(on:options:progress:evaluated:)`` did and chose.
public struct FitResult: Sendable, Equatable {
    /// The step whose model was kept (the model is left exactly as it was then).
    public var bestStep: Int
    /// Its validation score (``FitOptions/selectBy``).
    public var bestScore: Double
    /// Training steps taken in this fit.
    public var stepsTaken: Int
    /// True when patience ran out before `maxSteps`.
    public var stoppedEarly: Bool
    /// True when a callback (`progress` or `evaluated`) asked to stop. The best model seen is
    /// kept, as always.
    public var cancelled: Bool = false
    /// Why training stopped when a step diverged (the step and the reason, as the
    /// ``MetaTLError/Kind/diverged`` error said), nil otherwise. The best model seen before it
    /// is kept, as always.
    public var divergence: String? = nil
    /// Every validation, in order.
    public var curve: [ValidationPoint]
}

extension MetaTLModel {
    /// Trains with validation-driven model selection: every `evalEvery` steps the model is
    /// evaluated on `dataset`'s validation users (both protocols); the best by
    /// `options.selectBy` is remembered (parameters, Adam state, BatchNorm statistics, step), and
    /// training stops after `options.patience` evaluations without a new best, or at
    /// `maxSteps`. The model is then restored to the best one seen, bit for bit, so test metrics
    /// measured afterwards are those of the chosen model. The model as it was before the fit
    /// (step 0 of the fit, evaluated first) competes too.
    ///
    /// `progress` is called after every training step, `evaluated` after every validation
    /// (the one before training included); either returns `false` to stop (``FitResult/cancelled``):
    /// the steps since the last validation are then validated and compete, and the best is kept.
    /// Both run with the model free (they may serve it, or snapshot it). A step that
    /// diverges (see ``train(on:steps:progress:)``) ends the fit without error: the model after the
    /// last good step is evaluated and competes, the best is kept, and ``FitResult/divergence``
    /// says why.
    ///
    /// Other threads may serve the model throughout, as during ``train(on:steps:progress:)``:
    /// steps, snapshots and the final restore each hold the model alone briefly, validations are
    /// readers among the others. The whole fit is one training call: another `fit` or `train`
    /// meanwhile fails at once with `.busy`. (A ``restore(_:)`` or ``setTensor(named:to:)`` from
    /// another thread would act between two steps and change what the fit measures.)
    @discardableResult
    public func fit(on dataset: Dataset, options: FitOptions = FitOptions(),
                    progress: ((TrainingProgress) -> Bool)? = nil,
                    evaluated: ((ValidationPoint) -> Bool)? = nil) throws(MetaTLError) -> FitResult {
        try requireOptimizerState("fit")   // fixed at load: no lock needed
        return try access.training("fit") { () throws(MetaTLError) -> FitResult in
            try fitSteps(on: dataset, options: options, progress: progress, evaluated: evaluated)
        }
    }

    /// ``fit(on:options:progress:evaluated:)`` for a caller holding the training token.
    private func fitSteps(on dataset: Dataset, options: FitOptions, progress: ((TrainingProgress) -> Bool)?,
                          evaluated: ((ValidationPoint) -> Bool)?) throws(MetaTLError) -> FitResult {
        try options.validate()
        try checkCompatible(dataset)
        guard dataset.valid.count > 0 else {
            throw .invalidArgument("fit needs validation users to choose a model; the dataset has none")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds(since t: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9 }
        func validate(trainLoss: Double?, speed: Double) throws(MetaTLError) -> ValidationPoint {
            ValidationPoint(step: try stepCount(), trainLoss: trainLoss,
                            sampled: try evaluate(on: dataset, split: .valid, protocol: .sampled),
                            full: try evaluate(on: dataset, split: .valid, protocol: .full),
                            stepsPerSecond: speed, elapsed: seconds(since: start))
        }

        var curve = [try validate(trainLoss: nil, speed: 0)]
        var cancelled = !(evaluated?(curve[0]) ?? true)
        var best = curve[0], snapshot = try self.snapshot()
        var sinceBest = 0, done = 0, stopped = cancelled, stoppedEarly = false
        var divergence: String?
        while done < options.maxSteps && !stopped {
            let chunk = min(options.evalEvery, options.maxSteps - done)
            let chunkStart = DispatchTime.now().uptimeNanoseconds
            var taken = 0, lossSum = 0.0
            do throws(MetaTLError) {
                _ = try trainSteps(on: dataset, steps: chunk) { p in
                    taken = p.done
                    lossSum += Double(p.queryLoss)
                    let more = progress?(TrainingProgress(done: done + p.done, total: options.maxSteps, step: p.step,
                                                          queryLoss: p.queryLoss, supportLoss: p.supportLoss,
                                                          elapsed: seconds(since: start))) ?? true
                    if !more { stopped = true; cancelled = true }
                    return more
                }
            } catch where error.kind == .diverged {
                // The failing step was not applied: the model is the one after the last good step,
                // which still competes below; nothing is trained after it.
                divergence = error.message
                stopped = true
            }
            done += taken
            guard taken > 0 else { break }
            let loss = Float(lossSum / Double(taken))   // as train(on:steps:) returns it
            let point = try validate(trainLoss: Double(loss), speed: Double(taken) / max(seconds(since: chunkStart), 1e-9))
            curve.append(point)
            if !(evaluated?(point) ?? true) { stopped = true; cancelled = true }
            // Metrics are finite by construction (a NaN score is a miss); the check keeps it so.
            if point.score(options.selectBy).isFinite && point.score(options.selectBy) > best.score(options.selectBy) {
                best = point
                snapshot = try self.snapshot()
                sinceBest = 0
            } else {
                sinceBest += 1
                if options.patience > 0 && sinceBest >= options.patience && done < options.maxSteps && !stopped {
                    stoppedEarly = true
                    break
                }
            }
        }
        try restore(snapshot)
        return FitResult(bestStep: best.step, bestScore: best.score(options.selectBy), stepsTaken: done,
                         stoppedEarly: stoppedEarly, cancelled: cancelled, divergence: divergence, curve: curve)
    }

    /// A copy of everything training changes (see ``ModelSnapshot``), to return to with
    /// ``restore(_:)``. Holds the model alone briefly: waits for the readers in flight and, during
    /// training, for the current step (the copy is then the model after a whole step).
    public func snapshot() throws(MetaTLError) -> ModelSnapshot {
        try access.writing("snapshot the model") { () throws(MetaTLError) -> ModelSnapshot in
            // Gradients are not state: copy parameters and both moments.
            let total = arena.total
            var copy = [Float](repeating: 0, count: 3 * total)
            copy.withUnsafeMutableBufferPointer { dst in
                guard let d = dst.baseAddress else { return }
                d.update(from: arena.params, count: total)
                (d + total).update(from: optimizer.firstMoment, count: total)
                (d + 2 * total).update(from: optimizer.secondMoment, count: total)
            }
            let running = Array(UnsafeBufferPointer(start: self.running.storage.pointer, count: self.running.storage.count))
            return ModelSnapshot(step: step, arena: copy, running: running)
        }
    }

    /// Puts the model back exactly as it was when `snapshot` was taken (bit for bit); training
    /// then continues as it would have from there. The snapshot must come from a model of the
    /// same shape. Holds the model alone briefly, as ``snapshot()`` does; during training from
    /// another thread, training goes on from the restored model at its next step.
    public func restore(_ s: ModelSnapshot) throws(MetaTLError) {
        let total = arena.total
        guard s.arena.count == 3 * total, s.running.count == running.storage.count else {
            throw .invalidArgument("the snapshot comes from a model of another shape (\(s.arena.count / 3) parameters, this model has \(total))")
        }
        // Pending lazy updates need not be settled first: everything they would touch is replaced.
        try access.writing("restore the model", settleFirst: false) { () throws(MetaTLError) in
            s.arena.withUnsafeBufferPointer { src in
                guard let b = src.baseAddress else { return }
                arena.params.update(from: b, count: total)
                optimizer.firstMoment.update(from: b + total, count: total)
                optimizer.secondMoment.update(from: b + 2 * total, count: total)
            }
            s.running.withUnsafeBufferPointer { src in
                guard let b = src.baseAddress else { return }
                running.storage.pointer.update(from: b, count: running.storage.count)
            }
            step = s.step
            outsideWrites += 1
            optimizer.markAllUpToDate(step: s.step)
        }
    }
}

/// Everything training changes in a ``MetaTLModel``: parameters, Adam's moments, BatchNorm
/// running statistics and the step count, taken with ``MetaTLModel/snapshot()``.
public struct ModelSnapshot: Sendable {
    /// The model's step count when taken.
    public let step: Int
    let arena: [Float]
    let running: [Float]
}
