/// MetaTL's inner step for one task: r' = r - s with s = rate·∂L_s/∂r (d values).
///
/// The one place the rule is written: evaluation-mode adaptation (``MetaTLModel/adapt(users:heads:tails:negativeHeads:negativeTails:workspace:relation:adapted:)``,
/// rate β) and the meta step (rate β, or β·B with ``InnerStepScaling/perTask``) both call it, so a
/// user is adapted in serving exactly as in training.
///
/// `frozen`, when given, is s itself: gradient checks hold the step fixed, as the first-order
/// method treats it (a constant). `step`, when given, receives s.
@inline(__always)
func innerStep(relation r: CFPtr, supportGradient g: CFPtr, rate: Float, frozen: CFPtr? = nil, step: FPtr? = nil,
               adapted: FPtr, dim d: Int) {
    for j in 0..<d {
        // s is rounded to float before the subtraction (no fused multiply-add), as PyTorch's
        // r - beta * grad computes it.
        let s = frozen.map { $0[j] } ?? rate * g[j]
        step?[j] = s
        adapted[j] = r[j] - s
    }
}
