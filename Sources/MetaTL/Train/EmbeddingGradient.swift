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
    /// The rows that have terms, numbered 1, 2, ... in the order their first term came:
    /// `slot[r]` is row r's number (0: no terms this step). Only those rows' entries are ever
    /// written, and the next ``index(rows:)`` clears them, so grouping costs the terms, not the
    /// catalogue (a dense per-row table was 4 passes over 2·10^6 entries a step at 10^6 items).
    let slot: IndexBuffer
    /// The numbered rows (`distinct[k - 1]` is row number k), and how many there are.
    let distinct: IndexBuffer
    private(set) var distinctCount = 0
    /// Terms of row number k: order[begin[k - 1] ..< begin[k]] (indices into the term arrays,
    /// ascending).
    let begin: IndexBuffer
    let order: IndexBuffer

    init(capacity: Int, rows: Int) {
        self.capacity = capacity
        row = IndexBuffer(count: capacity)
        scale = FloatBuffer(count: capacity)
        vector = .allocate(capacity: max(capacity, 1))
        vector.initialize(repeating: nil, count: max(capacity, 1))
        slot = IndexBuffer(count: rows)
        distinct = IndexBuffer(count: capacity)
        begin = IndexBuffer(count: capacity + 1)
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

    /// Groups the terms by row (a stable counting sort over the rows that have terms: each row
    /// keeps its terms' order, as the dense sort over every row did).
    func index(rows: Int) {
        let sl = slot.pointer, b = begin.pointer
        for k in 0..<distinctCount { sl[Int(distinct[k])] = 0 }   // the last grouping's rows
        distinctCount = 0
        // Number the rows and count their terms (row number k's count in b[k]).
        for i in 0..<count {
            let r = Int(row[i])
            guard r >= 0, r < rows else { continue }   // rows come from the batch: always in range
            var k = Int(sl[r])
            if k == 0 {
                distinct[distinctCount] = Int32(truncatingIfNeeded: r)
                distinctCount += 1
                k = distinctCount
                sl[r] = Int32(truncatingIfNeeded: k)
                b[k] = 0
            }
            b[k] += 1
        }
        // Starts, then a running cursor per row number: b[k] ends as row number k's end, which is
        // number k + 1's start; b[0] = 0 is the first start.
        var running: Int32 = 0
        for k in stride(from: 1, through: distinctCount, by: 1) {
            let n = b[k]
            b[k] = running
            running += n
        }
        b[0] = 0
        for i in 0..<count {
            let r = Int(row[i])
            guard r >= 0, r < rows else { continue }
            let k = Int(sl[r])
            order[Int(b[k])] = Int32(truncatingIfNeeded: i)
            b[k] += 1
        }
    }

    /// Row r's terms: positions into ``order``.
    @inline(__always)
    func terms(ofRow r: Int) -> Range<Int> {
        let k = Int(slot[r])
        return k == 0 ? 0..<0 : Int(begin[k - 1])..<Int(begin[k])
    }

    /// Starts loading row r's term vectors into the caches (see `mtl_prefetch`).
    @inline(__always)
    func prefetch(row r: Int, d: Int) {
        for k in terms(ofRow: r) {
            if let x = vector[Int(order[k])] { mtl_prefetch(x, d) }
        }
    }

    /// Row r's Adam update with its gradient summed from its terms, in one pass (see
    /// `mtl_k_adam_update_terms`): the same result as summing the terms into a zeroed row, then updating.
    @inline(__always)
    func adamUpdate(row r: Int, _ p: FPtr, _ m: FPtr, _ v: FPtr, d: Int, _ k: UnsafePointer<Adam.Constants>) {
        let range = terms(ofRow: r), first = range.lowerBound, count = range.count
        mtl_k_adam_update_terms(p, m, v, d, k, order.pointer + first, count, scale.pointer,
                                UnsafeRawPointer(vector).assumingMemoryBound(to: UnsafePointer<Float>?.self))
    }
}
