import Foundation

/// Where a training run is, for progress displays.
public struct TrainingProgress: Sendable {
    /// Steps done in this call, and the number asked for.
    public var done: Int
    public var total: Int
    /// The model's step count (counts across calls).
    public var step: Int
    /// Query loss of the last step (the reference's reported loss) and support loss.
    public var queryLoss: Float
    public var supportLoss: Float
    /// Seconds since the call started.
    public var elapsed: Double
}

/// Buffers and sampler kept between training calls (allocated on the first one).
final class TrainingState: @unchecked Sendable {
    let workspace: MetaStepWorkspace
    let batch: TaskBatch
    let sampler: TaskSampler
    let dataset: ObjectIdentifier

    init(model: MetaTLModel, data: Dataset) {
        let c = model.configuration
        workspace = MetaStepWorkspace(capacity: c.batchSize, configuration: c, rows: model.rows)
        batch = TaskBatch(tasks: c.batchSize, positions: c.supportCount,
                          sharedNegatives: c.sharedNegativeDraws)
        sampler = TaskSampler(data: data, K: c.K, mode: c.sampler, seed: c.seed, negatives: c.negatives ?? .uniform,
                              workers: c.threads)
        dataset = ObjectIdentifier(data)
        if c.sharedNegativeDraws > 0 {
            workspace.softmax?.logProposal = sampler.logProposal(negatives: c.sharedNegativeDraws)
        }
    }
}

extension MetaTLModel {
    /// A new model sized for `dataset`'s catalogue.
    public convenience init(configuration: Configuration, dataset: Dataset) throws(MetaTLError) {
        guard configuration.K == dataset.K else {
            throw .invalidArgument("the model's K (\(configuration.K)) differs from the dataset's (\(dataset.K))")
        }
        try self.init(configuration: configuration, vocabulary: dataset.vocabulary)
        trainedItems = dataset.trainingItemMask()
    }

    /// Trains for `steps` meta steps on tasks sampled from `dataset`'s training users.
    ///
    /// `progress` is called after every step; returning `false` from it stops training early.
    ///
    /// Finite or failed: a step that would make a value non-finite or carry it past
    /// ``ValueLimits`` (a diverging run, an absurd learning rate) is not applied, and the call
    /// throws ``MetaTLError/Kind/diverged`` naming the step and the reason; the model is then
    /// exactly as it was after the last step taken (``step`` counts those).
    ///
    /// Other threads may serve the model meanwhile: each step holds the model alone, waiting for
    /// the readers in flight, and readers arriving during a step wait for it (see
    /// ``MetaTLModel``); neither fails. `progress` runs with the model free: it may call readers,
    /// ``snapshot()`` or ``restore(_:)`` on this model. A second training call while this one
    /// runs (from another thread, or from `progress`) fails at once with `.busy`.
    /// - Returns: the mean query loss over the steps taken.
    @discardableResult
    public func train(on dataset: Dataset, steps: Int,
                      progress: ((TrainingProgress) -> Bool)? = nil) throws(MetaTLError) -> Float {
        try requireOptimizerState("train")   // fixed at load: no lock needed
        return try access.training("train") { () throws(MetaTLError) -> Float in
            try trainSteps(on: dataset, steps: steps, progress: progress)
        }
    }

    /// The training loop of ``train(on:steps:progress:)``, for a caller that holds the training
    /// token (``AccessLock/training(_:_:)``).
    func trainSteps(on dataset: Dataset, steps: Int,
                    progress: ((TrainingProgress) -> Bool)?) throws(MetaTLError) -> Float {
        guard steps >= 0 else { throw .invalidArgument("steps must be non-negative (got \(steps))") }
        try checkCompatible(dataset)
        let state: TrainingState
        if let existing = training, existing.dataset == ObjectIdentifier(dataset) {
            state = existing
        } else {
            state = TrainingState(model: self, data: dataset)
            training = state
            // This dataset's training items are learned from now on (a cohort's add to the model's).
            let mask = dataset.trainingItemMask()
            try access.writing("train", settleFirst: false) { () throws(MetaTLError) in
                trainedItems = zip(trainedItems ?? mask, mask).map { $0 || $1 }
            }
        }
        let start = DispatchTime.now().uptimeNanoseconds
        var lossSum: Double = 0
        var done = 0
        var divergence: DivergenceGuard?
        while done < steps {
            // One step holds the model alone; pending lazy rows are settled for whoever waits.
            let (result, stepNow) = try access.step("train") { () throws(MetaTLError) -> (StepResult, Int) in
                // The budget's first measurement needs every row up to date (a no-op unless a
                // refused step left some pending); later ones bring them up to date themselves.
                if divergence?.outsideWrites != outsideWrites { catchUpAllRows(); divergence = DivergenceGuard(model: self) }
                try divergence?.checkBudget(step: step) { catchUpAllRows(); return largestParameter() }
                phaseTimer?.start()
                state.sampler.fill(state.batch, step: step, threads: configuration.threads)
                state.sampler.fillSharedNegatives(state.batch, step: step)
                phaseTimer?.mark("sample")
                let result = try metaStep(state.batch, workspace: state.workspace, lazy: true)
                divergence?.stepTaken()
                return (result, step)
            }
            lossSum += Double(result.queryLoss)
            done += 1
            if let progress {
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                let p = TrainingProgress(done: done, total: steps, step: stepNow, queryLoss: result.queryLoss,
                                         supportLoss: result.supportLoss, elapsed: elapsed)
                if !progress(p) { break }
            }
        }
        try access.writing("train", settleFirst: false) { () throws(MetaTLError) in
            phaseTimer?.start()
            catchUpAllRows()
            phaseTimer?.mark("catch up all rows")   // once per call (profiles report it per step)
        }
        return done > 0 ? Float(lossSum / Double(done)) : 0
    }

    func checkCompatible(_ dataset: Dataset) throws(MetaTLError) {
        guard vocabulary.matches(dataset.vocabulary) else {
            throw .invalidArgument(Dataset.vocabularyDifference(dataset: dataset.vocabulary, model: vocabulary))
        }
        guard dataset.K == configuration.K else {
            throw .invalidArgument("the dataset's K (\(dataset.K)) differs from the model's (\(configuration.K))")
        }
    }
}
