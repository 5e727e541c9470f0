import Foundation
import MetaTLKernels

/// Adam over the whole parameter arena, dense over every row, as PyTorch's `torch.optim.Adam`
/// with dense gradients: an embedding row with zero gradient still moves while its moments are
/// non-zero.
///
/// This type is the arithmetic (constants and the update kernels); ``OptimizerState`` holds the
/// moments and the lazy bookkeeping and applies the rules.
///
/// During training the embedding rows that no pair of a batch touches are updated *lazily*: a row
/// remembers the last step it was updated for (``OptimizerState/rowStep``) and, before anything
/// reads it (the next batch that uses it, or the end of the training call), replays the missed
/// steps with g = 0, one step at a time with that step's constants. The floating-point operations
/// per element are exactly those of the dense update, in the same order, so the parameters are
/// the same bit for bit; only the memory traffic for idle rows is saved.
///
/// Both run with denormals flushed to zero (see `mtl_k_flush_denormals`): a long-idle row's
/// first moment would otherwise sink into the denormal range and stay there, at ~100x the cost
/// per operation, for parameter steps far below a parameter's resolution.
struct Adam {
    var learningRate: Float
    var beta1: Double = 0.9
    var beta2: Double = 0.999
    var eps: Float = 1e-8

    /// One step's constants as float32, derived in double precision the way PyTorch derives them
    /// from Python floats: step_size = lr / (1 - β₁ᵗ), bc2_sqrt = √(1 - β₂ᵗ), one_minus_b1 = 1 - β₁
    /// (lerp's weight), one_minus_b2 = 1 - β₂ (addcmul's value), b2 = β₂ (mul_'s factor).
    typealias Constants = mtl_adam_constants

    /// Every step's constants, computed once (they are replayed for idle rows).
    final class Schedule: @unchecked Sendable {
        private var table: [Constants] = []
        private let adam: Adam
        init(_ adam: Adam) { self.adam = adam }
        /// Makes steps 1...t available.
        func extend(through t: Int) {
            while table.count < t { table.append(adam.constants(table.count + 1)) }
        }
        subscript(t: Int) -> Constants { table[t - 1] }
        /// Steps 1...count as contiguous memory (valid until the next `extend`).
        func withSteps<R>(_ body: (UnsafeBufferPointer<Constants>) -> R) -> R {
            table.withUnsafeBufferPointer(body)
        }
    }

    /// The constants of step `t` (1-based), computed the same way every time.
    func constants(_ t: Int) -> Constants {
        let bc1 = 1 - pow(beta1, Double(t))
        let bc2 = 1 - pow(beta2, Double(t))
        return Constants(step_size: Float(Double(learningRate) / bc1), bc2_sqrt: Float(bc2.squareRoot()),
                         one_minus_b1: Float(1 - beta1), b2: Float(beta2), one_minus_b2: Float(1 - beta2), eps: eps)
    }

    /// Sparse Adam's constants for a row updated at step `t` (1-based; see ``Optimizer/sparseAdam``):
    /// the same kernel computes p - step_size·m / (√v / bc2_sqrt + ε), so with
    /// step_size = lr·√(1 - β₂ᵗ) / (1 - β₁ᵗ) (in double precision, then float32) and bc2_sqrt = 1
    /// (an exact division) it is SparseAdam's p - step_size·m / (√v + ε).
    func sparseConstants(_ t: Int) -> Constants {
        let bc1 = 1 - pow(beta1, Double(t))
        let bc2 = 1 - pow(beta2, Double(t))
        return Constants(step_size: Float(Double(learningRate) * bc2.squareRoot() / bc1), bc2_sqrt: 1,
                         one_minus_b1: Float(1 - beta1), b2: Float(beta2), one_minus_b2: Float(1 - beta2), eps: eps)
    }

    /// `n` zero-gradient updates with constants steps[0..<n], each value kept in registers across
    /// them: the same operations, in the same order, as `n` calls of ``update`` with g = 0.
    @inline(__always)
    static func replay(_ p: FPtr, _ m: FPtr, _ v: FPtr, count: Int, steps: UnsafePointer<Constants>, n: Int) {
        mtl_k_adam_replay(p, m, v, count, steps, n)
    }

    /// PyTorch's update: m ← m + (1-β₁)(g - m); v ← β₂v + (1-β₂)g²;
    /// p ← p - stepSize·m / (√v / √bc₂ + ε). `grad` nil means g = 0.
    @inline(__always)
    static func update(_ p: FPtr, _ m: FPtr, _ v: FPtr, grad: FPtr?, count: Int, _ k: Constants) {
        var k = k
        mtl_k_adam_update(p, m, v, grad, count, &k)
    }
}
