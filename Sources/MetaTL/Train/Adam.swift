import Foundation

/// Adam over the whole parameter arena, dense over every row (as PyTorch's `torch.optim.Adam`
/// with dense gradients: an embedding row with zero gradient still moves while its moments
/// are non-zero).
///
/// Embedding rows that no pair of the batch touched have a zero gradient; their update is the
/// same formula with g = 0 (bit for bit), without reading the gradient.
struct Adam {
    var learningRate: Float
    var beta1: Float = 0.9
    var beta2: Float = 0.999
    var eps: Float = 1e-8

    /// One update with step count `t` (1 on the first call), split over `threads` workers.
    /// `touched[row]` is non-zero for the embedding rows whose gradient may be non-zero.
    func step(_ arena: ParameterArena, t: Int, threads: Int, touched: UnsafePointer<UInt8>?) {
        let bc1 = 1 - Float(pow(Double(beta1), Double(t)))
        let bc2 = 1 - Float(pow(Double(beta2), Double(t)))
        let k = Constants(stepSize: learningRate / bc1, bc2Sqrt: bc2.squareRoot(), b1: beta1, b2: beta2, eps: eps)
        let p = SharedPointer(arena.params), g = SharedPointer(arena.grads)
        let m = SharedPointer(arena.adamM), v = SharedPointer(arena.adamV)
        let table = arena.embedding
        let rows = table.shape[0], d = table.shape[1]
        let rest = table.count..<arena.total
        let touchedRows = touched.map { SharedPointer(UnsafeMutablePointer(mutating: $0)) }
        let parts = max(1, min(16, arena.total / 65536))
        parallelChunks(parts, threads: threads) { c in
            for row in splitRange(rows, parts: parts, index: c) {
                let o = row * d
                if touchedRows.map({ $0.p[row] != 0 }) ?? true {
                    update(p.p + o, m.p + o, v.p + o, grad: g.p + o, count: d, k)
                } else {
                    update(p.p + o, m.p + o, v.p + o, grad: nil, count: d, k)
                }
            }
            let r = splitRange(rest.count, parts: parts, index: c)
            let o = rest.lowerBound + r.lowerBound
            update(p.p + o, m.p + o, v.p + o, grad: g.p + o, count: r.count, k)
        }
    }

    struct Constants { let stepSize, bc2Sqrt, b1, b2, eps: Float }

    /// PyTorch's update: m ← m + (1-β₁)(g - m); v ← β₂v + (1-β₂)g²;
    /// p ← p - stepSize·m / (√v / √bc₂ + ε). `grad` nil means g = 0.
    @inline(__always)
    private func update(_ p: FPtr, _ m: FPtr, _ v: FPtr, grad: FPtr?, count: Int, _ k: Constants) {
        var j = 0
        while j + 16 <= count {
            let gi = grad.map { load16($0 + j) } ?? SIMD16<Float>()
            let mi = load16(m + j) + (1 - k.b1) * (gi - load16(m + j))
            let vi = load16(v + j) * k.b2 + (1 - k.b2) * gi * gi
            store16(mi, m + j)
            store16(vi, v + j)
            store16(load16(p + j) - k.stepSize * mi / (vi.squareRoot() / k.bc2Sqrt + k.eps), p + j)
            j += 16
        }
        while j < count {
            let gi = grad?[j] ?? 0
            let mi = m[j] + (1 - k.b1) * (gi - m[j])
            let vi = v[j] * k.b2 + (1 - k.b2) * gi * gi
            m[j] = mi
            v[j] = vi
            p[j] -= k.stepSize * mi / (vi.squareRoot() / k.bc2Sqrt + k.eps)
            j += 1
        }
    }
}
