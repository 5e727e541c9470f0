import Foundation

/// Ranking metrics averaged over users. Ranks are pessimistic: rank = 1 + the number of
/// candidates scoring at least as high as the target. A target whose score is not finite is
/// not ranked at all (``unranked``): it counts as a miss everywhere (reciprocal rank 0), and a
/// candidate whose score is not finite never counts as above the target. Every metric is
/// therefore in [0, 1], and a model that produces NaN scores 0, never 1.
public struct Metrics: Sendable, Equatable, Codable {
    public var mrr: Double = 0
    public var ndcg1: Double = 0
    public var ndcg5: Double = 0
    public var ndcg10: Double = 0
    public var hits1: Double = 0
    public var hits5: Double = 0
    public var hits10: Double = 0
    /// Users evaluated.
    public var users: Int = 0
    /// NDCG@k and Hits@k at the cutoffs asked for besides 1, 5 and 10 (``init(ranks:cutoffs:)``),
    /// ascending.
    public var moreCutoffs: [AtCutoff] = []

    /// NDCG@k and Hits@k at one cutoff k.
    public struct AtCutoff: Sendable, Equatable, Codable {
        public var k: Int
        public var ndcg: Double
        public var hits: Double
    }

    /// The cutoffs every ``Metrics`` reports.
    public static let standardCutoffs = [1, 5, 10]

    public init() {}

    private enum CodingKeys: String, CodingKey { case mrr, ndcg1, ndcg5, ndcg10, hits1, hits5, hits10, users, moreCutoffs }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mrr = try c.decode(Double.self, forKey: .mrr)
        ndcg1 = try c.decode(Double.self, forKey: .ndcg1); ndcg5 = try c.decode(Double.self, forKey: .ndcg5)
        ndcg10 = try c.decode(Double.self, forKey: .ndcg10)
        hits1 = try c.decode(Double.self, forKey: .hits1); hits5 = try c.decode(Double.self, forKey: .hits5)
        hits10 = try c.decode(Double.self, forKey: .hits10)
        users = try c.decode(Int.self, forKey: .users)
        moreCutoffs = try c.decodeIfPresent([AtCutoff].self, forKey: .moreCutoffs) ?? []
    }

    /// NDCG@k and Hits@k of 1-based ranks (``unranked`` and ranks below 1 are misses): the
    /// gain of a hit at rank r is 1 / log2(r + 1), averaged over all users.
    public static func at(_ k: Int, ranks: [Int]) -> AtCutoff {
        var ndcg = 0.0, hits = 0.0
        for rank in ranks where rank >= 1 && rank <= k {
            hits += 1
            ndcg += 1 / log2(Double(rank) + 1)
        }
        let n = Double(max(ranks.count, 1))
        return AtCutoff(k: k, ndcg: ndcg / n, hits: hits / n)
    }

    /// ``init(ranks:)`` with NDCG@k and Hits@k also at `cutoffs` (each >= 1; 1, 5 and 10 and
    /// repeats are left out, they are there already).
    public init(ranks: [Int], cutoffs: [Int]) {
        self.init(ranks: ranks)
        moreCutoffs = Set(cutoffs).subtracting(Metrics.standardCutoffs).filter { $0 >= 1 }.sorted().map { Metrics.at($0, ranks: ranks) }
    }

    /// The rank of a target whose score is not finite: below every candidate, and a miss.
    public static let unranked = Int.max

    /// Metrics of the given 1-based ranks (``unranked`` counts as a miss).
    public init(ranks: [Int]) {
        users = ranks.count
        guard !ranks.isEmpty else { return }
        for rank in ranks where rank >= 1 && rank != Metrics.unranked { mrr += 1 / Double(rank) }
        mrr /= Double(ranks.count)
        let one = Metrics.at(1, ranks: ranks), five = Metrics.at(5, ranks: ranks), ten = Metrics.at(10, ranks: ranks)
        ndcg1 = one.ndcg; hits1 = one.hits
        ndcg5 = five.ndcg; hits5 = five.hits
        ndcg10 = ten.ndcg; hits10 = ten.hits
    }

    /// Names and values in the reference's order of report, the further cutoffs after their
    /// kind (NDCG@1, NDCG@5, NDCG@10, NDCG@20, Hits@1, ...).
    public var named: [(name: String, value: Double)] {
        [("MRR", mrr), ("NDCG@1", ndcg1), ("NDCG@5", ndcg5), ("NDCG@10", ndcg10)]
            + moreCutoffs.map { ("NDCG@\($0.k)", $0.ndcg) }
            + [("Hits@1", hits1), ("Hits@5", hits5), ("Hits@10", hits10)]
            + moreCutoffs.map { ("Hits@\($0.k)", $0.hits) }
    }
}

/// How candidates are chosen for ranking the target.
public enum EvaluationProtocol: String, Sendable, CaseIterable {
    /// The reference's: the target against 100 uniformly drawn negatives.
    case sampled
    /// The target against every item of the catalogue except the user's inputs.
    case full
}

/// Each user's rank of their target and the target's score, in the order of the split's
/// ``EvaluationUsers/userIDs``: what metrics summarise, for per-user analyses.
public struct TargetRanks: Sendable, Equatable {
    /// 1 is best; ``Metrics/unranked`` for a target whose score is not finite.
    public var ranks: [Int]
    /// The system's score of the target (higher is better; a baseline's is its count score).
    public var scores: [Double]

    public init(ranks: [Int], scores: [Double]) {
        self.ranks = ranks
        self.scores = scores
    }

    public static func == (a: TargetRanks, b: TargetRanks) -> Bool {
        // NaN scores (unranked targets) compare equal to each other here.
        a.ranks == b.ranks && a.scores.count == b.scores.count
            && zip(a.scores, b.scores).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
    }
}
