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

    /// The pessimistic rank of every user's target (``Metrics/unranked`` when its score is not
    /// finite; candidates with non-finite scores never count as above it).
    /// `prior`, when given, is blended into every score (pass ``scoringPrior``: one with w > 0).
    func ranks(of users: EvaluationUsers, protocol method: EvaluationProtocol, prior: TransitionPrior?) -> [Int] {
        let adapted = adaptedRelations(of: users)
        return adapted.withUnsafeBufferPointer { buf -> [Int] in
            guard let r = buf.baseAddress else { return [] }
            switch method {
            case .sampled: return sampledRanks(users, adapted: r, prior: prior)
            case .full: return fullRanks(users, adapted: r, prior: prior)
            }
        }
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

    private func sampledRanks(_ users: EvaluationUsers, adapted: CFPtr, prior: TransitionPrior?) -> [Int] {
        let K = configuration.K, N = EvaluationUsers.sampledNegatives
        let scorer = pairScorer(relations: adapted, prior: prior)
        var ranks = [Int](repeating: 0, count: users.count)
        let threads = configuration.threads
        let parts = max(1, min(threads, users.count / 64))
        ranks.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            let o = SharedPointer(base)
            parallelChunks(parts, threads: threads) { part in
                for u in splitRange(users.count, parts: parts, index: part) {
                    let head = users.inputs[u * K + K - 1]
                    let target = scorer.score(user: u, head: head, tail: users.targets[u])
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

    /// Full-catalogue ranking: for a = E[head] + r', ‖a - T_i‖² = ‖a‖² - 2 a·T_i + ‖T_i‖², the
    /// a·T_i for a block of users at once through one matrix product.
    ///
    /// Without a prior the ranking compares ``ScoreRule/rankKey(normMinusTwoDot:item:)`` (the
    /// constant ‖a‖² and the square root do not change the order). With one, a candidate's score
    /// is the rule's score of ‖a‖² - 2 a·T_i + ‖T_i‖² blended with its count from the user's last
    /// input (a walk along that head's CSR row beside the items, ``TransitionPrior/blend(_:count:)``).
    func fullRanks(_ users: EvaluationUsers, adapted: CFPtr, prior: TransitionPrior?) -> [Int] {
        let c = configuration
        let K = c.K, d = c.dim, U = users.count
        let table = headTable, tails = tailTable
        let rule = scoreRule
        let norms = FloatBuffer(count: rows)
        for i in 0..<rows {
            var s: Float = 0
            let e = tails + i * d
            for j in 0..<d { s += e[j] * e[j] }
            norms[i] = s
        }
        let block = min(U, 256)
        let queries = FloatBuffer(count: block * d)
        let products = FloatBuffer(count: block * rows)
        var ranks = [Int](repeating: 0, count: U)
        let threads = c.threads
        var start = 0
        while start < U {
            let n = min(block, U - start)
            for i in 0..<n {
                let u = start + i
                let h = table + Int(users.inputs[u * K + K - 1]) * d, r = adapted + u * d, q = queries.pointer + i * d
                for j in 0..<d { q[j] = h[j] + r[j] }
            }
            BLAS.gemmNT(n, rows, d, queries.pointer, tails, beta: 0, products.pointer, threads: threads)
            let parts = max(1, min(threads, n / 16))
            let p = SharedPointer(products.pointer), nm = SharedPointer(norms.pointer), q = SharedPointer(queries.pointer)
            ranks.withUnsafeMutableBufferPointer { out in
                guard let base = out.baseAddress else { return }
                let o = SharedPointer(base)
                parallelChunks(parts, threads: threads) { part in
                    for i in splitRange(n, parts: parts, index: part) {
                        let u = start + i
                        let dots = p.p + i * rows
                        if let prior {
                            o.p[u] = Self.blendedRank(users, user: u, dots: dots, norms: nm.p, query: q.p + i * d, dim: d,
                                                      rule: rule, prior: prior)
                            continue
                        }
                        let target = Int(users.targets[u])
                        // Smaller is better (see ScoreRule.rankKey).
                        @inline(__always) func key(_ item: Int) -> Float {
                            rule.rankKey(normMinusTwoDot: nm.p[item] - 2 * dots[item], item: item)
                        }
                        let t = key(target)
                        guard t.isFinite else { o.p[u] = Metrics.unranked; continue }
                        var above = 0
                        for item in 1..<rows where item != target && key(item) <= t { above += 1 }
                        for k in 0..<K {
                            let item = Int(users.inputs[u * K + k])
                            if item != target && item >= 1 && key(item) <= t
                                && !users.inputs[(u * K)..<(u * K + k)].contains(Int32(item)) {
                                above -= 1   // the user's own inputs are not candidates
                            }
                        }
                        o.p[u] = 1 + above
                    }
                }
            }
            start += n
        }
        return ranks
    }

    /// One user's full-catalogue rank with the prior blended in: every candidate's score is the
    /// rule's score of ‖a‖² + ‖T_i‖² - 2 a·T_i, plus w · log(1 + count(last → i)), the counts read by
    /// walking the last input's CSR row (tails increasing) beside the items. Same rules as
    /// without a prior: a non-finite target is unranked, non-finite candidates never rank above,
    /// ties count against the target, the user's inputs are not candidates.
    private static func blendedRank(_ users: EvaluationUsers, user u: Int, dots: FPtr, norms: FPtr, query: FPtr,
                                    dim d: Int, rule: ScoreRule, prior: TransitionPrior) -> Int {
        let K = users.K, rows = prior.rows
        var qq: Float = 0
        for j in 0..<d { qq += query[j] * query[j] }
        @inline(__always) func distanceScore(_ item: Int) -> Float {
            rule.score(squaredDistance: qq + norms[item] - 2 * dots[item], item: item)
        }
        let last = users.inputs[u * K + K - 1]
        let target = Int(users.targets[u])
        let t = prior.blend(distanceScore(target), count: prior.count(head: last, tail: Int32(target)))
        guard t.isFinite else { return Metrics.unranked }
        let row = prior.transitions(from: last)
        var k = row.lowerBound
        var above = 0
        for item in 1..<rows {
            var s = distanceScore(item)
            if k < row.upperBound && Int(prior.tails[k]) == item {
                s = prior.blend(s, count: prior.counts[k])
                k += 1
            }
            if item != target && s >= t { above += 1 }
        }
        for j in 0..<K {
            let item = Int(users.inputs[u * K + j])
            guard item != target && item >= 1 && item < rows,
                  !users.inputs[(u * K)..<(u * K + j)].contains(Int32(item)) else { continue }
            let s = prior.blend(distanceScore(item), count: prior.count(head: last, tail: Int32(item)))
            if s >= t { above -= 1 }   // the user's own inputs are not candidates
        }
        return 1 + above
    }
}
