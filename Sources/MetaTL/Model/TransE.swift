/// TransE scoring of an item transition h → t under a relation r, and the margin loss.
enum TransE {
    /// score = -‖h + r - t‖₂ (the L2 norm, not squared). Writes ∂‖u‖/∂u = u/‖u‖ for
    /// u = h + r - t into `direction` (zero when ‖u‖ = 0, as PyTorch's norm backward does).
    @inline(__always)
    static func score(h: CFPtr, r: CFPtr, t: CFPtr, dim: Int, direction: FPtr) -> Float {
        var sq16 = SIMD16<Float>()
        var sq: Float = 0
        var j = 0
        while j + 16 <= dim {
            let u = load16(h + j) + load16(r + j) - load16(t + j)
            store16(u, direction + j)
            sq16 += u * u
            j += 16
        }
        while j < dim {
            let u = h[j] + r[j] - t[j]
            direction[j] = u
            sq += u * u
            j += 1
        }
        let norm = (sq16.sum() + sq).squareRoot()
        let inv: Float = norm > 0 ? 1 / norm : 0
        j = 0
        while j + 16 <= dim { store16(load16(direction + j) * inv, direction + j); j += 16 }
        while j < dim { direction[j] *= inv; j += 1 }
        return -norm
    }

    /// score = -‖h + r - t‖₂ without the direction (evaluation).
    @inline(__always)
    static func score(h: CFPtr, r: CFPtr, t: CFPtr, dim: Int) -> Float {
        var sq16 = SIMD16<Float>()
        var sq: Float = 0
        var j = 0
        while j + 16 <= dim {
            let u = load16(h + j) + load16(r + j) - load16(t + j)
            sq16 += u * u
            j += 16
        }
        while j < dim {
            let u = h[j] + r[j] - t[j]
            sq += u * u
            j += 1
        }
        return -(sq16.sum() + sq).squareRoot()
    }

    /// One term of the margin ranking loss with target 1: max(0, margin - (pos - neg)).
    @inline(__always)
    static func marginTerm(positive: Float, negative: Float, margin: Float) -> Float {
        max(0, margin - (positive - negative))
    }
}
