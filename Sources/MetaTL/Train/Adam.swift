import Foundation
import MetaTLKernels

/// Adam over the whole parameter arena, dense over every row, as PyTorch's `torch.optim.Adam`
/// with dense gradients: an embedding row with zero gradient still moves while its moments are
/// non-zero.
///
/// During training the embedding rows that no pair of a batch touches are updated *lazily*: a row
/// remembers the last step it was updated for (`ParameterArena.rowStep`) and, before anything
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

    /// Step `t`: every touched embedding row (which must be up to date through t-1) and the relation
    /// learner take the update with their gradient (the touched rows' gradients are then zeroed
    /// and their marks cleared); untouched rows are brought through t as well
    /// unless `lazy`, in which case they wait for ``catchUp(_:onlyTouched:through:threads:schedule:)``.
    /// `schedule` must hold step t.
    ///
    /// With `embeddingGradient`, the touched rows' gradients are summed from its terms (the
    /// arena's embedding gradient rows are not read and stay zero).
    func step(_ arena: ParameterArena, t: Int, threads: Int, lazy: Bool, schedule: Schedule,
              embeddingGradient terms: EmbeddingGradient? = nil) {
        let k = schedule[t]
        let p = SharedPointer(arena.params), g = SharedPointer(arena.grads)
        let m = SharedPointer(arena.adamM), v = SharedPointer(arena.adamV)
        let rowStep = SharedPointer(arena.rowStep), touched = SharedPointer(arena.touched)
        let d = arena.embedding.shape[1]
        let rest = arena.tableCount..<arena.total
        let parts = max(1, min(16, arena.total / 65536))
        let listed = arena.listTouched(), list = arena.touchedList.pointer
        parallelChunks(parts, threads: threads) { c in
            let denormals = mtl_k_flush_denormals()
            defer { mtl_k_restore_denormals(denormals) }
            var constants = k
            let mine = splitRange(listed, parts: parts, index: c)
            for i in mine {
                // Touched rows are scattered over a table larger than the caches: start loading
                // the row two ahead (its parameters, moments and gradient terms) now.
                if i + 2 < mine.upperBound {
                    let ahead = Int(list[i + 2]), oa = ahead * d
                    mtl_prefetch(p.p + oa, d); mtl_prefetch(m.p + oa, d); mtl_prefetch(v.p + oa, d)
                    if let terms { terms.prefetch(row: ahead, d: d) } else { mtl_prefetch(g.p + oa, d) }
                }
                let row = Int(list[i]), o = row * d
                if let terms {
                    terms.adamUpdate(row: row, p.p + o, m.p + o, v.p + o, d: d, &constants)
                } else {
                    Adam.update(p.p + o, m.p + o, v.p + o, grad: g.p + o, count: d, k)
                    // The gradient is spent: zero it while it is in cache, so the next step's
                    // ``ParameterArena/zeroGrads()`` need not visit the row.
                    (g.p + o).update(repeating: 0, count: d)
                }
                rowStep.p[row] = t
                touched.p[row] = 0
            }
            let r = splitRange(rest.count, parts: parts, index: c)
            let o = rest.lowerBound + r.lowerBound
            Adam.update(p.p + o, m.p + o, v.p + o, grad: g.p + o, count: r.count, k)
        }
        if !lazy { catchUp(arena, onlyTouched: false, through: t, threads: threads, schedule: schedule) }
    }

    /// Replays the zero-gradient updates that embedding rows missed, through step `t`: the rows
    /// marked in `arena.touched` when `onlyTouched`, else every row. Rows are visited in ascending
    /// order, so memory is read nearly sequentially; the marked ones are prefetched two ahead.
    func catchUp(_ arena: ParameterArena, onlyTouched: Bool, through t: Int, threads: Int, schedule: Schedule) {
        let d = arena.embedding.shape[1], rows = arena.tableRows
        let p = SharedPointer(arena.params), m = SharedPointer(arena.adamM), v = SharedPointer(arena.adamV)
        let rowStep = SharedPointer(arena.rowStep)
        let parts = max(1, min(16, rows / 256))
        // Only the marked rows: split by their count (see ``ParameterArena/listTouched()``).
        let listed = onlyTouched ? arena.listTouched() : rows, list = arena.touchedList.pointer
        schedule.withSteps { steps in
            guard let base = steps.baseAddress, steps.count >= t else { return }   // no step yet: nothing to replay
            let k = SharedPointer(UnsafeMutablePointer(mutating: base))
            parallelChunks(parts, threads: threads) { c in
                let denormals = mtl_k_flush_denormals()
                defer { mtl_k_restore_denormals(denormals) }
                let mine = splitRange(listed, parts: parts, index: c)
                for i in mine {
                    if onlyTouched && i + 2 < mine.upperBound {
                        let oa = Int(list[i + 2]) * d
                        mtl_prefetch(p.p + oa, d); mtl_prefetch(m.p + oa, d); mtl_prefetch(v.p + oa, d)
                    }
                    let row = onlyTouched ? Int(list[i]) : i
                    let from = rowStep.p[row]
                    guard from < t else { continue }
                    let o = row * d
                    Adam.replay(p.p + o, m.p + o, v.p + o, count: d, steps: k.p + from, n: t - from)
                    rowStep.p[row] = t
                }
            }
        }
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
