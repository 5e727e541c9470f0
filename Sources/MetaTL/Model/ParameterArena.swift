/// Every trainable parameter of a MetaTL model in one contiguous block, with the gradients in a
/// block of the same layout: the layout (named views) and the values, nothing else. Adam's
/// moments and lazy bookkeeping are ``OptimizerState``'s, in blocks of this layout. Zeroing
/// gradients, the optimiser step, checkpointing and parity checks are each one loop over `total` floats.
final class ParameterArena: @unchecked Sendable {
    /// Where each tensor is (see ``ModelLayout``).
    let layout: ModelLayout
    private let storage: FloatBuffer

    var params: FPtr { storage.pointer }
    var grads: FPtr { storage.pointer + total }

    // Named views, in state_dict order (the layout's).
    var slots: [TensorSlot] { layout.slots }
    var total: Int { layout.total }
    var embedding: TensorSlot { layout.embedding }
    var tailEmbedding: TensorSlot? { layout.tailEmbedding }
    /// The relation learner's layers' tensors, first to last.
    var layers: [LayerSlots] { layout.layers }
    var itemBias: TensorSlot? { layout.itemBias }
    var logScale: TensorSlot? { layout.logScale }

    /// Rows of the item tables (E, then T when there is one): the rows lazy Adam, the touched
    /// marks (``OptimizerState``) and the embedding gradient's terms address. Row r's values are at r·dim.
    var tableRows: Int { layout.tableRows }
    /// Floats of the item tables: every value from ``tableCount`` on is updated densely.
    var tableCount: Int { tableRows * embedding.shape[1] }

    convenience init(rows: Int, configuration c: Configuration) {
        self.init(layout: ModelLayout(configuration: c, rows: rows))
    }

    init(layout: ModelLayout) {
        self.layout = layout
        storage = FloatBuffer(count: 2 * layout.total)
    }

    func param(_ slot: TensorSlot) -> FPtr { params + slot.offset }
    func grad(_ slot: TensorSlot) -> FPtr { grads + slot.offset }

    func slot(named name: String) -> TensorSlot? { slots.first { $0.name == name } }

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

    /// The reference's `state_dict` name of one statistic (see ``LearnerLayer``).
    static func name(layer: Int, variance: Bool) -> String {
        let l = LearnerLayer(index: layer, inDim: 0, outDim: 0)
        return variance ? l.runningVarianceName : l.runningMeanName
    }
}
