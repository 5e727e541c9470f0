import MetaTLKernels

/// The values a model may hold, and the one check of them that training, loading, saving and
/// ``MetaTLModel/setTensor(named:to:)`` all use.
///
/// A NaN compares false, so a model holding one ranks its NaN targets first and looks perfect;
/// a huge finite value turns into NaN a step or two later. Values are therefore checked where
/// they are born: every training step checks its scores, running statistics and gradients before
/// it changes anything (``DivergenceGuard``), and every load checks every tensor, so a model
/// in memory always satisfies these limits, and what ``MetaTLModel/save(to:)`` writes
/// ``MetaTLModel/load(from:)`` reads.
///
/// The limits are far beyond anything a healthy model reaches (its values are of order 1) and
/// below where float32 arithmetic overflows in one step:
/// - parameters (embeddings, Linear weights and biases, BatchNorm γ and β): |x| ≤ 1e15;
/// - gradients of a step (each value of the relation learner's gradient and of each embedding
///   row's summed gradient): |g| ≤ 1e14, so that g², and with it Adam's second moment, stays
///   below 1e28;
/// - Adam's second moment: 0 ≤ v ≤ 1e30 (a running mean of squared gradients);
/// - Adam's first moment: |m| ≤ 8·√v + 1e-18. By Cauchy-Schwarz, Adam's moments from any
///   gradient sequence satisfy |m| ≤ (1-β₁)/√((1-β₂)(1-β₁²/β₂))·√v ≈ 7.27·√v for β₁ = 0.9,
///   β₂ = 0.999, and an Adam update keeps |m| ≤ C·√v for any C ≥ 7.27, so the limit (C = 8)
///   holds for every state training or a valid checkpoint produces; the 1e-18 covers second
///   moments flushed to zero below the normal range. Since the update is
///   lr/(1-β₁ᵗ)·m/(√v/√(1-β₂ᵗ) + ε) and √(1-β₂ᵗ) ≤ 1-β₁ᵗ, one Adam step moves a value by at
///   most 8·lr (plus ~1e-9·lr from the floor), which lets training refuse, before touching
///   anything, a step that could carry a parameter past its limit;
/// - BatchNorm running statistics: |mean| ≤ 1e30, 0 ≤ variance ≤ 1e30.
enum ValueLimits {
    static let parameter: Float = 1e15
    static let gradient: Float = 1e14
    static let secondMoment: Float = 1e30
    static let firstMomentRatio: Float = 8
    static let firstMomentFloor: Float = 1e-18
    static let runningStatistic: Float = 1e30
    /// The most one Adam step can move a value, as a multiple of the learning rate: 8 (the first
    /// moment bound, which Adam preserves for any factor ≥ 7.27), plus room for the 1e-18 floor
    /// (≤ 1e-9·lr) and rounding.
    static let stepPerLearningRate: Float = 9

    /// The largest |x| of `n` values, or NaN when one is NaN (+inf when one is infinite).
    static func maxMagnitude(_ x: CFPtr, count n: Int) -> Float {
        n > 0 ? mtl_k_max_abs(x, n) : 0
    }

    /// ``maxMagnitude(_:count:)`` split over the engine's worker threads (for the per-step checks,
    /// which read about 2.5 MB at the default sizes: split, they cost a fraction of a percent).
    static func maxMagnitude(_ x: CFPtr, count n: Int, threads: Int) -> Float {
        let parts = max(1, min(threads, 8, n / 65536))
        if parts == 1 { return maxMagnitude(x, count: n) }
        var partial = [Float](repeating: 0, count: parts)
        partial.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            let results = SharedPointer(base), source = SharedPointer(UnsafeMutablePointer(mutating: x))
            parallelChunks(parts, threads: threads) { part in
                let r = splitRange(n, parts: parts, index: part)
                results.p[part] = maxMagnitude(source.p + r.lowerBound, count: r.count)
            }
        }
        // NaN must win: max() would drop it.
        return partial.contains { $0.isNaN } ? .nan : partial.reduce(0) { Swift.max($0, $1) }
    }

    /// True when every value is finite and within ±limit (a NaN fails: the comparison is false).
    static func within(_ x: CFPtr, count n: Int, _ limit: Float) -> Bool {
        maxMagnitude(x, count: n) <= limit
    }

    /// Why `n` values of a tensor named `name` break `limit`, or nil when they do not.
    static func problem(_ name: String, _ x: CFPtr, count n: Int, limit: Float, nonNegative: Bool = false) -> String? {
        for i in 0..<n {
            let value = x[i]
            if !value.isFinite { return "tensor \(name) holds a non-finite value (\(value) at index \(i))" }
            if abs(value) > limit { return "tensor \(name) holds \(value) at index \(i), beyond the limit of ±\(limit)" }
            if nonNegative && value < 0 { return "tensor \(name) holds \(value) at index \(i); it must be non-negative" }
        }
        return nil
    }

    /// Why Adam's first moment `m` is inconsistent with its second moment `v` (n values each,
    /// v already checked), or nil.
    static func momentProblem(_ name: String, m: CFPtr, v: CFPtr, count n: Int) -> String? {
        for i in 0..<n where !(abs(m[i]) <= firstMomentRatio * v[i].squareRoot() + firstMomentFloor) {
            return "tensor \(name) holds \(m[i]) at index \(i), more than Adam's first moment can be for its second moment \(v[i]) (|m| ≤ 8·√v)"
        }
        return nil
    }
}

extension MetaTLModel {
    /// The first value of the model that breaks ``ValueLimits``, described, or nil when every
    /// parameter, Adam moment and running statistic is within them. Reads the whole model
    /// (call with at least shared access, and with no Adam update pending).
    func valueProblem() -> String? {
        for slot in arena.slots {
            let p = arena.params + slot.offset
            let m = optimizer.firstMoment + slot.offset, v = optimizer.secondMoment + slot.offset
            if let why = ValueLimits.problem(slot.name, p, count: slot.count, limit: ValueLimits.parameter)
                ?? ValueLimits.problem("optimizer.exp_avg_sq." + slot.name, v, count: slot.count,
                                       limit: ValueLimits.secondMoment, nonNegative: true)
                ?? ValueLimits.momentProblem("optimizer.exp_avg." + slot.name, m: m, v: v, count: slot.count) {
                return why
            }
        }
        return runningStatisticsProblem()
    }

    /// The first BatchNorm running statistic outside ``ValueLimits``, described, or nil.
    func runningStatisticsProblem() -> String? {
        let S = running.positions
        for l in 0..<3 {
            if let why = ValueLimits.problem(RunningStatistics.name(layer: l, variance: false), running.mean(l), count: S,
                                             limit: ValueLimits.runningStatistic)
                ?? ValueLimits.problem(RunningStatistics.name(layer: l, variance: true), running.variance(l), count: S,
                                       limit: ValueLimits.runningStatistic, nonNegative: true) {
                return why
            }
        }
        return nil
    }
}
