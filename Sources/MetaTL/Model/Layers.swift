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
func linearForward(out: FPtr, inp: CFPtr, weight: CFPtr, bias: CFPtr,
                   rows: Int, inDim: Int, outDim: Int) {
    for n in 0..<rows {
        (out + n * outDim).update(from: bias, count: outDim)
    }
    BLAS.gemmNT(rows, outDim, inDim, inp, weight, beta: 1, out)
}

/// dweight[outDim, inDim] += doutᵀ · inp;  dbias[outDim] += Σ_rows dout;
/// dinp[rows, inDim] = dout · weight  (overwritten; skipped when nil).
func linearBackward(dinp: FPtr?, dweight: FPtr, dbias: FPtr,
                    dout: CFPtr, inp: CFPtr, weight: CFPtr,
                    rows: Int, inDim: Int, outDim: Int) {
    BLAS.gemmTN(outDim, inDim, rows, dout, inp, beta: 1, dweight)
    for n in 0..<rows {
        let row = dout + n * outDim
        for j in 0..<outDim { dbias[j] += row[j] }
    }
    if let dinp { BLAS.gemmNN(rows, inDim, outDim, dout, weight, beta: 0, dinp) }
}

// MARK: BatchNorm1d over support positions

/// Training-mode BatchNorm1d(S) on rows x features. Normalises `x` in place into x̂ (kept for
/// the backward), writes y = gamma[s]·x̂ + beta[s] into `out`, saves 1/sqrt(var+eps) per
/// position into `invstd`, and updates the running statistics (momentum, unbiased variance).
func batchNormForwardTrain(out: FPtr, xhat x: FPtr, invstd: FPtr,
                           gamma: CFPtr, beta: CFPtr,
                           runningMean: FPtr, runningVar: FPtr,
                           rows: Int, positions S: Int, features F: Int,
                           momentum: Float, eps: Float) {
    let tasks = rows / S
    let count = Double(tasks * F)
    for s in 0..<S {
        // Two passes in double precision: the mean, then the centred sum of squares.
        var sum = 0.0
        for b in 0..<tasks {
            let row = x + (b * S + s) * F
            var part: Float = 0
            for j in 0..<F { part += row[j] }
            sum += Double(part)
        }
        let mean = sum / count
        var sq = 0.0
        let meanF = Float(mean)
        for b in 0..<tasks {
            let row = x + (b * S + s) * F
            var part: Float = 0
            for j in 0..<F { let c = row[j] - meanF; part += c * c }
            sq += Double(part)
        }
        let variance = sq / count
        let inv = Float(1.0 / (variance + Double(eps)).squareRoot())
        invstd[s] = inv
        let g = gamma[s], bt = beta[s]
        for b in 0..<tasks {
            let n = b * S + s
            let xr = x + n * F, yr = out + n * F
            for j in 0..<F {
                let h = (xr[j] - meanF) * inv
                xr[j] = h
                yr[j] = g * h + bt
            }
        }
        let unbiased = count > 1 ? variance * count / (count - 1) : variance
        runningMean[s] = (1 - momentum) * runningMean[s] + momentum * Float(mean)
        runningVar[s] = (1 - momentum) * runningVar[s] + momentum * Float(unbiased)
    }
}

/// Evaluation-mode BatchNorm1d(S): out = gamma[s]·(x - runningMean[s])/sqrt(runningVar[s]+eps) + beta[s].
func batchNormForwardEval(out: FPtr, inp: CFPtr, gamma: CFPtr, beta: CFPtr,
                          runningMean: CFPtr, runningVar: CFPtr,
                          rows: Int, positions S: Int, features F: Int, eps: Float) {
    for n in 0..<rows {
        let s = n % S
        let scale = gamma[s] / (runningVar[s] + eps).squareRoot()
        let shift = beta[s] - runningMean[s] * scale
        let xr = inp + n * F, yr = out + n * F
        for j in 0..<F { yr[j] = xr[j] * scale + shift }
    }
}

/// Backward of the training-mode BatchNorm1d(S), in place: `d` holds dL/dy on entry and
/// dL/dx on exit. dgamma[S] and dbeta[S] accumulate.
func batchNormBackward(d: FPtr, dgamma: FPtr, dbeta: FPtr,
                       xhat: CFPtr, gamma: CFPtr, invstd: CFPtr,
                       rows: Int, positions S: Int, features F: Int) {
    let tasks = rows / S
    let count = Float(tasks * F)
    for s in 0..<S {
        var sumDy = 0.0, sumDyX = 0.0
        for b in 0..<tasks {
            let n = b * S + s
            let dr = d + n * F, xr = xhat + n * F
            var p1: Float = 0, p2: Float = 0
            for j in 0..<F { p1 += dr[j]; p2 += dr[j] * xr[j] }
            sumDy += Double(p1); sumDyX += Double(p2)
        }
        dgamma[s] += Float(sumDyX)
        dbeta[s] += Float(sumDy)
        let k = gamma[s] * invstd[s] / count
        let mDy = Float(sumDy), mDyX = Float(sumDyX)
        for b in 0..<tasks {
            let n = b * S + s
            let dr = d + n * F, xr = xhat + n * F
            for j in 0..<F { dr[j] = k * (count * dr[j] - mDy - xr[j] * mDyX) }
        }
    }
}

// MARK: LeakyReLU

/// out = x > 0 ? x : slope·x  (may run in place)
func leakyReLUForward(out: FPtr, inp: CFPtr, count: Int, slope: Float) {
    for i in 0..<count { let v = inp[i]; out[i] = v > 0 ? v : slope * v }
}

/// d *= (y > 0 ? 1 : slope), in place; `out` is the forward's output (same sign as its input).
func leakyReLUBackward(d: FPtr, out: CFPtr, count: Int, slope: Float) {
    for i in 0..<count where !(out[i] > 0) { d[i] *= slope }
}

// MARK: Dropout

/// Draws a dropout mask (0 or 1/(1-p)) for rows x features and applies it: out = inp · mask.
/// Row n's draws come from its own generator (seed, step, n), so masks do not depend on threads.
func dropoutForward(out: FPtr, mask: FPtr, inp: CFPtr, rows: Int, features F: Int,
                    p: Float, seed: UInt64, step: UInt64, layer: UInt64) {
    let keep = 1 / (1 - p)
    for n in 0..<rows {
        var rng = RandomGenerator(seed: seed, stream: RandomStream.dropout.rawValue,
                                  step &* 8 &+ layer, UInt64(n))
        let mr = mask + n * F, xr = inp + n * F, yr = out + n * F
        for j in 0..<F {
            let m: Float = rng.uniformFloat() < p ? 0 : keep
            mr[j] = m
            yr[j] = xr[j] * m
        }
    }
}

/// d *= mask, in place.
func dropoutBackward(d: FPtr, mask: CFPtr, count: Int) {
    for i in 0..<count { d[i] *= mask[i] }
}
