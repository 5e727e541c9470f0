import Foundation
import MetaTLIndex

/// Settings of the approximate catalogue index (``MetaTLModel/attachIndex(_:)``): an inverted
/// file over the model's own tables. k-means (faiss) splits the items into `lists` cells; a user
/// is scored exactly against the items of the `probes` cells nearest to its query.
public struct IndexSettings: Sendable, Equatable {
    /// Inverted lists (k-means cells) the items are split into; 0 chooses √items (at most
    /// items / 39, so that k-means has 39 items per cell).
    public var lists = 0
    /// Lists searched per user: more is slower and closer to the exact answer (all of them is the
    /// exact answer).
    public var probes = 24

    /// √items lists, 24 probes (measured in the README's "Scale" section).
    public init() {}

    /// The same checks on every surface.
    func validated() throws(MetaTLError) -> IndexSettings {
        guard lists >= 0, lists <= 1 << 20 else { throw .invalidArgument("index lists must be in 0 ... \(1 << 20) (0: automatic; got \(lists))") }
        guard probes >= 1, probes <= 1 << 20 else { throw .invalidArgument("index probes must be in 1 ... \(1 << 20) (got \(probes))") }
        return self
    }
}

/// What the attached index holds (``MetaTLModel/indexInfo()``).
public struct IndexInfo: Sendable, Equatable {
    public var settings: IndexSettings
    /// Lists actually built (``IndexSettings/lists`` resolved), and items indexed.
    public var lists: Int, items: Int
    /// Memory of the centroids and lists.
    public var bytes: Int
    /// How unequal the lists are: lists · Σ size² / items² (1 when all are equal; a user's cost
    /// grows with it, since a query tends to search the large lists).
    public var imbalance: Double
    /// Seconds the last build took.
    public var buildSeconds: Double
}

/// Approximate top-N over the catalogue: an inverted file whose lists hold row numbers of the
/// model's own tables (no copy of the vectors), so the items of the searched lists are scored by
/// the model's own scorer: the same scores, bit for bit, as exact ranking gives them, and the exact
/// answer when every list is searched.
///
/// The cells are k-means cells of the items written as vectors in which both score rules are
/// nearest-neighbour queries:
/// - margin, −‖q − t‖ with q = E[h] + r': the item's row t, the query q;
/// - softmax, −α‖q − t‖² + b_t: the row with one more coordinate √(c − b_t/α), c = max b/α,
///   and the query with 0 there, so that the squared distance is ‖q − t‖² + c − b_t/α, which
///   falls as the score rises.
/// A user's query searches the `probes` cells whose centroids are nearest to it. The transition
/// prior, which only raises the scores of the last item's successors, is not in the vectors: those
/// successors are always scored too.
///
/// Items outside training (``MetaTLModel/trainedItems``) are not indexed, so a call that asks
/// for them, or that names its own `allowed` items, ranks exactly; so does a user whose searched
/// items hold fewer than `topN` offered ones.
final class ApproximateIndex: @unchecked Sendable {
    let settings: IndexSettings
    let lists: Int, items: Int, dim: Int
    /// Whether vectors carry the bias coordinate (softmax rule with an item bias).
    let biasCoordinate: Bool
    let buildSeconds: Double
    private let centroids: Centroids
    /// The rows of list l at listRows[listOffsets[l] ..< listOffsets[l + 1]], increasing; the list
    /// of each row (-1: not indexed).
    let listOffsets: [Int], listRows: [Int32], listOfRow: [Int32]

    /// The model's (step, outside writes) it was built from.
    let key: (step: Int, writes: Int)

    /// The faiss centroids, freed with the last index that shares them.
    final class Centroids: @unchecked Sendable {
        let handle: OpaquePointer
        init(_ handle: OpaquePointer) { self.handle = handle }
        deinit { mtl_centroids_free(handle) }
    }

    /// `index` with other probes: the same cells and lists, shared (nothing is rebuilt).
    init(sharing index: ApproximateIndex, probes: Int) {
        var s = index.settings
        s.probes = probes
        settings = s
        lists = index.lists; items = index.items; dim = index.dim
        biasCoordinate = index.biasCoordinate
        buildSeconds = index.buildSeconds
        centroids = index.centroids
        listOffsets = index.listOffsets; listRows = index.listRows; listOfRow = index.listOfRow
        key = index.key
    }

    /// Rows per piece while assigning: 65,536 × (d + 1) floats is 26 MB at d = 100.
    static let assignPiece = 65_536

    /// Builds the index of `model`'s trained rows (call with shared access held); `.invalidState`
    /// when its scores cannot be written as distances (α not positive, values not finite) or it
    /// has fewer than 39 trained items.
    init(model: MetaTLModel, settings: IndexSettings) throws(MetaTLError) {
        let start = DispatchTime.now().uptimeNanoseconds
        let d = model.configuration.dim, tails = model.tailTable, rows = model.rows
        let rule = model.scoreRule
        let indexed: [Int32] = (1..<Int32(rows)).filter { model.trainedItems?[Int($0)] ?? true }
        let n = indexed.count
        guard n >= 39 else {
            throw MetaTLError(.invalidState, "the approximate index needs at least 39 trained items (the model has \(n)); rank exactly")
        }
        let lists = settings.lists > 0 ? settings.lists : max(1, min(n / 39, Int(Double(n).squareRoot().rounded())))
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
        // The vectors of the indexed items `items` (row-major, `width` floats each).
        func vectors<C: Collection<Int>>(_ items: C) -> [Float] {
            var out = [Float](repeating: 0, count: items.count * width)
            for (k, i) in items.enumerated() {
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
        var error = [CChar](repeating: 0, count: 512)
        var made: OpaquePointer?
        guard mtl_centroids_train(Int32(width), Int32(lists), vectors(order.prefix(trainCount).sorted()), Int64(trainCount),
                                  model.configuration.seed, threads, &made, &error, error.count) == 0, let made else {
            throw MetaTLError(.invalidState, "building the approximate index: \(message(error))")
        }
        let owned = Centroids(made)
        // Every item's nearest centroid, piece by piece; then the lists as CSR.
        var listOfRow = [Int32](repeating: -1, count: rows)
        var nearest = [Int64](repeating: 0, count: Self.assignPiece)
        var lo = 0
        while lo < n {
            let hi = min(n, lo + Self.assignPiece)
            guard mtl_centroids_nearest(made, vectors(lo..<hi), Int64(hi - lo), 1, threads, &nearest, &error, error.count) == 0 else {
                throw MetaTLError(.invalidState, "building the approximate index: \(message(error))")
            }
            for i in lo..<hi { listOfRow[Int(indexed[i])] = Int32(truncatingIfNeeded: max(0, min(Int64(lists - 1), nearest[i - lo]))) }
            lo = hi
        }
        var offsets = [Int](repeating: 0, count: lists + 1)
        for r in indexed { offsets[Int(listOfRow[Int(r)]) + 1] += 1 }
        for l in 0..<lists { offsets[l + 1] += offsets[l] }
        var fill = offsets, members = [Int32](repeating: 0, count: n)
        for r in indexed {   // increasing rows, so each list's rows are increasing
            let l = Int(listOfRow[Int(r)])
            members[fill[l]] = r
            fill[l] += 1
        }
        centroids = owned
        self.settings = settings
        self.lists = lists
        items = n
        dim = d
        biasCoordinate = extra != nil
        listOffsets = offsets
        listRows = members
        self.listOfRow = listOfRow
        key = (model.step, model.outsideWrites)
        buildSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    var imbalance: Double {
        var squares = 0.0
        for l in 0..<lists { let n = Double(listOffsets[l + 1] - listOffsets[l]); squares += n * n }
        return Double(lists) * squares / max(1, Double(items) * Double(items))
    }

    var bytes: Int { (lists * (dim + (biasCoordinate ? 1 : 0))) * 4 + listOffsets.count * 8 + listRows.count * 4 + listOfRow.count * 4 }

    /// The lists to search for `users` queries q = fl(h + r): the `probes` nearest centroids of
    /// each, nearest first; empty for a user when the search failed.
    func probedLists(heads: CFPtr, relations: CFPtr, headRows: [Int32]) -> [[Int]] {
        let users = headRows.count, width = dim + (biasCoordinate ? 1 : 0)
        guard users > 0 else { return [] }
        var queries = [Float](repeating: 0, count: users * width)
        for v in 0..<users {
            let h = heads + Int(headRows[v]) * dim, r = relations + v * dim
            for j in 0..<dim { queries[v * width + j] = h[j] + r[j] }
        }
        let k = min(settings.probes, lists)
        var nearest = [Int64](repeating: -1, count: users * k)
        var error = [CChar](repeating: 0, count: 256)
        guard mtl_centroids_nearest(centroids.handle, queries, Int64(users), Int64(k), 1, &nearest, &error, error.count) == 0 else {
            return Array(repeating: [], count: users)
        }
        return (0..<users).map { v in nearest[(v * k)..<(v * k + k)].compactMap { $0 >= 0 && $0 < lists ? Int($0) : nil } }
    }
}

extension MetaTLModel {
    /// Builds an approximate index of the catalogue with `settings` and attaches it: from then on
    /// ``recommend(history:topN:excludeHistory:includeUntrained:)`` and
    /// ``recommend(histories:options:)`` score the items of the lists it searches (exactly)
    /// instead of every item, unless a call asks for exact ranking (``RecommendOptions/exact``). Evaluation
    /// always ranks exactly. When the model changes (training, restore, setTensor) the index is
    /// rebuilt by the next call that uses it. Not stored in checkpoints: attach it after loading.
    /// Returns what was built. Attaching again with only other probes, on an unchanged model,
    /// reuses the cells (nothing is rebuilt).
    @discardableResult
    public func attachIndex(_ settings: IndexSettings = IndexSettings()) throws(MetaTLError) -> IndexInfo {
        let s = try settings.validated()
        // Built as a reader (serving goes on meanwhile; seconds at 10^6 items), attached as a writer.
        let built = try access.reading("build an index") { () throws(MetaTLError) -> ApproximateIndex in
            if let current = indexSlot.current, current.key == (step, outsideWrites), current.settings.lists == s.lists {
                return ApproximateIndex(sharing: current, probes: s.probes)
            }
            return try ApproximateIndex(model: self, settings: s)
        }
        // A step trained in between leaves it stale; the next call that uses it rebuilds it.
        try access.writing("attach an index") { () throws(MetaTLError) in indexSlot.replace(with: built) }
        return info(of: built)
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
        IndexInfo(settings: index.settings, lists: index.lists, items: index.items, bytes: index.bytes,
                  imbalance: index.imbalance, buildSeconds: index.buildSeconds)
    }

    /// The attached index, rebuilt first when the model has changed since it was built; nil when
    /// none is attached (call with shared access held).
    func currentIndex() throws(MetaTLError) -> ApproximateIndex? {
        try indexSlot.fresh(step: step, writes: outsideWrites) { (settings) throws(MetaTLError) -> ApproximateIndex in
            try ApproximateIndex(model: self, settings: settings)
        }
    }

    /// The best `topN` rows for users whose relations are `relations` (users x d) among the
    /// items of the index's searched lists and the prior's successors of each user's last row,
    /// scored exactly and ordered by ``CatalogueOrder``; nil for a user whose offered items there
    /// are fewer than `topN` (rank that one exactly). `offered(v, row)` says whether user v may get
    /// the row.
    func indexedTopRows(_ index: ApproximateIndex, relations: CFPtr, heads: [Int32], topN: Int,
                        offered: (Int, Int32) -> Bool) -> [[TopN.Entry]?] {
        let probed = index.probedLists(heads: headTable, relations: relations, headRows: heads)
        let prior = scoringPrior
        let scorer = pairScorer(relations: relations, prior: prior)
        return heads.indices.map { v -> [TopN.Entry]? in
            var best = TopN(capacity: topN)
            var offeredCount = 0
            func consider(_ row: Int32) {
                guard offered(v, row) else { return }
                offeredCount += 1
                best.offer(row: row, score: scorer.score(user: v, head: heads[v], tail: row))
            }
            var searched = Set<Int32>()
            for l in probed[v] {
                searched.insert(Int32(l))
                for row in index.listRows[index.listOffsets[l]..<index.listOffsets[l + 1]] { consider(row) }
            }
            if let prior {   // successors outside the searched lists (each row is in one list at most)
                let h = Int(heads[v])
                for row in prior.tails[prior.offsets[h]..<prior.offsets[h + 1]] where !searched.contains(index.listOfRow[Int(row)]) {
                    consider(row)
                }
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
