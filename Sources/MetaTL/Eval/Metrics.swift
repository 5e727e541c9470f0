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

    public init() {}

    /// The rank of a target whose score is not finite: below every candidate, and a miss.
    public static let unranked = Int.max

    /// Metrics of the given 1-based ranks (``unranked`` counts as a miss).
    public init(ranks: [Int]) {
        users = ranks.count
        guard !ranks.isEmpty else { return }
        for rank in ranks where rank >= 1 && rank != Metrics.unranked {
            let gain = 1 / log2(Double(rank) + 1)
            mrr += 1 / Double(rank)
            if rank <= 1 { hits1 += 1; ndcg1 += gain }
            if rank <= 5 { hits5 += 1; ndcg5 += gain }
            if rank <= 10 { hits10 += 1; ndcg10 += gain }
        }
        let n = Double(ranks.count)
        mrr /= n; ndcg1 /= n; ndcg5 /= n; ndcg10 /= n; hits1 /= n; hits5 /= n; hits10 /= n
    }

    /// Names and values in the reference's order of report.
    public var named: [(name: String, value: Double)] {
        [("MRR", mrr), ("NDCG@1", ndcg1), ("NDCG@5", ndcg5), ("NDCG@10", ndcg10),
         ("Hits@1", hits1), ("Hits@5", hits5), ("Hits@10", hits10)]
    }
}

/// How candidates are chosen for ranking the target.
public enum EvaluationProtocol: String, Sendable, CaseIterable {
    /// The reference's: the target against 100 uniformly drawn negatives.
    case sampled
    /// The target against every item of the catalogue except the user's inputs.
    case full
}
