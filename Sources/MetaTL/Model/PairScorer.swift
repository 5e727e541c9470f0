/// Scores item transitions h → t for users whose (adapted) relations are given, in
/// evaluation: -‖E[h] + r'_user - E[t]‖₂.
struct PairScorer {
    let table: CFPtr
    let relations: CFPtr
    let dim: Int

    func score(user: Int, head: Int32, tail: Int32) -> Float {
        TransE.score(h: table + Int(head) * dim, r: relations + user * dim, t: table + Int(tail) * dim, dim: dim)
    }
}

extension MetaTLModel {
    /// A scorer over this model's embeddings with the given relations (users x d).
    func pairScorer(relations: CFPtr) -> PairScorer {
        PairScorer(table: arena.param(arena.embedding), relations: relations, dim: configuration.dim)
    }
}
