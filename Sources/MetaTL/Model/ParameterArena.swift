/// One trainable tensor's place in the arena.
struct TensorSlot: Sendable, Equatable {
    /// The reference's `state_dict` name, e.g. `relation_learner.rel_fc1.fc.weight`.
    let name: String
    let shape: [Int]
    let offset: Int
    var count: Int { shape.reduce(1, *) }
}

/// Every trainable parameter of a MetaTL model in one contiguous block, with gradients and
/// Adam's two moments in blocks of the same layout. Zeroing gradients, the optimiser step,
/// checkpointing and parity checks are each one loop over `total` floats.
final class ParameterArena: @unchecked Sendable {
    let slots: [TensorSlot]
    let total: Int
    private let storage: FloatBuffer

    var params: FPtr { storage.pointer }
    var grads: FPtr { storage.pointer + total }
    var adamM: FPtr { storage.pointer + 2 * total }
    var adamV: FPtr { storage.pointer + 3 * total }

    // Named views, in state_dict order.
    let embedding: TensorSlot
    /// The tail table T (``Configuration/tailEmbeddings``), right after E with no gap, so that
    /// the two tables are one block of ``tableRows`` rows: tail row t is table row rows + t.
    let tailEmbedding: TensorSlot?
    let fc: [TensorSlot]       // three Linear weights
    let fcBias: [TensorSlot]   // three Linear biases
    let bnWeight: [TensorSlot] // three BatchNorm gammas
    let bnBias: [TensorSlot]   // three BatchNorm betas
    /// The item bias b (``Configuration/itemBias``), updated densely like the learner.
    let itemBias: TensorSlot?
    /// log α, the softmax loss's score scale (``QueryLoss/softmax``).
    let logScale: TensorSlot?

    /// Rows of the item tables (E, then T when there is one): the rows lazy Adam, the touched
    /// marks and the embedding gradient's terms address. Row r's values are at r·dim.
    let tableRows: Int
    /// Floats of the item tables: every value from ``tableCount`` on is updated densely.
    var tableCount: Int { tableRows * embedding.shape[1] }

    static let tailEmbeddingName = "tail_embedding.weight"
    static let itemBiasName = "item_bias.weight"
    static let logScaleName = "score.log_scale"

    convenience init(rows: Int, configuration c: Configuration) {
        self.init(rows: rows, dim: c.dim, hidden1: c.hidden1, hidden2: c.hidden2, positions: c.supportCount,
                  tailTable: c.tailEmbeddings, itemBias: c.itemBias, scale: c.squaredScore)
    }

    init(rows: Int, dim: Int, hidden1: Int, hidden2: Int, positions S: Int,
         tailTable: Bool = false, itemBias withBias: Bool = false, scale: Bool = false) {
        var slots: [TensorSlot] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], padded: Bool = true) -> TensorSlot {
            let slot = TensorSlot(name: name, shape: shape, offset: offset)
            // Keep every tensor 16-float (64-byte) aligned for vector loads (but T follows E at once).
            offset += padded ? (slot.count + 15) / 16 * 16 : slot.count
            slots.append(slot)
            return slot
        }
        embedding = add("embedding.embedding.weight", [rows, dim], padded: !tailTable)
        tailEmbedding = tailTable ? add(Self.tailEmbeddingName, [rows, dim]) : nil
        tableRows = tailTable ? 2 * rows : rows
        let widths = [(2 * dim, hidden1), (hidden1, hidden2), (hidden2, dim)]
        var fc: [TensorSlot] = [], fcb: [TensorSlot] = [], bnw: [TensorSlot] = [], bnb: [TensorSlot] = []
        for (l, (inDim, outDim)) in widths.enumerated() {
            let p = "relation_learner.rel_fc\(l + 1)"
            fc.append(add("\(p).fc.weight", [outDim, inDim]))
            fcb.append(add("\(p).fc.bias", [outDim]))
            bnw.append(add("\(p).bn.weight", [S]))
            bnb.append(add("\(p).bn.bias", [S]))
        }
        self.fc = fc; fcBias = fcb; bnWeight = bnw; bnBias = bnb
        itemBias = withBias ? add(Self.itemBiasName, [rows]) : nil
        logScale = scale ? add(Self.logScaleName, [1]) : nil
        self.slots = slots
        total = offset
        storage = FloatBuffer(count: 4 * offset)
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

    func param(_ slot: TensorSlot) -> FPtr { params + slot.offset }
    func grad(_ slot: TensorSlot) -> FPtr { grads + slot.offset }

    func slot(named name: String) -> TensorSlot? { slots.first { $0.name == name } }

    /// Table rows whose gradient may be non-zero since the last ``zeroGrads()``, a mark per row.
    let touched: UnsafeMutablePointer<UInt8>
    /// The Adam step each table row is up to date with (see ``Adam``).
    let rowStep: UnsafeMutablePointer<Int>

    /// Zeroes every gradient: the marked embedding rows (the others are zero already) and the
    /// relation learner's block.
    func zeroGrads() {
        let d = embedding.shape[1]
        for r in 0..<tableRows where touched[r] != 0 {
            (grads + r * d).update(repeating: 0, count: d)
            touched[r] = 0
        }
        (grads + tableCount).update(repeating: 0, count: total - tableCount)
    }

    /// The marked rows in ascending order, listed afresh from the marks by ``listTouched()``.
    let touchedList: IndexBuffer

    /// Lists the marked rows (ascending) in `touchedList` and returns how many there are: work
    /// over them is split by count, not by row range, so that workers get equal shares however
    /// the marks cluster (popular items often have neighbouring rows).
    func listTouched() -> Int {
        let list = touchedList.pointer
        var n = 0
        for r in 0..<tableRows where touched[r] != 0 {
            list[n] = Int32(truncatingIfNeeded: r)
            n += 1
        }
        return n
    }

    /// Marks table rows that this step's gradient may reach (valid rows only; `offset` is
    /// added to each, the number of E's rows for rows of T).
    func markTouched(_ rows: UnsafePointer<Int32>, count: Int, offset: Int = 0) {
        for i in 0..<count {
            let r = Int(rows[i]) + offset
            touched[r] = 1
        }
    }

    /// A copy of one tensor's values (tests, checkpoints).
    func values(_ slot: TensorSlot, in block: FPtr? = nil) -> [Float] {
        Array(UnsafeBufferPointer(start: (block ?? params) + slot.offset, count: slot.count))
    }
}

/// BatchNorm running statistics (buffers in PyTorch's terms: saved, not trained), laid out
/// as [mean₁, var₁, mean₂, var₂, mean₃, var₃], each with one value per support position.
final class RunningStatistics: @unchecked Sendable {
    let positions: Int
    let storage: FloatBuffer

    init(positions S: Int) {
        positions = S
        storage = FloatBuffer(count: 6 * S)
        for l in 0..<3 { variance(l).update(repeating: 1, count: S) }
    }

    func mean(_ layer: Int) -> FPtr { storage.pointer + 2 * layer * positions }
    func variance(_ layer: Int) -> FPtr { storage.pointer + (2 * layer + 1) * positions }

    /// The reference's `state_dict` name of one statistic.
    static func name(layer: Int, variance: Bool) -> String {
        "relation_learner.rel_fc\(layer + 1).bn.running_\(variance ? "var" : "mean")"
    }
}
