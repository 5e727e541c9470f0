import MetaTLKernels

// The relation learner's layers, each forward next to its backward (llm.c style).
// Shapes are in the signatures; backward functions ACCUMULATE into parameter gradients.
//
// Rows are (task, support position) pairs: row n = b * S + s. BatchNorm1d(S) in the reference
// is applied to a (B, S, F) tensor, so it normalises per support position s ("channel"), with
// statistics over the batch AND the F features of that position.

typealias FPtr = UnsafeMutablePointer<Float>
typealias CFPtr = UnsafePointer<Float>

// MARK: Linear

/// out[rows, outDim] = inp[rows, inDim] · weight[outDim, inDim]ᵀ + bias[outDim]
/// (bias nil: left for the caller to add, as ``normBlockForward`` does).
func linearForward(out: FPtr, inp: CFPtr, weight: CFPtr, bias: CFPtr?,
                   rows: Int, inDim: Int, outDim: Int, threads: Int) {
    if let bias {
        for n in 0..<rows { (out + n * outDim).update(from: bias, count: outDim) }
    }
    BLAS.gemmNT(rows, outDim, inDim, inp, weight, beta: bias == nil ? 0 : 1, out, threads: threads)
}

/// dweight[outDim, inDim] += doutᵀ · inp;  dinp[rows, inDim] = dout · weight (overwritten;
/// skipped when nil). The bias gradient Σ_rows dout is summed by ``normBlockBackward``, which
/// writes dout.
func linearBackward(dinp: FPtr?, dweight: FPtr,
                    dout: CFPtr, inp: CFPtr, weight: CFPtr,
                    rows: Int, inDim: Int, outDim: Int, threads: Int) {
    BLAS.gemmTN(outDim, inDim, rows, dout, inp, beta: 1, dweight, threads: threads)
    if let dinp { BLAS.gemmNN(rows, inDim, outDim, dout, weight, beta: 0, dinp, threads: threads) }
}

// MARK: BatchNorm1d over support positions → LeakyReLU → Dropout (training)

/// One norm block's tensors as its forward and backward read and write them: views into the
/// arena (the preceding Linear's bias, gamma, beta and their gradients), the running statistics
/// and the workspace (the product z, the output, the bits, the batch statistics), so that the
/// block functions take one view instead of a dozen pointers. Built by ``RelationLearner``.
struct NormBlockView {
    /// The preceding Linear's bias [F] (a zero row where the product already includes it), BatchNorm's gamma and beta [S].
    let bias: CFPtr, gamma: CFPtr, beta: CFPtr
    /// Their gradients (accumulated by the backward; unused in evaluation).
    let dbias: FPtr, dgamma: FPtr, dbeta: FPtr
    /// Running statistics [S] (updated by a training forward that is not frozen).
    let runningMean: FPtr, runningVar: FPtr
    /// The Linear's product without its bias [rows, F] (never written by the block), the
    /// block's output [rows, F], and the dropout and activation bits [rows, words] (hidden layers).
    let z: CFPtr, out: FPtr, bits: UnsafeMutablePointer<UInt16>?
    /// The per-position mean and 1/√(var + eps) [S] the forward normalised with (kept for the backward).
    let mean: FPtr, invstd: FPtr
}

/// How a norm block runs.
struct NormBlockMode {
    /// LeakyReLU and dropout follow the normalisation (the hidden layers).
    let activation: Bool
    /// Normalise with the running statistics, left unchanged (evaluation, and training in
    /// evaluation mode), instead of the batch's.
    let frozen: Bool
    /// Dropout probability (0 when not `activation`, and when frozen).
    let dropout: Float
}

/// BatchNorm1d(S) over `tasks`·S rows of F features, optionally followed by LeakyReLU and
/// Dropout (`mode`). `v.z` is the preceding Linear's product without its bias (so that the
/// product runs with beta = 0); it is never written. Two passes over it:
/// 1. per-position sums of x = z + bias and x² (statistics over the batch AND the features),
///    giving `mean[S]` and `invstd[S]` (kept for the backward); the caller runs this pass (see
///    `statistics` below) and the block finishes the sums;
/// 2. per row: x̂ = (x - mean)·invstd, y = gamma[s]·x̂ + beta[s], LeakyReLU, dropout (kept units
///    scaled by 1/(1-p)).
/// x̂ is not stored: the backward recomputes it from z with the same operations, which costs
/// less than the memory traffic of keeping it. Running statistics take the momentum step
/// (unbiased variance). Rows are processed in a fixed number of chunks whose partial sums are
/// added in chunk order, so results do not depend on the number of threads.
///
/// Dropout draws are a hash of (row key, unit), 16 bits each, with the row key from `keys`
/// (see ``DropoutKeys``). With `activation`, `v.bits` (rows × ``MaskBuffer/wordsPerRow(_:)``
/// words) records which units were dropped and which took the LeakyReLU slope, for the backward.
///
/// `frozen`: normalise with the running statistics instead, which are left unchanged (the
/// caller passes dropout 0). Evaluation runs this block too.
///
/// Pass 1 is the caller's: `statistics` holds its per-chunk partial sums (see
/// ``forwardStatistics(chunk:linear:bias:partial:tasks:positions:features:chunks:)``, which
/// ``productByChunks(tasks:positions:threads:product:afterwards:)`` runs right after the
/// product); unused when `frozen`.
func normBlockForward(_ v: NormBlockView, tasks: Int, positions S: Int, features F: Int, mode: NormBlockMode,
                      keys: DropoutKeys, threads: Int, statistics: UnsafePointer<Double>) {
    let chunks = normChunks(tasks)
    if mode.frozen {
        for s in 0..<S {
            v.mean[s] = v.runningMean[s]
            v.invstd[s] = 1 / (v.runningVar[s] + RelationLearner.bnEps).squareRoot()
        }
    } else {
        batchStatistics(partial: statistics, mean: v.mean, invstd: v.invstd, runningMean: v.runningMean,
                        runningVar: v.runningVar, tasks: tasks, positions: S, features: F, chunks: chunks)
    }
    let drop = Dropout(mode.dropout), activation: Int32 = mode.activation ? 1 : 0
    let zs = SharedPointer(UnsafeMutablePointer(mutating: v.z)), bias = v.bias, gamma = v.gamma, beta = v.beta
    let ys = SharedPointer(v.out), ms = SharedPointer(v.mean), inv = SharedPointer(v.invstd)
    let bs = v.bits.map(SharedPointer.init), words = MaskBuffer.wordsPerRow(F)
    parallelChunks(chunks, threads: threads) { c in
        for b in splitRange(tasks, parts: chunks, index: c) {
            for s in 0..<S {
                let n = b * S + s
                mtl_k_norm_forward_row(zs.p + n * F, bias, ys.p + n * F, bs.map { $0.p + n * words }, F, ms.p[s], inv.p[s],
                                       gamma[s], beta[s], activation, RelationLearner.leakySlope, drop.threshold,
                                       drop.keep, keys.row(n))
            }
        }
    }
}

/// The number of row chunks of the norm blocks for `tasks` tasks: partial sums are kept per chunk
/// and added in chunk order, so results do not depend on the number of threads.
func normChunks(_ tasks: Int) -> Int { min(16, max(tasks, 1)) }

/// A matrix product whose rows are the norm chunks' rows, fused with a pass over them: each worker
/// computes the rows of its chunks with `product` (one call for its whole range of rows), then
/// runs `afterwards(chunk)` for each of its chunks while their rows are still in its cache.
/// The rows split as ``BLAS`` splits a product's rows (when the chunks allow).
func productByChunks(tasks: Int, positions S: Int, threads: Int, product: (Range<Int>) -> Void, afterwards: (Int) -> Void) {
    let chunks = normChunks(tasks)
    let parts = max(1, min(BLAS.rowBlocks(tasks * S, threads: threads), chunks))
    parallelChunks(parts, threads: threads) { p in
        let mine = splitRange(chunks, parts: parts, index: p)
        guard let first = mine.first, let last = mine.last else { return }
        let lo = splitRange(tasks, parts: chunks, index: first).lowerBound
        let hi = splitRange(tasks, parts: chunks, index: last).upperBound
        product(lo * S..<hi * S)
        for c in mine { afterwards(c) }
    }
}

/// Pass 1 of ``normBlockForward`` for one chunk: adds the chunk's per-position sums of
/// x = z + bias and x² to partial[(chunk·S + s)·2 + 0/1] (which start at zero).
@inline(__always)
func forwardStatistics(chunk c: Int, linear z: CFPtr, bias: CFPtr, partial: UnsafeMutablePointer<Double>,
                       tasks: Int, positions S: Int, features F: Int, chunks: Int) {
    for b in splitRange(tasks, parts: chunks, index: c) {
        for s in 0..<S {
            var sum: Float = 0, sq: Float = 0
            mtl_k_bias_sum(z + (b * S + s) * F, bias, F, &sum, &sq)
            partial[(c * S + s) * 2] += Double(sum)
            partial[(c * S + s) * 2 + 1] += Double(sq)
        }
    }
}

/// The chunks' partial sums to the per-position batch mean and 1/√(var + eps) of x = z + bias,
/// and the running statistics' momentum step (unbiased variance).
private func batchStatistics(partial: UnsafePointer<Double>, mean: FPtr, invstd: FPtr, runningMean: FPtr,
                             runningVar: FPtr, tasks: Int, positions S: Int, features F: Int, chunks: Int) {
    let count = Double(tasks * F)
    for s in 0..<S {
        var sum = 0.0, sq = 0.0
        for c in 0..<chunks { sum += partial[(c * S + s) * 2]; sq += partial[(c * S + s) * 2 + 1] }
        let m = sum / count
        let variance = max(0, sq / count - m * m)
        mean[s] = Float(m)
        invstd[s] = Float(1 / (variance + Double(RelationLearner.bnEps)).squareRoot())
        let unbiased = count > 1 ? variance * count / (count - 1) : variance
        let momentum = RelationLearner.bnMomentum
        runningMean[s] = (1 - momentum) * runningMean[s] + momentum * Float(m)
        runningVar[s] = (1 - momentum) * runningVar[s] + momentum * Float(unbiased)
    }
}

/// Backward of ``normBlockForward``, given its view and mode: `d` holds dL/d(block output) on
/// entry and dL/dx (x = z + bias, the Linear output) on exit; `v.dgamma[S]` and `v.dbeta[S]`
/// accumulate. x̂ is recomputed; the dropout mask and the activation's slope come from the
/// forward's `v.bits` (needed with `activation`).
///
/// `v.dbias` (F values) accumulates Σ_rows dL/dx: the gradient of the bias of the Linear layer
/// before the block, summed here while dL/dx is written (per chunk, added in chunk order).
///
/// `frozen`: the forward normalised with fixed (running) statistics, so dL/dx = gamma·invstd·g
/// without the batch-statistics terms.
///
/// `scratch.partial` holds the first pass's per-chunk sums already when `statisticsReady` (see
/// ``backwardStatistics(chunk:d:_:tasks:positions:features:mode:chunks:partial:)``); otherwise
/// the block computes them there.
func normBlockBackward(d: FPtr, _ v: NormBlockView, tasks: Int, positions S: Int, features F: Int, mode: NormBlockMode,
                       threads: Int, scratch: NormScratch, statisticsReady: Bool = false) {
    let chunks = normChunks(tasks)
    let drop = Dropout(mode.activation ? mode.dropout : 0)
    let act: Int32 = mode.activation && v.bits != nil ? 1 : 0, slope = RelationLearner.leakySlope
    let bs = v.bits.map(SharedPointer.init), words = MaskBuffer.wordsPerRow(F)
    let partial = scratch.partial.pointer
    let ds = SharedPointer(d), zs = SharedPointer(UnsafeMutablePointer(mutating: v.z)), bias = v.bias
    let mean = v.mean, invstd = v.invstd
    if !statisticsReady {
        partial.update(repeating: 0, count: chunks * S * 2)
        let part = SharedPointer(partial)
        parallelChunks(chunks, threads: threads) { c in
            backwardStatistics(chunk: c, d: ds.p, v, tasks: tasks, positions: S, features: F, mode: mode,
                               chunks: chunks, partial: part.p)
        }
    }
    // dL/dx = k·(count·g - Σg - x̂·Σg·x̂) with k = gamma·invstd/count; with frozen statistics
    // the sums drop out: k = gamma·invstd, count 1, sums 0.
    let frozen = mode.frozen
    let count: Float = frozen ? 1 : Float(tasks * F)
    let coefficients = scratch.coefficients.pointer
    for s in 0..<S {
        var sumDy = 0.0, sumDyX = 0.0
        for c in 0..<chunks { sumDy += partial[(c * S + s) * 2]; sumDyX += partial[(c * S + s) * 2 + 1] }
        v.dgamma[s] += Float(sumDyX)
        v.dbeta[s] += Float(sumDy)
        coefficients[3 * s] = v.gamma[s] * invstd[s] / count
        coefficients[3 * s + 1] = frozen ? 0 : Float(sumDy)
        coefficients[3 * s + 2] = frozen ? 0 : Float(sumDyX)
    }
    let columnSums = scratch.columnSums.pointer
    let cs = SharedPointer(columnSums), co = SharedPointer(coefficients)
    parallelChunks(chunks, threads: threads) { c in
        let sums = cs.p + c * F
        sums.update(repeating: 0, count: F)
        for b in splitRange(tasks, parts: chunks, index: c) {
            for s in 0..<S {
                let n = b * S + s
                mtl_k_norm_backward_row_apply(ds.p + n * F, zs.p + n * F, bias, bs.map { UnsafePointer($0.p + n * words) },
                                              sums, F, mean[s], invstd[s], act, slope, drop.threshold, drop.keep,
                                              co.p[3 * s], count, co.p[3 * s + 1], co.p[3 * s + 2])
            }
        }
    }
    for c in 0..<chunks { addScaled(v.dbias, 1, columnSums + c * F, F) }
}

/// The norm blocks' small buffers, allocated once with a workspace: per-chunk partial sums (also
/// handed from a fused product to its block), the backward's per-position coefficients and its
/// per-chunk column sums.
final class NormScratch: @unchecked Sendable {
    let partial: NumberBuffer<Double>
    let coefficients: FloatBuffer
    let columnSums: FloatBuffer

    /// For blocks over `positions` support positions and at most `features` features.
    init(positions: Int, features: Int) {
        let chunks = normChunks(Int.max)
        partial = NumberBuffer<Double>(count: chunks * positions * 2)
        coefficients = FloatBuffer(count: positions * 3)
        columnSums = FloatBuffer(count: chunks * features)
    }
}

/// The first pass of ``normBlockBackward`` for one chunk: adds the chunk's per-position Σg and
/// Σg·x̂ (g = dL/d(gamma·x̂ + beta), from d = dL/dy through dropout and the activation) to
/// partial[(chunk·S + s)·2 + 0/1] (which start at zero). d is not changed.
@inline(__always)
func backwardStatistics(chunk c: Int, d: CFPtr, _ v: NormBlockView, tasks: Int, positions S: Int, features F: Int,
                        mode: NormBlockMode, chunks: Int, partial: UnsafeMutablePointer<Double>) {
    let drop = Dropout(mode.activation ? mode.dropout : 0)
    let act: Int32 = mode.activation && v.bits != nil ? 1 : 0, words = MaskBuffer.wordsPerRow(F)
    let z = v.z, bias = v.bias, bits = v.bits.map { UnsafePointer($0) }
    for b in splitRange(tasks, parts: chunks, index: c) {
        for s in 0..<S {
            let n = b * S + s
            var sum: Float = 0, dot: Float = 0
            mtl_k_norm_backward_row_stats(d + n * F, z + n * F, bias, bits.map { $0 + n * words }, F, v.mean[s], v.invstd[s],
                                          act, RelationLearner.leakySlope, drop.threshold, drop.keep, &sum, &dot)
            partial[(c * S + s) * 2] += Double(sum)
            partial[(c * S + s) * 2 + 1] += Double(dot)
        }
    }
}

/// Dropout with probability p as the kernels apply it: a unit is dropped when its 16-bit draw
/// is below `threshold` = round(p·2¹⁶) (0: no dropout; p is kept to 1/65536, e.g. 0.1 is
/// 0.100006); kept units are scaled by `keep` = 1/(1-p).
struct Dropout {
    let threshold: UInt32
    let keep: Float
    init(_ p: Float) {
        threshold = p > 0 ? UInt32((min(Double(p), 1) * 65_536).rounded()) : 0
        keep = p > 0 && p < 1 ? 1 / (1 - p) : 1
    }
}

/// The dropout keys of one layer at one step: one draw of that position's own generator, then a
/// SplitMix64 hash per row, so that masks differ between rows, layers, steps and seeds.
struct DropoutKeys {
    let base: UInt64
    init(seed: UInt64, step: UInt64, layer: UInt64) {
        var rng = RandomGenerator(seed: seed, stream: RandomStream.dropout.rawValue, step, layer)
        base = rng.next()
    }
    @inline(__always)
    func row(_ n: Int) -> UInt64 { SplitMix64.hash(base &+ UInt64(n) &* 0x9E37_79B9_7F4A_7C15) }
}
