/// The simple recommenders MetaTL is reported against, fitted on the training sequences.
public struct Baselines: Sendable {
    /// Which baseline.
    public enum Kind: String, Sendable, CaseIterable {
        /// Items ranked by how often they occur in training.
        case popularity
        /// First-order item-to-item transitions: count(last input → candidate) over
        /// consecutive training pairs, ties broken by popularity.
        case transition
        /// Second-order transitions: count(second-to-last, last input → candidate) over
        /// consecutive training triples, backing off to the first-order count and then to
        /// popularity (ranked by the three in that order). MetaTL adapts from a new user's two
        /// transitions, so this is the count-based baseline that sees the same evidence.
        case secondOrder = "transition2"
    }

    let rows: Int
    let K: Int
    /// Occurrences of each item row in training, scaled into [0, 1) so that it only breaks
    /// ties between transition counts (which are integers).
    let popularity: [Float]
    /// The rows that occur in training: the full protocol's candidates (as a model's are its
    /// training items, see ``CatalogueOrder``).
    let trained: [Bool]
    /// First-order transition counts (``TransitionPrior``'s, the one count of these pairs), CSR by
    /// head row: tails and counts of head h at offsets[h] ..< offsets[h+1].
    let offsets: [Int]
    let tails: [Int32]
    let counts: [Float]
    /// Second-order counts by context (a << 32 | b): the candidates c of a → b → c and their counts.
    let triples: [Int64: [(item: Int32, count: Double)]]

    /// Counts the training sequences of `dataset`.
    public init(dataset: Dataset) {
        rows = dataset.itemCount + 1
        K = dataset.K
        let pop = dataset.trainingItemCounts().map(Float.init)
        let top = (pop.max() ?? 0) + 1
        popularity = pop.map { $0 / top }
        trained = pop.map { $0 > 0 }
        var triples: [Int64: [Int32: Double]] = [:]
        for u in 0..<dataset.trainUserCount {
            let lo = dataset.trainOffsets[u], hi = dataset.trainOffsets[u + 1]
            var i = lo
            while i + 2 < hi {
                let context = Int64(dataset.trainItems[i]) << 32 | Int64(dataset.trainItems[i + 1])
                triples[context, default: [:]][dataset.trainItems[i + 2], default: 0] += 1
                i += 1
            }
        }
        self.triples = triples.mapValues { next in next.map { (item: $0.key, count: $0.value) } }
        let pairs = TransitionPrior(counting: dataset)
        offsets = pairs.offsets; tails = pairs.tails; counts = pairs.counts
    }

    /// Evaluates one baseline on one split, with the same candidates as MetaTL.
    public func evaluate(_ kind: Kind, on dataset: Dataset, split: Split, protocol method: EvaluationProtocol) -> Metrics {
        Metrics(ranks: ranks(kind, on: dataset, split: split, protocol: method))
    }

    /// Each user's rank of their target (the order of `dataset.users(split).userIDs`), as
    /// ``MetaTLModel/ranks(on:split:protocol:usingPrior:)`` gives MetaTL's.
    public func ranks(_ kind: Kind, on dataset: Dataset, split: Split, protocol method: EvaluationProtocol) -> [Int] {
        targets(kind, on: dataset, split: split, protocol: method).ranks
    }

    /// Each user's rank of their target and the baseline's score of it (popularity, plus the
    /// transition counts: see ``Kind``).
    public func targets(_ kind: Kind, on dataset: Dataset, split: Split, protocol method: EvaluationProtocol) -> TargetRanks {
        let users = dataset.users(split)
        var ranks = [Int](repeating: 0, count: users.count)
        var targetScores = [Double](repeating: 0, count: users.count)
        // Doubles: the second-order ranking is lexicographic (counts of triples, then of pairs, then
        // popularity) through one score, c₂·(max c₁ + 1) + c₁ + popularity, exact in a Double.
        var scores = [Double](repeating: 0, count: rows)
        let pairScale = Double((counts.max() ?? 0) + 1)
        let N = users.sampledNegatives
        for u in 0..<users.count {
            let last = Int(users.inputs[u * K + K - 1])
            let target = Int(users.targets[u])
            // Dense scores: popularity, plus transition counts from the last input.
            for i in 0..<rows { scores[i] = Double(popularity[i]) }
            if kind == .transition || kind == .secondOrder {
                for k in offsets[last]..<offsets[last + 1] { scores[Int(tails[k])] += Double(counts[k]) }
            }
            if kind == .secondOrder && K >= 2 {
                let context = Int64(users.inputs[u * K + K - 2]) << 32 | Int64(last)
                for next in triples[context] ?? [] { scores[Int(next.item)] += next.count * pairScale }
            }
            let t = scores[target]
            targetScores[u] = t
            var above = 0
            switch method {
            case .sampled:
                for j in 0..<N where scores[Int(users.negatives[u * N + j])] >= t { above += 1 }
                ranks[u] = 1 + above
            case .full:
                // The full protocol's one rule, as for MetaTL: ties to the smaller row.
                ranks[u] = scores.withUnsafeBufferPointer { s in
                    guard let base = s.baseAddress else { return Metrics.unranked }
                    return CatalogueOrder.rank(of: target, scores: base, rows: rows, excluding: users.inputs[(u * K)..<(u * K + K)],
                                               candidates: trained)
                }
            }
        }
        return TargetRanks(ranks: ranks, scores: targetScores)
    }
}
