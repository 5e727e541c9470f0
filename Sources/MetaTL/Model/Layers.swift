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

/// Training-mode BatchNorm1d(S) over `tasks`·S rows of F features, optionally followed by
/// LeakyReLU and Dropout, in two passes:
/// 1. x += bias (the preceding Linear's, so that its product runs with beta = 0), and
///    per-position sums of x and x² (statistics over the batch AND the features);
/// 2. per row: x̂ = (x - mean)·invstd written over `x` (kept for the backward),
///    y = gamma[s]·x̂ + beta[s], then LeakyReLU, then y·mask with mask ∈ {0, 1/(1-p)}.
/// Running statistics take the momentum step (unbiased variance). Rows are processed in a
/// fixed number of chunks whose partial sums are added in chunk order, so results do not
/// depend on the number of threads. The dropout mask of row n comes from its own generator
/// (seed, step, layer, n); each draw uses 16 random bits, so p is applied to within 2⁻¹⁶.
func normBlockForward(out: FPtr, xhat x: FPtr, bias: CFPtr, mask: FPtr?, invstd: FPtr,
                      gamma: CFPtr, beta: CFPtr, runningMean: FPtr, runningVar: FPtr,
                      tasks: Int, positions S: Int, features F: Int, activation: Bool,
                      dropout p: Float, seed: UInt64, step: UInt64, layer: UInt64, threads: Int) {
    let chunks = min(16, max(tasks, 1))
    var partial = [Double](repeating: 0, count: chunks * S * 2)
    partial.withUnsafeMutableBufferPointer { buf in
        guard let base = buf.baseAddress else { return }
        let part = SharedPointer(base), xs = SharedPointer(x)
        parallelChunks(chunks, threads: threads) { c in
            for b in splitRange(tasks, parts: chunks, index: c) {
                for s in 0..<S {
                    let (sum, sq) = addBiasAndSum(xs.p + (b * S + s) * F, bias, F)
                    part.p[(c * S + s) * 2] += Double(sum)
                    part.p[(c * S + s) * 2 + 1] += Double(sq)
                }
            }
        }
    }
    let count = Double(tasks * F)
    var mean = [Float](repeating: 0, count: S)
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
    let slope = RelationLearner.leakySlope
    let threshold = UInt64((Double(p) * 65536).rounded())
    let keep = 1 / (1 - p)
    let xs = SharedPointer(x), ys = SharedPointer(out), ms = mask.map(SharedPointer.init)
    let inv = SharedPointer(invstd)
    mean.withUnsafeBufferPointer { meanBuf in
        guard let meanBase = meanBuf.baseAddress else { return }
        let mp = SharedPointer(UnsafeMutablePointer(mutating: meanBase))
        parallelChunks(chunks, threads: threads) { c in
            for b in splitRange(tasks, parts: chunks, index: c) {
                for s in 0..<S {
                    let n = b * S + s
                    let xr = xs.p + n * F, yr = ys.p + n * F
                    let m = mp.p[s], iv = inv.p[s], g = gamma[s], bt = beta[s]
                    // One vector pass; with dropout, each 16 units draw four 64-bit words from the
                    // row's own generator, read as sixteen 16-bit uniforms.
                    let mr: FPtr? = p > 0 ? ms.map { $0.p + n * F } : nil
                    var rng = RandomGenerator(seed: seed, stream: RandomStream.dropout.rawValue, step &* 8 &+ layer, UInt64(n))
                    let keep16 = SIMD16<Float>(repeating: keep), cut16 = SIMD16<Float>(repeating: Float(threshold))
                    var j = 0
                    while j + 16 <= F {
                        let h = (load16(xr + j) - m) * iv
                        store16(h, xr + j)
                        var y = g * h + bt
                        if activation { y.replace(with: y * slope, where: y .<= 0) }
                        if let mr {
                            let words = SIMD4<UInt64>(rng.next(), rng.next(), rng.next(), rng.next())
                            let uniform = SIMD16<Float>(unsafeBitCast(words, to: SIMD16<UInt16>.self))
                            let mask = keep16.replacing(with: 0, where: uniform .< cut16)
                            store16(mask, mr + j)
                            y *= mask
                        }
                        store16(y, yr + j)
                        j += 16
                    }
                    while j < F {
                        let h = (xr[j] - m) * iv
                        xr[j] = h
                        var y = g * h + bt
                        if activation && !(y > 0) { y *= slope }
                        if let mr {
                            mr[j] = rng.next() & 0xFFFF < threshold ? 0 : keep
                            y *= mr[j]
                        }
                        yr[j] = y
                        j += 1
                    }
                }
            }
        }
    }
}

/// Backward of ``normBlockForward``, in place: `d` holds dL/d(block output) on entry and
/// dL/dx (the Linear output) on exit; dgamma[S] and dbeta[S] accumulate. The activation's slope
/// is recovered from y = gamma·x̂ + beta, so the forward's activations need not be kept.
///
/// `dbias` (F values) accumulates Σ_rows dL/dx: the gradient of the bias of the Linear layer
/// before the block, summed here while dL/dx is written (per chunk, added in chunk order).
func normBlockBackward(d: FPtr, dgamma: FPtr, dbeta: FPtr, dbias: FPtr, xhat: CFPtr, mask: CFPtr?,
                       gamma: CFPtr, beta: CFPtr, invstd: CFPtr,
                       tasks: Int, positions S: Int, features F: Int, activation: Bool, threads: Int) {
    let chunks = min(16, max(tasks, 1))
    let slope = RelationLearner.leakySlope
    var partial = [Double](repeating: 0, count: chunks * S * 2)
    let ds = SharedPointer(d), xs = SharedPointer(UnsafeMutablePointer(mutating: xhat))
    let ms = mask.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
    partial.withUnsafeMutableBufferPointer { buf in
        guard let base = buf.baseAddress else { return }
        let part = SharedPointer(base)
        parallelChunks(chunks, threads: threads) { c in
            for b in splitRange(tasks, parts: chunks, index: c) {
                for s in 0..<S {
                    let n = b * S + s
                    let dr = ds.p + n * F, xr = xs.p + n * F
                    let g = gamma[s], bt = beta[s]
                    var sum16 = SIMD16<Float>(), dot16 = SIMD16<Float>()
                    var sum: Float = 0, dot: Float = 0
                    var j = 0
                    while j + 16 <= F {
                        var v = load16(dr + j)
                        let h = load16(xr + j)
                        if activation {
                            if let ms { v *= load16(ms.p + n * F + j) }
                            let y = g * h + bt
                            v.replace(with: v * slope, where: y .<= 0)
                            store16(v, dr + j)
                        }
                        sum16 += v
                        dot16 += v * h
                        j += 16
                    }
                    while j < F {
                        var v = dr[j]
                        if activation {
                            if let ms { v *= ms.p[n * F + j] }
                            if !(g * xr[j] + bt > 0) { v *= slope }
                            dr[j] = v
                        }
                        sum += v
                        dot += v * xr[j]
                        j += 1
                    }
                    part.p[(c * S + s) * 2] += Double(sum16.sum() + sum)
                    part.p[(c * S + s) * 2 + 1] += Double(dot16.sum() + dot)
                }
            }
        }
    }
    let count = Float(tasks * F)
    var coefficients = [Float](repeating: 0, count: S * 3)
    for s in 0..<S {
        var sumDy = 0.0, sumDyX = 0.0
        for c in 0..<chunks { sumDy += partial[(c * S + s) * 2]; sumDyX += partial[(c * S + s) * 2 + 1] }
        dgamma[s] += Float(sumDyX)
        dbeta[s] += Float(sumDy)
        coefficients[3 * s] = gamma[s] * invstd[s] / count
        coefficients[3 * s + 1] = Float(sumDy)
        coefficients[3 * s + 2] = Float(sumDyX)
    }
    let columnSums = FloatBuffer(count: chunks * F)
    let cs = SharedPointer(columnSums.pointer)
    coefficients.withUnsafeBufferPointer { cb in
        guard let cbase = cb.baseAddress else { return }
        let co = SharedPointer(UnsafeMutablePointer(mutating: cbase))
        parallelChunks(chunks, threads: threads) { c in
            let sums = cs.p + c * F
            for b in splitRange(tasks, parts: chunks, index: c) {
                for s in 0..<S {
                    let n = b * S + s
                    let dr = ds.p + n * F, xr = xs.p + n * F
                    let k = co.p[3 * s], mDy = co.p[3 * s + 1], mDyX = co.p[3 * s + 2]
                    var j = 0
                    while j + 16 <= F {
                        let v = k * (count * load16(dr + j) - mDy - load16(xr + j) * mDyX)
                        store16(v, dr + j)
                        store16(load16(sums + j) + v, sums + j)
                        j += 16
                    }
                    while j < F {
                        let v = k * (count * dr[j] - mDy - xr[j] * mDyX)
                        dr[j] = v
                        sums[j] += v
                        j += 1
                    }
                }
            }
        }
    }
    for c in 0..<chunks { addScaled(dbias, 1, columnSums.pointer + c * F, F) }
}

// MARK: Evaluation mode

/// Evaluation-mode BatchNorm1d(S), optionally followed by LeakyReLU:
/// out = gamma[s]·(x - runningMean[s])/sqrt(runningVar[s]+eps) + beta[s].
func batchNormForwardEval(out: FPtr, inp: CFPtr, gamma: CFPtr, beta: CFPtr,
                          runningMean: CFPtr, runningVar: CFPtr,
                          rows: Int, positions S: Int, features F: Int, eps: Float, activation: Bool) {
    let slope = RelationLearner.leakySlope
    for n in 0..<rows {
        let s = n % S
        let inv = 1 / (runningVar[s] + eps).squareRoot()
        let m = runningMean[s], g = gamma[s], bt = beta[s]
        let xr = inp + n * F, yr = out + n * F
        for j in 0..<F {
            let y = g * ((xr[j] - m) * inv) + bt
            yr[j] = activation && !(y > 0) ? y * slope : y
        }
    }
}
