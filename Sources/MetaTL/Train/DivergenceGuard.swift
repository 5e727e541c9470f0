/// Finite or failed: the checks that stop training at the first step that would leave
/// ``ValueLimits``, before that step changes anything.
///
/// A diverging run used to go on with NaN: the margin term max(0, NaN) is 0, so the loss stayed
/// finite while every score was NaN, and evaluation then ranked NaN targets first. Each step is
/// now checked in two places, both read-only passes over small buffers (about 1 MB a step at the
/// default sizes, against the ~100 MB a step's products stream):
///
/// 1. Before the step, the *parameter budget*: one Adam step moves a value by at most
///    ``ValueLimits/stepPerLearningRate``·lr (see ``ValueLimits``), so a bound on the largest
///    parameter, measured at the start of each training call (and again after a restore or setTensor
///    from another thread) and raised by that much per step,
///    says whether this step could carry a parameter past ``ValueLimits/parameter``. When the
///    bound says it might, the parameters are measured again (rarely: only with absurd learning
///    rates or after very long calls) and the step is refused if they still might.
/// 2. Between the backward and the Adam update (``MetaTLModel/stepProblem(_:workspace:tasks:terms:)``):
///    every score of the batch finite, both losses finite, the running statistics the forward
///    just updated within their limits, and every gradient value within
///    ``ValueLimits/gradient`` (the relation learner's directly; an embedding row's as a sum of
///    at most `terms` terms, each checked to be small enough for the sum to stay within it).
///
/// With both, the Adam update cannot produce a value outside the limits, so no check is needed
/// after it. A refused step throws ``MetaTLError/Kind/diverged`` with the step and the reason;
/// the running statistics are put back, and the model is as it was after the previous step.
struct DivergenceGuard {
    private let learningRate: Float
    /// An upper bound on every parameter's magnitude (NaN or +inf if one is not finite).
    private var bound: Float
    /// Steps taken since `bound` was measured.
    private var stepsSinceMeasured = 0
    /// The model's ``MetaTLModel/outsideWrites`` when measured: a restore or setTensor from
    /// another thread between two steps invalidates the bound.
    let outsideWrites: Int

    /// Measures the model's largest parameter (every Adam update must have been applied).
    init(model: MetaTLModel) {
        learningRate = model.configuration.learningRate
        bound = model.largestParameter()
        outsideWrites = model.outsideWrites
    }

    /// Throws `.diverged` if the next step (number `step + 1`) could move a parameter past
    /// ``ValueLimits/parameter``. `remeasure` brings every row up to date and returns the largest
    /// parameter; it is called only when the running bound is not enough.
    mutating func checkBudget(step: Int, remeasure: () -> Float) throws(MetaTLError) {
        let reach = ValueLimits.stepPerLearningRate * learningRate
        if bound + reach <= ValueLimits.parameter { return }
        if stepsSinceMeasured > 0 {
            bound = remeasure()
            stepsSinceMeasured = 0
            if bound + reach <= ValueLimits.parameter { return }
        }
        guard bound.isFinite else {
            throw MetaTLError(.diverged, "step \(step + 1): the model holds a non-finite parameter")
        }
        throw MetaTLError(.diverged, "step \(step + 1): with learning rate \(learningRate), one Adam step can move a parameter by up to \(reach), past the limit of ±\(ValueLimits.parameter) on parameter magnitudes (the largest is \(bound) now); lower the learning rate")
    }

    /// Records a step taken: every parameter may have moved by up to the step's reach.
    mutating func stepTaken() {
        bound += ValueLimits.stepPerLearningRate * learningRate
        stepsSinceMeasured += 1
    }
}

extension MetaTLModel {
    /// The largest magnitude of any parameter (NaN if one is NaN). Rows with pending lazy Adam
    /// updates are read as they are.
    func largestParameter() -> Float {
        ValueLimits.maxMagnitude(arena.params, count: arena.total, threads: configuration.threads)
    }

    /// Why the step whose gradients ``metaGradients(_:workspace:frozenInnerStep:embeddingTerms:)``
    /// just left in `ws` must not be applied, or nil when it may (check 2 of ``DivergenceGuard``).
    /// `terms` is how many terms the embedding gradient has (a bound on any row's count).
    func stepProblem(_ result: StepResult, workspace ws: MetaStepWorkspace, tasks B: Int, terms: Int) -> String? {
        let S = configuration.supportCount, d = configuration.dim
        guard result.supportLoss.isFinite, result.queryLoss.isFinite else {
            return "the loss is not finite (support \(result.supportLoss), query \(result.queryLoss))"
        }
        // Plain calls, not a loop over an array of buffers: this runs every step, allocation-free.
        func nonFinite(_ name: String, _ scores: FloatBuffer, _ n: Int) -> String? {
            ValueLimits.within(scores.pointer, count: n, .greatestFiniteMagnitude) ? nil
                : "a \(name) score is not finite (the embeddings or the relation learner's output overflowed)"
        }
        if let why = nonFinite("support", ws.supportPosScore, B * S) ?? nonFinite("support negative", ws.supportNegScore, B * S)
            ?? nonFinite("query", ws.queryPosScore, B) ?? nonFinite("query negative", ws.queryNegScore, B) {
            return why
        }
        if let why = runningStatisticsProblem() { return "BatchNorm's running statistics left their limits: \(why)" }
        let dense = arena.total - arena.tableCount
        let threads = configuration.threads
        let largest = ValueLimits.maxMagnitude(arena.grads + arena.tableCount, count: dense, threads: threads)
        guard largest <= ValueLimits.gradient else {
            return "a gradient of the relation learner is \(largest), beyond the limit of ±\(ValueLimits.gradient)"
        }
        // An embedding row's gradient sums at most `terms` terms: unit directions scaled by at most
        // 1, and rows of the learner's input gradient.
        var input = ValueLimits.maxMagnitude(ws.learner.dX0.pointer, count: B * S * 2 * d, threads: threads)
        let decay = configuration.tableDecay
        if decay > 0 {   // the table decay's terms: copies of parameter rows, scaled by 2λ/B
            let rows = max(ValueLimits.maxMagnitude(ws.decayHeads.pointer, count: B * d, threads: threads),
                           ValueLimits.maxMagnitude(ws.decayTails.pointer, count: B * d, threads: threads))
            input = max(input, rows * 2 * decay / Float(B))
        }
        if let sm = ws.softmax {   // the softmax loss's terms: ∂L/∂a, the targets' and the candidates'
            input = max(input, ValueLimits.maxMagnitude(ws.queryGradient.pointer, count: B * d, threads: threads),
                        ValueLimits.maxMagnitude(sm.targetTerm.pointer, count: B * d, threads: threads),
                        ValueLimits.maxMagnitude(sm.candidateGradient.pointer, count: sm.candidates * d, threads: threads))
        }
        guard input <= ValueLimits.gradient, Float(max(terms, 1)) * max(1, input) <= ValueLimits.gradient else {
            return "an embedding gradient term is \(input): a row's sum of up to \(terms) such terms could pass the limit of ±\(ValueLimits.gradient)"
        }
        return nil
    }
}
