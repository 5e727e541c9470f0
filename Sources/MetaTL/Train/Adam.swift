import Foundation

/// Adam over the whole parameter arena, dense over every row (as PyTorch's `torch.optim.Adam`
/// with dense gradients: an embedding row with zero gradient still moves while its moments
/// are non-zero).
struct Adam {
    var learningRate: Float
    var beta1: Float = 0.9
    var beta2: Float = 0.999
    var eps: Float = 1e-8

    /// One update with step count `t` (1 on the first call), split over `threads` workers.
    func step(_ arena: ParameterArena, t: Int, threads: Int) {
        let bc1 = 1 - Float(pow(Double(beta1), Double(t)))
        let bc2 = 1 - Float(pow(Double(beta2), Double(t)))
        let stepSize = learningRate / bc1
        let bc2Sqrt = bc2.squareRoot()
        let (b1, b2, eps) = (beta1, beta2, eps)
        let p = SharedPointer(arena.params), g = SharedPointer(arena.grads)
        let m = SharedPointer(arena.adamM), v = SharedPointer(arena.adamV)
        let parts = max(1, min(threads, arena.total / 65536))
        parallelChunks(parts, threads: threads) { c in
            for i in splitRange(arena.total, parts: parts, index: c) {
                let gi = g.p[i]
                let mi = m.p[i] + (1 - b1) * (gi - m.p[i])
                let vi = v.p[i] * b2 + (1 - b2) * gi * gi
                m.p[i] = mi
                v.p[i] = vi
                p.p[i] -= stepSize * mi / (vi.squareRoot() / bc2Sqrt + eps)
            }
        }
    }
}
