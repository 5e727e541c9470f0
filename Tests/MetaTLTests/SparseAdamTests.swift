import Foundation
import Testing
@testable import MetaTL

/// ``Optimizer/sparseAdam``: the table rows a step does not read keep their values and moments;
/// a read row takes SparseAdam's update with the global step's bias correction; the dense block
/// stays on dense Adam.
@Suite("Sparse Adam")
struct SparseAdamTests {
    static func tinyConfiguration(_ optimizer: Optimizer) -> Configuration {
        var c = Configuration.reference   // one item table, the margin loss
        c.K = 3; c.dim = 4; c.hidden1 = 5; c.hidden2 = 3; c.batchSize = 3; c.dropout = 0
        c.learningRate = 0.01; c.seed = 7; c.optimizer = optimizer
        c.margin = 4   // every margin term active: every row a pair reads has a gradient
        return c
    }

    /// A batch whose pairs read only rows in `rows` (rows 1..<8 are the 7 items; 0 is padding).
    static func batch(rows: Range<Int>) -> TaskBatch {
        let batch = TaskBatch(tasks: 3, positions: 2)
        var rng = RandomGenerator(seed: 11)
        for buffer in [batch.supportHead, batch.supportTail, batch.supportNegativeHead, batch.supportNegativeTail,
                       batch.queryHead, batch.queryTail, batch.queryNegativeHead, batch.queryNegativeTail] {
            for i in 0..<buffer.count { buffer[i] = Int32(rows.lowerBound + rng.below(rows.count)) }
        }
        return batch
    }

    static func rowState(_ m: MetaTLModel, row r: Int) -> [UInt32] {
        let d = m.configuration.dim, o = r * d
        return (0..<d).flatMap { j in [m.arena.params[o + j], m.optimizer.firstMoment[o + j], m.optimizer.secondMoment[o + j]] }
            .map(\.bitPattern)
    }

    static func denseBlock(_ m: MetaTLModel) -> [UInt32] {
        let from = m.optimizer.tableCount, n = m.optimizer.total - from
        let blocks: [UnsafeMutablePointer<Float>] = [m.arena.params, m.optimizer.firstMoment, m.optimizer.secondMoment]
        return blocks.flatMap { (b: UnsafeMutablePointer<Float>) -> [UInt32] in
            UnsafeBufferPointer(start: b + from, count: n).map { $0.bitPattern }
        }
    }

    /// Step 1 reads rows 1..<8, steps 2 and 3 only rows 1..<5: with sparse Adam rows 5, 6 and 7
    /// (values and moments) stay as step 1 left them, where dense Adam keeps moving them.
    @Test func onlyTheRowsAStepReadsChange() throws {
        let wide = Self.batch(rows: 1..<8), narrow = Self.batch(rows: 1..<5)
        func rowsRead(_ b: TaskBatch) -> Set<Int32> {
            var read = Set<Int32>()
            for buffer in [b.supportHead, b.supportTail, b.supportNegativeHead, b.supportNegativeTail,
                           b.queryHead, b.queryTail, b.queryNegativeHead, b.queryNegativeTail] {
                for i in 0..<buffer.count { read.insert(buffer[i]) }
            }
            return read
        }
        let marked = rowsRead(narrow)
        #expect(rowsRead(wide) == Set(1..<8))
        var afterFirst: [[UInt32]] = [], final: [[UInt32]] = [], dense: [UInt32] = []
        for optimizer in [Optimizer.sparseAdam, .adam] {
            let c = Self.tinyConfiguration(optimizer)
            let model = try MetaTLModel(configuration: c, items: 7)
            #expect(model.arena.tableRows == 8)
            let ws = MetaStepWorkspace(capacity: 3, configuration: c, rows: model.rows)
            _ = try model.metaStep(wide, workspace: ws, lazy: true)
            model.catchUpAllRows()
            afterFirst = (0..<8).map { Self.rowState(model, row: $0) }
            // Step 1 from the same start: the dense block's update is dense Adam's, bit for bit.
            if optimizer == .sparseAdam { dense = Self.denseBlock(model) } else { #expect(Self.denseBlock(model) == dense) }
            _ = try model.metaStep(narrow, workspace: ws, lazy: true)
            _ = try model.metaStep(narrow, workspace: ws, lazy: false)
            model.catchUpAllRows()
            #expect(model.step == 3)
            final = (0..<8).map { Self.rowState(model, row: $0) }
            for r in 1..<8 {
                let read = marked.contains(Int32(r))
                if optimizer == .sparseAdam {
                    #expect((final[r] == afterFirst[r]) == !read, "row \(r), read at steps 2-3: \(read)")
                } else {
                    #expect(final[r] != afterFirst[r], "dense Adam moves row \(r) whether read or not")
                }
            }
        }
        #expect(marked.isSuperset(of: [1, 2, 3, 4]) && !marked.contains(5))
    }

    /// Row 3 has a gradient at steps 1 and 3, none at step 2 (row 4 has one then): step 2 leaves
    /// row 3 exactly as it was, and after step 3 it is SparseAdam's value, computed here in double
    /// precision with the global step t = 3 in the bias correction.
    @Test func aRowFollowsSparseAdamOverTwoStepsWithAGap() throws {
        let c = Self.tinyConfiguration(.sparseAdam)
        let model = try MetaTLModel(configuration: c, items: 7)
        let state = model.optimizer, arena = model.arena, d = c.dim
        let g1: [Float] = [0.5, -0.25, 1e-3, 2], g3: [Float] = [-0.75, 0.125, 3, 0]
        let p0 = (0..<d).map { arena.params[3 * d + $0] }
        func step(_ t: Int, _ rows: [(Int, [Float])]) {
            state.zeroGradients(arena)
            for (r, g) in rows {
                for j in 0..<d { arena.grads[r * d + j] = g[j] }
                var r32 = Int32(r)
                state.markTouched(&r32, count: 1)
            }
            state.step(arena, t: t, threads: 1, lazy: true)
        }
        step(1, [(3, g1)])
        let afterOne = Self.rowState(model, row: 3)
        step(2, [(4, [1, 1, 1, 1])])
        state.catchUp(arena, onlyTouched: false, through: 2, threads: 1)
        #expect(Self.rowState(model, row: 3) == afterOne)
        step(3, [(3, g3)])

        let lr = Double(c.learningRate), b1 = 0.9, b2 = 0.999, eps = 1e-8
        for j in 0..<d {
            var p = Double(p0[j]), m = 0.0, v = 0.0
            for (t, g) in [(1, Double(g1[j])), (3, Double(g3[j]))] {
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                p -= lr * (1 - pow(b2, Double(t))).squareRoot() / (1 - pow(b1, Double(t))) * m / (v.squareRoot() + eps)
            }
            let o = 3 * d + j
            #expect(abs(Double(arena.params[o]) - p) <= 1e-6 * max(1, abs(p)), "p[\(j)] = \(arena.params[o]), SparseAdam: \(p)")
            #expect(abs(Double(state.firstMoment[o]) - m) <= 1e-6 * abs(m) + 1e-12, "m[\(j)]")
            #expect(abs(Double(state.secondMoment[o]) - v) <= 1e-6 * abs(v) + 1e-15, "v[\(j)]")
        }
        // The bias correction by the row's own count (2 updates) would be far from it.
        let own = lr * (1 - b2 * b2).squareRoot() / (1 - b1 * b1), global = lr * (1 - pow(b2, 3)).squareRoot() / (1 - pow(b1, 3))
        #expect(abs(own - global) > 0.1 * global)
    }
}
