/// How training tasks are cut from a training user's sequence.
public enum SamplerMode: String, Sendable, CaseIterable, Codable {
    /// The reference notebook's mixed sampler, slips included (see ``TaskSampler``).
    case reference
    /// Window mode takes the K items right before the target, with no skipped item.
    case contiguous
    /// Window mode only, as ``contiguous`` does it: every task is K consecutive items and the
    /// one after them, the shape of a new user's first K + 1 interactions.
    case window
    /// As ``window``, but every window of every training user is equally likely (a user is drawn
    /// in proportion to its number of windows, max(1, length - K)), as a model trained on all
    /// training transitions sees them, instead of every user equally likely.
    case everyWindow = "every_window"
}

/// The loss of the query pairs (the outer step) and, with it, the score of a transition.
public enum QueryLoss: String, Sendable, CaseIterable, Codable {
    /// The reference: margin ranking loss against one negative per pair; a transition h → t
    /// scores -‖E[h] + r' - T[t]‖₂.
    case margin
    /// Sampled softmax over the query's target and ``Configuration/sharedNegatives`` items drawn
    /// once per step and shared by the batch (an accidental hit of the target is masked). A
    /// transition scores -α·‖E[h] + r' - T[t]‖₂² + b[t], with the scale α = exp(log α) learned
    /// and b the item bias when ``Configuration/itemBias`` is on (else 0).
    case softmax
}

/// How training draws the negative tail of each pair.
public enum NegativeSampling: String, Sendable, CaseIterable, Codable {
    /// Uniformly over the catalogue (the reference).
    case uniform
    /// In proportion to the items' training frequency (a random training interaction's item), so
    /// that popular items are contrasted more often.
    case popularity
    /// Half of each kind: the softmax loss's shared negatives alternate popularity and uniform
    /// draws; a margin pair's negative is either, by a coin.
    case mixed
}

/// How the support gradient is scaled in the one-step adaptation during training.
public enum InnerStepScaling: String, Sendable, CaseIterable, Codable {
    /// The reference: the support loss is a mean over the whole batch, so each task's step is
    /// divided by B x (K-1) in training but only by K-1 at evaluation.
    case reference
    /// Each task's step is divided by K-1, in training as at evaluation.
    case perTask = "per_task"
}

/// The optimiser of the item tables (the embedding rows E, T). The dense block (the relation
/// learner, the item bias, log α) is updated by dense Adam under either.
public enum Optimizer: String, Sendable, CaseIterable, Codable {
    /// Exact lazy Adam (the reference's `torch.optim.Adam`): a row no pair of a step touches
    /// still takes that step's zero-gradient update, replayed when the row is next read
    /// ("catch-up"), so every value is dense Adam's bit for bit. The catch-up's cost grows with
    /// how long rows sit idle, i.e. with the catalogue.
    case adam
    /// PyTorch `SparseAdam` / TensorFlow Addons `LazyAdam`: a table row's moments and value are
    /// updated only at the steps whose gradient reaches it (the rows the step's batch reads, see
    /// ``OptimizerState``); at other steps nothing about the row changes, so there is no
    /// catch-up. The bias correction uses the global step count t (as SparseAdam's per-tensor
    /// step, which counts every step since the table has a gradient at each):
    /// m ← m + (1-β₁)(g - m); v ← β₂v + (1-β₂)g²; p ← p - (lr·√(1-β₂ᵗ)/(1-β₁ᵗ))·m / (√v + ε),
    /// i.e. ε is added to √v as in SparseAdam and LazyAdam (dense Adam here adds it to
    /// √v/√(1-β₂ᵗ)).
    case sparseAdam = "sparse_adam"
}

/// Every setting of a MetaTL model and its training.
///
/// There are two presets: ``recommended`` (what `Configuration()` gives, the default of every
/// surface: Swift, C, Python and the command) and ``reference`` (the reference notebook's
/// settings, which reproduce it bit for bit). Start from one and change what you need:
///
/// ```swift
/// var c = Configuration()        // the recommended preset
/// c.threads = 4
/// var r = Configuration.reference
/// r.dim = 64
/// ```
public struct Configuration: Sendable, Equatable, Codable {
    /// Number of initial interactions of a new user (K); K-1 support pairs per task.
    public var K: Int
    /// Item embedding size d (also the relation size).
    public var dim: Int
    /// Width of the relation learner's first hidden layer.
    public var hidden1: Int
    /// Width of the relation learner's second hidden layer.
    public var hidden2: Int
    /// Tasks per training step (B).
    public var batchSize: Int
    /// Adam learning rate.
    public var learningRate: Float
    /// Step size of the one-step adaptation r' = r - beta * dL_s/dr.
    public var beta: Float
    /// Margin of the ranking loss.
    public var margin: Float
    /// Dropout probability after the first two hidden layers (training only).
    public var dropout: Float
    /// Seed of every random choice in a run.
    public var seed: UInt64
    /// Training task sampler.
    public var sampler: SamplerMode
    /// Scaling of the inner step in training.
    public var innerStep: InnerStepScaling
    /// Worker threads for sampling, evaluation and BLAS (results are reproducible per thread count).
    public var threads: Int
    /// From this many steps on, train in evaluation mode: BatchNorm normalises with its running
    /// statistics (which stop moving) and dropout is off. The reference notebook does this by
    /// accident after its first evaluation (it never switches back to training mode); nil: never.
    public var evalModeAfter: Int?
    /// Training negatives: the margin pairs' and, with the softmax loss, the shared ones (drawn
    /// by popularity with the log-Q correction). nil: uniform, the reference's. Evaluation always
    /// uses uniform ones.
    public var negatives: NegativeSampling?
    /// The query loss, which also sets the score (see ``QueryLoss``). The support loss of the
    /// inner step is always the margin loss.
    public var loss: QueryLoss
    /// With the softmax loss: items drawn uniformly (with replacement) once per step and shared
    /// by every query of the batch; 0 means the whole catalogue (an exact softmax).
    public var sharedNegatives: Int
    /// A second item table for the tail of a transition (T in the score; the relation learner
    /// reads [E[h]; T[t]]), so that an item's place as a source and as a target can differ.
    /// Off: T is E, as in the reference.
    public var tailEmbeddings: Bool
    /// A learned per-item bias b[t] in the softmax loss's score (zero-initialised).
    public var itemBias: Bool
    /// Start the relation learner's last BatchNorm weight at 0 instead of 1, so that r = 0 at
    /// step 0 and the item tables learn the common transitions first.
    public var zeroInitialRelation: Bool
    /// λ of a penalty λ·mean_b ‖r_b‖² on the relation learner's output, added to the query loss,
    /// so that a task's relation moves away from 0 only where that pays across tasks.
    public var relationPenalty: Float
    /// λ of an L2 penalty on the item rows each query uses, λ·mean_b (‖E[h_b]‖² + ‖T[t_b]‖²),
    /// added to the query loss (weight decay where the rows are used, as matrix factorisation
    /// regularises), so that the tables do not memorise the training transitions.
    public var tableDecay: Float
    /// With the softmax loss, also the reference's margin loss on each query pair against its
    /// uniform negative (added to the query loss), which keeps the target above random items.
    public var queryMargin: Bool
    /// The item tables' optimiser (see ``Optimizer``): exact lazy Adam (both presets) or sparse Adam.
    public var optimizer: Optimizer

    /// The recommended preset, ``recommended``.
    public init() { self = Configuration.recommended }

    /// Every setting given: the presets below are the only callers, so that each states every
    /// field (a setting added later must be given a value in both).
    private init(K: Int, dim: Int, hidden1: Int, hidden2: Int, batchSize: Int, learningRate: Float, beta: Float,
                 margin: Float, dropout: Float, seed: UInt64, sampler: SamplerMode, innerStep: InnerStepScaling,
                 threads: Int, evalModeAfter: Int?, negatives: NegativeSampling?, loss: QueryLoss, sharedNegatives: Int,
                 tailEmbeddings: Bool, itemBias: Bool, zeroInitialRelation: Bool, relationPenalty: Float,
                 tableDecay: Float, queryMargin: Bool, optimizer: Optimizer) {
        self.K = K; self.dim = dim; self.hidden1 = hidden1; self.hidden2 = hidden2; self.batchSize = batchSize
        self.learningRate = learningRate; self.beta = beta; self.margin = margin; self.dropout = dropout
        self.seed = seed; self.sampler = sampler; self.innerStep = innerStep; self.threads = threads
        self.evalModeAfter = evalModeAfter; self.negatives = negatives; self.loss = loss
        self.sharedNegatives = sharedNegatives; self.tailEmbeddings = tailEmbeddings; self.itemBias = itemBias
        self.zeroInitialRelation = zeroInitialRelation; self.relationPenalty = relationPenalty
        self.tableDecay = tableDecay; self.queryMargin = queryMargin; self.optimizer = optimizer
    }

    /// The reference notebook's settings: margin loss, one item table, its sampler and inner
    /// step, dropout 0.5. It reproduces the notebook bit for bit (the parity fixture). A
    /// checkpoint written before a setting existed reads that setting as it is here.
    public static var reference: Configuration {
        Configuration(K: 3, dim: 100, hidden1: 500, hidden2: 200, batchSize: 1024, learningRate: 0.001, beta: 5,
                      margin: 1, dropout: 0.5, seed: 1, sampler: .reference, innerStep: .reference, threads: 1,
                      evalModeAfter: nil, negatives: nil, loss: .margin, sharedNegatives: 1024,
                      tailEmbeddings: false, itemBias: false, zeroInitialRelation: false, relationPenalty: 0,
                      tableDecay: 0, queryMargin: false, optimizer: .adam)
    }

    /// The settings this engine recommends for ranking the whole catalogue, chosen by the
    /// measurements in docs/RESULTS.md: softmax over 1,024 shared popularity negatives (log-Q
    /// corrected), a tail table, an item bias, the relation started at zero, every training window equally likely as a task,
    /// dropout 0, learning rate 0.0005. The default of every surface (`Configuration()`, C
    /// `mt_config_default()`, Python `metatl.Model()`, the command's `--preset`); this is the one
    /// place its values are written.
    public static var recommended: Configuration {
        Configuration(K: 3, dim: 100, hidden1: 500, hidden2: 200, batchSize: 1024, learningRate: 0.0005, beta: 5,
                      margin: 1, dropout: 0, seed: 1, sampler: .everyWindow, innerStep: .reference, threads: 1,
                      evalModeAfter: nil, negatives: .popularity, loss: .softmax, sharedNegatives: 1024,
                      tailEmbeddings: true, itemBias: true, zeroInitialRelation: true, relationPenalty: 0,
                      tableDecay: 0, queryMargin: false, optimizer: .adam)
    }

    /// The names ``preset(named:)`` knows, the default first.
    public static let presetNames = ["recommended", "reference"]

    /// A preset by name: "recommended" or "reference" (nil for any other name).
    public static func preset(named name: String) -> Configuration? {
        switch name {
        case "reference": return .reference
        case "recommended": return .recommended
        default: return nil
        }
    }

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
        try check(sharedNegatives >= 0 && sharedNegatives <= 1 << 20, "shared negatives must be in 0...1048576 (got \(sharedNegatives))")
        try check(tableDecay.isFinite && tableDecay >= 0, "table decay must be non-negative (got \(tableDecay))")
        try check(relationPenalty.isFinite && relationPenalty >= 0, "relation penalty must be non-negative (got \(relationPenalty))")
        try check(!itemBias || loss == .softmax, "an item bias needs the softmax loss (the margin loss's score has none)")
    }

    /// Whether scores are -α‖·‖² + b (the softmax loss) rather than the reference's -‖·‖.
    var squaredScore: Bool { loss == .softmax }

    /// Shared negatives a training step draws: ``sharedNegatives`` with the softmax loss, 0 for
    /// an exact softmax (its candidates are every item) and for the margin loss.
    var sharedNegativeDraws: Int { loss == .softmax ? sharedNegatives : 0 }

    /// Candidates of each query under the softmax loss for a catalogue of `items` items: the
    /// shared negatives, or every item for an exact softmax; 0 for the margin loss.
    func softmaxCandidates(items: Int) -> Int {
        loss != .softmax ? 0 : sharedNegatives == 0 ? items : sharedNegatives
    }
}

extension Configuration {
    /// The names of the settings in a checkpoint's configuration: mt_config's, Python's and the
    /// command's JSON (snake_case).
    private enum CodingKeys: String, CodingKey {
        case K, dim, hidden1, hidden2, batchSize = "batch_size", learningRate = "learning_rate", beta, margin, dropout
        case seed, sampler, innerStep = "inner_step", threads, evalModeAfter = "eval_mode_after", negatives, loss
        case sharedNegatives = "shared_negatives", tailEmbeddings = "tail_embeddings", itemBias = "item_bias"
        case zeroInitialRelation = "zero_initial_relation", relationPenalty = "relation_penalty"
        case tableDecay = "table_decay", queryMargin = "query_margin", optimizer

        /// The name before: Swift's property name.
        var camelCase: String {
            let words = rawValue.split(separator: "_")
            return words.enumerated().map { $0.offset == 0 ? String($0.element) : $0.element.prefix(1).uppercased() + $0.element.dropFirst() }.joined()
        }
    }

    /// A key by its text: checkpoints written before the names were snake_case used Swift's
    /// property names (`learningRate`), which are the cases' names above.
    private struct NamedKey: CodingKey {
        var stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }

    /// Reads a checkpoint's configuration, under today's names or the camelCase ones of older
    /// files; settings added after a checkpoint was written take their reference values, so an
    /// older checkpoint loads as the model it was.
    public init(from decoder: any Decoder) throws {
        let k = try decoder.container(keyedBy: NamedKey.self)
        let camelCase = !k.contains(NamedKey(stringValue: CodingKeys.batchSize.rawValue))
            && k.contains(NamedKey(stringValue: CodingKeys.batchSize.camelCase))
        func key(_ name: CodingKeys) -> NamedKey { NamedKey(stringValue: camelCase ? name.camelCase : name.rawValue) }
        var c = Configuration.reference
        // The settings every checkpoint has are required; the later ones default.
        func need<T: Decodable>(_ name: CodingKeys, _ into: inout T) throws { into = try k.decode(T.self, forKey: key(name)) }
        func read<T: Decodable>(_ name: CodingKeys, _ into: inout T) throws {
            if let v = try k.decodeIfPresent(T.self, forKey: key(name)) { into = v }
        }
        try need(.K, &c.K); try need(.dim, &c.dim); try need(.hidden1, &c.hidden1); try need(.hidden2, &c.hidden2)
        try need(.batchSize, &c.batchSize); try need(.learningRate, &c.learningRate); try need(.beta, &c.beta)
        try need(.margin, &c.margin); try need(.dropout, &c.dropout); try need(.seed, &c.seed)
        try need(.sampler, &c.sampler); try need(.innerStep, &c.innerStep); try need(.threads, &c.threads)
        c.evalModeAfter = try k.decodeIfPresent(Int.self, forKey: key(.evalModeAfter))
        c.negatives = try k.decodeIfPresent(NegativeSampling.self, forKey: key(.negatives))
        try read(.loss, &c.loss); try read(.sharedNegatives, &c.sharedNegatives); try read(.tailEmbeddings, &c.tailEmbeddings)
        try read(.itemBias, &c.itemBias); try read(.zeroInitialRelation, &c.zeroInitialRelation)
        try read(.relationPenalty, &c.relationPenalty); try read(.tableDecay, &c.tableDecay)
        try read(.queryMargin, &c.queryMargin); try read(.optimizer, &c.optimizer)
        self = c
    }
}
