import Foundation

/// A MetaTL model: item embeddings, the relation learner, BatchNorm running statistics and
/// the optimiser's state, for a fixed item catalogue.
///
/// Train it with ``train(on:steps:progress:)``, measure it with ``evaluate(on:split:protocol:)``.
///
/// Thread safety: a model may be served while it trains.
/// - Readers (``adapt(history:)``, ``score(relation:lastItem:candidates:)``,
///   ``recommend(history:topN:excludeHistory:)``, ``evaluate(on:split:protocol:)``,
///   ``itemEmbeddings()``, ``save(to:)``, ``stepCount()``, ``tensor(named:)``) run from many
///   threads at once.
/// - Training (``train(on:steps:progress:)``, ``fit(on:options:progress:evaluated:)``) holds the
///   model alone one step at a time: a step waits for the readers in flight, and readers that
///   arrive during a step wait for it to end (writers first, but the readers waiting when a step
///   ends get in before the next one). Neither side fails because of the other. A reader sees
///   the model as it is after some whole step, never with an update pending, and what training
///   computes does not depend on whether anybody read.
/// - ``snapshot()``, ``restore(_:)``, ``setTensor(named:to:)``, ``attachTransitionPrior(from:weight:)``
///   and ``detachTransitionPrior()`` wait like a step and hold the model alone briefly; from
///   another thread during training they act between two steps.
/// - Progress callbacks run with the model free, so they may call readers, ``snapshot()`` and
///   ``restore(_:)`` on it.
/// - One training call at a time: a second ``train(on:steps:progress:)`` or
///   ``fit(on:options:progress:evaluated:)`` (from another thread, or from a callback of the
///   first) fails at once with ``MetaTLError/Kind/busy``.
public final class MetaTLModel: @unchecked Sendable {
    /// The settings it was built with.
    public let configuration: Configuration
    /// Embedding rows: the catalogue's items plus row 0, the padding item.
    public let rows: Int
    /// Training steps taken so far (read it from other threads with ``stepCount()``).
    public internal(set) var step: Int = 0

    /// Training steps taken so far, read as a reader: during training, the count of the last
    /// whole step.
    public func stepCount() throws(MetaTLError) -> Int {
        try access.reading("read the step count") { () throws(MetaTLError) -> Int in step }
    }

    /// The item vocabulary (the dataset's own object when made from a dataset).
    let vocabulary: Vocabulary
    /// External id of each row (row 0, the padding item, holds -1).
    public var itemIDs: [Int64] { vocabulary.itemIDs }
    /// The row of each external id.
    var rowOfItem: [Int64: Int32] { vocabulary.rowOfItem }
    /// The items' string ids, when they are strings (``itemIDs`` then holds their codes, which
    /// every integer entry point takes and returns: ``StringIDs/code(of:)`` and
    /// ``StringIDs/subscript(_:)`` translate).
    public var itemStrings: StringIDs? { vocabulary.strings }

    let arena: ParameterArena
    let running: RunningStatistics
    var training: TrainingState?
    /// Counts the writes that change parameters outside training (restore, setTensor), so that a
    /// training call's divergence budget measures the model again after one (see ``DivergenceGuard``).
    var outsideWrites = 0
    /// The transition prior blended into scores, if attached (see ``TransitionPrior``; set with
    /// exclusive access, read with shared access).
    var transitionPrior: TransitionPrior?
    /// Rows of the items in the training data of the datasets this model was made from or
    /// trained on (row 0 false): the only ones it recommends unless asked, and the full
    /// protocol's candidates. nil (a checkpoint from before it was recorded): every item. Set
    /// with exclusive access, read with shared access.
    var trainedItems: [Bool]?
    /// Lazy Adam's moments, row marks and per-step constants.
    let optimizer: OptimizerState
    /// The catalogue screen's row norms between serving and evaluation calls (``CatalogueScreen``).
    let screenNorms = CatalogueScreen.NormCache()
    /// Catalogues of at least this many rows are ranked through the screen (tests raise it to
    /// compare with the item-by-item path; set it before serving).
    var screenMinimumRows = CatalogueScreen.minimumRows
    /// The approximate index recommend ranks from, when one is attached (``attachIndex(_:)``).
    let indexSlot = IndexSlot()
    /// Loaded without Adam's state (``load(from:servingOnly:)``): serves and evaluates, never trains
    /// or saves. Set once, before the model is returned.
    var servingOnly = false

    /// Whether the model was loaded for serving only (``load(from:servingOnly:)``): it recommends,
    /// scores and evaluates as the full model does, bit for bit, but cannot be trained or saved.
    public var isServingOnly: Bool { servingOnly }

    /// `.invalidState` for a model loaded for serving only: without Adam's state, training would
    /// start Adam afresh and a saved file would carry zero moments, so both are refused.
    func requireOptimizerState(_ what: String) throws(MetaTLError) {
        guard servingOnly else { return }
        throw MetaTLError(.invalidState, "cannot \(what): the model was loaded for serving only, without Adam's state; load the checkpoint in full to \(what)")
    }
    /// Set while ``profileTraining(on:steps:)`` runs.
    var phaseTimer: PhaseTimer?
    /// Serving and evaluation share the model; each training step, snapshots, restores and
    /// setting a tensor take it alone (see ``AccessLock``).
    let access = AccessLock()

    /// A freshly initialised model for a catalogue whose items have the external ids
    /// `itemIDs` (rows 1...n in this order; row 0 is padding). Initial values come from the
    /// configuration's seed: embeddings Xavier-uniform, Linear weights Xavier-normal, Linear
    /// biases uniform(±1/√fan_in) (PyTorch's default), BatchNorm weights 1 and biases 0.
    public convenience init(configuration: Configuration, itemIDs: [Int64]) throws(MetaTLError) {
        try Self.checkSize(configuration, items: itemIDs.count)
        try self.init(configuration: configuration, vocabulary: Vocabulary(items: itemIDs))
    }

    /// A freshly initialised model over `vocabulary` (shared, not copied).
    init(configuration: Configuration, vocabulary: Vocabulary) throws(MetaTLError) {
        try Self.checkSize(configuration, items: vocabulary.itemCount)
        self.configuration = configuration
        self.vocabulary = vocabulary
        rows = vocabulary.itemIDs.count
        arena = ParameterArena(rows: rows, configuration: configuration)
        optimizer = OptimizerState(arena: arena, learningRate: configuration.learningRate, optimizer: configuration.optimizer)
        running = RunningStatistics(positions: configuration.supportCount)
        initialise()
        // Whoever gets the model after a lazy training step first brings it up to date.
        access.settle = { [unowned self] in self.catchUpAllRows() }
    }

    /// A valid configuration, and a catalogue of `items` items whose table fits.
    private static func checkSize(_ configuration: Configuration, items: Int) throws(MetaTLError) {
        try configuration.validate()
        guard items >= 1 && items < Int(Int32.max) else {
            throw .invalidArgument("item count must be in 1...\(Int32.max - 1) (got \(items))")
        }
        let (tableSize, overflow) = (items + 1).multipliedReportingOverflow(by: configuration.dim)
        guard !overflow, tableSize <= 1 << 33 else {
            throw .invalidArgument("embedding table of \(items + 1) x \(configuration.dim) is too large")
        }
    }

    /// A freshly initialised model for items with ids 1...items.
    public convenience init(configuration: Configuration, items: Int) throws(MetaTLError) {
        guard items >= 1 && items < Int(Int32.max) else {
            throw .invalidArgument("item count must be in 1...\(Int32.max - 1) (got \(items))")
        }
        try self.init(configuration: configuration, itemIDs: Array(1...Int64(items)))
    }

    private func initialise() {
        var rng = RandomGenerator(seed: configuration.seed, stream: RandomStream.initialisation.rawValue)
        let d = configuration.dim
        // nn.init.xavier_uniform_ on (rows, d): fan_in = d, fan_out = rows.
        let bound = Float((6.0 / Double(rows + d)).squareRoot())
        let e = arena.param(arena.embedding)
        for i in 0..<arena.embedding.count { e[i] = Float(rng.uniform() * 2 - 1) * bound }
        for layer in arena.layers {
            let w = layer.weight
            let (outDim, inDim) = (w.shape[0], w.shape[1])
            let std = (2.0 / Double(inDim + outDim)).squareRoot()
            let wp = arena.param(w)
            var i = 0
            while i < w.count {
                // Box-Muller: two normals per pair of uniforms.
                let u1 = max(rng.uniform(), Double.leastNormalMagnitude), u2 = rng.uniform()
                let radius = (-2 * Foundation.log(u1)).squareRoot()
                wp[i] = Float(radius * cos(2 * Double.pi * u2) * std)
                if i + 1 < w.count { wp[i + 1] = Float(radius * sin(2 * Double.pi * u2) * std) }
                i += 2
            }
            let bb = 1 / Double(inDim).squareRoot()
            let bp = arena.param(layer.bias)
            for j in 0..<outDim { bp[j] = Float((rng.uniform() * 2 - 1) * bb) }
            arena.param(layer.normWeight).update(repeating: 1, count: layer.normWeight.count)
            arena.param(layer.normBias).update(repeating: 0, count: layer.normBias.count)
        }
        // After everything the reference draws, so that its values do not depend on these settings.
        if let tail = arena.tailEmbedding {
            let t = arena.param(tail)
            for i in 0..<tail.count { t[i] = Float(rng.uniform() * 2 - 1) * bound }
        }
        if configuration.zeroInitialRelation, let last = arena.layers.last {
            arena.param(last.normWeight).update(repeating: 0, count: last.normWeight.count)
        }
        // The item bias and log α start at 0 (α = 1): the arena starts zeroed.
    }

    /// The head table E.
    var headTable: FPtr { arena.param(arena.embedding) }
    /// The tail table T (E itself without ``Configuration/tailEmbeddings``).
    var tailTable: FPtr { arena.tailEmbedding.map { arena.param($0) } ?? arena.param(arena.embedding) }
    /// Table row of tail row t: rows + t with a tail table, else t (see ``ParameterArena/tableRows``).
    var tailRowOffset: Int { arena.tailEmbedding == nil ? 0 : rows }

    /// Names of every tensor of the reference's `state_dict` this model holds, in its order
    /// (trainable parameters, then running statistics are addressed by ``tensor(named:)``).
    public var parameterNames: [String] { arena.slots.map(\.name) }

    /// A copy of a parameter or running statistic by its reference `state_dict` name (nil for
    /// another name). A reader: during training it is the tensor after the last whole step.
    public func tensor(named name: String) -> [Float]? {
        let copy = try? access.reading("read a tensor") { () throws(MetaTLError) -> [Float]? in
            if let slot = arena.slot(named: name) { return arena.values(slot) }
            for l in 0..<3 {
                let S = running.positions
                if name == RunningStatistics.name(layer: l, variance: false) {
                    return Array(UnsafeBufferPointer(start: running.mean(l), count: S))
                }
                if name == RunningStatistics.name(layer: l, variance: true) {
                    return Array(UnsafeBufferPointer(start: running.variance(l), count: S))
                }
            }
            return nil
        }
        return copy ?? nil
    }

    /// Overwrites a parameter or running statistic by name; the count must match, and the values
    /// must be finite and within the model's limits (|x| ≤ 1e15; running statistics ≤ 1e30,
    /// variances non-negative). Holds the model alone briefly: waits for the readers in flight
    /// and for a training step that runs.
    public func setTensor(named name: String, to values: [Float]) throws(MetaTLError) {
        try access.writing("set a tensor") { () throws(MetaTLError) in try setTensorLocked(named: name, to: values) }
    }

    private func setTensorLocked(named name: String, to values: [Float]) throws(MetaTLError) {
        outsideWrites += 1
        func copy(_ dst: FPtr, _ count: Int, limit: Float = ValueLimits.parameter, nonNegative: Bool = false) throws(MetaTLError) {
            guard values.count == count else {
                throw .invalidArgument("tensor \(name) has \(count) values, got \(values.count)")
            }
            // The same limits as training and loading keep (ValueLimits), so no model holds NaN.
            let problem = values.withUnsafeBufferPointer { src in
                src.baseAddress.flatMap { ValueLimits.problem(name, $0, count: count, limit: limit, nonNegative: nonNegative) }
            }
            if let problem { throw .invalidArgument(problem) }
            values.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { dst.update(from: base, count: count) }
            }
        }
        if let slot = arena.slot(named: name) { return try copy(arena.param(slot), slot.count) }
        for l in 0..<3 {
            if name == RunningStatistics.name(layer: l, variance: false) {
                return try copy(running.mean(l), running.positions, limit: ValueLimits.runningStatistic)
            }
            if name == RunningStatistics.name(layer: l, variance: true) {
                return try copy(running.variance(l), running.positions, limit: ValueLimits.runningStatistic, nonNegative: true)
            }
        }
        throw .invalidArgument("no tensor named \(name)")
    }

    /// A parameter's gradient as ``metaGradients(_:workspace:frozenInnerStep:)`` left it, by name
    /// (tests; the Adam step clears the embedding rows' gradients).
    func gradient(named name: String) -> [Float]? {
        arena.slot(named: name).map { arena.values($0, in: arena.grads) }
    }
}
