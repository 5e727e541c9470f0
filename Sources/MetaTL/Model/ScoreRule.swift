import Foundation

/// The score of a transition h → t under an adapted relation r', the one place it is written
/// for evaluation and serving (training computes the same through its losses' kernels).
///
/// With u = E[h] + r' - T[t]:
/// - the margin loss (the reference): s = -‖u‖₂;
/// - the softmax loss: s = -α·‖u‖₂² + b[t], α = exp(log α), b the item bias (0 without one).
struct ScoreRule {
    let squared: Bool
    let alpha: Float
    let bias: UnsafePointer<Float>?

    /// The score from u's squared norm.
    @inline(__always)
    func score(squaredDistance d2: Float, item: Int) -> Float {
        guard squared else { return -(max(0, d2)).squareRoot() }
        return -alpha * max(0, d2) + (bias.map { $0[item] } ?? 0)
    }
}

extension MetaTLModel {
    /// This model's score rule (call with access held).
    var scoreRule: ScoreRule {
        let alpha = arena.logScale.map { Float(Foundation.exp(Double(arena.param($0)[0]))) } ?? 1
        return ScoreRule(squared: configuration.squaredScore, alpha: alpha,
                         bias: arena.itemBias.map { UnsafePointer(arena.param($0)) })
    }
}
