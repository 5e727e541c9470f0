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
    let supportGradient: FloatBuffer, queryGradient: FloatBuffer
    let supportPosDirection: FloatBuffer, supportNegDirection: FloatBuffer
    let queryPosDirection: FloatBuffer, queryNegDirection: FloatBuffer
    let supportPosScore: FloatBuffer, supportNegScore: FloatBuffer
    let queryPosScore: FloatBuffer, queryNegScore: FloatBuffer

    init(capacity B: Int, configuration c: Configuration) {
        capacity = B
        let S = c.supportCount, d = c.dim
        learner = RelationLearnerWorkspace(capacity: B * S, configuration: c, training: true)
        relation = FloatBuffer(count: B * d); adapted = FloatBuffer(count: B * d); innerStep = FloatBuffer(count: B * d)
        supportGradient = FloatBuffer(count: B * d); queryGradient = FloatBuffer(count: B * d)
        supportPosDirection = FloatBuffer(count: B * S * d); supportNegDirection = FloatBuffer(count: B * S * d)
        queryPosDirection = FloatBuffer(count: B * d); queryNegDirection = FloatBuffer(count: B * d)
        supportPosScore = FloatBuffer(count: B * S); supportNegScore = FloatBuffer(count: B * S)
        queryPosScore = FloatBuffer(count: B); queryNegScore = FloatBuffer(count: B)
    }
}

extension MetaTLModel {
    /// One meta-training step on `batch` (train mode), as the reference does it:
    ///
    /// 1. r = relation learner(support pairs), batch statistics, dropout;
    /// 2. L_s over the support pairs and their negatives; g_s = ∂L_s/∂r (a constant);
    /// 3. r' = r - β·g_s (g_s scaled per task instead of per batch with `.perTask`);
    /// 4. L_q on the query pair and its negative under r';
    /// 5. gradients of L_s + L_q in ONE backward: the upstream gradient at r is g_s + g_q
    ///    (r' depends on r with Jacobian I since g_s is a constant, first order);
    /// 6. one Adam step over every parameter.
    ///
    /// `batch` rows must be valid rows of this model (checked by the caller).
    func metaStep(_ batch: TaskBatch, workspace ws: MetaStepWorkspace) -> StepResult {
        let result = metaGradients(batch, workspace: ws)
        step += 1
        Adam(learningRate: configuration.learningRate).step(arena, t: step, threads: configuration.threads)
        phaseTimer?.mark("adam")
        return result
    }

    /// Steps 1-5 of ``metaStep(_:workspace:)``: the losses, and the gradient of L_s + L_q in
    /// the arena's gradient block. Parameters are not changed (BatchNorm running statistics are).
    ///
    /// `frozenInnerStep` (tasks x d), when given, replaces β·g_s in r' = r - β·g_s: gradient
    /// checks hold it fixed, as the first-order method treats it.
    func metaGradients(_ batch: TaskBatch, workspace ws: MetaStepWorkspace,
                       frozenInnerStep: UnsafePointer<Float>? = nil) -> StepResult {
        let c = configuration
        let B = batch.tasks, S = c.supportCount, d = c.dim
        let learner = RelationLearner(model: self)
        BLAS.setThreads(c.threads)
        arena.zeroGrads()
        phaseTimer?.mark("zero gradients")

        // 1. The relation learner on the support pairs.
        learner.gatherInput(ws.learner, heads: batch.supportHead.pointer, tails: batch.supportTail.pointer, rows: B * S)
        phaseTimer?.mark("gather")
        learner.forwardTrain(ws.learner, rows: B * S, seed: c.seed, step: UInt64(step), timer: phaseTimer)
        let r = ws.relation.pointer
        learner.relation(ws.learner, tasks: B, into: r)

        let table = arena.param(arena.embedding)
        let tableGrad = arena.grad(arena.embedding)

        /// Scores one positive and one negative pair under relation `rel`, and when the margin
        /// is violated adds `scale`·∂(margin term) to the relation gradient `gRel` and to the
        /// four embedding rows involved. Returns the margin term.
        func pair(_ ph: Int32, _ pt: Int32, _ nh: Int32, _ nt: Int32, rel: CFPtr, gRel: FPtr,
                  posDir: FPtr, negDir: FPtr, scale: Float, posScore: FPtr, negScore: FPtr) -> Float {
            let hp = table + Int(ph) * d, tp = table + Int(pt) * d
            let hn = table + Int(nh) * d, tn = table + Int(nt) * d
            let pos = TransE.score(h: hp, r: rel, t: tp, dim: d, direction: posDir)
            let neg = TransE.score(h: hn, r: rel, t: tn, dim: d, direction: negDir)
            posScore.pointee = pos
            negScore.pointee = neg
            let term = TransE.marginTerm(positive: pos, negative: neg, margin: c.margin)
            if term > 0 {
                // ∂term/∂pos = -1 and pos = -‖u‖, so ∂term/∂u_pos = +u/‖u‖; likewise -u/‖u‖ for neg.
                let ghp = tableGrad + Int(ph) * d, gtp = tableGrad + Int(pt) * d
                let ghn = tableGrad + Int(nh) * d, gtn = tableGrad + Int(nt) * d
                for j in 0..<d {
                    let gp = scale * posDir[j], gn = scale * negDir[j]
                    gRel[j] += gp - gn
                    ghp[j] += gp; gtp[j] -= gp
                    ghn[j] -= gn; gtn[j] += gn
                }
            }
            return term
        }

        phaseTimer?.mark("relation mean")
        // 2. Support loss and g_s = ∂L_s/∂r.
        let gS = ws.supportGradient.pointer
        gS.update(repeating: 0, count: B * d)
        let supportScale = 1 / Float(B * S)
        var supportLoss: Float = 0
        for b in 0..<B {
            for s in 0..<S {
                let n = b * S + s
                supportLoss += pair(batch.supportHead[n], batch.supportTail[n],
                                    batch.supportNegativeHead[n], batch.supportNegativeTail[n],
                                    rel: r + b * d, gRel: gS + b * d,
                                    posDir: ws.supportPosDirection.pointer + n * d,
                                    negDir: ws.supportNegDirection.pointer + n * d,
                                    scale: supportScale,
                                    posScore: ws.supportPosScore.pointer + n, negScore: ws.supportNegScore.pointer + n)
            }
        }
        supportLoss *= supportScale

        // 3. The inner step.
        let innerScale: Float = c.innerStep == .perTask ? c.beta * Float(B) : c.beta
        let rq = ws.adapted.pointer
        let inner = ws.innerStep.pointer
        for i in 0..<B * d { inner[i] = frozenInnerStep?[i] ?? innerScale * gS[i] }
        for i in 0..<B * d { rq[i] = r[i] - inner[i] }

        // 4. Query loss and g_q = ∂L_q/∂r'.
        let gQ = ws.queryGradient.pointer
        gQ.update(repeating: 0, count: B * d)
        let queryScale = 1 / Float(B)
        var queryLoss: Float = 0
        for b in 0..<B {
            queryLoss += pair(batch.queryHead[b], batch.queryTail[b],
                              batch.queryNegativeHead[b], batch.queryNegativeTail[b],
                              rel: rq + b * d, gRel: gQ + b * d,
                              posDir: ws.queryPosDirection.pointer + b * d,
                              negDir: ws.queryNegDirection.pointer + b * d,
                              scale: queryScale,
                              posScore: ws.queryPosScore.pointer + b, negScore: ws.queryNegScore.pointer + b)
        }
        queryLoss *= queryScale

        // 5. One fused backward through the learner with upstream g_s + g_q.
        for i in 0..<B * d { gS[i] += gQ[i] }
        phaseTimer?.mark("scores and losses")
        learner.backward(ws.learner, tasks: B, dRelation: gS, timer: phaseTimer)
        learner.scatterInputGradient(ws.learner, heads: batch.supportHead.pointer, tails: batch.supportTail.pointer, rows: B * S)
        phaseTimer?.mark("scatter")
        return StepResult(supportLoss: supportLoss, queryLoss: queryLoss)
    }
}
