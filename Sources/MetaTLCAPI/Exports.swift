import CMetaTL
import Foundation
import MetaTL

// Every function of include/metatl.h. Each validates its arguments, calls the engine and
// maps errors to status codes; nothing here traps on bad input.

// MARK: Version and errors

/// MetaTLVersion.string as a C string that lives as long as the process (written once, when
/// first read, and only read after: safe to share).
nonisolated(unsafe) private let versionText: UnsafePointer<CChar> = {
    let utf8 = Array(MetaTLVersion.string.utf8CString)
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
    p.initialize(from: utf8, count: utf8.count)
    return UnsafePointer(p)
}()

@_cdecl("mt_version")
public func mt_version() -> UnsafePointer<CChar> {
    versionText
}

@_cdecl("mt_version_number")
public func mt_version_number() -> Int32 {
    Int32(MetaTLVersion.major * 10000 + MetaTLVersion.minor * 100 + MetaTLVersion.patch)
}

@_cdecl("mt_last_error_message")
public func mt_last_error_message() -> UnsafePointer<CChar> {
    lastErrorPointer() ?? cString("")
}

@_cdecl("mt_status_name")
public func mt_status_name(_ status: mt_status) -> UnsafePointer<CChar> {
    switch status {
    case MT_OK: return cString("MT_OK")
    case MT_ERR_INVALID_ARGUMENT: return cString("MT_ERR_INVALID_ARGUMENT")
    case MT_ERR_INVALID_DATA: return cString("MT_ERR_INVALID_DATA")
    case MT_ERR_NOT_FOUND: return cString("MT_ERR_NOT_FOUND")
    case MT_ERR_IO: return cString("MT_ERR_IO")
    case MT_ERR_BUFFER_TOO_SMALL: return cString("MT_ERR_BUFFER_TOO_SMALL")
    case MT_ERR_UNKNOWN_ITEM: return cString("MT_ERR_UNKNOWN_ITEM")
    case MT_ERR_BUSY: return cString("MT_ERR_BUSY")
    case MT_ERR_BAD_CHECKPOINT: return cString("MT_ERR_BAD_CHECKPOINT")
    case MT_ERR_INVALID_STATE: return cString("MT_ERR_INVALID_STATE")
    case MT_ERR_DIVERGED: return cString("MT_ERR_DIVERGED")
    case MT_ERR_INTERNAL: return cString("MT_ERR_INTERNAL")
    default: return cString("MT_UNKNOWN_STATUS")
    }
}

/// A static, NUL-terminated C string.
private func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}

// MARK: Configuration

@_cdecl("mt_config_default")
public func mt_config_default() -> mt_config {
    cConfig(.recommended)
}

@_cdecl("mt_config_preset")
public func mt_config_preset(_ name: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<mt_config>?) -> mt_status {
    guarded("mt_config_preset") {
        let n = try string(name, "name")
        guard let out else { throw BoundaryError.argument("out is NULL") }
        guard let c = Configuration.preset(named: n) else {
            let known = Configuration.presetNames.map { "'\($0)'" }.joined(separator: " or ")
            throw BoundaryError.argument("unknown preset '\(MessageText.shown(n.utf8, limit: 64))'; expected \(known)")
        }
        try write(c, to: out, "out")
    }
}

/// The sizes of mt_config that earlier headers had: the first ended where `eval_mode_after`,
/// the first field added after it, begins (64 bytes).
private let earlierConfigSizes = [MemoryLayout<mt_config>.offset(of: \mt_config.eval_mode_after) ?? MemoryLayout<mt_config>.size]

/// The caller's mt_config size: this header's or larger (a newer caller), or an earlier header's.
private func configSize(_ p: UnsafeRawPointer, _ name: String) throws -> Int {
    // Only struct_size bytes are the caller's: read the size alone first.
    let size = Int(p.load(as: UInt32.self)), ours = MemoryLayout<mt_config>.size
    guard size >= ours || earlierConfigSizes.contains(size) else {
        let earlier = earlierConfigSizes.map(String.init).joined(separator: ", ")
        throw BoundaryError.argument("\(name)->struct_size is \(size); initialise it with mt_config_default() "
                                     + "(sizeof(mt_config) is \(ours); an earlier header's \(earlier) is accepted too)")
    }
    return size
}

/// `c` into the caller's struct: the fields within its struct_size, which is left as it was.
func write(_ c: Configuration, to out: UnsafeMutablePointer<mt_config>, _ name: String) throws {
    let size = try configSize(out, name)
    var full = cConfig(c)
    full.struct_size = UInt32(size)
    let n = min(size, MemoryLayout<mt_config>.size)
    withUnsafeBytes(of: full) { bytes in
        UnsafeMutableRawBufferPointer(start: out, count: n).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(n)))
    }
}

func cConfig(_ c: Configuration) -> mt_config {
    var out = mt_config()
    out.struct_size = UInt32(MemoryLayout<mt_config>.size)
    out.K = Int32(clamping: c.K); out.dim = Int32(clamping: c.dim)
    out.hidden1 = Int32(clamping: c.hidden1); out.hidden2 = Int32(clamping: c.hidden2)
    out.batch_size = Int32(clamping: c.batchSize); out.learning_rate = c.learningRate; out.beta = c.beta
    out.margin = c.margin; out.dropout = c.dropout; out.seed = c.seed
    switch c.sampler {
    case .reference: out.sampler = MT_SAMPLER_REFERENCE
    case .contiguous: out.sampler = MT_SAMPLER_CONTIGUOUS
    case .window: out.sampler = MT_SAMPLER_WINDOW
    case .everyWindow: out.sampler = MT_SAMPLER_EVERY_WINDOW
    }
    switch c.innerStep {
    case .reference: out.inner_step = MT_INNER_STEP_REFERENCE
    case .perTask: out.inner_step = MT_INNER_STEP_PER_TASK
    }
    out.threads = Int32(clamping: c.threads)
    out.eval_mode_after = c.evalModeAfter.map { Int64($0) } ?? -1
    switch c.loss {
    case .margin: out.loss = MT_LOSS_MARGIN
    case .softmax: out.loss = MT_LOSS_SOFTMAX
    }
    out.shared_negatives = Int32(clamping: c.sharedNegatives)
    out.tail_embeddings = c.tailEmbeddings ? 1 : 0
    out.item_bias = c.itemBias ? 1 : 0
    out.zero_initial_relation = c.zeroInitialRelation ? 1 : 0
    out.relation_penalty = c.relationPenalty
    switch c.negatives {
    case nil, .uniform?: out.negatives = MT_NEGATIVES_UNIFORM
    case .popularity?: out.negatives = MT_NEGATIVES_POPULARITY
    case .mixed?: out.negatives = MT_NEGATIVES_MIXED
    }
    out.table_decay = c.tableDecay
    out.query_margin = c.queryMargin ? 1 : 0
    switch c.optimizer {
    case .adam: out.optimizer = MT_OPTIMIZER_ADAM
    case .sparseAdam: out.optimizer = MT_OPTIMIZER_SPARSE_ADAM
    }
    return out
}

/// The caller's mt_config as a Configuration: fields beyond an earlier caller's struct_size take
/// the reference preset's values (that header's default).
func swiftConfig(_ p: UnsafePointer<mt_config>?) throws -> Configuration {
    guard let p else { throw BoundaryError.argument("config is NULL") }
    let size = try configSize(p, "config")
    var c = cConfig(.reference)
    withUnsafeMutableBytes(of: &c) { $0.copyMemory(from: UnsafeRawBufferPointer(start: p, count: min(size, MemoryLayout<mt_config>.size))) }
    func flag(_ v: Int32, _ field: String) throws -> Bool {
        switch v {
        case 0: return false
        case 1: return true
        default: throw BoundaryError.argument("config->\(field) must be 0 or 1 (got \(v))")
        }
    }
    var out = Configuration.reference
    out.K = Int(c.K); out.dim = Int(c.dim); out.hidden1 = Int(c.hidden1); out.hidden2 = Int(c.hidden2)
    out.batchSize = Int(c.batch_size); out.learningRate = c.learning_rate; out.beta = c.beta
    out.margin = c.margin; out.dropout = c.dropout; out.seed = c.seed; out.threads = Int(c.threads)
    switch c.sampler {
    case MT_SAMPLER_REFERENCE: out.sampler = .reference
    case MT_SAMPLER_CONTIGUOUS: out.sampler = .contiguous
    case MT_SAMPLER_WINDOW: out.sampler = .window
    case MT_SAMPLER_EVERY_WINDOW: out.sampler = .everyWindow
    default:
        throw BoundaryError.argument("config->sampler must be MT_SAMPLER_REFERENCE, MT_SAMPLER_CONTIGUOUS, MT_SAMPLER_WINDOW or MT_SAMPLER_EVERY_WINDOW (got \(c.sampler))")
    }
    switch c.inner_step {
    case MT_INNER_STEP_REFERENCE: out.innerStep = .reference
    case MT_INNER_STEP_PER_TASK: out.innerStep = .perTask
    default: throw BoundaryError.argument("config->inner_step must be MT_INNER_STEP_REFERENCE or MT_INNER_STEP_PER_TASK (got \(c.inner_step))")
    }
    switch c.eval_mode_after {
    case -1: out.evalModeAfter = nil
    case 0...: out.evalModeAfter = Int(c.eval_mode_after)
    default: throw BoundaryError.argument("config->eval_mode_after must be a step >= 0, or -1 for never (got \(c.eval_mode_after))")
    }
    switch c.loss {
    case MT_LOSS_MARGIN: out.loss = .margin
    case MT_LOSS_SOFTMAX: out.loss = .softmax
    default: throw BoundaryError.argument("config->loss must be MT_LOSS_MARGIN or MT_LOSS_SOFTMAX (got \(c.loss))")
    }
    out.sharedNegatives = Int(c.shared_negatives)
    out.tailEmbeddings = try flag(c.tail_embeddings, "tail_embeddings")
    out.itemBias = try flag(c.item_bias, "item_bias")
    out.zeroInitialRelation = try flag(c.zero_initial_relation, "zero_initial_relation")
    out.relationPenalty = c.relation_penalty
    switch c.negatives {
    case MT_NEGATIVES_UNIFORM: out.negatives = nil
    case MT_NEGATIVES_POPULARITY: out.negatives = .popularity
    case MT_NEGATIVES_MIXED: out.negatives = .mixed
    default:
        throw BoundaryError.argument("config->negatives must be MT_NEGATIVES_UNIFORM, MT_NEGATIVES_POPULARITY or MT_NEGATIVES_MIXED (got \(c.negatives))")
    }
    out.tableDecay = c.table_decay
    out.queryMargin = try flag(c.query_margin, "query_margin")
    switch c.optimizer {
    case MT_OPTIMIZER_ADAM: out.optimizer = .adam
    case MT_OPTIMIZER_SPARSE_ADAM: out.optimizer = .sparseAdam
    default: throw BoundaryError.argument("config->optimizer must be MT_OPTIMIZER_ADAM or MT_OPTIMIZER_SPARSE_ADAM (got \(c.optimizer))")
    }
    try out.validate()
    return out
}

// MARK: Datasets

@_cdecl("mt_dataset_options_default")
public func mt_dataset_options_default() -> mt_dataset_options {
    var o = mt_dataset_options()
    o.struct_size = UInt32(MemoryLayout<mt_dataset_options>.size)
    o.K = 3
    o.seed = 1
    o.max_file_bytes = UInt64(Dataset.defaultMaxFileBytes)
    o.sampled_negatives = Int32(EvaluationUsers.defaultSampledNegatives)
    return o
}

/// The size of mt_dataset_options in the header before `sampled_negatives` (24 bytes).
private let earlierDatasetOptionsSize = MemoryLayout<mt_dataset_options>.offset(of: \mt_dataset_options.sampled_negatives)
    ?? MemoryLayout<mt_dataset_options>.size

/// The caller's options over `defaults` (NULL: the defaults): only its struct_size bytes are
/// read, this header's size or larger, or the earlier header's (its later fields keep the defaults).
func datasetOptions(_ p: UnsafePointer<mt_dataset_options>?, defaults: mt_dataset_options = mt_dataset_options_default(),
                    _ name: String = "options") throws -> mt_dataset_options {
    guard let p else { return defaults }
    let size = Int(UnsafeRawPointer(p).load(as: UInt32.self)), ours = MemoryLayout<mt_dataset_options>.size
    guard size >= ours || size == earlierDatasetOptionsSize else {
        throw BoundaryError.argument("\(name)->struct_size is \(size); initialise it with mt_dataset_options_default() "
                                     + "(sizeof(mt_dataset_options) is \(ours); an earlier header's \(earlierDatasetOptionsSize) is accepted too)")
    }
    var o = defaults
    withUnsafeMutableBytes(of: &o) { dst in
        dst.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(p), count: min(size, ours)))
    }
    o.struct_size = UInt32(ours)
    return o
}

@_cdecl("mt_dataset_load")
public func mt_dataset_load(_ train: UnsafePointer<CChar>?, _ test: UnsafePointer<CChar>?,
                            _ options: UnsafePointer<mt_dataset_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_dataset_load") {
        let out = try clear(out)
        try loadDataset(train, test, options: try datasetOptions(options), into: out)
    }
}

@_cdecl("mt_dataset_from_files")
public func mt_dataset_from_files(_ train: UnsafePointer<CChar>?, _ test: UnsafePointer<CChar>?, _ K: Int32, _ seed: UInt64,
                                  _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_dataset_from_files") {
        let out = try clear(out)
        var o = mt_dataset_options_default()
        o.K = K
        o.seed = seed
        try loadDataset(train, test, options: o, into: out)
    }
}

/// The one body of mt_dataset_load, mt_dataset_from_files and mt_dataset_load_for_model.
func loadDataset(_ train: UnsafePointer<CChar>?, _ test: UnsafePointer<CChar>?, options o: mt_dataset_options,
                 vocabularyOf model: MetaTLModel? = nil, unknownItems: UnknownItemPolicy = .skip,
                 into out: UnsafeMutablePointer<OpaquePointer?>) throws {
    guard o.max_file_bytes >= 1 else { throw BoundaryError.argument("options->max_file_bytes must be at least 1 (UINT64_MAX for no limit)") }
    // Beyond Int.max no file can be larger: the same as no limit.
    let limit = o.max_file_bytes > UInt64(Int.max) ? Int.max : Int(o.max_file_bytes)
    let d = try Dataset(trainFile: try string(train, "train_path"), testFile: try string(test, "test_path"), K: Int(o.K), seed: o.seed,
                        maxFileBytes: limit, vocabularyOf: model, unknownItems: unknownItems,
                        sampledNegatives: Int(o.sampled_negatives))
    out.pointee = retain(DatasetHandle(d))
}

@_cdecl("mt_dataset_from_arrays")
public func mt_dataset_from_arrays(_ trainUsers: UnsafePointer<Int64>?, _ trainItems: UnsafePointer<Int64>?,
                                   _ trainTimestamps: UnsafePointer<Double>?, _ trainCount: Int,
                                   _ testUsers: UnsafePointer<Int64>?, _ testItems: UnsafePointer<Int64>?,
                                   _ testTimestamps: UnsafePointer<Double>?, _ testCount: Int,
                                   _ K: Int32, _ seed: UInt64, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_dataset_from_arrays") {
        let out = try clear(out)
        let nTrain = try count(trainCount, "train_count", min: 1), nTest = try count(testCount, "test_count", min: 1)
        let train = Interactions(users: try array(trainUsers, nTrain, "train_users"), items: try array(trainItems, nTrain, "train_items"),
                                 timestamps: try array(trainTimestamps, nTrain, "train_timestamps"))
        let test = Interactions(users: try array(testUsers, nTest, "test_users"), items: try array(testItems, nTest, "test_items"),
                                timestamps: try array(testTimestamps, nTest, "test_timestamps"))
        let d = try Dataset(train: train, test: test, K: Int(K), seed: seed, trainName: "training arrays", testName: "new-user arrays")
        out.pointee = retain(DatasetHandle(d))
    }
}

@_cdecl("mt_dataset_synthetic")
public func mt_dataset_synthetic(_ side: Int32, _ trainUsers: Int32, _ newUsers: Int32, _ seed: UInt64,
                                 _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_dataset_synthetic") {
        let out = try clear(out)
        var g = SyntheticData()
        g.side = try count(side, "side", min: 3, limit: 1000)
        g.trainUsers = try count(trainUsers, "train_users", min: 1, limit: 10_000_000)
        g.newUsers = try count(newUsers, "new_users", min: 1, limit: 10_000_000)
        g.seed = seed
        let (train, test) = g.generate()
        let d = try Dataset(train: train, test: test, K: 3, seed: seed, trainName: "synthetic training users",
                            testName: "synthetic new users")
        out.pointee = retain(DatasetHandle(d))
    }
}

@_cdecl("mt_dataset_info_default")
public func mt_dataset_info_default() -> mt_dataset_info {
    var info = mt_dataset_info()
    info.struct_size = UInt32(MemoryLayout<mt_dataset_info>.size)
    return info
}

@_cdecl("mt_dataset_info_get")
public func mt_dataset_info_get(_ p: OpaquePointer?, _ out: UnsafeMutablePointer<mt_dataset_info>?) -> mt_status {
    guarded("mt_dataset_info_get") {
        let d = try dataset(p)
        guard let out else { throw BoundaryError.argument("out is NULL") }
        try checkSize(out.pointee.struct_size, of: mt_dataset_info.self, "out", "mt_dataset_info_default")
        out.pointee.items = Int64(d.itemCount)
        out.pointee.items_not_in_training = Int64(d.itemsNotInTraining)
        out.pointee.train_users = Int64(d.trainUserCount)
        out.pointee.train_interactions = Int64(d.trainInteractionCount)
        out.pointee.valid_users = Int64(d.valid.count)
        out.pointee.test_users = Int64(d.test.count)
        out.pointee.K = Int32(d.K)
    }
}

@_cdecl("mt_dataset_free")
public func mt_dataset_free(_ p: OpaquePointer?) {
    if let p { release(p, as: DatasetHandle.self) }
}

// MARK: Models

@_cdecl("mt_model_create")
public func mt_model_create(_ config: UnsafePointer<mt_config>?, _ data: OpaquePointer?,
                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_model_create") {
        let out = try clear(out)
        let c = try swiftConfig(config)
        let m = try MetaTLModel(configuration: c, dataset: try dataset(data))
        out.pointee = retain(ModelHandle(m))
    }
}

@_cdecl("mt_model_free")
public func mt_model_free(_ p: OpaquePointer?) {
    if let p { release(p, as: ModelHandle.self) }
}

@_cdecl("mt_model_config")
public func mt_model_config(_ p: OpaquePointer?, _ out: UnsafeMutablePointer<mt_config>?) -> mt_status {
    guarded("mt_model_config") {
        let m = try model(p)
        guard let out else { throw BoundaryError.argument("out is NULL") }
        try write(m.configuration, to: out, "out")
    }
}

@_cdecl("mt_model_info")
public func mt_model_info(_ p: OpaquePointer?, _ items: UnsafeMutablePointer<Int64>?, _ dim: UnsafeMutablePointer<Int32>?,
                          _ step: UnsafeMutablePointer<Int64>?) -> mt_status {
    guarded("mt_model_info") {
        let m = try model(p)
        items?.pointee = Int64(m.rows - 1)
        dim?.pointee = Int32(m.configuration.dim)
        if let step { step.pointee = Int64(try m.stepCount()) }
    }
}

@_cdecl("mt_model_items")
public func mt_model_items(_ p: OpaquePointer?, _ ids: UnsafeMutablePointer<Int64>?, _ idsLen: Int,
                           _ embeddings: UnsafeMutablePointer<Float>?, _ embeddingsLen: Int) -> mt_status {
    guarded("mt_model_items") {
        let m = try model(p)
        let items = m.rows - 1, d = m.configuration.dim
        guard let ids else { throw BoundaryError.argument("ids is NULL") }
        guard unsigned(idsLen) >= UInt(items) else {
            throw BoundaryError(status: MT_ERR_BUFFER_TOO_SMALL, message: "ids has room for \(unsigned(idsLen)) values; the model has \(items) items")
        }
        if let embeddings {
            guard unsigned(embeddingsLen) >= UInt(items * d) else {
                throw BoundaryError(status: MT_ERR_BUFFER_TOO_SMALL,
                                    message: "embeddings has room for \(unsigned(embeddingsLen)) floats; \(items) x \(d) are needed")
            }
            let table = try m.itemEmbeddings()
            embeddings.update(from: table, count: items * d)
        }
        for i in 0..<items { ids[i] = m.itemIDs[i + 1] }
    }
}

@_cdecl("mt_model_train")
public func mt_model_train(_ p: OpaquePointer?, _ data: OpaquePointer?, _ steps: Int64,
                           _ meanLoss: UnsafeMutablePointer<Float>?) -> mt_status {
    guarded("mt_model_train") {
        let m = try model(p)
        let d = try dataset(data)
        guard steps >= 1 && steps <= Int64(Int32.max) else { throw BoundaryError.argument("steps must be in 1...\(Int32.max) (got \(steps))") }
        let loss = try m.train(on: d, steps: Int(steps))
        meanLoss?.pointee = loss
    }
}

@_cdecl("mt_model_snapshot")
public func mt_model_snapshot(_ p: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_model_snapshot") {
        let o = try clear(out)
        let m = try model(p)
        o.pointee = retain(SnapshotHandle(try m.snapshot()))
    }
}

@_cdecl("mt_model_restore")
public func mt_model_restore(_ p: OpaquePointer?, _ snapshot: OpaquePointer?) -> mt_status {
    guarded("mt_model_restore") {
        let m = try model(p)
        guard let snapshot else { throw BoundaryError.argument("snapshot is NULL") }
        try m.restore(Unmanaged<SnapshotHandle>.fromOpaque(UnsafeRawPointer(snapshot)).takeUnretainedValue().snapshot)
    }
}

@_cdecl("mt_snapshot_step")
public func mt_snapshot_step(_ snapshot: OpaquePointer?) -> Int64 {
    guard let snapshot else { return -1 }
    return Int64(Unmanaged<SnapshotHandle>.fromOpaque(UnsafeRawPointer(snapshot)).takeUnretainedValue().snapshot.step)
}

@_cdecl("mt_snapshot_free")
public func mt_snapshot_free(_ snapshot: OpaquePointer?) {
    if let snapshot { release(snapshot, as: SnapshotHandle.self) }
}

// MARK: Evaluation

@_cdecl("mt_metrics_default")
public func mt_metrics_default() -> mt_metrics {
    var m = mt_metrics()
    m.struct_size = UInt32(MemoryLayout<mt_metrics>.size)
    return m
}

@_cdecl("mt_model_evaluate")
public func mt_model_evaluate(_ p: OpaquePointer?, _ data: OpaquePointer?, _ split: Int32, _ proto: Int32,
                              _ out: UnsafeMutablePointer<mt_metrics>?) -> mt_status {
    guarded("mt_model_evaluate") {
        let m = try model(p)
        let d = try dataset(data)
        guard let out else { throw BoundaryError.argument("out is NULL") }
        try checkSize(out.pointee.struct_size, of: mt_metrics.self, "out", "mt_metrics_default")
        let (s, method) = try splitAndProtocol(split, proto)
        write(try m.evaluate(on: d, split: s, protocol: method), to: out)
    }
}

/// Metrics into the caller's mt_metrics (its struct_size checked by the caller, left as it was).
private func write(_ r: Metrics, to out: UnsafeMutablePointer<mt_metrics>) {
    out.pointee.mrr = r.mrr; out.pointee.ndcg1 = r.ndcg1; out.pointee.ndcg5 = r.ndcg5; out.pointee.ndcg10 = r.ndcg10
    out.pointee.hits1 = r.hits1; out.pointee.hits5 = r.hits5; out.pointee.hits10 = r.hits10
    out.pointee.users = Int64(r.users)
}

/// The one body of mt_model_evaluate_ranks and mt_baseline_evaluate_ranks: `len` checked against
/// the split's users before `compute` runs, then its ranks (0 for unranked) and the users' ids.
private func writeRanks(of users: EvaluationUsers, len: Int, userIDs: UnsafeMutablePointer<Int64>?,
                        ranks: UnsafeMutablePointer<Int64>?, scores: UnsafeMutablePointer<Double>? = nil,
                        _ compute: () throws -> TargetRanks) throws {
    guard len == users.count else {
        throw BoundaryError(status: len < users.count && len >= 0 ? MT_ERR_BUFFER_TOO_SMALL : MT_ERR_INVALID_ARGUMENT,
                            message: "len is \(unsigned(len)); the split has \(users.count) users (mt_dataset_info_get)")
    }
    guard users.count > 0 else { return }
    guard let ranks else { throw BoundaryError.argument("ranks is NULL") }
    let t = try compute()
    for (i, rank) in t.ranks.enumerated() {
        ranks[i] = rank == Metrics.unranked ? 0 : Int64(rank)
        userIDs?[i] = users.userIDs[i]
        scores?[i] = t.scores[i]
    }
}

/// MT_SPLIT_* and MT_PROTOCOL_* as the engine's.
private func splitAndProtocol(_ split: Int32, _ proto: Int32) throws -> (Split, EvaluationProtocol) {
    let s: Split
    switch split {
    case MT_SPLIT_VALID: s = .valid
    case MT_SPLIT_TEST: s = .test
    default: throw BoundaryError.argument("split must be MT_SPLIT_VALID or MT_SPLIT_TEST (got \(split))")
    }
    switch proto {
    case MT_PROTOCOL_SAMPLED: return (s, .sampled)
    case MT_PROTOCOL_FULL: return (s, .full)
    default: throw BoundaryError.argument("protocol must be MT_PROTOCOL_SAMPLED or MT_PROTOCOL_FULL (got \(proto))")
    }
}

@_cdecl("mt_metrics_at_cutoff")
public func mt_metrics_at_cutoff(_ ranks: UnsafePointer<Int64>?, _ n: Int, _ k: Int32,
                                 _ ndcg: UnsafeMutablePointer<Double>?, _ hits: UnsafeMutablePointer<Double>?) -> mt_status {
    guarded("mt_metrics_at_cutoff") {
        let count = try count(n, "n", limit: Int(Int32.max))
        guard k >= 1 else { throw BoundaryError.argument("k must be at least 1 (got \(k))") }
        // 0 (a miss here) is below every rank, as Metrics counts it.
        let r = try array(ranks, count, "ranks").map { $0 >= 1 && $0 <= Int64(Int.max) ? Int($0) : Metrics.unranked }
        let m = Metrics.at(Int(k), ranks: r)
        ndcg?.pointee = m.ndcg
        hits?.pointee = m.hits
    }
}

@_cdecl("mt_model_evaluate_ranks")
public func mt_model_evaluate_ranks(_ p: OpaquePointer?, _ data: OpaquePointer?, _ split: Int32, _ proto: Int32,
                                    _ userIDs: UnsafeMutablePointer<Int64>?, _ ranks: UnsafeMutablePointer<Int64>?,
                                    _ len: Int) -> mt_status {
    guarded("mt_model_evaluate_ranks") { try modelTargets(p, data, split, proto, userIDs, ranks, nil, len) }
}

@_cdecl("mt_model_evaluate_targets")
public func mt_model_evaluate_targets(_ p: OpaquePointer?, _ data: OpaquePointer?, _ split: Int32, _ proto: Int32,
                                      _ userIDs: UnsafeMutablePointer<Int64>?, _ ranks: UnsafeMutablePointer<Int64>?,
                                      _ scores: UnsafeMutablePointer<Double>?, _ len: Int) -> mt_status {
    guarded("mt_model_evaluate_targets") { try modelTargets(p, data, split, proto, userIDs, ranks, scores, len) }
}

/// The one body of mt_model_evaluate_ranks and mt_model_evaluate_targets.
private func modelTargets(_ p: OpaquePointer?, _ data: OpaquePointer?, _ split: Int32, _ proto: Int32,
                          _ userIDs: UnsafeMutablePointer<Int64>?, _ ranks: UnsafeMutablePointer<Int64>?,
                          _ scores: UnsafeMutablePointer<Double>?, _ len: Int) throws {
    let m = try model(p)
    let d = try dataset(data)
    let (s, method) = try splitAndProtocol(split, proto)
    try writeRanks(of: d.users(s), len: len, userIDs: userIDs, ranks: ranks, scores: scores) {
        try m.targets(on: d, split: s, protocol: method)
    }
}

private func baselineKind(_ b: Int32) throws -> Baselines.Kind {
    switch b {
    case MT_BASELINE_POPULARITY: return .popularity
    case MT_BASELINE_TRANSITION: return .transition
    case MT_BASELINE_TRANSITION2: return .secondOrder
    default: throw BoundaryError.argument("baseline must be MT_BASELINE_POPULARITY, MT_BASELINE_TRANSITION or MT_BASELINE_TRANSITION2 (got \(b))")
    }
}

@_cdecl("mt_baseline_evaluate")
public func mt_baseline_evaluate(_ data: OpaquePointer?, _ baseline: Int32, _ split: Int32, _ proto: Int32,
                                 _ out: UnsafeMutablePointer<mt_metrics>?) -> mt_status {
    guarded("mt_baseline_evaluate") {
        let d = try dataset(data)
        let kind = try baselineKind(baseline)
        guard let out else { throw BoundaryError.argument("out is NULL") }
        try checkSize(out.pointee.struct_size, of: mt_metrics.self, "out", "mt_metrics_default")
        let (s, method) = try splitAndProtocol(split, proto)
        write(Baselines(dataset: d).evaluate(kind, on: d, split: s, protocol: method), to: out)
    }
}

@_cdecl("mt_baseline_evaluate_ranks")
public func mt_baseline_evaluate_ranks(_ data: OpaquePointer?, _ baseline: Int32, _ split: Int32, _ proto: Int32,
                                       _ userIDs: UnsafeMutablePointer<Int64>?, _ ranks: UnsafeMutablePointer<Int64>?,
                                       _ len: Int) -> mt_status {
    guarded("mt_baseline_evaluate_ranks") { try baselineTargets(data, baseline, split, proto, userIDs, ranks, nil, len) }
}

@_cdecl("mt_baseline_evaluate_targets")
public func mt_baseline_evaluate_targets(_ data: OpaquePointer?, _ baseline: Int32, _ split: Int32, _ proto: Int32,
                                         _ userIDs: UnsafeMutablePointer<Int64>?, _ ranks: UnsafeMutablePointer<Int64>?,
                                         _ scores: UnsafeMutablePointer<Double>?, _ len: Int) -> mt_status {
    guarded("mt_baseline_evaluate_targets") { try baselineTargets(data, baseline, split, proto, userIDs, ranks, scores, len) }
}

/// The one body of mt_baseline_evaluate_ranks and mt_baseline_evaluate_targets.
private func baselineTargets(_ data: OpaquePointer?, _ baseline: Int32, _ split: Int32, _ proto: Int32,
                             _ userIDs: UnsafeMutablePointer<Int64>?, _ ranks: UnsafeMutablePointer<Int64>?,
                             _ scores: UnsafeMutablePointer<Double>?, _ len: Int) throws {
    let d = try dataset(data)
    let kind = try baselineKind(baseline)
    let (s, method) = try splitAndProtocol(split, proto)
    try writeRanks(of: d.users(s), len: len, userIDs: userIDs, ranks: ranks, scores: scores) {
        Baselines(dataset: d).targets(kind, on: d, split: s, protocol: method)
    }
}

// MARK: Transition prior

@_cdecl("mt_model_attach_transition_prior")
public func mt_model_attach_transition_prior(_ p: OpaquePointer?, _ data: OpaquePointer?, _ weight: Float,
                                             _ chosen: UnsafeMutablePointer<Float>?) -> mt_status {
    guarded("mt_model_attach_transition_prior") {
        let m = try model(p)
        let d = try dataset(data)
        guard !weight.isNaN else { throw BoundaryError.argument("weight is NaN (a negative weight chooses on validation)") }
        let choice = try m.attachTransitionPrior(from: d, weight: weight < 0 ? .chooseOnValidation : .fixed(weight))
        chosen?.pointee = choice.weight
    }
}

@_cdecl("mt_model_transition_prior_weight")
public func mt_model_transition_prior_weight(_ p: OpaquePointer?, _ weight: UnsafeMutablePointer<Float>?) -> mt_status {
    guarded("mt_model_transition_prior_weight") {
        let m = try model(p)
        guard let weight else { throw BoundaryError.argument("weight is NULL") }
        weight.pointee = try m.attachedTransitionPrior()?.weight ?? 0
    }
}

// MARK: Serving

/// Longest history accepted (only the last K items are used).
private let maxHistory = 1 << 20

@_cdecl("mt_model_adapt")
public func mt_model_adapt(_ p: OpaquePointer?, _ history: UnsafePointer<Int64>?, _ historyLen: Int,
                           _ relation: UnsafeMutablePointer<Float>?, _ relationLen: Int) -> mt_status {
    guarded("mt_model_adapt") {
        let m = try model(p)
        let h = try array(history, try count(historyLen, "history_len", min: 2, limit: maxHistory), "history")
        guard let relation else { throw BoundaryError.argument("relation is NULL") }
        let d = m.configuration.dim
        // The relation is a dim-vector, in and out: exactly dim floats, as mt_model_score takes.
        guard unsigned(relationLen) >= UInt(d) else {
            throw BoundaryError(status: MT_ERR_BUFFER_TOO_SMALL, message: "relation has room for \(relationLen) floats; the model needs \(d)")
        }
        guard relationLen == d else {
            throw BoundaryError.argument("relation_len must be the model's dimension \(d) (got \(unsigned(relationLen)))")
        }
        let r = try m.adapt(history: h)
        relation.update(from: r, count: d)
    }
}

@_cdecl("mt_model_score")
public func mt_model_score(_ p: OpaquePointer?, _ relation: UnsafePointer<Float>?, _ relationLen: Int, _ lastItem: Int64,
                           _ candidates: UnsafePointer<Int64>?, _ candidateCount: Int,
                           _ scores: UnsafeMutablePointer<Float>?) -> mt_status {
    guarded("mt_model_score") {
        let m = try model(p)
        let d = m.configuration.dim
        guard relationLen == d else { throw BoundaryError.argument("relation_len must be the model's dimension \(d) (got \(unsigned(relationLen)))") }
        let r = try array(relation, d, "relation")
        let c = try array(candidates, try count(candidateCount, "candidate_count", min: 1), "candidates")
        guard let scores else { throw BoundaryError.argument("scores is NULL") }
        let s = try m.score(relation: r, lastItem: lastItem, candidates: c)
        scores.update(from: s, count: s.count)
    }
}

@_cdecl("mt_model_recommend")
public func mt_model_recommend(_ p: OpaquePointer?, _ history: UnsafePointer<Int64>?, _ historyLen: Int, _ topN: Int,
                               _ flags: UInt32, _ items: UnsafeMutablePointer<Int64>?, _ scores: UnsafeMutablePointer<Float>?,
                               _ written: UnsafeMutablePointer<Int>?) -> mt_status {
    guarded("mt_model_recommend") {
        written?.pointee = 0
        let m = try model(p)
        let h = try array(history, try count(historyLen, "history_len", min: 2, limit: maxHistory), "history")
        let n = try count(topN, "top_n", min: 1)
        guard let items else { throw BoundaryError.argument("items is NULL") }
        guard flags & ~(MT_RECOMMEND_INCLUDE_HISTORY | MT_RECOMMEND_INCLUDE_UNTRAINED | MT_RECOMMEND_EXACT) == 0 else {
            throw BoundaryError.argument("unknown flags 0x\(String(flags, radix: 16))")
        }
        let best = try m.recommend(history: h, topN: n, excludeHistory: flags & MT_RECOMMEND_INCLUDE_HISTORY == 0,
                                   includeUntrained: flags & MT_RECOMMEND_INCLUDE_UNTRAINED != 0,
                                   exact: flags & MT_RECOMMEND_EXACT != 0)
        for (i, e) in best.enumerated() {
            items[i] = e.item
            scores?[i] = e.score
        }
        written?.pointee = best.count
    }
}

// MARK: Checkpoints

@_cdecl("mt_model_save")
public func mt_model_save(_ p: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> mt_status {
    guarded("mt_model_save") {
        let m = try model(p)
        try m.save(to: try string(path, "path"))
    }
}

@_cdecl("mt_model_load")
public func mt_model_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_model_load") { try loadModel(path, out, servingOnly: false) }
}

/// mt_model_load and mt_model_load_for_serving.
private func loadModel(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?, servingOnly: Bool) throws {
    let out = try clear(out)
    out.pointee = retain(ModelHandle(try MetaTLModel.load(from: try string(path, "path"), servingOnly: servingOnly)))
}

/// mt_model_load_bytes and mt_model_load_bytes_for_serving.
private func loadModelBytes(_ data: UnsafePointer<UInt8>?, _ size: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                            servingOnly: Bool) throws {
    let out = try clear(out)
    let n = try count(size, "size", limit: Int.max)
    let bytes = try array(data, n, "data")
    out.pointee = retain(ModelHandle(try MetaTLModel.load(checkpoint: bytes, servingOnly: servingOnly)))
}

@_cdecl("mt_model_save_bytes")
public func mt_model_save_bytes(_ p: OpaquePointer?, _ data: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?,
                                _ size: UnsafeMutablePointer<Int>?) -> mt_status {
    guarded("mt_model_save_bytes") {
        guard let data else { throw BoundaryError.argument("data is NULL") }
        guard let size else { throw BoundaryError.argument("size is NULL") }
        data.pointee = nil
        size.pointee = 0
        // Filled in place: the checkpoint is written once, into the caller's malloc'd buffer.
        var buffer: UnsafeMutableRawPointer?
        do {
            let count = try model(p).checkpointBytes { (n: Int) throws(MetaTLError) -> (UnsafeMutableRawBufferPointer, Int) in
                guard let b = malloc(max(1, n)) else { throw MetaTLError(.io, "cannot allocate \(n) bytes for the checkpoint") }
                buffer = b
                return (UnsafeMutableRawBufferPointer(start: b, count: n), n)
            }
            data.pointee = buffer?.assumingMemoryBound(to: UInt8.self)
            size.pointee = count
        } catch {
            free(buffer)
            throw error
        }
    }
}

@_cdecl("mt_model_load_bytes")
public func mt_model_load_bytes(_ data: UnsafePointer<UInt8>?, _ size: Int,
                                _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_model_load_bytes") { try loadModelBytes(data, size, out, servingOnly: false) }
}

@_cdecl("mt_model_load_for_serving")
public func mt_model_load_for_serving(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_model_load_for_serving") { try loadModel(path, out, servingOnly: true) }
}

@_cdecl("mt_model_load_bytes_for_serving")
public func mt_model_load_bytes_for_serving(_ data: UnsafePointer<UInt8>?, _ size: Int,
                                            _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_model_load_bytes_for_serving") { try loadModelBytes(data, size, out, servingOnly: true) }
}

@_cdecl("mt_model_serving_only")
public func mt_model_serving_only(_ p: OpaquePointer?, _ servingOnly: UnsafeMutablePointer<Int32>?) -> mt_status {
    guarded("mt_model_serving_only") {
        let m = try model(p)
        guard let servingOnly else { throw BoundaryError.argument("serving_only is NULL") }
        servingOnly.pointee = m.isServingOnly ? 1 : 0
    }
}

@_cdecl("mt_bytes_free")
public func mt_bytes_free(_ data: UnsafeMutablePointer<UInt8>?) {
    free(data)
}
