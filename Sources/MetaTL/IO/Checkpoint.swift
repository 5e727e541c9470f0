import Foundation

/// Checkpoints: one safetensors file with everything serving and resuming need.
///
/// Tensors carry the reference's `state_dict` names (`embedding.embedding.weight`,
/// `relation_learner.rel_fc1.fc.weight`, …, `….bn.running_mean`, `….bn.num_batches_tracked`), so
/// `model.load_state_dict({k: v for k, v in f.items() if not k.startswith(("optimizer.", "vocabulary."))})`
/// moves the weights into the reference model, and back. Besides them: Adam's moments
/// (`optimizer.exp_avg.NAME`, `optimizer.exp_avg_sq.NAME`), the item vocabulary
/// (`vocabulary.item_ids`, I64, row 0 = -1 for padding), and metadata: format and version, the
/// configuration (JSON), the step. Random draws are derived from (seed, step), so seed and step
/// are the whole generator state: a resumed run continues exactly as an uninterrupted one.
///
/// A model with a transition prior attached (``MetaTLModel/attachTransitionPrior(from:weight:)``)
/// also saves it: tensors `transition_prior.offsets` (I64 [rows + 1]), `transition_prior.tails`
/// (I64 [pairs]), `transition_prior.counts` (F32 [pairs]) and metadata `transition_prior_weight`,
/// covered by the checksums like everything else. Files without them load without a prior.
///
/// A model of string item ids also saves them: `vocabulary.item_strings` (U8, the strings'
/// UTF-8 bytes one after another) and `vocabulary.item_string_offsets` (I64 [items + 1]); its
/// `vocabulary.item_ids` are then 0..<items, the strings' codes. Files without them (integer
/// ids, or written before string ids) load as before.
public enum Checkpoint {
    public static let format = "metatl-checkpoint"
    public static let formatVersion = 1

    /// Where a checkpoint tensor's values live in a model.
    enum Source: Equatable {
        case parameter(TensorSlot), firstMoment(TensorSlot), secondMoment(TensorSlot)
        /// Layer l's BatchNorm running mean, running variance, batch counter (the step).
        case runningMean(Int), runningVariance(Int), batchCount(Int)
        case vocabulary
    }

    /// One tensor of a checkpoint.
    struct Entry {
        let name: String
        let dtype: SafeTensors.DType
        let shape: [Int]
        let source: Source
    }

    /// Every tensor a checkpoint of this configuration and catalogue size holds (`rows` counts
    /// the padding row), in the file's order: see ``tensors(_:optimizer:batchCounts:)``.
    static func tensors(_ c: Configuration, rows: Int, optimizer: Bool, batchCounts: Bool) -> [Entry] {
        tensors(ModelLayout(configuration: c, rows: rows), optimizer: optimizer, batchCounts: batchCounts)
    }

    /// Every tensor a checkpoint of a model of `layout` holds, in the file's order, derived from
    /// the layout: the reference's `state_dict` order (E, T, then each layer's four parameters,
    /// its running statistics and, with `batchCounts`, its batch counter; then the item bias and
    /// log α), and with `optimizer` Adam's moments of every parameter and the vocabulary.
    static func tensors(_ layout: ModelLayout, optimizer: Bool, batchCounts: Bool) -> [Entry] {
        let S = layout.positions, rows = layout.embedding.shape[0]
        func parameter(_ slot: TensorSlot) -> Entry { Entry(name: slot.name, dtype: .f32, shape: slot.shape, source: .parameter(slot)) }
        var out = [parameter(layout.embedding)]
        if let tail = layout.tailEmbedding { out.append(parameter(tail)) }
        for slots in layout.layers {
            let l = slots.layer
            out += slots.tensors.map(parameter)
            out.append(Entry(name: l.runningMeanName, dtype: .f32, shape: [S], source: .runningMean(l.index)))
            out.append(Entry(name: l.runningVarianceName, dtype: .f32, shape: [S], source: .runningVariance(l.index)))
            if batchCounts { out.append(Entry(name: l.batchCountName, dtype: .i64, shape: [], source: .batchCount(l.index))) }
        }
        out += [layout.itemBias, layout.logScale].compactMap { $0 }.map(parameter)
        if optimizer {
            out += layout.slots.map { Entry(name: "optimizer.exp_avg." + $0.name, dtype: .f32, shape: $0.shape, source: .firstMoment($0)) }
            out += layout.slots.map { Entry(name: "optimizer.exp_avg_sq." + $0.name, dtype: .f32, shape: $0.shape, source: .secondMoment($0)) }
            out.append(Entry(name: "vocabulary.item_ids", dtype: .i64, shape: [rows], source: .vocabulary))
        }
        return out
    }
}

extension MetaTLModel {
    /// Writes a checkpoint atomically: to a temporary file in the same folder, flushed to disk,
    /// then renamed over `path`. A crash mid-save leaves any existing file at `path` intact.
    ///
    /// What it writes, ``load(from:)`` reads: the model's values are checked against the same
    /// limits first (a model in memory always meets them; see ``ValueLimits``), and every tensor
    /// and the metadata get a checksum that loading verifies.
    ///
    /// Any legal file name works; a path that cannot name a file (empty, ending in "/", "." or
    /// "..", an existing directory) is refused before anything is created.
    ///
    /// Memory: the file is streamed from the model's memory (the checksums are computed in place,
    /// then the header and every tensor are written a piece at a time), so saving needs a few MB
    /// beyond the model, whatever its size; training waits (readers do not) until it is written.
    public func save(to path: String) throws(MetaTLError) {
        // Streamed: from the model's memory to the file, a piece at a time, under the read lock
        // (the file's bytes are never all in memory; see ``CheckpointWriter``).
        try access.reading("save") { () throws(MetaTLError) in
            try requireOptimizerState("save")
            if let why = valueProblem() { throw MetaTLError(.invalidState, "cannot save a model that load would refuse: \(why)") }
            let writer = checkpointWriter()
            try writeAtomically(to: path) { (out: AtomicFile.Output) throws(MetaTLError) in try writer.write(to: out) }
        }
    }

    /// Loads a checkpoint written by ``save(to:)``, validating everything (header, dtypes,
    /// shapes, offsets, vocabulary, version, checksums when the file has them) before building
    /// the model, and every value against ``ValueLimits`` (finite; second moments non-negative
    /// and consistent with the first; magnitudes within the documented limits).
    ///
    /// Memory is bounded by the file's size: the header (at most ``SafeTensors/maxHeaderBytes``)
    /// is checked against the file's size, every tensor the configuration implies is checked to
    /// be present with its shape before the model is allocated, and tensors are then read one at
    /// a time straight into the model.
    ///
    /// With `servingOnly` Adam's moments are not read (their tensors must still be there): the
    /// model recommends, scores and evaluates exactly as the full one, in about a third of the
    /// memory (the moments are two thirds of a model's floats), but refuses to train or save
    /// (``isServingOnly``).
    public static func load(from path: String, servingOnly: Bool = false) throws(MetaTLError) -> MetaTLModel {
        let input = try InputFile(path: path, allowPipes: false)
        return try load(try SafeTensors.File(source: .file(input), name: path), name: path, servingOnly: servingOnly)
    }

    static func load(checkpoint data: Data, name: String, servingOnly: Bool = false) throws(MetaTLError) -> MetaTLModel {
        try load(try SafeTensors.File(data: data, name: name), name: name, servingOnly: servingOnly)
    }

    /// The checkpoint ``save(to:)`` writes, as bytes in memory: to ship a model to another
    /// process (pickling, a distributed engine's workers) or store it elsewhere. A reader, as
    /// `save` is; refuses (`.invalidState`) a model that loading would refuse.
    public func checkpointBytes() throws(MetaTLError) -> [UInt8] {
        try access.reading("serialise") { () throws(MetaTLError) -> [UInt8] in
            try requireOptimizerState("serialise")
            if let why = valueProblem() { throw MetaTLError(.invalidState, "cannot serialise a model that loading would refuse: \(why)") }
            let writer = checkpointWriter()
            let (header, total) = try writer.header()
            var failure: MetaTLError?
            let bytes = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
                do throws(MetaTLError) {
                    try writer.fill(UnsafeMutableRawBufferPointer(buffer), header: header)
                    initialized = total
                } catch { failure = error; initialized = 0 }
            }
            if let failure { throw failure }
            return bytes
        }
    }

    /// ``checkpointBytes()`` into a buffer `allocate` gives for the file's size (the C ABI's
    /// malloc'd one), so that the checkpoint is copied once; returns what `allocate` returned.
    package func checkpointBytes<R>(allocate: (Int) throws(MetaTLError) -> (UnsafeMutableRawBufferPointer, R)) throws(MetaTLError) -> R {
        try access.reading("serialise") { () throws(MetaTLError) -> R in
            try requireOptimizerState("serialise")
            if let why = valueProblem() { throw MetaTLError(.invalidState, "cannot serialise a model that loading would refuse: \(why)") }
            let writer = checkpointWriter()
            let (header, total) = try writer.header()
            let (buffer, result) = try allocate(total)
            try writer.fill(buffer, header: header)
            return result
        }
    }

    /// A model from checkpoint bytes (``checkpointBytes()``, or a file's contents), validated
    /// exactly as ``load(from:)`` validates a file; errors name the checkpoint `name`.
    public static func load(checkpoint bytes: [UInt8], name: String = "checkpoint bytes",
                            servingOnly: Bool = false) throws(MetaTLError) -> MetaTLModel {
        try load(checkpoint: Data(bytes), name: name, servingOnly: servingOnly)
    }

    static func load(_ file: SafeTensors.File, name: String, servingOnly: Bool = false) throws(MetaTLError) -> MetaTLModel {
        func bad(_ why: String) -> MetaTLError { MetaTLError(.badCheckpoint, "\(name): \(why)") }
        let meta = file.metadata
        // What the file is first, then its integrity (the metadata here, each tensor as it is
        // read), then the meaning of every value.
        var file = file
        if meta["format"] == nil && file.entries[ModelLayout.embeddingName] != nil && file.entries["vocabulary.item_ids"] == nil {
            file.checksums = try CheckpointChecksums(metadata: meta, name: name)
            let model = try loadReferenceStateDict(file, name: name)
            model.servingOnly = servingOnly
            return model
        }
        guard meta["format"] == Checkpoint.format else { throw bad("not a MetaTL checkpoint (metadata format is \(meta["format"] ?? "missing"))") }
        guard let version = meta["format_version"].flatMap({ Int($0) }) else { throw bad("format_version is missing") }
        guard version == Checkpoint.formatVersion else {
            throw bad("format version \(version) is not supported (this library reads version \(Checkpoint.formatVersion))")
        }
        file.checksums = try CheckpointChecksums(metadata: meta, name: name)
        guard let configText = meta["configuration"], let configuration = try? JSONDecoder().decode(Configuration.self, from: Data(configText.utf8)) else {
            throw bad("configuration metadata is missing or malformed")
        }
        do { try configuration.validate() } catch { throw bad(error.message) }
        guard let step = meta["step"].flatMap({ Int($0) }), step >= 0 else { throw bad("step metadata is missing or negative") }

        guard let vocabularyEntry = file.entries["vocabulary.item_ids"], vocabularyEntry.shape.count == 1 else {
            throw bad("tensor vocabulary.item_ids is missing or not one-dimensional")
        }
        let rows = vocabularyEntry.shape[0]
        guard rows >= 2 else { throw bad("vocabulary holds no items") }
        // Everything the configuration implies must be in the file before anything is allocated:
        // a small file cannot make the model allocate more than the tensors it holds.
        for t in Checkpoint.tensors(configuration, rows: rows, optimizer: true, batchCounts: true) {
            try file.require(t.name, t.dtype, shape: t.shape)
        }
        let ids = try file.int64s("vocabulary.item_ids", shape: [rows])
        guard ids[0] == -1 else { throw bad("vocabulary row 0 must be -1 (padding), found \(ids[0])") }
        let items = Array(ids.dropFirst())
        guard items.allSatisfy({ $0 >= 0 }), Set(items).count == items.count else {
            throw bad("vocabulary ids must be distinct and non-negative")
        }
        let strings = try loadItemStrings(file, items: rows - 1, name: name)
        let model: MetaTLModel
        do {
            model = try MetaTLModel(configuration: configuration, vocabulary: Vocabulary(items: items, strings: strings))
        } catch { throw bad(error.message) }

        let arena = model.arena
        for slot in arena.slots {
            var blocks: [(String, FPtr)] = [(slot.name, arena.params)]
            if !servingOnly {   // serving only: the moments' pages are never touched (lazily zero-filled)
                blocks += [("optimizer.exp_avg." + slot.name, model.optimizer.firstMoment),
                           ("optimizer.exp_avg_sq." + slot.name, model.optimizer.secondMoment)]
            }
            for (key, block) in blocks { try file.readFloats(key, shape: slot.shape, into: block + slot.offset) }
        }
        try model.loadRunningStatistics(from: file, name: name)
        // Meaning, once everything is read (and its checksums verified): the same check as save.
        if let why = model.valueProblem() { throw bad(why) }
        for layer in model.arena.layers { _ = try file.int64s(layer.layer.batchCountName, shape: []) }
        model.transitionPrior = try loadTransitionPrior(file, rows: rows, name: name)
        model.trainedItems = try loadTrainedItems(file, rows: rows, name: name)
        model.step = step
        model.optimizer.markAllUpToDate(step: step)
        model.servingOnly = servingOnly
        return model
    }

    /// The checkpoint entries of a vocabulary of string ids (``StringIDs``, files before them
    /// and models of integer ids have none): the strings' UTF-8 bytes one after another (U8)
    /// and count + 1 offsets into them (I64); the ids are then 0..<count.
    enum StringsKey {
        static let bytes = "vocabulary.item_strings", offsets = "vocabulary.item_string_offsets"
    }

    private static func loadItemStrings(_ file: SafeTensors.File, items: Int, name: String) throws(MetaTLError) -> StringIDs? {
        let hasBytes = file.entries[StringsKey.bytes] != nil, hasOffsets = file.entries[StringsKey.offsets] != nil
        guard hasBytes || hasOffsets else { return nil }
        guard hasBytes && hasOffsets, let byteShape = file.entries[StringsKey.bytes]?.shape, byteShape.count == 1 else {
            throw MetaTLError(.badCheckpoint, "\(name): tensors \(StringsKey.bytes) (U8, one-dimensional) and \(StringsKey.offsets) come together")
        }
        let bytes = try file.uint8s(StringsKey.bytes, shape: byteShape)
        let offsets = try file.int64s(StringsKey.offsets, shape: [items + 1])
        do { return try StringIDs(bytes: bytes, offsets: offsets, name: "\(name): the item string ids") }
        catch { throw MetaTLError(.badCheckpoint, error.message) }
    }

    /// The checkpoint entry of ``trainedItems`` (one 0/1 per row; files before it have none and
    /// load with every item recommendable).
    static let trainedItemsKey = "vocabulary.trained_items"

    private static func loadTrainedItems(_ file: SafeTensors.File, rows: Int, name: String) throws(MetaTLError) -> [Bool]? {
        guard file.entries[trainedItemsKey] != nil else { return nil }
        let values = try file.int64s(trainedItemsKey, shape: [rows])
        guard values.allSatisfy({ $0 == 0 || $0 == 1 }), values.first == 0 else {
            throw MetaTLError(.badCheckpoint, "\(name): tensor \(trainedItemsKey) must hold 0 or 1 per row, 0 for the padding row")
        }
        return values.map { $0 == 1 }
    }

    /// Names of the transition prior's checkpoint entries.
    enum PriorKey {
        static let offsets = "transition_prior.offsets", tails = "transition_prior.tails"
        static let counts = "transition_prior.counts", weight = "transition_prior_weight"
    }

    /// The file's transition prior, nil when it has none; all four entries or none, each
    /// validated fully (see ``TransitionPrior/init(rows:offsets:tails:counts:weight:)``).
    private static func loadTransitionPrior(_ file: SafeTensors.File, rows: Int, name: String) throws(MetaTLError) -> TransitionPrior? {
        func bad(_ why: String) -> MetaTLError { MetaTLError(.badCheckpoint, "\(name): \(why)") }
        let present = [PriorKey.offsets, PriorKey.tails, PriorKey.counts].filter { file.entries[$0] != nil }
            + (file.metadata[PriorKey.weight] != nil ? [PriorKey.weight] : [])
        guard !present.isEmpty else { return nil }
        guard present.count == 4 else {
            throw bad("the transition prior is incomplete: it needs tensors \(PriorKey.offsets), \(PriorKey.tails), \(PriorKey.counts) and metadata \(PriorKey.weight), the file has only \(present.joined(separator: ", "))")
        }
        guard let text = file.metadata[PriorKey.weight], let weight = Float(text) else {
            throw bad("metadata \(PriorKey.weight) is not a number")
        }
        guard let tailsEntry = file.entries[PriorKey.tails], tailsEntry.shape.count == 1 else {
            throw bad("tensor \(PriorKey.tails) is not one-dimensional")
        }
        let pairs = tailsEntry.shape[0]
        let offsets = try file.int64s(PriorKey.offsets, shape: [rows + 1])
        let tails64 = try file.int64s(PriorKey.tails, shape: [pairs])
        let counts = try file.floats(PriorKey.counts, shape: [pairs])
        if let k = tails64.firstIndex(where: { $0 < 1 || $0 >= Int64(rows) }) {
            throw bad("transition prior tail \(tails64[k]) at \(k) is not an item row (1..<\(rows))")
        }
        do {
            return try TransitionPrior(rows: rows, offsets: offsets.map { Int(truncatingIfNeeded: $0) },
                                       tails: tails64.map { Int32(truncatingIfNeeded: $0) }, counts: counts, weight: weight)
        } catch { throw bad(error.message) }
    }

    /// A model from the reference's own `state_dict` saved with safetensors
    /// (`safetensors.torch.save_file(model.state_dict(), path)`): sizes come from the tensor
    /// shapes, the vocabulary is the reference's item ids 1...N (its rows), the other settings are
    /// the defaults, and Adam's state starts at zero.
    static func loadReferenceStateDict(_ file: SafeTensors.File, name: String) throws(MetaTLError) -> MetaTLModel {
        func bad(_ why: String) -> MetaTLError { MetaTLError(.badCheckpoint, "\(name): \(why)") }
        func shape(_ key: String) throws(MetaTLError) -> [Int] {
            guard let e = file.entries[key] else { throw bad("tensor \(key) is missing (neither a MetaTL checkpoint nor a reference state_dict)") }
            return e.shape
        }
        let embedding = try shape(ModelLayout.embeddingName)
        // The names of the layers' tensors do not depend on their widths.
        let first = LearnerLayer(index: 0, inDim: 0, outDim: 0), second = LearnerLayer(index: 1, inDim: 0, outDim: 0)
        let fc1 = try shape(first.weightName), fc2 = try shape(second.weightName)
        let bn = try shape(first.normWeightName)
        guard embedding.count == 2, fc1.count == 2, fc2.count == 2, bn.count == 1, embedding[0] >= 2 else {
            throw bad("reference state_dict tensors have unexpected ranks")
        }
        var c = Configuration.reference
        c.dim = embedding[1]; c.hidden1 = fc1[0]; c.hidden2 = fc2[0]; c.K = bn[0] + 1
        do { try c.validate() } catch { throw bad(error.message) }
        // As for our own format: every implied tensor is checked before the model is allocated.
        for t in Checkpoint.tensors(c, rows: embedding[0], optimizer: false, batchCounts: false) {
            try file.require(t.name, t.dtype, shape: t.shape)
        }
        let model: MetaTLModel
        do { model = try MetaTLModel(configuration: c, items: embedding[0] - 1) } catch { throw bad(error.message) }
        for slot in model.arena.slots {
            let destination = model.arena.params + slot.offset
            try file.readFloats(slot.name, shape: slot.shape, into: destination)
        }
        try model.loadRunningStatistics(from: file, name: name)
        if let why = model.valueProblem() { throw bad(why) }   // Adam's state is zero: parameters and statistics
        return model
    }

    /// The three layers' BatchNorm running means and variances (checked with the rest by
    /// ``valueProblem()``).
    private func loadRunningStatistics(from file: SafeTensors.File, name: String) throws(MetaTLError) {
        let S = configuration.supportCount
        for l in 0..<3 {
            for variance in [false, true] {
                let key = RunningStatistics.name(layer: l, variance: variance)
                let values = try file.floats(key, shape: [S])
                (variance ? running.variance(l) : running.mean(l)).update(from: values, count: S)
            }
        }
    }

    /// The checkpoint's content, read where it lies in memory (call with at least shared
    /// access, and use it within): every tensor in the file's order, see ``CheckpointWriter``.
    func checkpointWriter() -> CheckpointWriter {
        typealias T = CheckpointWriter.Tensor
        var tensors: [T] = []
        let S = configuration.supportCount
        for t in Checkpoint.tensors(arena.layout, optimizer: true, batchCounts: true) {
            let values: CheckpointWriter.Values
            switch t.source {
            case .parameter(let slot): values = .floats(UnsafePointer(arena.params + slot.offset), count: slot.count)
            case .firstMoment(let slot): values = .floats(UnsafePointer(optimizer.firstMoment + slot.offset), count: slot.count)
            case .secondMoment(let slot): values = .floats(UnsafePointer(optimizer.secondMoment + slot.offset), count: slot.count)
            case .runningMean(let l): values = .floats(UnsafePointer(running.mean(l)), count: S)
            case .runningVariance(let l): values = .floats(UnsafePointer(running.variance(l)), count: S)
            case .batchCount: values = .int64Array([Int64(step)])
            case .vocabulary: values = .int64Array(itemIDs)
            }
            tensors.append(T(name: t.name, dtype: t.dtype, shape: t.shape, values: values))
        }
        if let strings = vocabulary.strings {
            let t = strings.table
            tensors.append(T(name: MetaTLModel.StringsKey.bytes, dtype: .u8, shape: [t.byteCount], values: .bytes(t.bytes)))
            tensors.append(T(name: MetaTLModel.StringsKey.offsets, dtype: .i64, shape: [t.count + 1], values: .int64s(t.offsets)))
        }
        if let trained = trainedItems {
            tensors.append(T(name: MetaTLModel.trainedItemsKey, dtype: .i64, shape: [rows],
                             values: .generated(count: trained.count) { trained[$0] ? 1 : 0 }))
        }
        var priorMetadata: [(String, String)] = []
        if let prior = transitionPrior {
            typealias Key = MetaTLModel.PriorKey
            let offsets = prior.offsets, tails = prior.tails
            tensors.append(T(name: Key.offsets, dtype: .i64, shape: [rows + 1],
                             values: .generated(count: offsets.count) { Int64(offsets[$0]) }))
            tensors.append(T(name: Key.tails, dtype: .i64, shape: [tails.count],
                             values: .generated(count: tails.count) { Int64(tails[$0]) }))
            tensors.append(T(name: Key.counts, dtype: .f32, shape: [prior.counts.count], values: .floatArray(prior.counts)))
            // Float's description is the shortest text that reads back as the same value.
            priorMetadata.append((Key.weight, prior.weight.description))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let config = (try? encoder.encode(configuration)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        let metadata = [
            ("format", Checkpoint.format), ("format_version", String(Checkpoint.formatVersion)),
            ("configuration", config), ("step", String(step)), ("engine_version", MetaTLVersion.string),
        ] + priorMetadata
        return CheckpointWriter(tensors: tensors, metadata: metadata)
    }

    /// The checkpoint's bytes (call with at least shared access): one buffer of the file's
    /// size, filled from the model's memory.
    func checkpointData() throws(MetaTLError) -> Data {
        let writer = checkpointWriter()
        let (header, total) = try writer.header()
        var data = Data(count: total)
        var failure: MetaTLError?
        data.withUnsafeMutableBytes { raw in
            do throws(MetaTLError) { try writer.fill(raw, header: header) } catch { failure = error }
        }
        if let failure { throw failure }
        return data
    }
}
