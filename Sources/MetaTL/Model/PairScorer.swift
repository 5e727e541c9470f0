/// Scores item transitions h → t for users whose (adapted) relations are given, in
/// evaluation and serving: -‖E[h] + r'_user - E[t]‖₂, plus the transition prior's
/// w · log(1 + count(h → t)) when one with w > 0 is given (``TransitionPrior/blend(_:count:)``).
struct PairScorer {
    let table: CFPtr
    let relations: CFPtr
    let dim: Int
    /// Blended in when set (only priors with w > 0 are: without one the scores are the distances).
    var prior: TransitionPrior?

    func score(user: Int, head: Int32, tail: Int32) -> Float {
        let distance = TransE.score(h: table + Int(head) * dim, r: relations + user * dim, t: table + Int(tail) * dim, dim: dim)
        guard let prior else { return distance }
        return prior.blend(distance, count: prior.count(head: head, tail: tail))
    }
}

extension MetaTLModel {
    /// A scorer over this model's embeddings with the given relations (users x d), blending in
    /// `prior` when given (callers pass ``scoringPrior``, or nil for the distances alone).
    func pairScorer(relations: CFPtr, prior: TransitionPrior?) -> PairScorer {
        PairScorer(table: arena.param(arena.embedding), relations: relations, dim: configuration.dim, prior: prior)
    }
}
