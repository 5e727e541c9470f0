/// Serving a user who was not in training, from a handful of interactions, with a trained
/// (or loaded) model: adapt → relation, score candidates, recommend top-N.
///
/// Semantics of a history (external item ids, oldest first):
/// - the most recent K items are used (K is the model's);
/// - fewer than 2 items is an error (there is no transition to adapt from);
/// - with 2..K-1 items the support is front-padded with the padding item exactly as training pads
///   short users: the missing pairs are (0 → 0) with negative 0 and carry no signal;
/// - an id outside the model's vocabulary is an error naming it;
/// - each support pair's negative is drawn outside those K items from a generator seeded by the
///   model's seed and those K items, so the same history always gets the same answer;
/// - ``recommend(history:topN:excludeHistory:)`` leaves out every item of the history, not
///   only the last K, and never returns an item whose score is not finite;
/// - a relation that is not finite, or beyond the parameter limit (1e15) where scores could
///   overflow, is an error (`.invalidState`), never an empty or NaN answer.
///
/// All three may run from many threads at once, also while the model trains (they wait for the
/// current training step; see ``MetaTLModel``).
extension MetaTLModel {
    /// The adapted relation r' (``Configuration/dim`` values) for a user with this history.
    public func adapt(history: [Int64]) throws(MetaTLError) -> [Float] {
        try access.reading("adapt") { () throws(MetaTLError) -> [Float] in
            try adaptedRelation(rows: try historyRows(history))
        }
    }

    /// Scores of `candidates` as next items after `lastItem` for a user with relation r'
    /// (from ``adapt(history:)``) by the model's score: -‖E[last] + r' - T[candidate]‖₂ for the
    /// margin loss (the reference), -α‖E[last] + r' - T[candidate]‖₂² + b[candidate] for the
    /// softmax loss (see ``QueryLoss``; T is E without a tail table), plus w · log(1 + count(last →
    /// candidate)) when a transition prior is attached (``attachTransitionPrior(from:weight:)``);
    /// higher is better.
    public func score(relation: [Float], lastItem: Int64, candidates: [Int64]) throws(MetaTLError) -> [Float] {
        try access.reading("score") { () throws(MetaTLError) -> [Float] in
            let d = configuration.dim
            guard relation.count == d else {
                throw .invalidArgument("relation has \(relation.count) values; the model's dimension is \(d)")
            }
            guard relation.allSatisfy(\.isFinite) else { throw .invalidArgument("relation holds a non-finite value") }
            let head = try row(of: lastItem)
            var tails: [Int32] = []
            tails.reserveCapacity(candidates.count)
            for id in candidates { tails.append(try row(of: id)) }
            return relation.withUnsafeBufferPointer { r -> [Float] in
                guard let base = r.baseAddress else { return [] }
                let scorer = pairScorer(relations: base, prior: scoringPrior)
                return tails.map { scorer.score(user: 0, head: head, tail: $0) }
            }
        }
    }

    /// The `topN` best next items over the whole catalogue for a user with this history, best
    /// first, as (external id, score); the scores are ``score(relation:lastItem:candidates:)``'s
    /// (the transition prior blended in when one is attached), bit for bit, and ties go to the
    /// smaller row (``CatalogueOrder``: full-catalogue evaluation ranks a target exactly where this
    /// list puts it). The history's items are left out unless `excludeHistory` is false; fewer
    /// than `topN` come back if the catalogue is smaller.
    public func recommend(history: [Int64], topN: Int, excludeHistory: Bool = true) throws(MetaTLError) -> [(item: Int64, score: Float)] {
        try access.reading("recommend") { () throws(MetaTLError) -> [(item: Int64, score: Float)] in
            guard topN >= 0 else { throw .invalidArgument("topN must be non-negative (got \(topN))") }
            let historyRows = try historyRows(history)
            let relation = try adaptedRelation(rows: historyRows)
            let excluded = excludeHistory ? Set(historyRows) : []
            let head = historyRows[historyRows.count - 1]
            var best = TopN(capacity: min(topN, rows - 1))
            let scores = FloatBuffer(count: rows)
            relation.withUnsafeBufferPointer { r in
                guard let base = r.baseAddress else { return }
                pairScorer(relations: base, prior: scoringPrior).catalogueScores(user: 0, head: head, rows: rows, into: scores.pointer)
            }
            for item in 1..<Int32(rows) where !excluded.contains(item) { best.offer(row: item, score: scores[Int(item)]) }
            return best.sorted().map { (itemIDs[Int($0.row)], $0.score) }
        }
    }

    /// The catalogue's embedding rows (items x dim, in ``itemIDs`` order without the padding row).
    public func itemEmbeddings() throws(MetaTLError) -> [Float] {
        try access.reading("read embeddings") { () throws(MetaTLError) -> [Float] in
            let d = configuration.dim
            return Array(UnsafeBufferPointer(start: arena.param(arena.embedding) + d, count: (rows - 1) * d))
        }
    }

    /// The row of an external id, or `.unknownItem`.
    func row(of id: Int64) throws(MetaTLError) -> Int32 {
        guard let r = rowOfItem[id] else {
            throw MetaTLError(.unknownItem, "unknown item id \(id): not in the model's vocabulary of \(rows - 1) items")
        }
        return r
    }

    /// Validated rows of a history.
    func historyRows(_ history: [Int64]) throws(MetaTLError) -> [Int32] {
        guard history.count >= 2 else {
            throw .invalidArgument("a history needs at least 2 items to adapt from (got \(history.count))")
        }
        var out: [Int32] = []
        out.reserveCapacity(history.count)
        for id in history { out.append(try row(of: id)) }
        return out
    }

    /// r' from the last K rows of a history (at least 2), padded as training pads short users;
    /// `.invalidState` when it is not finite or beyond the parameter limit.
    func adaptedRelation(rows history: [Int32]) throws(MetaTLError) -> [Float] {
        let ws = ServingWorkspace(configuration: configuration)
        let relation = FloatBuffer(count: configuration.dim)
        let largest = servingRelation(rows: history[...], workspace: ws, into: relation.pointer)
        // Models hold only values within ValueLimits, but the inner step can still carry r' far
        // out (a huge β). Within the parameter limit every score -‖h + r' - t‖ is finite; beyond
        // it scores can be -inf or NaN, which would be an empty or meaningless answer.
        guard largest <= ValueLimits.parameter else {
            throw MetaTLError(.invalidState, "the adapted relation for this history is \(largest.isNaN ? "not finite" : "beyond ±\(ValueLimits.parameter) (largest \(largest))"): the model cannot score items for it (inner step size beta = \(configuration.beta))")
        }
        return relation.array
    }

    /// The one way a history becomes r' in serving, and in the full-catalogue protocol of
    /// evaluation (so that it ranks as ``recommend(history:topN:excludeHistory:)`` serves): the
    /// last K rows (at least 2; fewer front-padded), each support pair's negative drawn outside
    /// those K items from a generator seeded by the model's seed and those items, one user adapted
    /// alone. Writes r' (d floats) into `out` and returns its largest magnitude (NaN when it is
    /// not finite).
    func servingRelation(rows history: ArraySlice<Int32>, workspace ws: ServingWorkspace, into out: FPtr) -> Float {
        let K = configuration.K, S = configuration.supportCount, d = configuration.dim
        let recent = Array(history.suffix(K))
        let padded = [Int32](repeating: 0, count: K - recent.count) + recent
        // Negatives depend on the used items only, so longer histories with the same last K
        // items adapt identically.
        var rng = RandomGenerator(seed: configuration.seed, stream: RandomStream.serving.rawValue,
                                  recent.reduce(UInt64(recent.count)) { SplitMix64.hash($0 ^ UInt64(bitPattern: Int64($1))) })
        let avoid = Set(recent)
        let free = (rows - 1) - avoid.count
        for s in 0..<S {
            ws.heads[s] = 0; ws.tails[s] = 0; ws.negatives[s] = 0
            guard padded[s] != 0 else { continue }
            ws.heads[s] = padded[s]
            ws.tails[s] = padded[s + 1]
            ws.negatives[s] = rng.uniformItem(items: rows - 1, free: free) { avoid.contains($0) }
        }
        adapt(users: 1, heads: ws.heads.pointer, tails: ws.tails.pointer, negativeHeads: ws.heads.pointer,
              negativeTails: ws.negatives.pointer, workspace: ws.adaptation, relation: ws.relation.pointer, adapted: out)
        return ValueLimits.maxMagnitude(out, count: d)
    }

    /// r' of every user of `users` from their inputs, as ``servingRelation(rows:workspace:into:)``
    /// gives it (users x d), the users split over the threads. A user whose r' is not finite or
    /// beyond the parameter limit gets NaN (its target is then unranked, as `recommend` refuses it).
    func servingRelations(of users: EvaluationUsers) -> [Float] {
        let K = configuration.K, d = configuration.dim, U = users.count
        var relations = [Float](repeating: 0, count: U * d)
        let threads = configuration.threads
        let parts = max(1, min(threads, U / 16))
        relations.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            let o = SharedPointer(base)
            parallelChunks(parts, threads: threads) { part in
                let ws = ServingWorkspace(configuration: configuration)
                for u in splitRange(U, parts: parts, index: part) {
                    let r = o.p + u * d
                    let largest = servingRelation(rows: users.inputs[(u * K)..<(u * K + K)], workspace: ws, into: r)
                    if !(largest <= ValueLimits.parameter) { r.update(repeating: .nan, count: d) }
                }
            }
        }
        return relations
    }
}

/// Buffers for adapting one user in serving.
final class ServingWorkspace {
    let adaptation: AdaptationWorkspace
    let heads: IndexBuffer, tails: IndexBuffer, negatives: IndexBuffer
    let relation: FloatBuffer

    init(configuration c: Configuration) {
        adaptation = AdaptationWorkspace(capacity: 1, configuration: c)
        heads = IndexBuffer(count: c.supportCount)
        tails = IndexBuffer(count: c.supportCount)
        negatives = IndexBuffer(count: c.supportCount)
        relation = FloatBuffer(count: c.dim)
    }
}
