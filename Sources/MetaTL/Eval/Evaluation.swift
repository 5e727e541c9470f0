extension MetaTLModel {
    /// Evaluates the model on one split of new users (evaluation mode: BatchNorm running
    /// statistics, no dropout). Each user is adapted from its first K items (K-1 support
    /// pairs) with one inner step, then the item after them is ranked.
    ///
    /// Scores blend in the attached transition prior (``attachTransitionPrior(from:weight:)``)
    /// unless `usingPrior` is false; without a prior, or with weight 0, both give the distances'
    /// ranks bit for bit.
    public func evaluate(on dataset: Dataset, split: Split, protocol method: EvaluationProtocol,
                         usingPrior: Bool = true) throws(MetaTLError) -> Metrics {
        try access.reading("evaluate") { () throws(MetaTLError) -> Metrics in
            try checkCompatible(dataset)
            let users = dataset.users(split)
            guard users.count > 0 else { return Metrics() }
            return Metrics(ranks: ranks(of: users, protocol: method, prior: usingPrior ? scoringPrior : nil))
        }
    }

    /// Each user's rank of their target, in the order of `dataset.users(split).userIDs`
    /// (1 is best; ``Metrics/unranked`` for a target whose score is not finite): what
    /// ``evaluate(on:split:protocol:usingPrior:)`` summarises, for per-user analyses and
    /// paired comparisons with other systems on the same users.
    public func ranks(on dataset: Dataset, split: Split, protocol method: EvaluationProtocol,
                      usingPrior: Bool = true) throws(MetaTLError) -> [Int] {
        try targets(on: dataset, split: split, protocol: method, usingPrior: usingPrior).ranks
    }

    /// Each user's rank of their target and the target's score (``score(relation:lastItem:candidates:)``'s,
    /// the serving score for the full protocol), in the order of `dataset.users(split).userIDs`.
    public func targets(on dataset: Dataset, split: Split, protocol method: EvaluationProtocol,
                        usingPrior: Bool = true) throws(MetaTLError) -> TargetRanks {
        try access.reading("evaluate") { () throws(MetaTLError) -> TargetRanks in
            try checkCompatible(dataset)
            let users = dataset.users(split)
            guard users.count > 0 else { return TargetRanks(ranks: [], scores: []) }
            return targets(of: users, protocol: method, prior: usingPrior ? scoringPrior : nil)
        }
    }

    /// The pessimistic rank of every user's target (``Metrics/unranked`` when its score is not
    /// finite; candidates with non-finite scores never count as above it).
    /// `prior`, when given, is blended into every score (pass ``scoringPrior``: one with w > 0).
    ///
    /// The sampled protocol adapts users as the reference does (in batches, with the dataset's
    /// support negatives); the full protocol adapts each as serving does
    /// (``servingRelations(of:)``), so that its ranks are the positions ``recommend(history:topN:excludeHistory:)``
    /// gives the targets.
    func ranks(of users: EvaluationUsers, protocol method: EvaluationProtocol, prior: TransitionPrior?) -> [Int] {
        targets(of: users, protocol: method, prior: prior).ranks
    }

    /// ``ranks(of:protocol:prior:)`` with each target's score.
    func targets(of users: EvaluationUsers, protocol method: EvaluationProtocol, prior: TransitionPrior?) -> TargetRanks {
        let adapted = method == .sampled ? adaptedRelations(of: users) : servingRelations(of: users)
        var scores = [Float](repeating: .nan, count: users.count)
        let ranks = adapted.withUnsafeBufferPointer { buf -> [Int] in
            guard let r = buf.baseAddress else { return [] }
            return scores.withUnsafeMutableBufferPointer { out -> [Int] in
                guard let targetScores = out.baseAddress else { return [] }
                switch method {
                case .sampled: return sampledRanks(users, adapted: r, prior: prior, targetScores: targetScores)
                case .full: return fullRanks(users, relations: r, prior: prior, targetScores: targetScores)
                }
            }
        }
        return TargetRanks(ranks: ranks, scores: scores.map { Double($0) })
    }

    /// r' of every user (users x d), adapted in chunks.
    func adaptedRelations(of users: EvaluationUsers) -> [Float] {
        let c = configuration
        let K = c.K, S = c.supportCount, d = c.dim, U = users.count
        let chunk = min(U, 1024)
        let ws = AdaptationWorkspace(capacity: chunk, configuration: c)
        let heads = IndexBuffer(count: chunk * S), tails = IndexBuffer(count: chunk * S)
        let negativeTails = IndexBuffer(count: chunk * S)
        let relation = FloatBuffer(count: chunk * d)
        var adapted = [Float](repeating: 0, count: U * d)
        var start = 0
        while start < U {
            let n = min(chunk, U - start)
            for i in 0..<n {
                let u = start + i
                for s in 0..<S {
                    heads[i * S + s] = users.inputs[u * K + s]
                    tails[i * S + s] = users.inputs[u * K + s + 1]
                    negativeTails[i * S + s] = users.supportNegatives[u * S + s]
                }
            }
            adapted.withUnsafeMutableBufferPointer { out in
                guard let base = out.baseAddress else { return }
                adapt(users: n, heads: heads.pointer, tails: tails.pointer, negativeHeads: heads.pointer,
                      negativeTails: negativeTails.pointer, workspace: ws, relation: relation.pointer,
                      adapted: base + start * d)
            }
            start += n
        }
        return adapted
    }

    private func sampledRanks(_ users: EvaluationUsers, adapted: CFPtr, prior: TransitionPrior?, targetScores: FPtr? = nil) -> [Int] {
        let K = configuration.K, N = users.sampledNegatives
        let scorer = pairScorer(relations: adapted, prior: prior)
        var ranks = [Int](repeating: 0, count: users.count)
        let threads = configuration.threads
        let parts = max(1, min(threads, users.count / 64))
        let scoresOut = targetScores.map { SharedPointer($0) }
        ranks.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            let o = SharedPointer(base)
            parallelChunks(parts, threads: threads) { part in
                for u in splitRange(users.count, parts: parts, index: part) {
                    let head = users.inputs[u * K + K - 1]
                    let target = scorer.score(user: u, head: head, tail: users.targets[u])
                    scoresOut?.p[u] = target
                    guard target.isFinite else { o.p[u] = Metrics.unranked; continue }
                    var above = 0
                    for j in 0..<N where scorer.score(user: u, head: head, tail: users.negatives[u * N + j]) >= target {
                        above += 1
                    }
                    o.p[u] = 1 + above
                }
            }
        }
        return ranks
    }

    /// Full-catalogue ranking: each user's target ranks where ``recommend(history:topN:excludeHistory:)``
    /// lists it for the user's inputs, given the users' serving relations (``servingRelations(of:)``):
    /// ``CatalogueOrder``, the scores ``score(relation:lastItem:candidates:)`` gives, ties to the
    /// smaller row, the inputs not candidates. Users are split over the threads, each with its
    /// own row of scores.
    func fullRanks(_ users: EvaluationUsers, relations: CFPtr, prior: TransitionPrior?, targetScores: FPtr? = nil,
                   screened: Bool = true) -> [Int] {
        let K = configuration.K, U = users.count, rows = self.rows
        let scorer = pairScorer(relations: relations, prior: prior)
        let candidates = trainedItems
        var ranks = [Int](repeating: 0, count: U)
        let threads = configuration.threads
        let parts = max(1, min(threads, U / 16))
        // A large catalogue through the matrix-product screen: the same ranks (CatalogueScreen).
        if screened && rows >= screenMinimumRows {
            let screen = catalogueScreen(prior: prior), d = configuration.dim
            ranks.withUnsafeMutableBufferPointer { out in
                guard let base = out.baseAddress else { return }
                let o = SharedPointer(base)
                parallelChunks(parts, threads: threads) { part in
                    let mine = splitRange(U, parts: parts, index: part)
                    var first = mine.lowerBound
                    while first < mine.upperBound {
                        let end = min(mine.upperBound, first + CatalogueScreen.group), group = first..<end
                        let r = CatalogueScreen(sharing: screen, relations: relations + first * d).ranks(
                            users: group.count, heads: group.map { users.inputs[$0 * K + K - 1] },
                            targets: group.map { users.targets[$0] }, inputs: group.map { users.inputs[($0 * K)..<($0 * K + K)] },
                            candidates: candidates)
                        for (i, rank) in r.ranks.enumerated() { o.p[first + i] = rank }
                        for (i, score) in r.targetScores.enumerated() { targetScores?[first + i] = score }
                        first = end
                    }
                }
            }
            return ranks
        }
        let scoresOut = targetScores.map { SharedPointer($0) }
        ranks.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            let o = SharedPointer(base)
            parallelChunks(parts, threads: threads) { part in
                // Blocks of users against blocks of rows: each block of table rows (~200 KB at
                // d = 100) is scored for every user of the block while it is in cache. The same
                // per-pair arithmetic in another order: the same scores.
                let group = 16, rowBlock = 512
                let scores = FloatBuffer(count: group * rows)
                let mine = splitRange(U, parts: parts, index: part)
                var first = mine.lowerBound
                while first < mine.upperBound {
                    let n = min(group, mine.upperBound - first)
                    var lo = 0
                    while lo < rows {
                        let block = lo..<min(rows, lo + rowBlock)
                        for i in 0..<n {
                            let u = first + i
                            scorer.catalogueScores(user: u, head: users.inputs[u * K + K - 1], items: block,
                                                   into: scores.pointer + i * rows)
                        }
                        lo = block.upperBound
                    }
                    for i in 0..<n {
                        let u = first + i
                        scoresOut?.p[u] = scores[i * rows + Int(users.targets[u])]
                        o.p[u] = CatalogueOrder.rank(of: Int(users.targets[u]), scores: UnsafePointer(scores.pointer + i * rows),
                                                     rows: rows, excluding: users.inputs[(u * K)..<(u * K + K)],
                                                     candidates: candidates)
                    }
                    first += n
                }
            }
        }
        return ranks
    }
}
