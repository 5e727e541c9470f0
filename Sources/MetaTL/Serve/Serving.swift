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
/// - ``recommend(history:count:excludeHistory:)`` leaves out every item of the history, not
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

    /// The `count` best next items over the whole catalogue for a user with this history, best
    /// first, as (external id, score, blended with the transition prior when one is attached, as
    /// in ``score(relation:lastItem:candidates:)``); ties go to the smaller row. The history's items are left
    /// out unless `excludeHistory` is false; fewer than `count` come back if the catalogue is
    /// smaller.
    public func recommend(history: [Int64], count: Int, excludeHistory: Bool = true) throws(MetaTLError) -> [(item: Int64, score: Float)] {
        try access.reading("recommend") { () throws(MetaTLError) -> [(item: Int64, score: Float)] in
            guard count >= 0 else { throw .invalidArgument("count must be non-negative (got \(count))") }
            let historyRows = try historyRows(history)
            let relation = try adaptedRelation(rows: historyRows)
            let excluded = excludeHistory ? Set(historyRows) : []
            let head = historyRows[historyRows.count - 1]
            var best = TopN(capacity: min(count, rows - 1))
            relation.withUnsafeBufferPointer { r in
                guard let base = r.baseAddress else { return }
                let scorer = pairScorer(relations: base, prior: scoringPrior)
                for item in 1..<Int32(rows) where !excluded.contains(item) {
                    best.offer(row: item, score: scorer.score(user: 0, head: head, tail: item))
                }
            }
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

    /// r' from the last K rows of a history (at least 2), padded as training pads short users.
    func adaptedRelation(rows history: [Int32]) throws(MetaTLError) -> [Float] {
        let K = configuration.K, S = configuration.supportCount, d = configuration.dim
        let recent = Array(history.suffix(K))
        let padded = [Int32](repeating: 0, count: K - recent.count) + recent
        // Negatives depend on the used items only, so longer histories with the same last K
        // items adapt identically.
        var rng = RandomGenerator(seed: configuration.seed, stream: RandomStream.serving.rawValue,
                                  recent.reduce(UInt64(recent.count)) { SplitMix64.hash($0 ^ UInt64(bitPattern: Int64($1))) })
        let avoid = Set(recent)
        let free = (rows - 1) - avoid.count
        let heads = IndexBuffer(count: S), tails = IndexBuffer(count: S), negatives = IndexBuffer(count: S)
        for s in 0..<S where padded[s] != 0 {
            heads[s] = padded[s]
            tails[s] = padded[s + 1]
            negatives[s] = EvaluationUsers.Builder.draw(&rng, items: rows - 1, free: free, avoiding: avoid)
        }
        let ws = AdaptationWorkspace(capacity: 1, configuration: configuration)
        let relation = FloatBuffer(count: d), adapted = FloatBuffer(count: d)
        adapt(users: 1, heads: heads.pointer, tails: tails.pointer, negativeHeads: heads.pointer,
              negativeTails: negatives.pointer, workspace: ws, relation: relation.pointer, adapted: adapted.pointer)
        // Models hold only values within ValueLimits, but the inner step can still carry r' far
        // out (a huge β). Within the parameter limit every score -‖h + r' - t‖ is finite; beyond
        // it scores can be -inf or NaN, which would be an empty or meaningless answer.
        let largest = ValueLimits.maxMagnitude(adapted.pointer, count: d)
        guard largest <= ValueLimits.parameter else {
            throw MetaTLError(.invalidState, "the adapted relation for this history is \(largest.isNaN ? "not finite" : "beyond ±\(ValueLimits.parameter) (largest \(largest))"): the model cannot score items for it (inner step size beta = \(configuration.beta))")
        }
        return adapted.array
    }
}

/// The `capacity` highest scores seen, kept in a min-heap (ties: the smaller row ranks higher).
struct TopN {
    struct Entry { var row: Int32; var score: Float }
    let capacity: Int
    private var heap: [Entry] = []

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        heap.reserveCapacity(self.capacity)
    }

    /// True if `a` ranks below `b`.
    private static func below(_ a: Entry, _ b: Entry) -> Bool {
        a.score < b.score || (a.score == b.score && a.row > b.row)
    }

    mutating func offer(row: Int32, score: Float) {
        guard capacity > 0, !score.isNaN else { return }
        let e = Entry(row: row, score: score)
        if heap.count < capacity {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                guard Self.below(heap[i], heap[p]) else { break }
                heap.swapAt(i, p); i = p
            }
        } else if Self.below(heap[0], e) {
            heap[0] = e
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && Self.below(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.below(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m); i = m
            }
        }
    }

    /// Best first.
    func sorted() -> [Entry] { heap.sorted { Self.below($1, $0) } }
}
