import Foundation
import MetaTLKernels

/// The softmax query loss (``QueryLoss/softmax``), forward and backward side by side.
///
/// For query b with a_b = E[h_b] + r'_b (B x d) and candidates c_1..c_N (the step's shared
/// negatives, or every item for an exact softmax; rows of T, N x d):
///
///     z_b0 = -α‖a_b - T[t_b]‖² + b[t_b] - log(N q[t_b])   (the target)
///     z_bk = -α‖a_b - c_k‖² + b[c_k] - log(N q[c_k])      (-∞ when c_k is the target: an accidental hit)
///     L_q  = (1/|V|) Σ_{b ∈ V} (logsumexp_k z_bk - z_b0)
///
/// q is the negatives' proposal: the log-Q correction applies only to popularity draws (for uniform
/// ones it is the same for every item and cancels, so it is left out). V holds the queries with a
/// real head and target (not padding). The negatives' distances come
/// from one product, ‖a - c‖² = ‖a‖² - 2 a·c + ‖c‖². With δ = softmax(z_b) - e_0, scaled by
/// 1/|V| (Δ), and Σ_k δ_bk = 0:
///
///     ∂L/∂a_b     = 2α (Δ_b0 T[t_b] + Σ_k Δ_bk c_k)          (one product: Δ · C)
///     ∂L/∂c_k     = 2α (Σ_b Δ_bk a_b - (Σ_b Δ_bk) c_k)        (one product: Δᵀ · A)
///     ∂L/∂T[t_b] += 2α Δ_b0 (a_b - T[t_b])
///     ∂L/∂b[i]   += Σ of Δ over i's columns
///     ∂L/∂log α   = Σ_bk Δ_bk (z_bk - b_k)
///
/// ∂L/∂a_b is the gradient at r'_b (and so at r_b, first order) and at E[h_b].
final class SoftmaxWorkspace: @unchecked Sendable {
    /// Candidates per query (without the target).
    let candidates: Int
    /// a_b = E[h_b] + r'_b (B x d).
    let query: FloatBuffer
    /// The shared negatives' rows of T, gathered (N x d; unused for an exact softmax, which reads T).
    let gathered: FloatBuffer
    /// a·c products, then Δ (B x N).
    let logits: FloatBuffer
    /// ‖c_k‖² and Σ_b Δ_bk per candidate.
    let candidateNorms: FloatBuffer, columnSums: FloatBuffer
    /// Per candidate: its item row, its logit offset o_k = b[c_k] - log(N q[c_k]), and the part of
    /// every logit that depends on it alone, -α‖c_k‖² + o_k.
    let candidateRows: IndexBuffer, candidateOffsets: FloatBuffer, candidateConstants: FloatBuffer
    /// Δ_b0 per query, and 2α Δ_b0 (a_b - T[t_b]) (B x d).
    let targetDelta: FloatBuffer, targetTerm: FloatBuffer
    /// ∂L/∂c_k (N x d).
    let candidateGradient: FloatBuffer
    /// Each chunk's loss and log α gradient sums (at most 16 chunks).
    let chunkSums: FloatBuffer
    /// log(N·q_i) per item row when the shared negatives are drawn with probabilities q
    /// (popularity), subtracted from every logit (the log-Q correction); nil for uniform draws.
    var logProposal: [Float]?

    init(tasks B: Int, candidates N: Int, dim d: Int, gather: Bool) {
        candidates = N
        query = FloatBuffer(count: B * d)
        gathered = FloatBuffer(count: gather ? N * d : 0)
        logits = FloatBuffer(count: B * N)
        candidateNorms = FloatBuffer(count: N); columnSums = FloatBuffer(count: N)
        candidateRows = IndexBuffer(count: N); candidateOffsets = FloatBuffer(count: N); candidateConstants = FloatBuffer(count: N)
        targetDelta = FloatBuffer(count: B); targetTerm = FloatBuffer(count: B * d)
        candidateGradient = FloatBuffer(count: N * d)
        chunkSums = FloatBuffer(count: 2 * 16)
    }
}

extension MetaTLModel {
    /// Row of candidate k (an item row; afterwards read from the workspace's `candidateRows`).
    @inline(__always)
    func candidateRow(_ k: Int, batch: TaskBatch) -> Int32 {
        configuration.sharedNegatives == 0 ? Int32(truncatingIfNeeded: k + 1) : batch.sharedNegatives[k]
    }

    /// The softmax query loss's forward and backward for the adapted relations `ws.adapted`:
    /// returns L_q, leaves ∂L/∂a_b in `ws.queryGradient` (added by the caller to the relations'
    /// upstream gradient and to E[h_b]), the candidates' and targets' T gradients in the
    /// softmax workspace (as embedding terms), and adds the item bias's and log α's gradients
    /// into the arena. Each query's target and last softmax go in `ws.queryPosScore` and
    /// `ws.queryNegScore` (log-sum-exp) for the divergence check.
    func softmaxQueryLoss(_ batch: TaskBatch, workspace ws: MetaStepWorkspace) -> Float {
        guard let sm = ws.softmax else { return 0 }
        let c = configuration
        let B = batch.tasks, d = c.dim, N = sm.candidates, threads = c.threads
        let heads = headTable, tails = tailTable
        let rule = scoreRule
        let alpha = rule.alpha, twoAlpha = 2 * rule.alpha
        let bias = rule.bias
        let logQ = sm.logProposal

        // Candidates: T's rows 1..<rows in place, or the shared negatives gathered.
        let gather = c.sharedNegativeDraws > 0
        let candidates: CFPtr = gather ? UnsafePointer(sm.gathered.pointer) : UnsafePointer(tails + d)
        // Each logit's offset: the bias, less the log-Q correction.
        @inline(__always) func offset(_ item: Int) -> Float {
            (bias.map { $0[item] } ?? 0) - (logQ.map { $0[item] } ?? 0)
        }
        // Per candidate (rows split over the workers; each value computed as one worker would).
        let gathered = SharedPointer(sm.gathered.pointer), norms = SharedPointer(sm.candidateNorms.pointer)
        let candidateRows = SharedPointer(sm.candidateRows.pointer), candidateOffsets = SharedPointer(sm.candidateOffsets.pointer)
        let candidateConstants = SharedPointer(sm.candidateConstants.pointer)
        let rowParts = max(1, min(threads, N / 256))
        parallelChunks(rowParts, threads: threads) { part in
            for k in splitRange(N, parts: rowParts, index: part) {
                let item = candidateRow(k, batch: batch)
                if gather { (gathered.p + k * d).update(from: tails + Int(item) * d, count: d) }
                let row = candidates + k * d
                var s: Float = 0
                for j in 0..<d { s += row[j] * row[j] }
                norms.p[k] = s
                candidateRows.p[k] = item
                candidateOffsets.p[k] = offset(Int(item))
                candidateConstants.p[k] = -alpha * s + candidateOffsets.p[k]
            }
        }
        // a_b = E[h_b] + r'_b, and the queries that count.
        var valid = 0
        for b in 0..<B where batch.queryHead[b] != 0 && batch.queryTail[b] != 0 { valid += 1 }
        let query = SharedPointer(sm.query.pointer), adapted = SharedPointer(ws.adapted.pointer)
        let queryParts = max(1, min(threads, B / 64))
        parallelChunks(queryParts, threads: threads) { part in
            for b in splitRange(B, parts: queryParts, index: part) {
                let a = query.p + b * d, h = heads + Int(batch.queryHead[b]) * d, r = adapted.p + b * d
                for j in 0..<d { a[j] = h[j] + r[j] }
            }
        }
        let weight: Float = valid > 0 ? 1 / Float(valid) : 0
        BLAS.gemmNT(B, N, d, UnsafePointer(sm.query.pointer), candidates, beta: 0, sm.logits.pointer, threads: threads)

        // Per query: logits, log-sum-exp, Δ in place of the products.
        let chunks = min(16, B)
        let z = SharedPointer(sm.logits.pointer)
        let delta0 = SharedPointer(sm.targetDelta.pointer)
        let sums = SharedPointer(sm.chunkSums.pointer)
        let posScore = SharedPointer(ws.queryPosScore.pointer), lseOut = SharedPointer(ws.queryNegScore.pointer)
        parallelChunks(chunks, threads: threads) { chunk in
            var lossSum: Float = 0, scaleGradient: Float = 0
            for b in splitRange(B, parts: chunks, index: chunk) {
                let row = z.p + b * N
                let target = batch.queryTail[b]
                guard batch.queryHead[b] != 0 && target != 0 else {
                    row.update(repeating: 0, count: N)
                    delta0.p[b] = 0; posScore.p[b] = 0; lseOut.p[b] = 0
                    continue
                }
                let a = query.p + b * d
                var qq: Float = 0
                for j in 0..<d { qq += a[j] * a[j] }
                let targetDistance = mtl_k_transe_squared_distance(heads + Int(batch.queryHead[b]) * d,
                                                                   ws.adapted.pointer + b * d, tails + Int(target) * d, d)
                let z0 = -alpha * targetDistance + offset(Int(target))
                // z_k = -α(‖a‖² - 2 a·c_k + ‖c_k‖²) + o_k, from the product; an accidental hit is -∞.
                let shift = -alpha * qq
                var top = z0
                for k in 0..<N {
                    let v = candidateRows.p[k] == target ? -Float.infinity : twoAlpha * row[k] + candidateConstants.p[k] + shift
                    row[k] = v
                    top = max(top, v)
                }
                // One exponential per logit: e_k = exp(z_k - top), then p_k = e_k / Σ e; and
                // Σ e_k·(z_k - o_k) = Σ e_k·(-α‖a - c_k‖²), for log α.
                let e0 = Foundation.exp(z0 - top)
                var weightedRaw: Float = 0
                let total = e0 + mtl_k_softmax_exp(row, N, top, candidateOffsets.p, &weightedRaw)
                let lse = top + Foundation.log(total)
                lossSum += lse - z0
                posScore.p[b] = z0; lseOut.p[b] = lse
                // Δ = (softmax - e_0) / |V|, and Σ Δ (z - o) for log α.
                let scale = weight / total
                let p0 = e0 / total
                delta0.p[b] = weight * (p0 - 1)
                scaleGradient += weight * (p0 - 1) * (-alpha * targetDistance) + scale * weightedRaw
                for k in 0..<N { row[k] *= scale }
            }
            sums.p[2 * chunk] = lossSum
            sums.p[2 * chunk + 1] = scaleGradient
        }
        var loss: Float = 0, scaleGradient: Float = 0
        for chunk in 0..<chunks { loss += sm.chunkSums[2 * chunk]; scaleGradient += sm.chunkSums[2 * chunk + 1] }
        phaseTimer?.mark("softmax")

        // Σ_b Δ_bk, by columns in parallel (each column summed in row order).
        let columns = SharedPointer(sm.columnSums.pointer)
        let columnParts = max(1, min(threads, N / 256))
        parallelChunks(columnParts, threads: threads) { part in
            let mine = splitRange(N, parts: columnParts, index: part)
            guard !mine.isEmpty else { return }
            (columns.p + mine.lowerBound).update(repeating: 0, count: mine.count)
            for b in 0..<B {
                let row = z.p + b * N
                for k in mine { columns.p[k] += row[k] }
            }
        }
        // ∂L/∂a = 2α (Δ · C + Δ_0 T[t]) and ∂L/∂C = 2α (Δᵀ · A - diag(Σ Δ) C).
        let dA = ws.queryGradient.pointer
        BLAS.gemmNN(B, d, N, alpha: twoAlpha, UnsafePointer(sm.logits.pointer), candidates, beta: 0, dA, threads: threads)
        BLAS.gemmTN(N, d, B, alpha: twoAlpha, UnsafePointer(sm.logits.pointer), UnsafePointer(sm.query.pointer),
                    beta: 0, sm.candidateGradient.pointer, threads: threads)
        let candidateGradient = SharedPointer(sm.candidateGradient.pointer)
        parallelChunks(rowParts, threads: threads) { part in
            for k in splitRange(N, parts: rowParts, index: part) {
                let g = candidateGradient.p + k * d, row = candidates + k * d, s = twoAlpha * columns.p[k]
                for j in 0..<d { g[j] -= s * row[j] }
            }
        }
        let dAp = SharedPointer(dA), targetTerm = SharedPointer(sm.targetTerm.pointer)
        parallelChunks(queryParts, threads: threads) { part in
            for b in splitRange(B, parts: queryParts, index: part) {
                let t = tails + Int(batch.queryTail[b]) * d, a = query.p + b * d
                let g = dAp.p + b * d, term = targetTerm.p + b * d, s = twoAlpha * delta0.p[b]
                for j in 0..<d {
                    g[j] += s * t[j]
                    term[j] = s * (a[j] - t[j])
                }
            }
        }
        // The bias (candidates' columns, then the targets) and log α, straight into the arena.
        if let slot = arena.itemBias {
            let g = arena.grad(slot)
            for k in 0..<N { g[Int(sm.candidateRows[k])] += sm.columnSums[k] }
            for b in 0..<B { g[Int(batch.queryTail[b])] += sm.targetDelta[b] }
        }
        if let slot = arena.logScale { arena.grad(slot)[0] += scaleGradient }
        phaseTimer?.mark("softmax backward")
        return loss * weight
    }
}
