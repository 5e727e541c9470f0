import Foundation
import MetaTLIndex

/// Settings of the approximate catalogue index (``MetaTLModel/attachIndex(_:)``): an inverted
/// file of 8-bit codes (faiss's `IVF<lists>,SQ8`) that proposes `candidates` items per user,
/// which are then scored exactly.
public struct IndexSettings: Sendable, Equatable {
    /// Inverted lists (k-means cells) the items are split into; 0 chooses √items (at most
    /// items / 39, so that k-means has 39 items per cell).
    public var lists = 0
    /// Lists searched per user: more is slower and closer to the exact answer.
    public var probes = 24
    /// Items the index proposes per user; they, and the transition prior's successors of the
    /// user's last item when a prior is attached, are scored exactly and the best `topN` kept.
    public var candidates = 200

    /// √items lists, 24 probes, 200 candidates (measured in the README's "Scale" section).
    public init() {}

    /// The same checks on every surface.
    func validated() throws(MetaTLError) -> IndexSettings {
        guard lists >= 0, lists <= 1 << 20 else { throw .invalidArgument("index lists must be in 0 ... \(1 << 20) (0: automatic; got \(lists))") }
        guard probes >= 1, probes <= 1 << 20 else { throw .invalidArgument("index probes must be in 1 ... \(1 << 20) (got \(probes))") }
        guard candidates >= 1, candidates <= 1 << 16 else { throw .invalidArgument("index candidates must be in 1 ... \(1 << 16) (got \(candidates))") }
        return self
    }
}

/// What the attached index holds (``MetaTLModel/indexInfo()``).
public struct IndexInfo: Sendable, Equatable {
    public var settings: IndexSettings
    /// Lists actually built (``IndexSettings/lists`` resolved), and items indexed.
    public var lists: Int, items: Int
    /// Memory of the codes and ids.
    public var bytes: Int
    /// Seconds the last build took.
    public var buildSeconds: Double
}

/// Approximate top-N over the catalogue: an L2 index proposes candidates, the model's own scorer
/// ranks them exactly (the same scores, bit for bit, as exact ranking gives those items).
///
/// Both score rules are nearest-neighbour queries once an item is written as a vector:
/// - margin, −‖q − t‖ with q = E[h] + r': the item's row t, the query q;
/// - softmax, −α‖q − t‖² + b_t: the row with one more coordinate √(c − b_t/α), c = max b/α,
///   and the query with 0 there, so that the squared distance is ‖q − t‖² + c − b_t/α, which
///   falls as the score rises.
/// The transition prior, which only raises the scores of the last item's successors, is not in
/// the vectors: those successors are always candidates.
///
/// Items outside training (``MetaTLModel/trainedItems``) are not indexed, so a call that asks
/// for them, or that names its own `allowed` items, ranks exactly; so does one whose filtered
/// candidates are fewer than `topN`.
final class ApproximateIndex: @unchecked Sendable {
    let settings: IndexSettings
    let lists: Int, items: Int, dim: Int
    /// Whether vectors carry the bias coordinate (softmax rule with an item bias).
    let biasCoordinate: Bool
    let buildSeconds: Double
    private let handle: OpaquePointer

    /// The model's (step, outside writes) it was built from.
    let key: (step: Int, writes: Int)

    deinit { mtl_ivf_free(handle) }

    /// Rows per piece while adding: 65,536 × (d + 1) floats is 26 MB at d = 100.
    static let addPiece = 65_536

    /// Builds the index of `model`'s trained rows (call with shared access held); `.invalidState`
    /// when its scores cannot be written as distances (α not positive, values not finite) or it
    /// has fewer than 39 trained items.
    init(model: MetaTLModel, settings: IndexSettings) throws(MetaTLError) {
        let start = DispatchTime.now().uptimeNanoseconds
        let d = model.configuration.dim, tails = model.tailTable
        let rule = model.scoreRule
        let indexed: [Int32] = (1..<Int32(model.rows)).filter { model.trainedItems?[Int($0)] ?? true }
        let n = indexed.count
        guard n >= 39 else {
            throw MetaTLError(.invalidState, "the approximate index needs at least 39 trained items (the model has \(n)); rank exactly")
        }
        let lists = settings.lists > 0 ? settings.lists : max(1, Int(Double(n).squareRoot().rounded()))
        guard lists <= n / 39 else {
            throw .invalidArgument("index lists = \(lists) needs at least \(39 * lists) trained items (k-means: 39 per list); the model has \(n)")
        }
        // The bias coordinate √(c − b/α) (softmax rule with a bias only).
        var extra: [Float]? = nil
        if rule.squared, let bias = rule.bias {
            let alpha = Double(rule.alpha)
            guard alpha > 0, alpha.isFinite else {
                throw MetaTLError(.invalidState, "the score's scale α = \(alpha) is not positive: scores cannot be written as distances")
            }
            let shifted = indexed.map { Double(bias[Int($0)]) / alpha }
            let c = shifted.max() ?? 0
            guard c.isFinite else { throw MetaTLError(.invalidState, "an item bias / α is not finite: scores cannot be written as distances") }
            extra = shifted.map { Float((c - $0).squareRoot()) }
        }
        let width = d + (extra == nil ? 0 : 1)
        func vectors(_ range: Range<Int>) -> [Float] {
            var out = [Float](repeating: 0, count: range.count * width)
            for (k, i) in range.enumerated() {
                let t = tails + Int(indexed[i]) * d
                for j in 0..<d { out[k * width + j] = t[j] }
                if let extra { out[k * width + d] = extra[i] }
            }
            return out
        }
        // k-means on 64 items per list (all items when there are fewer), chosen by the model's seed.
        let threads = Int32(model.configuration.threads)
        var rng = RandomGenerator(seed: model.configuration.seed, stream: RandomStream.index.rawValue)
        var order = Array(0..<n)
        let trainCount = min(n, 64 * lists)
        for i in 0..<trainCount { order.swapAt(i, Int.random(in: i..<n, using: &rng)) }
        var trainSet = [Float](repeating: 0, count: trainCount * width)
        for (k, i) in order.prefix(trainCount).sorted().enumerated() {
            let v = vectors(i..<(i + 1))
            for j in 0..<width { trainSet[k * width + j] = v[j] }
        }
        var error = [CChar](repeating: 0, count: 512)
        var made: OpaquePointer?
        guard mtl_ivf_create(Int32(width), Int32(lists), trainSet, Int64(trainCount), model.configuration.seed, threads,
                             &made, &error, error.count) == 0, let made else {
            throw MetaTLError(.invalidState, "building the approximate index: \(message(error))")
        }
        handle = made
        var lo = 0
        while lo < n {
            let hi = min(n, lo + Self.addPiece)
            let ids = indexed[lo..<hi].map { Int64($0) }
            guard mtl_ivf_add(handle, vectors(lo..<hi), Int64(hi - lo), ids, threads, &error, error.count) == 0 else {
                mtl_ivf_free(made)
                throw MetaTLError(.invalidState, "building the approximate index: \(message(error))")
            }
            lo = hi
        }
        self.settings = settings
        self.lists = lists
        items = n
        dim = d
        biasCoordinate = extra != nil
        key = (model.step, model.outsideWrites)
        buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    var bytes: Int { mtl_ivf_bytes(handle) }

    /// The candidate rows of `users` queries q = fl(h + r) (the index's nearest `count` rows
    /// each), in index order; empty for a user when the search failed.
    func candidates(heads: CFPtr, relations: CFPtr, headRows: [Int32], count: Int) -> [[Int32]] {
        let users = headRows.count, width = dim + (biasCoordinate ? 1 : 0)
        guard users > 0 else { return [] }
        var queries = [Float](repeating: 0, count: users * width)
        for v in 0..<users {
            let h = heads + Int(headRows[v]) * dim, r = relations + v * dim
            for j in 0..<dim { queries[v * width + j] = h[j] + r[j] }
        }
        let k = max(1, min(count, items))
        var labels = [Int64](repeating: -1, count: users * k)
        var error = [CChar](repeating: 0, count: 256)
        guard mtl_ivf_search(handle, queries, Int64(users), Int64(k), Int32(min(settings.probes, lists)),
                             &labels, &error, error.count) == 0 else {
            return Array(repeating: [], count: users)
        }
        return (0..<users).map { v in labels[(v * k)..<(v * k + k)].compactMap { $0 >= 0 ? Int32(truncatingIfNeeded: $0) : nil } }
    }
}

extension MetaTLModel {
    /// Builds an approximate index of the catalogue with `settings` and attaches it: from then on
    /// ``recommend(history:topN:excludeHistory:includeUntrained:)`` and
    /// ``recommend(histories:options:)`` rank the candidates it proposes (exactly scored) instead
    /// of every item, unless a call asks for exact ranking (``RecommendOptions/exact``). Evaluation
    /// always ranks exactly. When the model changes (training, restore, setTensor) the index is
    /// rebuilt by the next call that uses it. Not stored in checkpoints: attach it after loading.
    /// Returns what was built.
    @discardableResult
    public func attachIndex(_ settings: IndexSettings = IndexSettings()) throws(MetaTLError) -> IndexInfo {
        let s = try settings.validated()
        return try access.writing("attach an index") { () throws(MetaTLError) -> IndexInfo in
            let built = try ApproximateIndex(model: self, settings: s)
            indexSlot.replace(with: built)
            return info(of: built)
        }
    }

    /// Removes the attached index: recommend ranks every item again.
    public func detachIndex() throws(MetaTLError) {
        try access.writing("detach the index") { () throws(MetaTLError) in indexSlot.replace(with: nil) }
    }

    /// The attached index's settings and size (nil when none is attached).
    public func indexInfo() throws(MetaTLError) -> IndexInfo? {
        try access.reading("read the index") { () throws(MetaTLError) -> IndexInfo? in
            indexSlot.current.map(info(of:))
        }
    }

    private func info(of index: ApproximateIndex) -> IndexInfo {
        IndexInfo(settings: index.settings, lists: index.lists, items: index.items, bytes: index.bytes, buildSeconds: index.buildSeconds)
    }

    /// The attached index, rebuilt first when the model has changed since it was built; nil when
    /// none is attached (call with shared access held).
    func currentIndex() throws(MetaTLError) -> ApproximateIndex? {
        try indexSlot.fresh(step: step, writes: outsideWrites) { (settings) throws(MetaTLError) -> ApproximateIndex in
            try ApproximateIndex(model: self, settings: settings)
        }
    }

    /// The best `topN` rows for users whose relations are `relations` (users x d) among the
    /// index's candidates and the prior's successors of each user's last row, scored exactly and
    /// ordered by ``CatalogueOrder``; nil for a user whose offered candidates are fewer than
    /// `topN` (rank that one exactly). `offered(v, row)` says whether user v may get the row.
    func indexedTopRows(_ index: ApproximateIndex, relations: CFPtr, heads: [Int32], excludedCount: [Int], topN: Int,
                        offered: (Int, Int32) -> Bool) -> [[TopN.Entry]?] {
        let found = index.candidates(heads: headTable, relations: relations, headRows: heads,
                                     count: max(index.settings.candidates, topN) + (excludedCount.max() ?? 0))
        let prior = scoringPrior
        let scorer = pairScorer(relations: relations, prior: prior)
        return heads.indices.map { v -> [TopN.Entry]? in
            var rows = found[v]
            if let prior {
                let h = Int(heads[v])
                rows += prior.tails[prior.offsets[h]..<prior.offsets[h + 1]]
            }
            var best = TopN(capacity: topN)
            var offeredCount = 0, seen = Set<Int32>()
            for row in rows where seen.insert(row).inserted && offered(v, row) {
                offeredCount += 1
                best.offer(row: row, score: scorer.score(user: v, head: heads[v], tail: row))
            }
            return offeredCount >= topN ? best.sorted() : nil
        }
    }
}

/// The text of a NUL-terminated message buffer from the faiss side.
private func message(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// The model's attached index and the lock under which a stale one is rebuilt (by one caller,
/// the others waiting for it).
final class IndexSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var index: ApproximateIndex?
    private var settings: IndexSettings?

    var current: ApproximateIndex? {
        lock.lock(); defer { lock.unlock() }
        return index
    }

    func replace(with built: ApproximateIndex?) {
        lock.lock(); defer { lock.unlock() }
        index = built
        settings = built?.settings
    }

    func fresh(step: Int, writes: Int,
               build: (IndexSettings) throws(MetaTLError) -> ApproximateIndex) throws(MetaTLError) -> ApproximateIndex? {
        lock.lock(); defer { lock.unlock() }
        guard let settings else { return nil }
        if let index, index.key == (step, writes) { return index }
        index = nil   // the stale one's memory goes before the new one is built
        let built = try build(settings)
        index = built
        return built
    }
}
