import Foundation

/// First-order transition counts blended into MetaTL's scores: a candidate t after the last
/// input h scores
///
///     s(t) = score(h → t) + w · log(1 + count(h → t))
///
/// where score is the model's own (``ScoreRule``: -‖E[h] + r' - T[t]‖₂ for the margin loss,
/// -α‖E[h] + r' - T[t]‖₂² + b[t] for the softmax loss),
/// and count(h → t) is how often t directly follows h in the training sequences. The counts
/// are kept as CSR by head row (the tails and counts of head h at `offsets[h] ..< offsets[h+1]`,
/// tails strictly increasing within a head), so scoring looks up one head's row and never makes
/// a dense pass over the prior.
///
/// ``blend(_:count:)`` is the one place the rule is written; ``PairScorer`` (sampled
/// evaluation, ``MetaTLModel/score(relation:lastItem:candidates:)``,
/// ``MetaTLModel/recommend(history:topN:excludeHistory:)``) and the full-catalogue ranking use
/// it. A weight of 0 scores exactly as the model without a prior (the model then does not even
/// add the 0). The first-order ``Baselines`` rank by these same counts.
public struct TransitionPrior: Sendable, Equatable {
    /// The grid ``MetaTLModel/attachTransitionPrior(from:weight:)`` chooses the weight from.
    public static let weightGrid: [Float] = [0, 0.25, 0.5, 1, 2, 4, 8, 16, 32]
    /// The largest weight: with it every blended score of a model within ``ValueLimits`` stays
    /// finite (log(1 + c) ≤ 89 for any finite count).
    public static let maxWeight: Float = ValueLimits.parameter

    /// Embedding rows (the catalogue's items plus the padding row 0).
    public let rows: Int
    /// Where each head row's transitions start in ``tails`` and ``counts`` (rows + 1 values,
    /// from 0 to the number of distinct pairs).
    public let offsets: [Int]
    /// The tail rows, in 1 ..< rows, strictly increasing within each head row.
    public let tails: [Int32]
    /// How often each (head → tail) pair occurs in training (finite, ≥ 0).
    public let counts: [Float]
    /// w, in 0 ... ``maxWeight``.
    public let weight: Float

    /// Counts the consecutive (head → tail) pairs of `dataset`'s training sequences, with weight
    /// 0 (set one with ``withWeight(_:)``).
    public init(counting dataset: Dataset) {
        let rows = dataset.itemCount + 1
        var pairs: [Int64: Float] = [:]
        for u in 0..<dataset.trainUserCount {
            let lo = dataset.trainOffsets[u], hi = dataset.trainOffsets[u + 1]
            var i = lo
            while i + 1 < hi {
                pairs[Int64(dataset.trainItems[i]) << 32 | Int64(dataset.trainItems[i + 1]), default: 0] += 1
                i += 1
            }
        }
        let sorted = pairs.keys.sorted()
        var offsets = [Int](repeating: 0, count: rows + 1)
        var tails: [Int32] = [], counts: [Float] = []
        tails.reserveCapacity(sorted.count); counts.reserveCapacity(sorted.count)
        for key in sorted {
            let h = Int(key >> 32)
            offsets[h + 1] += 1
            tails.append(Int32(truncatingIfNeeded: key & 0xFFFF_FFFF))
            counts.append(pairs[key] ?? 0)
        }
        for h in 0..<rows { offsets[h + 1] += offsets[h] }
        self.init(unchecked: rows, offsets: offsets, tails: tails, counts: counts, weight: 0)
    }

    /// A prior from stored arrays (a checkpoint's), validated fully: `.invalidArgument` naming
    /// the first problem.
    public init(rows: Int, offsets: [Int], tails: [Int32], counts: [Float], weight: Float) throws(MetaTLError) {
        if let why = Self.problem(rows: rows, offsets: offsets, tails: tails, counts: counts) { throw .invalidArgument(why) }
        try Self.checkWeight(weight)
        self.init(unchecked: rows, offsets: offsets, tails: tails, counts: counts, weight: weight)
    }

    init(unchecked rows: Int, offsets: [Int], tails: [Int32], counts: [Float], weight: Float) {
        self.rows = rows; self.offsets = offsets; self.tails = tails; self.counts = counts; self.weight = weight
    }

    /// The same counts with another weight (validated).
    public func withWeight(_ weight: Float) throws(MetaTLError) -> TransitionPrior {
        try Self.checkWeight(weight)
        return TransitionPrior(unchecked: rows, offsets: offsets, tails: tails, counts: counts, weight: weight)
    }

    /// Throws `.invalidArgument` unless `weight` is finite and in 0 ... ``maxWeight``.
    static func checkWeight(_ weight: Float) throws(MetaTLError) {
        guard weight.isFinite, weight >= 0, weight <= maxWeight else {
            throw .invalidArgument("transition prior weight must be finite and in 0...\(maxWeight) (got \(weight))")
        }
    }

    /// What is wrong with these arrays as a prior over `rows` rows, nil when nothing is.
    static func problem(rows: Int, offsets: [Int], tails: [Int32], counts: [Float]) -> String? {
        guard rows >= 2 else { return "transition prior needs at least 2 rows (got \(rows))" }
        guard offsets.count == rows + 1 else { return "transition prior offsets hold \(offsets.count) values, expected rows + 1 = \(rows + 1)" }
        guard tails.count == counts.count else { return "transition prior holds \(tails.count) tails but \(counts.count) counts" }
        guard offsets[0] == 0 else { return "transition prior offsets must start at 0 (found \(offsets[0]))" }
        for h in 0..<rows {
            let lo = offsets[h], hi = offsets[h + 1]
            guard lo <= hi else { return "transition prior offsets decrease at row \(h) (\(lo) then \(hi))" }
            guard hi <= tails.count else { return "transition prior offsets run past the \(tails.count) transitions at row \(h) (\(hi))" }
            var previous: Int32 = 0
            for k in lo..<hi {
                let t = tails[k]
                guard t >= 1 && Int(t) < rows else { return "transition prior tail \(t) at \(k) is not an item row (1..<\(rows))" }
                guard t > previous else { return "transition prior tails of row \(h) are not strictly increasing (\(previous) then \(t))" }
                previous = t
            }
        }
        guard offsets[rows] == tails.count else {
            return "transition prior offsets end at \(offsets[rows]), expected the \(tails.count) transitions"
        }
        for (k, c) in counts.enumerated() where !(c.isFinite && c >= 0) {
            return "transition prior count \(c) at \(k) is not finite and non-negative"
        }
        return nil
    }

    /// The positions of head row `head`'s transitions in ``tails`` and ``counts``.
    @inline(__always)
    func transitions(from head: Int32) -> Range<Int> {
        let h = Int(head)
        guard h >= 0 && h < rows else { return 0..<0 }
        return offsets[h]..<offsets[h + 1]
    }

    /// count(head → tail), 0 when the pair never occurs (a binary search in head's row).
    func count(head: Int32, tail: Int32) -> Float {
        let row = transitions(from: head)
        var lo = row.lowerBound, hi = row.upperBound
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if tails[mid] < tail { lo = mid + 1 } else { hi = mid }
        }
        return lo < row.upperBound && tails[lo] == tail ? counts[lo] : 0
    }

    /// The blended score: `distanceScore` + w · log(1 + count). The one implementation of the rule.
    @inline(__always)
    func blend(_ distanceScore: Float, count: Float) -> Float {
        distanceScore + term(count: count)
    }

    /// The prior's part of a blended score, w · log(1 + count).
    @inline(__always)
    func term(count: Float) -> Float {
        weight * Foundation.log(1 + count)
    }
}

/// How ``MetaTLModel/attachTransitionPrior(from:weight:)`` sets w.
public enum PriorWeight: Sendable, Equatable {
    /// This weight (finite, in 0 ... ``TransitionPrior/maxWeight``).
    case fixed(Float)
    /// The point of ``TransitionPrior/weightGrid`` with the best validation full-ranking MRR
    /// (the first on ties, so 0 wins when the prior does not help).
    case chooseOnValidation
}

/// What ``MetaTLModel/attachTransitionPrior(from:weight:)`` chose.
public struct PriorChoice: Sendable {
    /// The weight attached.
    public var weight: Float
    /// Each weight tried with its validation full-ranking MRR (empty for a fixed weight).
    public var validationFullMRR: [(weight: Float, mrr: Double)]
}

extension MetaTLModel {
    /// Counts `dataset`'s training transitions and attaches them as the model's transition prior,
    /// replacing any attached one; evaluation and serving then blend them in (see
    /// ``TransitionPrior``). With ``PriorWeight/chooseOnValidation`` the weight is the grid point
    /// with the best full-ranking MRR on `dataset`'s validation users (`.invalidArgument` when it
    /// has none).
    ///
    /// The dataset must match the model's vocabulary and K. Holds the model alone like
    /// ``setTensor(named:to:)`` (the validation runs inside, so it sees one model throughout).
    @discardableResult
    public func attachTransitionPrior(from dataset: Dataset, weight: PriorWeight) throws(MetaTLError) -> PriorChoice {
        if case .fixed(let w) = weight { try TransitionPrior.checkWeight(w) }
        try checkCompatible(dataset)
        let counted = TransitionPrior(counting: dataset)
        return try access.writing("attach a transition prior") { () throws(MetaTLError) -> PriorChoice in
            switch weight {
            case .fixed(let w):
                transitionPrior = try counted.withWeight(w)
                return PriorChoice(weight: w, validationFullMRR: [])
            case .chooseOnValidation:
                let users = dataset.users(.valid)
                guard users.count > 0 else {
                    throw .invalidArgument("cannot choose the transition prior's weight: the dataset has no validation users (give a fixed weight)")
                }
                var tried: [(weight: Float, mrr: Double)] = []
                let relations = servingRelations(of: users)   // once for the whole grid
                for w in TransitionPrior.weightGrid {
                    let prior = try counted.withWeight(w)
                    let ranks = relations.withUnsafeBufferPointer { buf -> [Int] in
                        guard let r = buf.baseAddress else { return [] }
                        return fullRanks(users, relations: r, prior: w > 0 ? prior : nil)
                    }
                    tried.append((w, Metrics(ranks: ranks).mrr))
                }
                var best = 0
                for i in tried.indices where tried[i].mrr > tried[best].mrr { best = i }
                transitionPrior = try counted.withWeight(tried[best].weight)
                return PriorChoice(weight: tried[best].weight, validationFullMRR: tried)
            }
        }
    }

    /// Removes the transition prior: the model scores by distance alone again.
    public func detachTransitionPrior() throws(MetaTLError) {
        try access.writing("detach the transition prior") { () throws(MetaTLError) in transitionPrior = nil }
    }

    /// The attached prior (nil when none), read as a reader.
    public func attachedTransitionPrior() throws(MetaTLError) -> TransitionPrior? {
        try access.reading("read the transition prior") { () throws(MetaTLError) -> TransitionPrior? in transitionPrior }
    }

    /// The prior that scoring blends in: the attached one when its weight is above 0, else nil
    /// (so that w = 0 scores bit for bit as no prior). Call with access held.
    var scoringPrior: TransitionPrior? {
        guard let p = transitionPrior, p.weight > 0 else { return nil }
        return p
    }
}
