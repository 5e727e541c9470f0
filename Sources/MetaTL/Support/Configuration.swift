/// How training tasks are cut from a training user's sequence.
public enum SamplerMode: String, Sendable, CaseIterable, Codable {
    /// The reference notebook's mixed sampler, slips included (see ``TaskSampler``).
    case reference
    /// Window mode takes the K items right before the target, with no skipped item.
    case contiguous
}

/// How training draws the negative tail of each pair.
public enum NegativeSampling: String, Sendable, CaseIterable, Codable {
    /// Uniformly over the catalogue (the reference).
    case uniform
    /// In proportion to the items' training frequency (a random training interaction's item), so
    /// that popular items are contrasted more often.
    case popularity
}

/// How the support gradient is scaled in the one-step adaptation during training.
public enum InnerStepScaling: String, Sendable, CaseIterable, Codable {
    /// The reference: the support loss is a mean over the whole batch, so each task's step is
    /// divided by B x (K-1) in training but only by K-1 at evaluation.
    case reference
    /// Each task's step is divided by K-1, in training as at evaluation.
    case perTask = "per_task"
}

/// Every setting of a MetaTL model and its training. Defaults are the reference notebook's.
public struct Configuration: Sendable, Equatable, Codable {
    /// Number of initial interactions of a new user (K); K-1 support pairs per task.
    public var K: Int = 3
    /// Item embedding size d (also the relation size).
    public var dim: Int = 100
    /// Width of the relation learner's first hidden layer.
    public var hidden1: Int = 500
    /// Width of the relation learner's second hidden layer.
    public var hidden2: Int = 200
    /// Tasks per training step (B).
    public var batchSize: Int = 1024
    /// Adam learning rate.
    public var learningRate: Float = 0.001
    /// Step size of the one-step adaptation r' = r - beta * dL_s/dr.
    public var beta: Float = 5
    /// Margin of the ranking loss.
    public var margin: Float = 1
    /// Dropout probability after the first two hidden layers (training only).
    public var dropout: Float = 0.5
    /// Seed of every random choice in a run.
    public var seed: UInt64 = 1
    /// Training task sampler.
    public var sampler: SamplerMode = .reference
    /// Scaling of the inner step in training.
    public var innerStep: InnerStepScaling = .reference
    /// Worker threads for sampling, evaluation and BLAS (results are reproducible per thread count).
    public var threads: Int = 1
    /// From this many steps on, train in evaluation mode: BatchNorm normalises with its running
    /// statistics (which stop moving) and dropout is off. The reference notebook does this by
    /// accident after its first evaluation (it never switches back to training mode); nil: never.
    public var evalModeAfter: Int? = nil
    /// Training negatives (nil: uniform, the reference's). Evaluation always uses uniform ones.
    public var negatives: NegativeSampling? = nil

    public init() {}

    /// Support pairs per task.
    var supportCount: Int { K - 1 }

    /// Throws if a setting is out of range.
    public func validate() throws(MetaTLError) {
        func check(_ ok: Bool, _ what: String) throws(MetaTLError) {
            if !ok { throw MetaTLError.invalidArgument("invalid setting: \(what)") }
        }
        try check(K >= 2 && K <= 64, "K must be in 2...64 (got \(K))")
        try check(dim >= 1 && dim <= 4096, "dim must be in 1...4096 (got \(dim))")
        try check(hidden1 >= 1 && hidden1 <= 16384, "hidden1 must be in 1...16384 (got \(hidden1))")
        try check(hidden2 >= 1 && hidden2 <= 16384, "hidden2 must be in 1...16384 (got \(hidden2))")
        try check(batchSize >= 1 && batchSize <= 1 << 20, "batch size must be in 1...1048576 (got \(batchSize))")
        try check(learningRate.isFinite && learningRate > 0, "learning rate must be positive (got \(learningRate))")
        try check(beta.isFinite && beta >= 0, "beta must be non-negative (got \(beta))")
        try check(margin.isFinite && margin >= 0, "margin must be non-negative (got \(margin))")
        try check(dropout.isFinite && dropout >= 0 && dropout < 1, "dropout must be in [0, 1) (got \(dropout))")
        try check(threads >= 1 && threads <= 256, "threads must be in 1...256 (got \(threads))")
        try check(evalModeAfter.map { $0 >= 0 } ?? true, "evalModeAfter must be non-negative (got \(evalModeAfter ?? 0))")
    }
}
