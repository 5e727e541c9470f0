/// Ranking the whole catalogue: the one set of rules behind ``MetaTLModel/recommend(history:topN:excludeHistory:)``
/// and the full-catalogue protocol of evaluation (MetaTL's and the baselines'), so that a user's
/// target ranks exactly where `recommend` would list it for the same history, ties included.
///
/// - Scores: every item's score is ``PairScorer/score(user:head:tail:)``'s for it, bit for bit
///   (``PairScorer/catalogueScores(user:head:rows:into:)``), so `score`, `recommend` and
///   `evaluate` agree to the last bit.
/// - Order: a higher score first; equal scores go to the smaller row (the order a list is
///   returned in; a target tied with others ranks where that list puts it, neither first nor
///   last among them). An item whose score is not finite is not ranked at all.
/// - Candidates: every item but the padding row and the user's own inputs (history), and only
///   items that were in the model's training data (``MetaTLModel/trainedItems``; the others
///   were never learned: `recommend` leaves them out unless asked, so evaluation does too, and a
///   target among them is a miss). The baselines' candidates are their dataset's training items.
///
/// The sampled protocol (target against 100 negatives) keeps the reference's rule instead: ties
/// count against the target.
enum CatalogueOrder {
    /// True when an item scored `a` at row `ra` ranks above one scored `b` at row `rb`.
    @inline(__always)
    static func ranksAbove<S: BinaryFloatingPoint>(_ a: S, row ra: Int, _ b: S, row rb: Int) -> Bool {
        a > b || (a == b && ra < rb)
    }

    /// The 1-based position of `target` among the candidate rows 1 ..< `rows` with `scores`
    /// (indexed by row), leaving out the rows in `inputs` (each once; the target itself is always a
    /// candidate): the position `recommend` gives it for that history. ``Metrics/unranked`` when
    /// its score is not finite.
    static func rank<S: BinaryFloatingPoint>(of target: Int, scores: UnsafePointer<S>, rows: Int,
                                             excluding inputs: ArraySlice<Int32>, candidates: [Bool]? = nil) -> Int {
        guard target >= 1 && target < rows else { return Metrics.unranked }
        if let candidates, !(target < candidates.count && candidates[target]) { return Metrics.unranked }
        let t = scores[target]
        guard t.isFinite else { return Metrics.unranked }
        @inline(__always) func candidate(_ item: Int) -> Bool { candidates.map { item < $0.count && $0[item] } ?? true }
        var above = 0
        // Rows before the target rank above it on a tie, rows after only with a higher score;
        // +infinity is not finite, so it never counts (NaN compares false anyway).
        for item in 1..<target where scores[item] >= t && scores[item] < .infinity && candidate(item) { above += 1 }
        for item in (target + 1)..<max(target + 1, rows) where scores[item] > t && scores[item] < .infinity && candidate(item) {
            above += 1
        }
        for (k, input) in zip(inputs.indices, inputs) {
            let item = Int(input)
            guard item != target && item >= 1 && item < rows && candidate(item),
                  !inputs[inputs.startIndex..<k].contains(input) else { continue }
            if scores[item].isFinite && ranksAbove(scores[item], row: item, t, row: target) { above -= 1 }
        }
        return 1 + above
    }
}

extension PairScorer {
    /// The score of every row as the next item after `head` for `user`, into `scores[0 ..< rows]`
    /// (row 0, the padding item, gets -infinity): ``score(user:head:tail:)`` row by row, bit for
    /// bit, with the prior's counts read by walking head's row of transitions (tails increasing)
    /// instead of searching it per item.
    func catalogueScores(user: Int, head: Int32, rows: Int, into scores: UnsafeMutablePointer<Float>) {
        catalogueScores(user: user, head: head, items: 0..<rows, into: scores)
    }

    /// ``catalogueScores(user:head:rows:into:)`` for the rows in `items` only (`scores` is still
    /// indexed by row): evaluation scores a block of users against one block of rows at a time,
    /// so that the block's table rows are read from cache once per user, not from memory.
    func catalogueScores(user: Int, head: Int32, items: Range<Int>, into scores: UnsafeMutablePointer<Float>) {
        guard !items.isEmpty else { return }
        var lo = items.lowerBound
        if lo == 0 { scores[0] = -.infinity; lo = 1 }
        guard lo < items.upperBound else { return }
        for item in lo..<items.upperBound { scores[item] = ownScore(user: user, head: head, tail: Int32(item)) }
        guard let prior else { return }
        let unseen = prior.term(count: 0)
        let row = prior.transitions(from: head)
        // The first of head's transitions at or after `lo` (tails increase along the row).
        var k = row.lowerBound, hi = row.upperBound
        while k < hi {
            let mid = k + (hi - k) / 2
            if Int(prior.tails[mid]) < lo { k = mid + 1 } else { hi = mid }
        }
        for item in lo..<items.upperBound {
            while k < row.upperBound && Int(prior.tails[k]) < item { k += 1 }
            let count = k < row.upperBound && Int(prior.tails[k]) == item ? prior.counts[k] : 0
            scores[item] = scores[item] + (count == 0 ? unseen : prior.term(count: count))
        }
    }
}

/// The `capacity` best rows offered, by ``CatalogueOrder``, kept in a min-heap.
struct TopN {
    struct Entry { var row: Int32; var score: Float }
    let capacity: Int
    private var heap: [Entry] = []

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        heap.reserveCapacity(self.capacity)
    }

    /// True if `a` ranks below `b`.
    @inline(__always)
    private static func below(_ a: Entry, _ b: Entry) -> Bool {
        CatalogueOrder.ranksAbove(b.score, row: Int(b.row), a.score, row: Int(a.row))
    }

    /// Offers a row; one whose score is not finite is never kept.
    mutating func offer(row: Int32, score: Float) {
        guard capacity > 0, score.isFinite else { return }
        let e = Entry(row: row, score: score)
        if heap.count < capacity {
            heap.append(e)
            var i = heap.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                guard Self.below(heap[i], heap[p]) else { break }
                heap.swapAt(i, p); i = p
            }
        } else if Self.below(heap[0], e) {
            heap[0] = e
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && Self.below(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.below(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m); i = m
            }
        }
    }

    /// Best first.
    func sorted() -> [Entry] { heap.sorted { Self.below($1, $0) } }
}
