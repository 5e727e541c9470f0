import MetaTLKernels

/// What one meta step produced, for the progress display and for parity checks.
struct StepResult: Sendable {
    /// L_s: margin loss over every support pair of the batch (mean over B·(K-1)).
    var supportLoss: Float
    /// L_q: margin loss over the query pairs under the adapted relations (mean over B); the
    /// reference reports this as the training loss.
    var queryLoss: Float
}

/// Buffers of one meta step for batches of up to `capacity` tasks, allocated once.
final class MetaStepWorkspace: @unchecked Sendable {
    let capacity: Int
    let learner: RelationLearnerWorkspace
    let relation: FloatBuffer, adapted: FloatBuffer
    /// β·g_s as applied in r' = r - β·g_s.
    let innerStep: FloatBuffer
    /// The step's embedding gradient as per-row terms (training).
    let embeddingGradient: EmbeddingGradient
    let supportGradient: FloatBuffer, queryGradient: FloatBuffer
    let supportPosDirection: FloatBuffer, supportNegDirection: FloatBuffer
    let queryPosDirection: FloatBuffer, queryNegDirection: FloatBuffer
    let supportPosScore: FloatBuffer, supportNegScore: FloatBuffer
    let queryPosScore: FloatBuffer, queryNegScore: FloatBuffer
    /// 1 where a pair's margin term was active (it has a gradient).
    let supportActive: IndexBuffer, queryActive: IndexBuffer
    /// Each scoring chunk's support and query loss sums (at most 16 chunks).
    let chunkLosses: FloatBuffer
    /// The BatchNorm running statistics before the step, put back when the step is refused.
    let runningBefore: FloatBuffer
    /// The softmax query loss's buffers (``QueryLoss/softmax`` only).
    let softmax: SoftmaxWorkspace?
    /// Copies of the query rows E[h_b] and T[t_b] (B x d each), the table decay's gradient terms.
    let decayHeads: FloatBuffer, decayTails: FloatBuffer

    init(capacity B: Int, configuration c: Configuration, rows: Int) {
        capacity = B
        let S = c.supportCount, d = c.dim
        learner = RelationLearnerWorkspace(capacity: B * S, configuration: c, training: true)
        relation = FloatBuffer(count: B * d); adapted = FloatBuffer(count: B * d); innerStep = FloatBuffer(count: B * d)
        supportGradient = FloatBuffer(count: B * d); queryGradient = FloatBuffer(count: B * d)
        supportPosDirection = FloatBuffer(count: B * S * d); supportNegDirection = FloatBuffer(count: B * S * d)
        queryPosDirection = FloatBuffer(count: B * d); queryNegDirection = FloatBuffer(count: B * d)
        supportPosScore = FloatBuffer(count: B * S); supportNegScore = FloatBuffer(count: B * S)
        queryPosScore = FloatBuffer(count: B); queryNegScore = FloatBuffer(count: B)
        supportActive = IndexBuffer(count: B * S); queryActive = IndexBuffer(count: B)
        chunkLosses = FloatBuffer(count: 2 * 16)
        runningBefore = FloatBuffer(count: 6 * S)
        decayHeads = FloatBuffer(count: c.tableDecay > 0 ? B * d : 0)
        decayTails = FloatBuffer(count: c.tableDecay > 0 ? B * d : 0)
        let candidates = c.softmaxCandidates(items: rows - 1)
        softmax = c.loss == .softmax ? SoftmaxWorkspace(tasks: B, candidates: candidates, dim: d, gather: c.sharedNegativeDraws > 0) : nil
        // Terms: the support pairs' four rows and the learner's two per support row; per query
        // four (margin) or two (softmax: E[h] and T[t]), and one per softmax candidate.
        embeddingGradient = EmbeddingGradient(capacity: 6 * B * S + 6 * B + candidates, rows: c.tailEmbeddings ? 2 * rows : rows)
    }
}

extension MetaTLModel {
    /// One meta-training step on `batch` (train mode), as the reference does it, each phase a
    /// function: ``prepareGradients(for:)`` (zero gradients, mark and bring up to date the rows the
    /// batch reads), then ``metaGradients(_:workspace:frozenInnerStep:embeddingTerms:)`` (1-5),
    /// the check, and ``adamStep(lazy:embeddingGradient:)`` (6):
    ///
    /// 1. r = relation learner(support pairs), batch statistics, dropout;
    /// 2. L_s over the support pairs and their negatives; g_s = ∂L_s/∂r (a constant);
    /// 3. r' = r - β·g_s (g_s scaled per task instead of per batch with `.perTask`);
    /// 4. L_q on the query pair and its negative under r';
    /// 5. gradients of L_s + L_q in ONE backward: the upstream gradient at r is g_s + g_q
    ///    (r' depends on r with Jacobian I since g_s is a constant, first order);
    /// 6. one Adam step over every parameter.
    ///
    /// Between 5 and 6 the step is checked (``DivergenceGuard``): if a score, a loss, a running
    /// statistic or a gradient is not finite or is beyond ``ValueLimits``, nothing is applied,
    /// the running statistics are put back, and `.diverged` is thrown: the model is as it was.
    ///
    /// `batch` rows must be valid rows of this model (checked by the caller).
    ///
    /// With `lazy`, embedding rows the batch did not touch keep their Adam update pending (see
    /// ``Adam``); the caller must call ``catchUpAllRows()`` before anything else reads them.
    func metaStep(_ batch: TaskBatch, workspace ws: MetaStepWorkspace, lazy: Bool = false) throws(MetaTLError) -> StepResult {
        let statistics = running.storage
        ws.runningBefore.pointer.update(from: statistics.pointer, count: statistics.count)
        prepareGradients(for: batch)
        let result = metaGradients(batch, workspace: ws, embeddingTerms: true)
        if let why = stepProblem(result, workspace: ws, tasks: batch.tasks, terms: ws.embeddingGradient.count) {
            statistics.pointer.update(from: ws.runningBefore.pointer, count: statistics.count)
            throw MetaTLError(.diverged, "training diverged at step \(step + 1): \(why); the step was not applied, and the model is as it was after step \(step)")
        }
        phaseTimer?.mark("divergence check")
        adamStep(lazy: lazy, embeddingGradient: ws.embeddingGradient)
        return result
    }

    /// Step 6 of ``metaStep(_:workspace:lazy:)``: one Adam step with the arena's gradients (the
    /// embedding rows' from `embeddingGradient` when given), which it then clears (see
    /// ``OptimizerState/step(_:t:threads:lazy:embeddingGradient:)``).
    func adamStep(lazy: Bool, embeddingGradient: EmbeddingGradient? = nil) {
        step += 1
        optimizer.step(arena, t: step, threads: configuration.threads, lazy: lazy, embeddingGradient: embeddingGradient)
        phaseTimer?.mark("adam")
    }

    /// Brings every embedding row's pending Adam updates up to the current step.
    func catchUpAllRows() {
        optimizer.catchUp(arena, onlyTouched: false, through: step, threads: configuration.threads)
    }

    /// The phase before a step's gradients (llm.c's zero_grad, plus lazy Adam's read barrier):
    /// zeroes the gradients, marks the table rows that `batch`'s gradient can reach, and brings
    /// those rows' pending Adam updates up to the current step, since the forward reads them.
    /// ``metaGradients(_:workspace:frozenInnerStep:embeddingTerms:)`` expects it done.
    func prepareGradients(for batch: TaskBatch) {
        optimizer.zeroGradients(arena)
        markRows(of: batch)
        phaseTimer?.mark("zero gradients")
        optimizer.catchUp(arena, onlyTouched: true, through: step, threads: configuration.threads)
        phaseTimer?.mark("catch up rows")
    }

    /// Marks every table row `batch` reads: its heads in E, its tails in T (every tail row for a
    /// softmax over the whole catalogue, else the shared negatives' rows).
    private func markRows(of batch: TaskBatch) {
        let tailOffset = tailRowOffset
        for rows in [batch.supportHead, batch.supportNegativeHead, batch.queryHead, batch.queryNegativeHead] {
            optimizer.markTouched(rows.pointer, count: rows.count)
        }
        for rows in [batch.supportTail, batch.supportNegativeTail, batch.queryTail, batch.queryNegativeTail] {
            optimizer.markTouched(rows.pointer, count: rows.count, offset: tailOffset)
        }
        if configuration.loss == .softmax {
            if configuration.sharedNegatives == 0 {
                optimizer.markTouched(rows: tailOffset + 1..<tailOffset + rows)
            } else {
                optimizer.markTouched(batch.sharedNegatives.pointer, count: batch.sharedNegatives.count, offset: tailOffset)
            }
        }
    }

    /// Steps 1-5 of ``metaStep(_:workspace:lazy:)``, each a function below: the losses, and the
    /// gradient of L_s + L_q in the arena's gradient block. Parameters are not changed
    /// (BatchNorm running statistics are). The caller runs ``prepareGradients(for:)`` first.
    ///
    /// `frozenInnerStep` (tasks x d), when given, replaces β·g_s in r' = r - β·g_s: gradient
    /// checks hold it fixed, as the first-order method treats it.
    ///
    /// With `embeddingTerms`, the embedding gradient is left as per-row terms in
    /// `ws.embeddingGradient` for ``adamStep(lazy:embeddingGradient:)`` instead of being added
    /// into the arena (training does this; the sums are the same).
    func metaGradients(_ batch: TaskBatch, workspace ws: MetaStepWorkspace,
                       frozenInnerStep: UnsafePointer<Float>? = nil, embeddingTerms: Bool = false) -> StepResult {
        let c = configuration
        let learner = RelationLearner(model: self)
        // The reference's accidental regime: evaluation-mode BatchNorm and no dropout from then on.
        let frozen = c.evalModeAfter.map { step >= $0 } ?? false
        relationForward(batch, workspace: ws, learner: learner, frozen: frozen)
        var losses = taskLosses(batch, workspace: ws, frozenInnerStep: frozenInnerStep)
        if c.loss == .softmax {
            phaseTimer?.mark("support scores")
            losses.queryLoss = (c.queryMargin ? losses.queryLoss : 0) + softmaxQueryLoss(batch, workspace: ws)
            for i in 0..<batch.tasks * c.dim { ws.supportGradient[i] += ws.queryGradient[i] }
        }
        addQueryPenalties(batch, workspace: ws, to: &losses.queryLoss)
        // 5. One fused backward through the learner with upstream g_s + g_q (summed per task above).
        phaseTimer?.mark("scores and losses")
        learner.backward(ws.learner, tasks: batch.tasks, dRelation: ws.supportGradient.pointer, frozen: frozen, timer: phaseTimer)
        let supportScale = 1 / Float(batch.tasks * c.supportCount), queryScale = 1 / Float(batch.tasks)
        if embeddingTerms {
            listEmbeddingGradient(batch, workspace: ws, supportScale: supportScale, queryScale: queryScale)
        } else {
            scatterEmbeddingGradient(batch, workspace: ws, supportScale: supportScale, queryScale: queryScale)
        }
        phaseTimer?.mark("scatter")
        return losses
    }

    /// Step 1: r = the relation learner on the support pairs (training mode; `frozen`: with
    /// evaluation-mode BatchNorm), into `ws.relation` (tasks x d).
    private func relationForward(_ batch: TaskBatch, workspace ws: MetaStepWorkspace, learner: RelationLearner, frozen: Bool) {
        let c = configuration
        let rows = batch.tasks * c.supportCount
        learner.gatherInput(ws.learner, heads: batch.supportHead.pointer, tails: batch.supportTail.pointer, rows: rows)
        phaseTimer?.mark("gather")
        learner.forwardTrain(ws.learner, rows: rows, seed: c.seed, step: UInt64(step), frozen: frozen, timer: phaseTimer)
        learner.relation(ws.learner, tasks: batch.tasks, into: ws.relation.pointer)
    }

    /// Steps 2-4, per task and in parallel (tasks are independent until the embedding gradient):
    /// support scores and g_s, the inner step r' = r - β·g_s, query scores and g_q (the margin
    /// query loss; the softmax one is the caller's). Leaves g_s + g_q, the upstream gradient at r,
    /// in `ws.supportGradient`. Each pair keeps its unit direction and whether its margin term
    /// was active; the embedding gradient is scattered afterwards in pair order, so the result
    /// never depends on threads. Returns the mean support loss and the mean margin query loss.
    private func taskLosses(_ batch: TaskBatch, workspace ws: MetaStepWorkspace,
                            frozenInnerStep: UnsafePointer<Float>?) -> StepResult {
        let c = configuration
        let B = batch.tasks, S = c.supportCount, d = c.dim
        let table = headTable, tails = UnsafePointer(tailTable)
        let softmax = c.loss == .softmax
        let supportScale = 1 / Float(B * S), queryScale = 1 / Float(B)
        let innerScale: Float = c.innerStep == .perTask ? c.beta * Float(B) : c.beta
        let margin = c.margin
        let chunks = min(16, B)
        let w = SharedWorkspacePointers(ws)
        let losses = ws.chunkLosses
        let lp = SharedPointer(losses.pointer)
        let fixedInner = frozenInnerStep.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        parallelChunks(chunks, threads: c.threads) { chunk in
            var supportLoss: Float = 0, queryLoss: Float = 0
            let mine = splitRange(B, parts: chunks, index: chunk)
            for b in mine {
                // The embedding rows two tasks ahead, so that their loads overlap this task's work.
                if b + 2 < mine.upperBound { prefetchRows(of: batch, task: b + 2, heads: table, tails: tails, d: d, S: S) }
                let gsb = w.gS + b * d, rb = w.r + b * d
                gsb.update(repeating: 0, count: d)
                for s in 0..<S {
                    let n = b * S + s
                    supportLoss += scorePair(heads: table, tails: tails, d: d, margin: margin,
                                             positive: (batch.supportHead[n], batch.supportTail[n]),
                                             negative: (batch.supportNegativeHead[n], batch.supportNegativeTail[n]),
                                             relation: rb, gradient: gsb, scale: supportScale,
                                             directions: (w.sPos + n * d, w.sNeg + n * d),
                                             scores: (w.sPosScore + n, w.sNegScore + n), active: w.sActive + n)
                }
                let rqb = w.rq + b * d
                innerStep(relation: rb, supportGradient: gsb, rate: innerScale, frozen: fixedInner.map { CFPtr($0.p + b * d) },
                          step: w.inner + b * d, adapted: rqb, dim: d)
                // The softmax loss scores every query at once, after this loop (and the margin
                // term here only with ``Configuration/queryMargin``).
                if softmax && !c.queryMargin { continue }
                let gqb = w.gQ + b * d
                gqb.update(repeating: 0, count: d)
                queryLoss += scorePair(heads: table, tails: tails, d: d, margin: margin,
                                       positive: (batch.queryHead[b], batch.queryTail[b]),
                                       negative: (batch.queryNegativeHead[b], batch.queryNegativeTail[b]),
                                       relation: rqb, gradient: gqb, scale: queryScale,
                                       directions: (w.qPos + b * d, w.qNeg + b * d),
                                       scores: (w.qPosScore + b, w.qNegScore + b), active: w.qActive + b)
                // 5's upstream gradient at r: g_s + g_q.
                for j in 0..<d { gsb[j] += gqb[j] }
            }
            lp.p[2 * chunk] = supportLoss
            lp.p[2 * chunk + 1] = queryLoss
        }
        var supportLoss: Float = 0, queryLoss: Float = 0
        for chunk in 0..<chunks { supportLoss += losses[2 * chunk]; queryLoss += losses[2 * chunk + 1] }
        return StepResult(supportLoss: supportLoss * supportScale, queryLoss: queryLoss * queryScale)
    }

    /// Adds the query loss's penalty terms to `queryLoss`, one after the other, with their
    /// gradients: the table decay λ·mean_b (‖E[h_b]‖² + ‖T[t_b]‖²) (its gradient as embedding
    /// terms, from copies of the rows taken here), then the relation penalty λ·mean_b ‖r_b‖²
    /// (its gradient added to the upstream gradient at r).
    private func addQueryPenalties(_ batch: TaskBatch, workspace ws: MetaStepWorkspace, to queryLoss: inout Float) {
        let c = configuration
        let B = batch.tasks, d = c.dim
        if c.tableDecay > 0 {
            let table = headTable, tails = UnsafePointer(tailTable)
            var squares: Float = 0
            for b in 0..<B {
                let h = ws.decayHeads.pointer + b * d, t = ws.decayTails.pointer + b * d
                h.update(from: table + Int(batch.queryHead[b]) * d, count: d)
                t.update(from: tails + Int(batch.queryTail[b]) * d, count: d)
                for j in 0..<d { squares += h[j] * h[j] + t[j] * t[j] }
            }
            queryLoss += c.tableDecay * squares / Float(B)
        }
        if c.relationPenalty > 0 {
            let r = ws.relation.pointer, gS = ws.supportGradient.pointer
            var squares: Float = 0
            let g = 2 * c.relationPenalty / Float(B)
            for i in 0..<B * d {
                squares += r[i] * r[i]
                gS[i] += g * r[i]
            }
            queryLoss += c.relationPenalty * squares / Float(B)
        }
    }
}

extension MetaTLModel {
    /// Calls `term(row, scale, vector)` for every contribution to the embedding gradient, in a
    /// fixed order: the active support pairs' four rows (h, t, negative h, negative t), then the
    /// query pairs', then the relation learner's input gradient (head and tail halves of each
    /// support row). Row r's gradient is the sum, in this order, of scale·vector over its terms.
    @inline(__always)
    func forEachEmbeddingTerm(_ batch: TaskBatch, workspace ws: MetaStepWorkspace, supportScale: Float, queryScale: Float,
                              _ term: (Int32, Float, CFPtr) -> Void) {
        let d = configuration.dim, S = configuration.supportCount, B = batch.tasks
        let w = SharedWorkspacePointers(ws)
        let dx = ws.learner.dX0.pointer
        let o = Int32(truncatingIfNeeded: tailRowOffset)   // tails are rows of T
        for n in 0..<B * S where w.sActive[n] != 0 {
            term(batch.supportHead[n], supportScale, w.sPos + n * d)
            term(batch.supportTail[n] + o, -supportScale, w.sPos + n * d)
            term(batch.supportNegativeHead[n], -supportScale, w.sNeg + n * d)
            term(batch.supportNegativeTail[n] + o, supportScale, w.sNeg + n * d)
        }
        if let sm = ws.softmax {
            for b in 0..<B {
                term(batch.queryHead[b], 1, w.gQ + b * d)
                term(batch.queryTail[b] + o, 1, sm.targetTerm.pointer + b * d)
            }
            for k in 0..<sm.candidates { term(sm.candidateRows[k] + o, 1, sm.candidateGradient.pointer + k * d) }
        }
        if ws.softmax == nil || configuration.queryMargin {
            for b in 0..<B where w.qActive[b] != 0 {
                term(batch.queryHead[b], queryScale, w.qPos + b * d)
                term(batch.queryTail[b] + o, -queryScale, w.qPos + b * d)
                term(batch.queryNegativeHead[b], -queryScale, w.qNeg + b * d)
                term(batch.queryNegativeTail[b] + o, queryScale, w.qNeg + b * d)
            }
        }
        for n in 0..<B * S {
            term(batch.supportHead[n], 1, dx + n * 2 * d)
            term(batch.supportTail[n] + o, 1, dx + n * 2 * d + d)
        }
        let decay = configuration.tableDecay
        if decay > 0 {   // ∂/∂row of λ/B·‖row‖²: (2λ/B)·row, from copies taken before the update
            for b in 0..<B {
                term(batch.queryHead[b], 2 * decay / Float(B), ws.decayHeads.pointer + b * d)
                term(batch.queryTail[b] + o, 2 * decay / Float(B), ws.decayTails.pointer + b * d)
            }
        }
    }

    /// Adds the embedding gradient into the arena's gradient rows (tests and gradient checks read
    /// it there; training uses ``EmbeddingGradient`` instead). Workers own disjoint ranges of
    /// rows and each applies only the terms of its rows, in the terms' order, so every row sums
    /// its terms in the same order whatever the thread count.
    func scatterEmbeddingGradient(_ batch: TaskBatch, workspace ws: MetaStepWorkspace, supportScale: Float, queryScale: Float) {
        let d = configuration.dim
        let grad = SharedPointer(arena.grad(arena.embedding))
        let rowCount = arena.tableRows
        let parts = max(1, min(configuration.threads, rowCount / 64))
        parallelChunks(parts, threads: configuration.threads) { c in
            let mine = splitRange(rowCount, parts: parts, index: c)
            forEachEmbeddingTerm(batch, workspace: ws, supportScale: supportScale, queryScale: queryScale) { row, a, x in
                let r = Int(row)
                if mine.contains(r) { addScaled(grad.p + r * d, a, x, d) }
            }
        }
    }

    /// The embedding gradient as per-row term lists (see ``EmbeddingGradient``).
    func listEmbeddingGradient(_ batch: TaskBatch, workspace ws: MetaStepWorkspace, supportScale: Float, queryScale: Float) {
        let list = ws.embeddingGradient
        list.reset()
        forEachEmbeddingTerm(batch, workspace: ws, supportScale: supportScale, queryScale: queryScale) { row, a, x in
            list.add(row, a, x)
        }
        list.index(rows: arena.tableRows)
    }
}

/// Prefetches the embedding rows that task `b`'s support and query pairs read.
@inline(__always)
func prefetchRows(of batch: TaskBatch, task b: Int, heads: CFPtr, tails: CFPtr, d: Int, S: Int) {
    for s in 0..<S {
        let n = b * S + s
        mtl_prefetch(heads + Int(batch.supportHead[n]) * d, d)
        mtl_prefetch(tails + Int(batch.supportTail[n]) * d, d)
        mtl_prefetch(tails + Int(batch.supportNegativeTail[n]) * d, d)
    }
    mtl_prefetch(heads + Int(batch.queryHead[b]) * d, d)
    mtl_prefetch(tails + Int(batch.queryTail[b]) * d, d)
    mtl_prefetch(tails + Int(batch.queryNegativeTail[b]) * d, d)
}

/// Scores a positive and a negative pair under `relation`, records both scores, both unit
/// directions and whether the margin term is active, and when it is adds its gradient with
/// respect to the relation, scale·(u_pos/‖u_pos‖ - u_neg/‖u_neg‖), into `gradient`
/// (∂term/∂pos = -1 and pos = -‖u_pos‖; likewise for the negative). Returns the margin term.
@inline(__always)
func scorePair(heads: CFPtr, tails: CFPtr, d: Int, margin: Float, positive: (Int32, Int32), negative: (Int32, Int32),
               relation: CFPtr, gradient: FPtr, scale: Float, directions: (FPtr, FPtr),
               scores: (FPtr, FPtr), active: UnsafeMutablePointer<Int32>) -> Float {
    let pos = TransE.score(h: heads + Int(positive.0) * d, r: relation, t: tails + Int(positive.1) * d,
                           dim: d, direction: directions.0)
    let neg = TransE.score(h: heads + Int(negative.0) * d, r: relation, t: tails + Int(negative.1) * d,
                           dim: d, direction: directions.1)
    scores.0.pointee = pos
    scores.1.pointee = neg
    let term = TransE.marginTerm(positive: pos, negative: neg, margin: margin)
    active.pointee = term > 0 ? 1 : 0
    if term > 0 { addScaledDifference(gradient, scale, directions.0, directions.1, d) }
    return term
}

/// The workspace's buffers as pointers that parallel workers may capture.
struct SharedWorkspacePointers: @unchecked Sendable {
    let r, rq, inner, gS, gQ, sPos, sNeg, qPos, qNeg, sPosScore, sNegScore, qPosScore, qNegScore: FPtr
    let sActive, qActive: UnsafeMutablePointer<Int32>

    init(_ ws: MetaStepWorkspace) {
        r = ws.relation.pointer; rq = ws.adapted.pointer; inner = ws.innerStep.pointer
        gS = ws.supportGradient.pointer; gQ = ws.queryGradient.pointer
        sPos = ws.supportPosDirection.pointer; sNeg = ws.supportNegDirection.pointer
        qPos = ws.queryPosDirection.pointer; qNeg = ws.queryNegDirection.pointer
        sPosScore = ws.supportPosScore.pointer; sNegScore = ws.supportNegScore.pointer
        qPosScore = ws.queryPosScore.pointer; qNegScore = ws.queryNegScore.pointer
        sActive = ws.supportActive.pointer; qActive = ws.queryActive.pointer
    }
}
