/// Buffers for adapting up to `capacity` users at once in evaluation mode.
final class AdaptationWorkspace: @unchecked Sendable {
    let capacity: Int
    let learner: RelationLearnerWorkspace

    init(capacity users: Int, configuration c: Configuration) {
        capacity = users
        learner = RelationLearnerWorkspace(capacity: users * c.supportCount, configuration: c, training: false)
    }
}

extension MetaTLModel {
    /// Evaluation-mode adaptation of `users` users from their support pairs, as the reference
    /// evaluates one user (batch of one): r = relation learner (running statistics, no
    /// dropout), L_s = mean margin loss over the user's K-1 support pairs and their negatives
    /// (always the reference's -‖E[h] + r - T[t]‖₂ scores, whatever the query loss),
    /// r' = r - β·∂L_s/∂r. Users are independent, so they go through the learner together.
    ///
    /// Support pair n of user i (n = i·S + s) is (heads[n] → tails[n]) with negative
    /// (negativeHeads[n] → negativeTails[n]). Writes r and r' (users x d) into `relation` and `adapted`.
    func adapt(users: Int, heads: UnsafePointer<Int32>, tails tailIndex: UnsafePointer<Int32>,
               negativeHeads: UnsafePointer<Int32>, negativeTails: UnsafePointer<Int32>,
               workspace ws: AdaptationWorkspace, relation: FPtr, adapted: FPtr) {
        let c = configuration
        let S = c.supportCount, d = c.dim
        let learner = RelationLearner(model: self)
        learner.gatherInput(ws.learner, heads: heads, tails: tailIndex, rows: users * S)
        learner.forwardEval(ws.learner, rows: users * S)
        learner.relation(ws.learner, tasks: users, into: relation)

        let table = headTable, tails = tailTable   // the tail table holds tails and their negatives
        let tailRows = UnsafePointer(tails)
        let scale = 1 / Float(S)
        let rel = SharedPointer(relation), out = SharedPointer(adapted)
        let parts = max(1, min(c.threads, users / 32))
        parallelChunks(parts, threads: c.threads) { part in
            var gradient = [Float](repeating: 0, count: d)
            var dirP = [Float](repeating: 0, count: d), dirN = [Float](repeating: 0, count: d)
            gradient.withUnsafeMutableBufferPointer { gBuf in
            dirP.withUnsafeMutableBufferPointer { pBuf in
            dirN.withUnsafeMutableBufferPointer { nBuf in
                guard let g = gBuf.baseAddress, let pd = pBuf.baseAddress, let nd = nBuf.baseAddress else { return }
                for i in splitRange(users, parts: parts, index: part) {
                    let r = rel.p + i * d
                    g.update(repeating: 0, count: d)
                    for s in 0..<S {
                        let n = i * S + s
                        let pos = TransE.score(h: table + Int(heads[n]) * d, r: r, t: tailRows + Int(tailIndex[n]) * d,
                                               dim: d, direction: pd)
                        let neg = TransE.score(h: table + Int(negativeHeads[n]) * d, r: r,
                                               t: tailRows + Int(negativeTails[n]) * d, dim: d, direction: nd)
                        if TransE.marginTerm(positive: pos, negative: neg, margin: c.margin) > 0 {
                            for j in 0..<d { g[j] += scale * (pd[j] - nd[j]) }
                        }
                    }
                    innerStep(relation: r, supportGradient: g, rate: c.beta, adapted: out.p + i * d, dim: d)
                }
            }}}
        }
    }
}
