import MetaTLKernels

/// Lazy Adam's whole state, and the rules that keep it, in one place:
/// - Adam's moments m and v, two blocks laid out like the parameter arena;
/// - each item-table row's step mark: the Adam step the row is up to date with;
/// - the touched marks: the table rows the current step's gradient may reach;
/// - the per-step constants (``Adam/Schedule``).
///
/// The rules (see ``Adam`` for why they give dense Adam's values bit for bit): a step updates the
/// touched rows with their gradient and the dense block (the learner, item bias, log α) densely;
/// a row no pair touched keeps its update pending until ``catchUp(_:onlyTouched:through:threads:)``
/// replays it with g = 0, before anything reads the row. Loading or restoring a model sets every
/// row's mark to its step (``markAllUpToDate(step:)``): nothing is pending.
///
/// With ``Optimizer/sparseAdam`` the touched rows take sparse Adam's update instead (the same
/// kernel with ``Adam/sparseConstants(_:)``), the dense block still takes dense Adam's, and rows
/// no pair touched are left as they are: nothing is ever pending, and catch-up does nothing. The
/// "gradient" of a step, for sparse Adam, is every row marked touched (the rows the batch reads,
/// as PyTorch's sparse embedding gradient lists every looked-up row, also where its values are 0).
final class OptimizerState: @unchecked Sendable {
    let adam: Adam
    /// Sparse Adam for the table rows instead of exact lazy Adam.
    let sparse: Bool
    let schedule: Adam.Schedule
    /// Floats per moment block (the arena's `total`), and the item tables' rows and width.
    let total: Int, tableRows: Int, dim: Int
    /// Floats of the item tables: from here on, every value is updated densely.
    var tableCount: Int { tableRows * dim }
    private let moments: FloatBuffer

    /// Adam's first moment (exp_avg), laid out as the arena's parameters.
    var firstMoment: FPtr { moments.pointer }
    /// Adam's second moment (exp_avg_sq), laid out as the arena's parameters.
    var secondMoment: FPtr { moments.pointer + total }

    /// The Adam step each table row is up to date with.
    let rowStep: UnsafeMutablePointer<Int>
    /// Table rows whose gradient may be non-zero since the last ``zeroGradients(_:)``, a mark per row.
    let touched: UnsafeMutablePointer<UInt8>
    /// The marked rows in ascending order, listed afresh from the marks by ``listTouched()``.
    let touchedList: IndexBuffer

    init(arena: ParameterArena, learningRate: Float, optimizer: Optimizer = .adam) {
        adam = Adam(learningRate: learningRate)
        sparse = optimizer == .sparseAdam
        schedule = Adam.Schedule(adam)
        total = arena.total
        tableRows = arena.tableRows
        dim = arena.embedding.shape[1]
        moments = FloatBuffer(count: 2 * total)
        touched = .allocate(capacity: tableRows)
        touched.initialize(repeating: 0, count: tableRows)
        rowStep = .allocate(capacity: tableRows)
        rowStep.initialize(repeating: 0, count: tableRows)
        touchedList = IndexBuffer(count: tableRows)
    }

    deinit {
        touched.deallocate()
        rowStep.deallocate()
    }

    // MARK: Marks

    /// Every row is up to date with `step` (a model just loaded or restored at that step).
    func markAllUpToDate(step: Int) {
        rowStep.update(repeating: step, count: tableRows)
    }

    /// Marks table rows that this step's gradient may reach (valid rows only; `offset` is
    /// added to each, the number of E's rows for rows of T).
    func markTouched(_ rows: UnsafePointer<Int32>, count: Int, offset: Int = 0) {
        for i in 0..<count {
            let r = Int(rows[i]) + offset
            touched[r] = 1
        }
    }

    /// Marks table rows `range` (e.g. every tail row, for a softmax over the whole catalogue).
    func markTouched(rows range: Range<Int>) {
        for r in range { touched[r] = 1 }
    }

    /// Lists the marked rows (ascending) in `touchedList` and returns how many there are: work
    /// over them is split by count, not by row range, so that workers get equal shares however
    /// the marks cluster (popular items often have neighbouring rows).
    func listTouched() -> Int {
        let list = touchedList.pointer
        var n = 0
        forEachMarked { r in
            list[n] = Int32(truncatingIfNeeded: r)
            n += 1
        }
        return n
    }

    /// Calls `body` with every marked row, in ascending order. The marks are scanned eight at a
    /// time, so the few thousand marked rows of a step cost a pass over the catalogue's marks at
    /// memory speed (2·10^6 bytes at 10^6 items), not a compare per row.
    @inline(__always)
    func forEachMarked(_ body: (Int) -> Void) {
        let words = tableRows / 8
        let raw = UnsafeRawPointer(touched)
        for w in 0..<words where raw.loadUnaligned(fromByteOffset: w * 8, as: UInt64.self) != 0 {
            for r in (w * 8)..<(w * 8 + 8) where touched[r] != 0 { body(r) }
        }
        for r in (words * 8)..<tableRows where touched[r] != 0 { body(r) }
    }

    /// Zeroes every gradient of `arena`: the marked table rows (the others are zero already),
    /// whose marks it clears, and the dense block. A marked row whose gradient is zero already
    /// (always in training, whose embedding gradient never goes through the arena) is only
    /// read: a gradient page never written takes no memory (see ``FloatBuffer``), which at a
    /// million items is 0.8 GB per table.
    func zeroGradients(_ arena: ParameterArena) {
        let d = dim, grads = arena.grads
        forEachMarked { r in
            let row = grads + r * d
            if (0..<d).contains(where: { row[$0].bitPattern != 0 }) { row.update(repeating: 0, count: d) }
            touched[r] = 0
        }
        (grads + tableCount).update(repeating: 0, count: total - tableCount)
    }

    // MARK: Updates

    /// Step `t`: every touched table row (which must be up to date through t-1) and the dense
    /// block take the update with their gradient (the touched rows' gradients are then zeroed
    /// and their marks cleared); untouched rows are brought through t as well unless `lazy`, in
    /// which case they wait for ``catchUp(_:onlyTouched:through:threads:)`` (with sparse Adam
    /// they are left as they are).
    ///
    /// With `embeddingGradient`, the touched rows' gradients are summed from its terms (the
    /// arena's table gradient rows are not read and stay zero).
    func step(_ arena: ParameterArena, t: Int, threads: Int, lazy: Bool, embeddingGradient terms: EmbeddingGradient? = nil) {
        schedule.extend(through: t)
        // Dense Adam's constants for the dense block, and for the touched rows unless sparse.
        let k = schedule[t], rowConstants = sparse ? adam.sparseConstants(t) : k
        let p = SharedPointer(arena.params), g = SharedPointer(arena.grads)
        let m = SharedPointer(firstMoment), v = SharedPointer(secondMoment)
        let rowStep = SharedPointer(rowStep), touched = SharedPointer(touched)
        let d = dim
        let rest = tableCount..<total
        let parts = max(1, min(16, total / 65536))
        let listed = listTouched(), list = touchedList.pointer
        parallelChunks(parts, threads: threads) { c in
            let denormals = mtl_k_flush_denormals()
            defer { mtl_k_restore_denormals(denormals) }
            var constants = rowConstants
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
                    Adam.update(p.p + o, m.p + o, v.p + o, grad: g.p + o, count: d, rowConstants)
                    // The gradient is spent: zero it while it is in cache, so the next step's
                    // ``zeroGradients(_:)`` need not visit the row.
                    (g.p + o).update(repeating: 0, count: d)
                }
                rowStep.p[row] = t
                touched.p[row] = 0
            }
            let r = splitRange(rest.count, parts: parts, index: c)
            let o = rest.lowerBound + r.lowerBound
            Adam.update(p.p + o, m.p + o, v.p + o, grad: g.p + o, count: r.count, k)
        }
        if !lazy { catchUp(arena, onlyTouched: false, through: t, threads: threads) }
    }

    /// Replays the zero-gradient updates that table rows missed, through step `t`: the rows
    /// marked touched when `onlyTouched`, else every row. Rows are visited in ascending order, so
    /// memory is read nearly sequentially; the marked ones are prefetched two ahead. Sparse Adam
    /// has nothing to replay: it returns at once.
    func catchUp(_ arena: ParameterArena, onlyTouched: Bool, through t: Int, threads: Int) {
        if sparse { return }
        schedule.extend(through: t)
        let d = dim, rows = tableRows
        let p = SharedPointer(arena.params), m = SharedPointer(firstMoment), v = SharedPointer(secondMoment)
        let rowStep = SharedPointer(rowStep)
        let parts = max(1, min(16, rows / 256))
        // Only the marked rows: split by their count (see ``listTouched()``).
        let listed = onlyTouched ? listTouched() : rows, list = touchedList.pointer
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
}
