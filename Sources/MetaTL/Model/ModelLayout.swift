/// The model's tensors, written once: the relation learner's layers (widths and reference
/// `state_dict` names) and every trainable tensor's shape and place. The parameter arena's
/// views, the relation learner and its workspaces, the checkpoint's tensor list
/// (``Checkpoint/tensors(_:rows:optimizer:batchCounts:)``) and the GEMM floor all derive from it.

/// One layer of the relation learner: Linear(inDim, outDim) → BatchNorm1d(S) over the support
/// positions, then LeakyReLU and dropout when `hidden`.
struct LearnerLayer: Sendable, Equatable {
    /// 0, 1, 2 (the reference's rel_fc1, rel_fc2, rel_fc3).
    let index: Int
    let inDim: Int, outDim: Int
    /// The first two layers; the last one's output is the per-position relation.
    var hidden: Bool { index < 2 }

    /// The reference's module path, e.g. `relation_learner.rel_fc1`.
    var prefix: String { "relation_learner.rel_fc\(index + 1)" }
    var weightName: String { prefix + ".fc.weight" }
    var biasName: String { prefix + ".fc.bias" }
    var normWeightName: String { prefix + ".bn.weight" }
    var normBiasName: String { prefix + ".bn.bias" }
    /// BatchNorm's buffers (saved, not trained).
    var runningMeanName: String { prefix + ".bn.running_mean" }
    var runningVarianceName: String { prefix + ".bn.running_var" }
    var batchCountName: String { prefix + ".bn.num_batches_tracked" }

    /// The three layers of `c`: 2d → hidden1 → hidden2 → d.
    static func layers(_ c: Configuration) -> [LearnerLayer] {
        [(2 * c.dim, c.hidden1), (c.hidden1, c.hidden2), (c.hidden2, c.dim)].enumerated().map {
            LearnerLayer(index: $0.offset, inDim: $0.element.0, outDim: $0.element.1)
        }
    }
}

/// One trainable tensor's place in the arena.
struct TensorSlot: Sendable, Equatable {
    /// The reference's `state_dict` name, e.g. `relation_learner.rel_fc1.fc.weight`.
    let name: String
    let shape: [Int]
    let offset: Int
    var count: Int { shape.reduce(1, *) }
}

/// One learner layer's four trainable tensors.
struct LayerSlots: Sendable, Equatable {
    let layer: LearnerLayer
    /// Linear weight [outDim, inDim] and bias [outDim].
    let weight: TensorSlot, bias: TensorSlot
    /// BatchNorm gamma and beta [S].
    let normWeight: TensorSlot, normBias: TensorSlot
    /// The four in `state_dict` order.
    var tensors: [TensorSlot] { [weight, bias, normWeight, normBias] }
}

/// Every trainable tensor of a model of one configuration and catalogue size, in the
/// reference's `state_dict` order, with its offset in a block of `total` floats.
struct ModelLayout: Sendable, Equatable {
    static let embeddingName = "embedding.embedding.weight"
    static let tailEmbeddingName = "tail_embedding.weight"
    static let itemBiasName = "item_bias.weight"
    static let logScaleName = "score.log_scale"

    /// Every tensor, in order.
    let slots: [TensorSlot]
    /// Floats of the whole block.
    let total: Int
    /// The item table E [rows, d].
    let embedding: TensorSlot
    /// The tail table T (``Configuration/tailEmbeddings``), right after E with no gap, so that
    /// the two tables are one block of ``tableRows`` rows: tail row t is table row rows + t.
    let tailEmbedding: TensorSlot?
    /// The relation learner's layers, first to last.
    let layers: [LayerSlots]
    /// The item bias b (``Configuration/itemBias``), updated densely like the learner.
    let itemBias: TensorSlot?
    /// log α, the softmax loss's score scale (``QueryLoss/softmax``).
    let logScale: TensorSlot?
    /// Rows of the item tables (E, then T when there is one).
    let tableRows: Int
    /// BatchNorm's positions (K-1 support pairs).
    let positions: Int

    init(configuration c: Configuration, rows: Int) {
        var slots: [TensorSlot] = []
        var offset = 0
        func add(_ name: String, _ shape: [Int], padded: Bool = true) -> TensorSlot {
            let slot = TensorSlot(name: name, shape: shape, offset: offset)
            // Keep every tensor 16-float (64-byte) aligned for vector loads (but T follows E at once).
            offset += padded ? (slot.count + 15) / 16 * 16 : slot.count
            slots.append(slot)
            return slot
        }
        let S = c.supportCount
        embedding = add(Self.embeddingName, [rows, c.dim], padded: !c.tailEmbeddings)
        tailEmbedding = c.tailEmbeddings ? add(Self.tailEmbeddingName, [rows, c.dim]) : nil
        tableRows = c.tailEmbeddings ? 2 * rows : rows
        layers = LearnerLayer.layers(c).map { l in
            LayerSlots(layer: l, weight: add(l.weightName, [l.outDim, l.inDim]), bias: add(l.biasName, [l.outDim]),
                       normWeight: add(l.normWeightName, [S]), normBias: add(l.normBiasName, [S]))
        }
        itemBias = c.itemBias ? add(Self.itemBiasName, [rows]) : nil
        logScale = c.squaredScore ? add(Self.logScaleName, [1]) : nil
        self.slots = slots
        total = offset
        positions = S
    }
}
