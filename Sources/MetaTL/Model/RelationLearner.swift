import MetaTLKernels

/// The relation learner: from a task's K-1 support pairs (head, tail) to its relation r.
///
///     concat(E[h], T[t]) (2d) → Linear(2d, H1) → BN → LeakyReLU → Dropout
///                             → Linear(H1, H2) → BN → LeakyReLU → Dropout
///                             → Linear(H2, d)  → BN → mean over the K-1 positions = r
///
/// Activations live in a ``RelationLearnerWorkspace``; parameters in the model's arena.
struct RelationLearner {
    static let leakySlope: Float = 0.01
    static let bnMomentum: Float = 0.1
    static let bnEps: Float = 1e-5

    let arena: ParameterArena
    let running: RunningStatistics
    let dim: Int
    let widths: [(inDim: Int, outDim: Int)]
    let positions: Int
    let dropout: Float
    let threads: Int

    init(model: MetaTLModel) {
        arena = model.arena
        running = model.running
        let c = model.configuration
        dim = c.dim
        widths = arena.layers.map { ($0.layer.inDim, $0.layer.outDim) }
        positions = c.supportCount
        dropout = c.dropout
        threads = c.threads
    }

    /// Fills the input rows: row n = concat(E[heads[n]], T[tails[n]]) (T is E without a tail table).
    func gatherInput(_ ws: RelationLearnerWorkspace, heads: UnsafePointer<Int32>, tails: UnsafePointer<Int32>, rows: Int) {
        let table = arena.param(arena.embedding)
        let tailTable = UnsafePointer(arena.tailEmbedding.map { arena.param($0) } ?? table)
        let x = SharedPointer(ws.x0.pointer), d = dim
        let parts = max(1, min(threads, rows / 256))
        parallelChunks(parts, threads: threads) { c in
            let mine = splitRange(rows, parts: parts, index: c)
            for n in mine {
                if n + 4 < mine.upperBound {   // rows four ahead, so that their loads overlap these copies
                    mtl_prefetch(table + Int(heads[n + 4]) * d, d)
                    mtl_prefetch(tailTable + Int(tails[n + 4]) * d, d)
                }
                (x.p + n * 2 * d).update(from: table + Int(heads[n]) * d, count: d)
                (x.p + n * 2 * d + d).update(from: tailTable + Int(tails[n]) * d, count: d)
            }
        }
    }

    /// Training mode: batch statistics (running statistics updated), dropout drawn from
    /// (seed, step). Layer l's output (after dropout) is in `ws.activation[l]`; the last layer's
    /// rows are the per-position relations.
    ///
    /// `frozen`: evaluation-mode normalisation (running statistics, left unchanged) and no
    /// dropout, but everything kept for ``backward(_:tasks:dRelation:frozen:timer:)``.
    func forwardTrain(_ ws: RelationLearnerWorkspace, rows: Int, seed: UInt64, step: UInt64, frozen: Bool = false,
                      timer: PhaseTimer? = nil) {
        let tasks = rows / positions, S = positions
        let statistics = ws.normScratch.partial.pointer
        for l in 0..<3 {
            let (inDim, outDim) = widths[l]
            let inp: CFPtr = l == 0 ? CFPtr(ws.x0.pointer) : CFPtr(ws.activation[l - 1].pointer)
            let z = ws.linear[l].pointer, weight = arena.param(arena.layers[l].weight), bias = arena.param(arena.layers[l].bias)
            if frozen {
                linearForward(out: z, inp: inp, weight: weight, bias: nil, rows: rows, inDim: inDim, outDim: outDim,
                              threads: threads)
            } else {
                // The product without its bias, and at once the batch statistics' partial sums over
                // each worker's rows (pass 1 of the norm block) while they are in its cache.
                let chunks = normChunks(tasks)
                statistics.update(repeating: 0, count: chunks * S * 2)
                productByChunks(tasks: tasks, positions: S, threads: threads, product: { r in
                    BLAS.gemmNT(rows: r, outDim, inDim, inp, weight, beta: 0, z)
                }, afterwards: { c in
                    forwardStatistics(chunk: c, linear: z, bias: bias, partial: statistics, tasks: tasks, positions: S,
                                      features: outDim, chunks: chunks)
                })
            }
            timer?.mark("forward gemm + statistics")
            normBlockForward(normBlock(l, ws), tasks: tasks, positions: S, features: outDim, mode: mode(l, frozen: frozen),
                             keys: DropoutKeys(seed: seed, step: step, layer: UInt64(l)), threads: threads,
                             statistics: statistics)
            timer?.mark("forward elementwise")
        }
    }

    /// Evaluation mode: running statistics, no dropout. Rows are independent, so any number of
    /// users can go through at once.
    ///
    /// The norm block is training's frozen one (the same kernel). The product includes its bias
    /// here (as evaluation always computed it), so the block adds a zero bias: x + 0 = x.
    func forwardEval(_ ws: RelationLearnerWorkspace, rows: Int) {
        let tasks = rows / positions
        for l in 0..<3 {
            let (inDim, outDim) = widths[l]
            let inp: CFPtr = l == 0 ? CFPtr(ws.x0.pointer) : CFPtr(ws.activation[l - 1].pointer)
            linearForward(out: ws.linear[l].pointer, inp: inp, weight: arena.param(arena.layers[l].weight),
                          bias: arena.param(arena.layers[l].bias), rows: rows, inDim: inDim, outDim: outDim, threads: threads)
            normBlockForward(normBlock(l, ws, bias: ws.zeroBias.pointer), tasks: tasks, positions: positions,
                             features: outDim, mode: mode(l, frozen: true), keys: DropoutKeys(seed: 0, step: 0, layer: UInt64(l)),
                             threads: threads, statistics: ws.normScratch.partial.pointer)
        }
    }

    /// Layer l's norm block: its tensors in the arena, its running statistics and its buffers in
    /// `ws` (`bias` replaces the Linear's bias: evaluation's products include it already).
    func normBlock(_ l: Int, _ ws: RelationLearnerWorkspace, bias: CFPtr? = nil) -> NormBlockView {
        let slots = arena.layers[l]
        return NormBlockView(bias: bias ?? CFPtr(arena.param(slots.bias)), gamma: arena.param(slots.normWeight),
                             beta: arena.param(slots.normBias), dbias: arena.grad(slots.bias), dgamma: arena.grad(slots.normWeight),
                             dbeta: arena.grad(slots.normBias), runningMean: running.mean(l), runningVar: running.variance(l),
                             z: ws.linear[l].pointer, out: ws.activation[l].pointer,
                             bits: slots.layer.hidden ? ws.bits[l].pointer : nil, mean: ws.mean[l].pointer, invstd: ws.invstd[l].pointer)
    }

    /// Layer l's norm block mode: LeakyReLU and dropout after the hidden layers (no dropout when
    /// `frozen`).
    func mode(_ l: Int, frozen: Bool) -> NormBlockMode {
        let hidden = arena.layers[l].layer.hidden
        return NormBlockMode(activation: hidden, frozen: frozen, dropout: hidden && !frozen ? dropout : 0)
    }

    /// r[b, :] = mean over the S positions of the last layer's rows for task b.
    func relation(_ ws: RelationLearnerWorkspace, tasks: Int, into r: FPtr) {
        let y = SharedPointer(ws.activation[2].pointer), out = SharedPointer(r)
        let S = positions, dim = dim
        let inv = 1 / Float(S)
        let chunks = min(16, tasks)
        parallelChunks(chunks, threads: threads) { c in
            for b in splitRange(tasks, parts: chunks, index: c) {
                let rb = out.p + b * dim
                rb.update(from: y.p + b * S * dim, count: dim)
                for s in 1..<max(S, 1) {
                    let row = y.p + (b * S + s) * dim
                    for j in 0..<dim { rb[j] += row[j] }
                }
                for j in 0..<dim { rb[j] *= inv }
            }
        }
    }

    /// Backward of a training-mode forward, given dL/dr[tasks, d]: accumulates every learner
    /// parameter's gradient and leaves dL/d(input rows) in `ws.dX0`.
    func backward(_ ws: RelationLearnerWorkspace, tasks: Int, dRelation: CFPtr, frozen: Bool = false,
                  timer: PhaseTimer? = nil) {
        let S = positions
        let rows = tasks * S
        // The mean over positions: each row of task b receives dr[b] / S.
        let top = SharedPointer(ws.dOut[2].pointer), dr = SharedPointer(UnsafeMutablePointer(mutating: dRelation))
        let inv = 1 / Float(S), dim = dim
        let chunks = min(16, tasks)
        parallelChunks(chunks, threads: threads) { c in
            for b in splitRange(tasks, parts: chunks, index: c) {
                for s in 0..<S {
                    let row = top.p + (b * S + s) * dim
                    for j in 0..<dim { row[j] = dr.p[b * dim + j] * inv }
                }
            }
        }
        // Layer l's backward statistics (its norm block's first pass) are computed by the product
        // that produces its d, right after each worker's rows of it (layer 2's: by the block).
        let statistics = ws.normScratch.partial.pointer
        var statisticsReady = false
        for l in stride(from: 2, through: 0, by: -1) {
            let (inDim, outDim) = widths[l]
            let d = ws.dOut[l].pointer
            normBlockBackward(d: d, normBlock(l, ws), tasks: tasks, positions: S, features: outDim, mode: mode(l, frozen: frozen),
                              threads: threads, scratch: ws.normScratch, statisticsReady: statisticsReady)
            timer?.mark("backward elementwise")
            let inp: CFPtr = l == 0 ? CFPtr(ws.x0.pointer) : CFPtr(ws.activation[l - 1].pointer)
            let weight = arena.param(arena.layers[l].weight)
            // The weight gradient, and for the first layer its input gradient; the layers below
            // get theirs from the fused product that follows.
            linearBackward(dinp: l == 0 ? ws.dX0.pointer : nil, dweight: arena.grad(arena.layers[l].weight),
                           dout: d, inp: inp, weight: weight, rows: rows, inDim: inDim, outDim: outDim, threads: threads)
            if l > 0 {
                let below = l - 1, dinp = ws.dOut[below].pointer, chunks = normChunks(tasks)
                let view = normBlock(below, ws), belowMode = mode(below, frozen: frozen)
                statistics.update(repeating: 0, count: chunks * S * 2)
                productByChunks(tasks: tasks, positions: S, threads: threads, product: { r in
                    BLAS.gemmNN(rows: r, inDim, outDim, d, weight, beta: 0, dinp)
                }, afterwards: { c in
                    backwardStatistics(chunk: c, d: dinp, view, tasks: tasks, positions: S, features: inDim, mode: belowMode,
                                       chunks: chunks, partial: statistics)
                })
                statisticsReady = true
            }
            timer?.mark("backward gemm + statistics")
        }
    }
}

/// The relation learner's activations and their gradients for up to `capacity` rows,
/// allocated once and reused by every step.
final class RelationLearnerWorkspace: @unchecked Sendable {
    let capacity: Int
    let x0: FloatBuffer
    /// Each Linear's product: without its bias in training (the norm block adds it), with it
    /// in evaluation.
    let linear: [FloatBuffer]
    /// Each layer's output as the next layer reads it (after activation and dropout).
    let activation: [FloatBuffer]
    /// The hidden norm blocks' dropout and activation bits (read by the backward in training;
    /// written, unread, in evaluation).
    let bits: [MaskBuffer]
    /// Zeros, the bias that evaluation's norm blocks add (its products include their bias).
    let zeroBias: FloatBuffer
    /// Each norm block's batch mean and 1/√(var + eps) per support position (training).
    let mean: [FloatBuffer], invstd: [FloatBuffer]
    let dOut: [FloatBuffer]
    let dX0: FloatBuffer
    /// The norm blocks' partial sums (handed from a fused product to its block) and other scratch.
    let normScratch: NormScratch

    init(capacity rows: Int, configuration c: Configuration, training: Bool) {
        capacity = rows
        let outs = LearnerLayer.layers(c).map(\.outDim)
        x0 = FloatBuffer(count: rows * 2 * c.dim)
        linear = outs.map { FloatBuffer(count: rows * $0) }
        activation = outs.map { FloatBuffer(count: rows * $0) }
        bits = outs.prefix(2).map { MaskBuffer(count: rows * MaskBuffer.wordsPerRow($0)) }
        zeroBias = FloatBuffer(count: training ? 0 : outs.max() ?? 0)
        mean = outs.map { _ in FloatBuffer(count: c.supportCount) }
        invstd = outs.map { _ in FloatBuffer(count: c.supportCount) }
        dOut = outs.map { FloatBuffer(count: training ? rows * $0 : 0) }
        dX0 = FloatBuffer(count: training ? rows * 2 * c.dim : 0)
        normScratch = NormScratch(positions: c.supportCount, features: training ? outs.max() ?? 0 : 0)
    }
}
