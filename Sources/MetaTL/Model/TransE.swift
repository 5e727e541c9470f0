import MetaTLKernels

/// TransE scoring of an item transition h → t under a relation r, and the margin loss.
enum TransE {
    /// score = -‖h + r - t‖₂ (the L2 norm, not squared). Writes ∂‖u‖/∂u = u/‖u‖ for
    /// u = h + r - t into `direction` (zero when ‖u‖ = 0, as PyTorch's norm backward does).
    @inline(__always)
    static func score(h: CFPtr, r: CFPtr, t: CFPtr, dim: Int, direction: FPtr) -> Float {
        mtl_k_transe_score_direction(h, r, t, dim, direction)
    }

    /// score = -‖h + r - t‖₂ without the direction (evaluation).
    @inline(__always)
    static func score(h: CFPtr, r: CFPtr, t: CFPtr, dim: Int) -> Float {
        mtl_k_transe_score(h, r, t, dim)
    }

    /// One term of the margin ranking loss with target 1: max(0, margin - (pos - neg)).
    @inline(__always)
    static func marginTerm(positive: Float, negative: Float, margin: Float) -> Float {
        max(0, margin - (positive - negative))
    }
}
