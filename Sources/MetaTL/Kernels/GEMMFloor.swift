import Foundation

/// The benchmark's yardstick: the relation learner's matrix products for one training step
/// (forward and one backward through the three Linear layers, B·(K-1) rows) and, with the
/// softmax loss, its three products against the N shared negatives (B x N x d each: the logits,
/// ∂L/∂a and ∂L/∂candidates), alone, through the same OpenBLAS calls the engine makes. A step
/// cannot be faster than this.
///
/// The operands are allocated and filled once, so that measuring between training steps
/// allocates nothing and costs only the products.
///
/// Benchmarks only: `@_spi(Diagnostics) import MetaTL` (the `metatl bench` command).
@_spi(Diagnostics) public final class GEMMFloor: @unchecked Sendable {
    private let configuration: Configuration
    private let rows: Int
    private let widths: [(inDim: Int, outDim: Int)]
    private let inputs: [FloatBuffer], outputs: [FloatBuffer], weights: [FloatBuffer]
    private let grads: [FloatBuffer], dinputs: [FloatBuffer]
    /// The softmax products' operands: queries (B x d), candidates (N x d), logits (B x N) and
    /// the two gradients; N = 0 without the softmax loss.
    private let candidates: Int
    private let queries: FloatBuffer, items: FloatBuffer, logits: FloatBuffer, dQueries: FloatBuffer, dItems: FloatBuffer

    /// Operands for `c`'s shapes (batch size, K, dim and hidden widths, the softmax's shared
    /// negatives; `catalogue` items when they are every item), filled with fixed values.
    public init(configuration c: Configuration, catalogue: Int = 0) {
        configuration = c
        rows = c.batchSize * c.supportCount
        widths = LearnerLayer.layers(c).map { ($0.inDim, $0.outDim) }
        var rng = RandomGenerator(seed: 99)
        let rows = self.rows
        func buffer(_ n: Int) -> FloatBuffer {
            let b = FloatBuffer(count: n)
            for i in 0..<n { b[i] = Float(rng.uniform() - 0.5) }
            return b
        }
        inputs = widths.map { buffer(rows * $0.0) }
        outputs = widths.map { buffer(rows * $0.1) }
        weights = widths.map { buffer($0.0 * $0.1) }
        grads = widths.map { buffer($0.0 * $0.1) }
        dinputs = widths.map { buffer(rows * $0.0) }
        candidates = c.softmaxCandidates(items: catalogue)
        let B = c.batchSize, N = candidates, d = c.dim
        queries = buffer(N > 0 ? B * d : 0); items = buffer(N * d); logits = buffer(B * N)
        dQueries = buffer(N > 0 ? B * d : 0); dItems = buffer(N * d)
    }

    /// Seconds per repetition of the step's matrix products, `repetitions` times, with
    /// OpenBLAS's own threads (`split` false) or split over the engine's workers as training
    /// runs them (`split` true).
    public func measure(repetitions: Int, split: Bool) -> [Double] {
        // A library call like any other: the caller's OpenBLAS thread count comes back after.
        BLASThreadCount.singleThreaded { measureProducts(repetitions: repetitions, split: split) }
    }

    private func measureProducts(repetitions: Int, split: Bool) -> [Double] {
        let c = configuration
        BLAS.setThreads(split ? 1 : c.threads)
        let workers = split ? c.threads : 1
        var times: [Double] = []
        for _ in 0..<max(1, repetitions) {
            let start = DispatchTime.now().uptimeNanoseconds
            for (l, (inDim, outDim)) in widths.enumerated() {
                BLAS.gemmNT(rows, outDim, inDim, inputs[l].pointer, weights[l].pointer, beta: 0, outputs[l].pointer, threads: workers)
            }
            for (l, (inDim, outDim)) in widths.enumerated().reversed() {
                BLAS.gemmTN(outDim, inDim, rows, outputs[l].pointer, inputs[l].pointer, beta: 1, grads[l].pointer, threads: workers)
                BLAS.gemmNN(rows, inDim, outDim, outputs[l].pointer, weights[l].pointer, beta: 0, dinputs[l].pointer, threads: workers)
            }
            if candidates > 0 {
                let B = c.batchSize, N = candidates, d = c.dim
                BLAS.gemmNT(B, N, d, queries.pointer, items.pointer, beta: 0, logits.pointer, threads: workers)
                BLAS.gemmNN(B, d, N, logits.pointer, items.pointer, beta: 0, dQueries.pointer, threads: workers)
                BLAS.gemmTN(N, d, B, logits.pointer, queries.pointer, beta: 0, dItems.pointer, threads: workers)
            }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        BLAS.setThreads(1)
        return times
    }
}
