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
    /// than `topN` come back if the catalogue is smaller. An unknown id is an error
    /// (``recommend(histories:options:)`` can skip them).
    /// Items not in the model's training data are left out unless `includeUntrained` (their
    /// embeddings were never learned).
    ///
    /// With an index attached (``attachIndex(_:)``) the list is ranked from the items of the lists
    /// the index searches, scored exactly, unless `exact` (or `includeUntrained`, whose items are
    /// not indexed): the same scores, but an item outside those lists is missed.
    public func recommend(history: [Int64], topN: Int, excludeHistory: Bool = true,
                          includeUntrained: Bool = false, exact: Bool = false) throws(MetaTLError) -> [(item: Int64, score: Float)] {
        try access.reading("recommend") { () throws(MetaTLError) -> [(item: Int64, score: Float)] in
            guard topN >= 0 else { throw .invalidArgument("topN must be non-negative (got \(topN))") }
            let historyRows = try historyRows(history)
            let relation = try adaptedRelation(rows: historyRows)
            let index = exact || includeUntrained ? nil : try currentIndex()
            let candidates = includeUntrained ? nil : trainedItems
            let excluded = excludeHistory ? Set(historyRows) : []
            let best = relation.withUnsafeBufferPointer { r -> [TopN.Entry] in
                guard let base = r.baseAddress, let head = historyRows.last else { return [] }
                if let index, let found = indexedTopRows(index, relations: base, heads: [head], topN: topN, offered: { _, row in
                                                            !excluded.contains(row) && (candidates?[Int(row)] ?? true)
                                                        })[0] {
                    return found
                }
                return topRows(relation: base, history: historyRows, topN: topN, candidates: candidates,
                               excludeHistory: excludeHistory, scores: FloatBuffer(count: rows >= screenMinimumRows ? 1 : rows))
            }
            return best.map { (itemIDs[Int($0.row)], $0.score) }
        }
    }

    /// The best `topN` rows for one adapted relation (user 0 of `relation`): the catalogue's
    /// scores (``PairScorer/catalogueScores(user:head:rows:into:)``) ranked by ``CatalogueOrder``,
    /// over the rows `candidates` allows (nil: all), minus the history's when `excludeHistory`.
    func topRows(relation: CFPtr, history: [Int32], topN: Int, candidates: [Bool]?, excludeHistory: Bool,
                 scores: FloatBuffer) -> [TopN.Entry] {
        guard let head = history.last else { return [] }
        if rows >= screenMinimumRows {
            let screen = CatalogueScreen(sharing: catalogueScreen(prior: scoringPrior), relations: relation)
            return screen.topRows(users: 1, heads: [head], excluded: [excludeHistory ? Set(history) : []],
                                  candidates: candidates, topN: topN)[0]
        }
        pairScorer(relations: relation, prior: scoringPrior).catalogueScores(user: 0, head: head, rows: rows, into: scores.pointer)
        let excluded = excludeHistory ? Set(history) : []
        var best = TopN(capacity: min(topN, rows - 1))
        for item in 1..<Int32(rows) where !excluded.contains(item) && (candidates?[Int(item)] ?? true) {
            best.offer(row: item, score: scores[Int(item)])
        }
        return best.sorted()
    }

    /// Recommendations for many users at once (``recommend(history:topN:excludeHistory:)`` for each,
    /// with the same scores and order), the users split over the model's threads; see
    /// ``RecommendOptions`` for the candidates and for unknown ids. A user whose history keeps
    /// fewer than 2 known items, or whose adapted relation is beyond the model's limits, gets no
    /// items and ``Recommendation/problem`` says why; the others are served.
    public func recommend(histories: [[Int64]], options: RecommendOptions = RecommendOptions()) throws(MetaTLError) -> [Recommendation] {
        try access.reading("recommend") { () throws(MetaTLError) -> [Recommendation] in
            guard options.topN >= 0 else { throw .invalidArgument("topN must be non-negative (got \(options.topN))") }
            // The candidate rows (allowed, not blocked), once for every user; ids the model does not
            // know can be neither, and are ignored.
            var candidates: [Bool]? = options.includeUntrained ? nil : trainedItems
            if options.allowed != nil || !options.blocked.isEmpty {
                let learned = candidates
                var c = [Bool](repeating: false, count: rows)
                if let allowed = options.allowed {
                    for id in allowed { if let r = rowOfItem[id] { c[Int(r)] = true } }
                } else {
                    for i in 1..<rows { c[i] = true }
                }
                for id in options.blocked { if let r = rowOfItem[id] { c[Int(r)] = false } }
                if let learned { for i in 0..<rows where !learned[i] { c[i] = false } }
                candidates = c
            }
            // Unknown ids: counted (and left out) or, by request, an error naming the first.
            var known: [[Int32]] = [], unknown: [Int] = []
            known.reserveCapacity(histories.count); unknown.reserveCapacity(histories.count)
            for (u, history) in histories.enumerated() {
                var r: [Int32] = []
                r.reserveCapacity(history.count)
                for id in history {
                    if let row = rowOfItem[id] { r.append(row); continue }
                    if options.unknownItems == .fail {
                        throw MetaTLError(.unknownItem, "history \(u): unknown item id \(id): not in the model's vocabulary of \(rows - 1) items")
                    }
                }
                unknown.append(history.count - r.count)
                known.append(r)
            }
            // The attached index serves unless the call asks for exact ranking, for untrained items (not
            // indexed) or names its own allowed items (which an index search would mostly miss).
            let index = options.exact || options.includeUntrained || options.allowed != nil ? nil : try currentIndex()
            var out = [Recommendation](repeating: Recommendation(items: [], scores: [], unknownItems: 0, problem: nil),
                                       count: histories.count)
            let threads = configuration.threads, U = histories.count
            let parts = max(1, min(threads, U))
            out.withUnsafeMutableBufferPointer { buffer in
                guard let base = buffer.baseAddress else { return }
                let o = SharedPointer(base)
                // A large catalogue is ranked through the matrix-product screen (the same answers, bit
                // for bit: CatalogueScreen), built once per call; a small one item by item.
                let screen = rows >= screenMinimumRows ? catalogueScreen(prior: scoringPrior) : nil
                let d = configuration.dim
                parallelChunks(parts, threads: threads) { part in
                    let ws = ServingWorkspace(configuration: configuration)
                    let group = screen == nil && index == nil ? 1 : CatalogueScreen.group
                    // Scores of every row: only the item-by-item path needs them.
                    let relations = FloatBuffer(count: group * d), scores = FloatBuffer(count: screen == nil ? rows : 1)
                    let mine = splitRange(U, parts: parts, index: part)
                    var first = mine.lowerBound
                    while first < mine.upperBound {
                        let end = min(mine.upperBound, first + group)
                        var served: [Int] = []   // the group's users that get recommendations, in order
                        for u in first..<end {
                            o.p[u].unknownItems = unknown[u]
                            guard known[u].count >= 2 else {
                                o.p[u].problem = "the history has \(known[u].count) known item(s); at least 2 are needed to adapt from"
                                continue
                            }
                            let largest = servingRelation(rows: known[u][...], workspace: ws, into: relations.pointer + served.count * d)
                            guard largest <= ValueLimits.parameter else {
                                o.p[u].problem = "the adapted relation for this history is beyond the model's limits"
                                continue
                            }
                            served.append(u)
                        }
                        var best = [[TopN.Entry]?](repeating: nil, count: served.count)
                        let excluded = served.map { options.excludeHistory ? Set(known[$0]) : [] }
                        if let index {
                            best = indexedTopRows(index, relations: relations.pointer, heads: served.map { known[$0].last ?? 0 },
                                                  topN: options.topN) { v, row in
                                (candidates?[Int(row)] ?? true) && !excluded[v].contains(row)
                            }
                        } else if let screen {
                            best = CatalogueScreen(sharing: screen, relations: relations.pointer).topRows(
                                             users: served.count, heads: served.map { known[$0].last ?? 0 },
                                             excluded: excluded, candidates: candidates, topN: options.topN)
                        }
                        // Item by item, and for users the index proposed too few offered items.
                        for (v, u) in served.enumerated() where best[v] == nil {
                            best[v] = topRows(relation: relations.pointer + v * d, history: known[u], topN: options.topN,
                                              candidates: candidates, excludeHistory: options.excludeHistory, scores: scores)
                        }
                        for (u, found) in zip(served, best) {
                            let entries = found ?? []
                            o.p[u].items = entries.map { itemIDs[Int($0.row)] }
                            o.p[u].scores = entries.map(\.score)
                        }
                        first = end
                    }
                }
            }
            return out
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

/// How ``MetaTLModel/recommend(histories:options:)`` serves a batch of users.
public struct RecommendOptions: Sendable, Equatable {
    /// Items per user (fewer when there are fewer candidates).
    public var topN = 10
    /// Leave each user's own history items out.
    public var excludeHistory = true
    /// Only these items may be recommended (nil: every item). Ids outside the vocabulary are ignored.
    public var allowed: [Int64]? = nil
    /// These items are never recommended. Ids outside the vocabulary are ignored.
    public var blocked: [Int64] = []
    /// What an id of a history outside the model's vocabulary does.
    public var unknownItems: UnknownItemPolicy = .skip
    /// Also recommend items that were not in the model's training data (never learned).
    public var includeUntrained = false
    /// Rank every item even when an index is attached (``MetaTLModel/attachIndex(_:)``).
    public var exact = false

    /// Ten items per user, histories excluded, every item a candidate, unknown ids skipped.
    public init() {}
}

/// What serving does with a history's ids that the model does not know (items that appeared
/// after it was trained).
public enum UnknownItemPolicy: String, Sendable, Equatable {
    /// Leave them out and count them (``Recommendation/unknownItems``): the user is served from the
    /// items the model knows.
    case skip
    /// Fail the call (`.unknownItem`, naming the history and the id).
    case fail = "error"
}

/// One user's answer from ``MetaTLModel/recommend(histories:options:)``.
public struct Recommendation: Sendable, Equatable {
    /// External ids, best first, and their scores.
    public var items: [Int64]
    public var scores: [Float]
    /// How many of the history's ids the model did not know (skipped).
    public var unknownItems: Int
    /// Why the user got no items (too few known items, or a relation beyond the model's limits); nil when served.
    public var problem: String?
}
