import MetaTLKernels

/// The embedding gradient of one step as a list of terms per row, instead of a dense gradient
/// block: term i adds scale[i]·vector[i] (d floats) to row[i]'s gradient.
///
/// Training hands this to the Adam step, which sums each touched row's terms in registers and
/// updates the row in the same pass; the arena's gradient rows are then never written, zeroed
/// or re-read (at B = 1024 that is ~16k random row read-modify-writes a step saved). The terms
/// of a row are kept in the order ``MetaTLModel/scatterEmbeddingGradient(_:workspace:supportScale:queryScale:)``
/// adds them, so both give the same sums bit for bit.
final class EmbeddingGradient: @unchecked Sendable {
    let capacity: Int
    private(set) var count = 0
    let row: IndexBuffer
    let scale: FloatBuffer
    let vector: UnsafeMutablePointer<UnsafePointer<Float>?>
    /// Terms of row r: order[start[r] ..< start[r + 1]] (indices into the term arrays, ascending).
    let start: IndexBuffer
    let order: IndexBuffer

    init(capacity: Int, rows: Int) {
        self.capacity = capacity
        row = IndexBuffer(count: capacity)
        scale = FloatBuffer(count: capacity)
        vector = .allocate(capacity: max(capacity, 1))
        vector.initialize(repeating: nil, count: max(capacity, 1))
        start = IndexBuffer(count: rows + 1)
        order = IndexBuffer(count: capacity)
    }

    deinit { vector.deallocate() }

    func reset() { count = 0 }

    @inline(__always)
    func add(_ r: Int32, _ a: Float, _ x: UnsafePointer<Float>) {
        guard count < capacity else { return }   // sized for the batch; never reached
        row[count] = r
        scale[count] = a
        vector[count] = x
        count += 1
    }

    /// Groups the terms by row (a stable counting sort: each row keeps its terms' order).
    func index(rows: Int) {
        let s = start.pointer
        s.update(repeating: 0, count: rows + 1)
        for i in 0..<count { s[Int(row[i]) + 1] += 1 }
        for r in 0..<rows { s[r + 1] += s[r] }
        // Fill with a running cursor per row, then restore the starts.
        for i in 0..<count {
            let r = Int(row[i])
            order[Int(s[r])] = Int32(i)
            s[r] += 1
        }
        for r in stride(from: rows, to: 0, by: -1) { s[r] = s[r - 1] }
        s[0] = 0
    }

    /// Starts loading row r's term vectors into the caches (see `mtl_prefetch`).
    @inline(__always)
    func prefetch(row r: Int, d: Int) {
        for k in Int(start[r])..<Int(start[r + 1]) {
            if let x = vector[Int(order[k])] { mtl_prefetch(x, d) }
        }
    }

    /// Row r's Adam update with its gradient summed from its terms, in one pass (see
    /// `mtl_k_adam_update_terms`): the same result as summing the terms into a zeroed row, then updating.
    @inline(__always)
    func adamUpdate(row r: Int, _ p: FPtr, _ m: FPtr, _ v: FPtr, d: Int, _ k: UnsafePointer<Adam.Constants>) {
        let first = Int(start[r]), count = Int(start[r + 1]) - first
        mtl_k_adam_update_terms(p, m, v, d, k, order.pointer + first, count, scale.pointer,
                                UnsafeRawPointer(vector).assumingMemoryBound(to: UnsafePointer<Float>?.self))
    }
}
