/// TransE scoring of an item transition h → t under a relation r, and the margin loss.
enum TransE {
    /// score = -‖h + r - t‖₂ (the L2 norm, not squared). Writes ∂‖u‖/∂u = u/‖u‖ for
    /// u = h + r - t into `direction` (zero when ‖u‖ = 0, as PyTorch's norm backward does).
    @inline(__always)
    static func score(h: CFPtr, r: CFPtr, t: CFPtr, dim: Int, direction: FPtr) -> Float {
        var sq: Float = 0
        for j in 0..<dim {
            let u = h[j] + r[j] - t[j]
            direction[j] = u
            sq += u * u
        }
        let norm = sq.squareRoot()
        let inv: Float = norm > 0 ? 1 / norm : 0
        for j in 0..<dim { direction[j] *= inv }
        return -norm
    }

    /// score = -‖h + r - t‖₂ without the direction (evaluation).
    @inline(__always)
    static func score(h: CFPtr, r: CFPtr, t: CFPtr, dim: Int) -> Float {
        var sq: Float = 0
        for j in 0..<dim {
            let u = h[j] + r[j] - t[j]
            sq += u * u
        }
        return -sq.squareRoot()
    }

    /// One term of the margin ranking loss with target 1: max(0, margin - (pos - neg)).
    @inline(__always)
    static func marginTerm(positive: Float, negative: Float, margin: Float) -> Float {
        max(0, margin - (positive - negative))
    }
}
