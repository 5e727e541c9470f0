import MetaTLKernels

/// Scores item transitions h → t for users whose (adapted) relations are given, in
/// evaluation and serving, by the model's ``ScoreRule``, plus the transition prior's
/// w · log(1 + count(h → t)) when one with w > 0 is given (``TransitionPrior/blend(_:count:)``).
struct PairScorer {
    let heads: CFPtr
    let tails: CFPtr
    let relations: CFPtr
    let dim: Int
    let rule: ScoreRule
    /// Blended in when set (only priors with w > 0 are: without one the scores are the distances).
    var prior: TransitionPrior?

    func score(user: Int, head: Int32, tail: Int32) -> Float {
        let own = ownScore(user: user, head: head, tail: tail)
        guard let prior else { return own }
        return prior.blend(own, count: prior.count(head: head, tail: tail))
    }

    /// The model's own score, without the prior.
    @inline(__always)
    func ownScore(user: Int, head: Int32, tail: Int32) -> Float {
        let h = heads + Int(head) * dim, r = relations + user * dim, t = tails + Int(tail) * dim
        if rule.squared {
            return rule.score(squaredDistance: mtl_k_transe_squared_distance(h, r, t, dim), item: Int(tail))
        }
        return TransE.score(h: h, r: r, t: t, dim: dim)   // the reference's kernel, bit for bit
    }
}

extension MetaTLModel {
    /// A scorer over this model's tables with the given relations (users x d), blending in
    /// `prior` when given (callers pass ``scoringPrior``, or nil for the model's scores alone).
    func pairScorer(relations: CFPtr, prior: TransitionPrior?) -> PairScorer {
        PairScorer(heads: headTable, tails: tailTable, relations: relations, dim: configuration.dim, rule: scoreRule, prior: prior)
    }
}
