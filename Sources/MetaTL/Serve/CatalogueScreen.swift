import Foundation
import MetaTLKernels

/// Exact top-N over a large catalogue for a group of users at once: a matrix-product screen,
/// then the exact scores of the few items the screen cannot rule out.
///
/// Scoring every item with the per-pair kernel (``PairScorer/catalogueScores(user:head:rows:into:)``)
/// costs 3·d flops per item and user, read from memory once per user. The screen writes the
/// squared distance as ‖q‖² − 2·q·t + ‖t‖² (q = h + r), so one sgemm scores a group of users
/// against a block of rows while the block is in cache. That arithmetic is not the kernel's, so
/// the screen's score `a` of an item differs from the kernel's `e`; it also computes a rigorous
/// bound `B` on |a − e| (below). An item can be in the top N only if a + B reaches the N-th largest
/// a − B seen; those few items are scored again with the kernel, and the top N of those exact
/// scores by ``CatalogueOrder`` is the answer: the same items, scores (bit for bit) and order as
/// scoring every item with the kernel, ties included.
///
/// The bound (u = 2⁻²⁴, d the dimension, M = (‖h‖ + ‖r‖ + ‖t‖)², norms in Double):
/// - the kernel's squared distance is within (d + 6)·u·M of the true one (sums of d float
///   squares in any order, FMA or not; the elementwise h + r - t rounds twice);
/// - the screen's is within (d/2 + 3)·u·M (q = fl(h + r) rounds once; the float dot product q·t
///   is within d·u·‖q‖‖t‖ ≤ d·u·M/4 in any order; ‖q‖², ‖t‖² and the sum are in Double);
/// - so the two are within c·u·M with c = 2d + 16 (margin included); the score rule
///   (−α·D + b, or −√D) and the prior's added term add a few roundings of the score's size.
/// Every bound is doubled once more before use.
struct CatalogueScreen {
    let scorer: PairScorer
    let rows: Int
    let dim: Int
    /// ‖T[i]‖² and ‖T[i]‖ per row, in Double.
    let tailSquares: [Double]
    let tailNorms: [Double]

    /// Users scored per sgemm, and table rows per block (a block of 2048 rows of d = 100 is 800 KB).
    static let group = 64, rowBlock = 2048

    /// The screen pays where the catalogue is large; below this many rows the per-pair scores are
    /// as fast and no screen is built.
    static let minimumRows = 16_384

    /// `screen`'s norms with a scorer over other relations (a group's).
    init(sharing screen: CatalogueScreen, relations: CFPtr) {
        let s = screen.scorer
        scorer = PairScorer(heads: s.heads, tails: s.tails, relations: relations, dim: s.dim, rule: s.rule, prior: s.prior)
        rows = screen.rows
        dim = screen.dim
        tailSquares = screen.tailSquares
        tailNorms = screen.tailNorms
    }

    init(scorer: PairScorer, rows: Int, norms: TailNorms) {
        self.scorer = scorer
        self.rows = rows
        dim = scorer.dim
        tailSquares = norms.squares
        tailNorms = norms.norms
    }

    /// ‖T[i]‖² and ‖T[i]‖ of every row of a tail table, in Double.
    struct TailNorms: Sendable {
        let squares: [Double], norms: [Double]
        init(tails: CFPtr, rows: Int, dim: Int) {
            var squares = [Double](repeating: 0, count: rows)
            for i in 0..<rows {
                let t = tails + i * dim
                var s = 0.0
                for j in 0..<dim { let x = Double(t[j]); s += x * x }
                squares[i] = s
            }
            self.squares = squares
            norms = squares.map { $0.squareRoot() }
        }
    }

    /// A model's ``TailNorms``, kept between calls while its tail table is unchanged: the key is
    /// the model's step and count of outside writes (restore, setTensor), the only ways its
    /// tables change. Computing them reads the whole table, as much as scoring one user does.
    final class NormCache: @unchecked Sendable {
        private let lock = NSLock()
        private var key: (step: Int, writes: Int)?
        private var cached: TailNorms?

        func norms(step: Int, writes: Int, compute: () -> TailNorms) -> TailNorms {
            lock.lock()
            defer { lock.unlock() }
            if let cached, let key, key == (step, writes) { return cached }
            let fresh = compute()
            cached = fresh
            key = (step, writes)
            return fresh
        }
    }

    /// One group's screen: per user q = fl(h + r), ‖q‖², ‖h‖ + ‖r‖; then block by block the
    /// screen's score `a` and bound `b` of every row (``bounds(block:)``).
    struct Group {
        let screen: CatalogueScreen
        let users: Int
        let heads: [Int32]
        let q: [Float]
        let qSquares: [Double]
        let headRelation: [Double]
        /// Rows left out per user (sorted) and the candidate mask.
        let skipped: [[Int32]]
        let candidates: [Bool]?
        /// The current block's rows, a[v * rowBlock + i - lo] and b likewise.
        var a: [Double], b: [Double]
        private var dots: [Float]

        init(screen: CatalogueScreen, users: Int, heads: [Int32], excluded: [Set<Int32>], candidates: [Bool]?) {
            let d = screen.dim, relations = screen.scorer.relations
            var q = [Float](repeating: 0, count: users * d)
            var qSquares = [Double](repeating: 0, count: users), headRelation = [Double](repeating: 0, count: users)
            for v in 0..<users {
                let h = screen.scorer.heads + Int(heads[v]) * d, r = relations + v * d
                var qq = 0.0, hh = 0.0, rr = 0.0
                for j in 0..<d {
                    let x = h[j] + r[j]
                    q[v * d + j] = x
                    qq += Double(x) * Double(x); hh += Double(h[j]) * Double(h[j]); rr += Double(r[j]) * Double(r[j])
                }
                qSquares[v] = qq
                headRelation[v] = hh.squareRoot() + rr.squareRoot()
            }
            self.screen = screen
            self.users = users
            self.heads = heads
            self.q = q
            self.qSquares = qSquares
            self.headRelation = headRelation
            skipped = excluded.map { $0.sorted() }
            self.candidates = candidates
            a = [Double](repeating: 0, count: users * CatalogueScreen.rowBlock)
            b = [Double](repeating: 0, count: users * CatalogueScreen.rowBlock)
            dots = [Float](repeating: 0, count: users * CatalogueScreen.rowBlock)
        }

        /// Whether user `v` may be offered row `i` (a candidate, not left out). Asked only of the
        /// few rows a bound does not rule out.
        func offered(_ v: Int, _ i: Int) -> Bool {
            if let candidates, !candidates[i] { return false }
            return !skipped[v].contains(Int32(i))
        }

        /// The screen's scores and bounds of rows `block` for every user into `a` and `b`, every
        /// row (``offered(_:_:)`` says which count).
        mutating func bounds(block: Range<Int>) {
            let s = screen, d = s.dim, n = block.count, lo = block.lowerBound
            let u = Double(Float.ulpOfOne) / 2, cu = Double(2 * d + 16) * u
            let rule = s.scorer.rule, alpha = Double(rule.alpha), prior = s.scorer.prior
            q.withUnsafeBufferPointer { qb in
                dots.withUnsafeMutableBufferPointer { db in
                    guard let qp = qb.baseAddress, let dp = db.baseAddress else { return }
                    BLAS.gemmNT(rows: 0..<users, n, d, qp, s.scorer.tails + lo * d, beta: 0, dp)
                }
            }
            let rowBlock = CatalogueScreen.rowBlock
            for v in 0..<users {
                dots.withUnsafeBufferPointer { db in
                    a.withUnsafeMutableBufferPointer { ab in
                        b.withUnsafeMutableBufferPointer { bb in
                            s.tailSquares.withUnsafeBufferPointer { ts in
                                s.tailNorms.withUnsafeBufferPointer { tn in
                                    guard let dp = db.baseAddress, let ap = ab.baseAddress, let bp = bb.baseAddress,
                                          let tsp = ts.baseAddress, let tnp = tn.baseAddress else { return }
                                    mtl_k_screen_bounds(dp + v * n, n, tsp + lo, tnp + lo, qSquares[v], headRelation[v], cu, u,
                                                        rule.squared ? 1 : 0, alpha, rule.bias.map { $0 + lo },
                                                        ap + v * rowBlock, bp + v * rowBlock)
                                }
                            }
                        }
                    }
                }
                // The prior's term, where it is not 0 (count 0 adds w·log 1 = 0, exactly).
                guard let prior else { continue }
                let transitions = prior.transitions(from: heads[v])
                for k in transitions {
                    let i = Int(prior.tails[k])
                    guard block.contains(i) else { continue }
                    let term = Double(prior.term(count: prior.counts[k]))
                    let j = v * rowBlock + i - lo
                    a[j] += term
                    b[j] += 2 * 1.01 * u * (abs(a[j]) + b[j] + abs(term))
                }
            }
        }
    }

    /// The best `topN` rows for each user of a group (the scorer's relations, users x d;
    /// `heads[u]` the user's last item; rows in `excluded[u]` and rows that `candidates` marks
    /// false are left out), best first: ``MetaTLModel/topRows(relation:history:topN:candidates:excludeHistory:scores:)``'s
    /// answer for each user. An item can be in the top N only if a + b reaches the N-th largest
    /// a - b: those are scored exactly.
    func topRows(users: Int, heads: [Int32], excluded: [Set<Int32>], candidates: [Bool]?, topN: Int) -> [[TopN.Entry]] {
        var group = Group(screen: self, users: users, heads: heads, excluded: excluded, candidates: candidates)
        var floors = [LowerBounds](repeating: LowerBounds(capacity: topN), count: users)
        var kept = [[(row: Int32, upper: Double)]](repeating: [], count: users)
        var lo = 1
        while lo < rows {
            let block = lo..<min(rows, lo + Self.rowBlock)
            group.bounds(block: block)
            for v in 0..<users {
                let base = v * Self.rowBlock - lo
                var threshold = floors[v].threshold
                group.a.withUnsafeBufferPointer { a in
                    group.b.withUnsafeBufferPointer { b in
                        for i in block {
                            let upper = a[base + i] + b[base + i]
                            guard upper >= threshold, group.offered(v, i) else { continue }
                            floors[v].offer(a[base + i] - b[base + i])
                            threshold = floors[v].threshold
                            if upper >= threshold { kept[v].append((Int32(i), upper)) }
                        }
                    }
                }
                // Keep the list short: what fell below the risen threshold can never make it.
                if kept[v].count > 4 * topN + 4096 {
                    let t = floors[v].threshold
                    kept[v].removeAll { $0.upper < t }
                }
            }
            lo = block.upperBound
        }
        return (0..<users).map { v in
            let t = floors[v].threshold
            var best = TopN(capacity: min(topN, rows - 1))
            for (row, upper) in kept[v] where upper >= t {
                best.offer(row: row, score: scorer.score(user: v, head: heads[v], tail: row))
            }
            return best.sorted()
        }
    }

    /// Each user's rank of `targets[v]` as ``CatalogueOrder/rank(of:scores:rows:excluding:candidates:)``
    /// gives it from every row's exact score: a row whose bound puts it surely above or surely
    /// below the target's exact score is counted as such, the others are scored exactly. With the
    /// targets' exact scores (also of targets that are not candidates, which are unranked).
    func ranks(users: Int, heads: [Int32], targets: [Int32], inputs: [ArraySlice<Int32>],
               candidates: [Bool]?) -> (ranks: [Int], targetScores: [Float]) {
        var group = Group(screen: self, users: users, heads: heads, excluded: inputs.map { Set($0) }, candidates: candidates)
        var out = [Int](repeating: Metrics.unranked, count: users)
        var above = [Int](repeating: 0, count: users)
        var targetScores = [Float](repeating: .nan, count: users)
        var ranked = [Bool](repeating: false, count: users)   // a finite score of a candidate target
        for v in 0..<users {
            let t = Int(targets[v])
            guard t >= 1 && t < rows else { continue }
            targetScores[v] = scorer.score(user: v, head: heads[v], tail: targets[v])
            ranked[v] = targetScores[v].isFinite && (candidates.map { t < $0.count && $0[t] } ?? true)
        }
        var lo = 1
        while lo < rows {
            let block = lo..<min(rows, lo + Self.rowBlock)
            group.bounds(block: block)
            for v in 0..<users where ranked[v] {
                let base = v * Self.rowBlock - lo, t = Double(targetScores[v]), target = Int(targets[v])
                group.a.withUnsafeBufferPointer { a in
                    group.b.withUnsafeBufferPointer { b in
                        for i in block {
                            // Surely below: a tie needs e == t, and e <= a + b < t.
                            guard a[base + i] + b[base + i] >= t, i != target, group.offered(v, i) else { continue }
                            if a[base + i] - b[base + i] > t {   // surely above, finite
                                above[v] += 1
                                continue
                            }
                            let e = scorer.score(user: v, head: heads[v], tail: Int32(i))
                            if e.isFinite && CatalogueOrder.ranksAbove(e, row: i, targetScores[v], row: target) { above[v] += 1 }
                        }
                    }
                }
            }
            lo = block.upperBound
        }
        for v in 0..<users where ranked[v] { out[v] = 1 + above[v] }
        return (out, targetScores)
    }

    /// The `capacity` largest values offered (a min-heap): `threshold` is the smallest of them
    /// once there are `capacity`, -infinity before.
    struct LowerBounds {
        let capacity: Int
        private var heap: [Double] = []
        init(capacity: Int) { self.capacity = max(1, capacity) }

        var threshold: Double { heap.count < capacity ? -.infinity : heap[0] }

        mutating func offer(_ x: Double) {
            if heap.count < capacity {
                heap.append(x)
                var i = heap.count - 1
                while i > 0 {
                    let p = (i - 1) / 2
                    guard heap[i] < heap[p] else { break }
                    heap.swapAt(i, p); i = p
                }
            } else if x > heap[0] {
                heap[0] = x
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < heap.count && heap[l] < heap[m] { m = l }
                    if r < heap.count && heap[r] < heap[m] { m = r }
                    if m == i { break }
                    heap.swapAt(i, m); i = m
                }
            }
        }
    }
}

extension MetaTLModel {
    /// The catalogue screen over this model's tables with `prior` (call with shared access held).
    func catalogueScreen(prior: TransitionPrior?) -> CatalogueScreen {
        let scorer = pairScorer(relations: headTable, prior: prior)
        let norms = screenNorms.norms(step: step, writes: outsideWrites) {
            CatalogueScreen.TailNorms(tails: tailTable, rows: rows, dim: configuration.dim)
        }
        return CatalogueScreen(scorer: scorer, rows: rows, norms: norms)
    }
}
