import Foundation
import MetaTLKernels

/// Cuts training tasks from training users' sequences: the reference's "mixed" sampler.
///
/// Per task: a user uniformly among those with at least 2 interactions; then, with
/// probability 1/2 (never with `.window`), **window mode**, otherwise **subsequence mode** (K+1 distinct positions
/// drawn at random, kept in order). From the K+1 items x0..xK: support pairs (x0→x1) …
/// (x(K-2)→x(K-1)), query pair (x(K-1)→xK). Each pair gets one negative tail drawn uniformly
/// outside the user's whole training sequence. Users with K or fewer interactions always
/// use window mode, padded with item 0 (the reference crashes on them).
///
/// Window mode picks the target index n uniformly in [K, len) (len-1 for short users):
/// - `.reference` reads the inputs backwards from `seq[start : n-1]` with the reference's
///   Python slice, `start = min(0, n-1-K)`. Two slips follow and are kept on purpose:
///   the item at n-1 is skipped, and when n-1-K < 0 the start is a *negative* Python index
///   (counted from the end), which makes the slice empty for n = K and for short users, so
///   those tasks are all padding.
/// - `.contiguous` and `.window` take the K items right before the target, `seq[n-K ..< n]`, padded in
///   front when the user is short.
///
/// Task b of step t draws from its own generator (seed, t, b): batches are the same for any
/// thread count, and a resumed run draws what the uninterrupted one would have.
struct TaskSampler: Sendable {
    let data: Dataset
    let K: Int
    let mode: SamplerMode
    let seed: UInt64
    let items: Int
    let negatives: NegativeSampling
    /// Per-worker buffers kept between steps (nil: each call allocates its own).
    let scratch: SamplerScratch?
    /// `.everyWindow`: the running count of windows over ``Dataset/sampleableUsers`` (entry i is
    /// the windows of users 0...i), which a user draw searches.
    let windowCounts: [Int]

    /// `workers`: how many workers will fill batches at once; their buffers are allocated here,
    /// once, instead of in every ``fill(_:step:threads:)``.
    init(data: Dataset, K: Int, mode: SamplerMode, seed: UInt64, negatives: NegativeSampling = .uniform, workers: Int = 0) {
        self.data = data
        self.K = K
        self.mode = mode
        self.seed = seed
        self.negatives = negatives
        items = data.itemCount
        scratch = workers > 0 ? SamplerScratch(workers: workers, K: K) : nil
        var counts: [Int] = []
        if mode == .everyWindow {
            var total = 0
            counts.reserveCapacity(data.sampleableUsers.count)
            for u in data.sampleableUsers {
                total += max(1, data.trainOffsets[Int(u) + 1] - data.trainOffsets[Int(u)] - K)
                counts.append(total)
            }
        }
        windowCounts = counts
    }

    /// Fills all tasks of `batch` for training step `step`, split over `threads` workers.
    ///
    /// A task's reads (the user's offsets, then its sequence and its distinct items) land at
    /// random in arrays larger than a core's cache, each waiting on the one before. So tasks go
    /// through a short pipeline: a task's user is drawn `lookahead` tasks before it is cut and its
    /// offsets are prefetched; half-way its sequence and distinct items are; then it is cut with
    /// the same generator, continuing after the user draw, so the draws are those of cutting
    /// each task on its own.
    func fill(_ batch: TaskBatch, step: Int, threads: Int) {
        let parts = max(1, min(threads, batch.tasks / 64))
        parallelChunks(parts, threads: threads) { c in
            let mine = splitRange(batch.tasks, parts: parts, index: c)
            if let slot = scratch?.slot(c) {
                fill(batch, tasks: mine, step: step, scratch: &slot.pointee)
            } else {
                var own = Scratch(K: K)
                fill(batch, tasks: mine, step: step, scratch: &own)
            }
        }
    }

    /// One worker's share of ``fill(_:step:threads:)``: tasks `mine`, through the pipeline.
    private func fill(_ batch: TaskBatch, tasks mine: Range<Int>, step: Int, scratch: inout Scratch) {
        let lookahead = Scratch.lookahead
        // scratch.pending: the ring of drawn-ahead tasks, generator (after the user draw) and user.
        func start(_ b: Int, _ scratch: inout Scratch) {
            var rng = RandomGenerator(seed: seed, stream: RandomStream.trainingTask.rawValue, UInt64(step), UInt64(b))
            let u = drawUser(&rng)
            scratch.pending[b % lookahead] = (rng, u)
            mtl_prefetch_at(data.trainOffsets, u &* 8)
            mtl_prefetch_at(data.distinctOffsets, u &* 8)
        }
        func prepare(_ b: Int, _ scratch: inout Scratch) {
            let u = scratch.pending[b % lookahead].1
            mtl_prefetch_at(data.trainItems, data.trainOffsets[u] &* 4)
            mtl_prefetch_at(data.distinctItems, data.distinctOffsets[u] &* 4)
        }
        for b in mine.prefix(lookahead) { start(b, &scratch) }
        for b in mine.prefix(lookahead / 2) { prepare(b, &scratch) }
        for b in mine {
            var (rng, u) = scratch.pending[b % lookahead]   // before task b + lookahead takes the slot
            if b + lookahead < mine.upperBound { start(b + lookahead, &scratch) }
            if b + lookahead / 2 < mine.upperBound { prepare(b + lookahead / 2, &scratch) }
            sample(task: b, user: u, into: batch, rng: &rng, scratch: &scratch)
        }
    }

    /// A task's first draw: its user, uniformly among those with at least 2 interactions.
    @inline(__always)
    func drawUser(_ rng: inout RandomGenerator) -> Int {
        let users = data.sampleableUsers
        guard let total = windowCounts.last, total > 0 else { return Int(users[rng.below(users.count)]) }
        // The first user whose running window count passes a uniform draw.
        let x = rng.below(total)
        var lo = 0, hi = windowCounts.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if windowCounts[mid] > x { hi = mid } else { lo = mid + 1 }
        }
        return Int(users[lo])
    }

    /// Per-worker buffers: the K+1 chosen items, their next items and negatives; the picked
    /// positions and the partial shuffle's displaced entries (reused: no allocation per task).
    struct Scratch {
        static let lookahead = 8
        var seq: [Int32], pos: [Int32], neg: [Int32], picked: [Int], chosen: [Int32]
        var displacedIndex: [Int], displacedValue: [Int]
        var pending: [(RandomGenerator, Int)]
        init(K: Int) {
            seq = Array(repeating: 0, count: K); pos = Array(repeating: 0, count: K); neg = Array(repeating: 0, count: K)
            pending = Array(repeating: (RandomGenerator(seed: 0), 0), count: Self.lookahead)
            picked = []; chosen = []; displacedIndex = []; displacedValue = []
            picked.reserveCapacity(K + 1); chosen.reserveCapacity(K + 1)
            displacedIndex.reserveCapacity(2 * K + 2); displacedValue.reserveCapacity(2 * K + 2)
        }

        /// Entry i of the shuffled positions 0..<len: i unless a swap displaced it.
        func position(_ i: Int) -> Int {
            for k in displacedIndex.indices.reversed() where displacedIndex[k] == i { return displacedValue[k] }
            return i
        }

        mutating func setPosition(_ i: Int, _ v: Int) {
            displacedIndex.append(i)
            displacedValue.append(v)
        }
    }

    /// Cuts task `b` from user `u`, drawn from `rng` by ``drawUser(_:)`` just before.
    func sample(task b: Int, user u: Int, into batch: TaskBatch, rng: inout RandomGenerator, scratch: inout Scratch) {
        let lo = data.trainOffsets[u], len = data.trainOffsets[u + 1] - lo
        let sequence = data.trainItems
        for i in 0..<K { scratch.seq[i] = 0; scratch.pos[i] = 0; scratch.neg[i] = 0 }

        // The chosen inputs, oldest first, and the target.
        scratch.chosen.removeAll(keepingCapacity: true)
        var target: Int32
        if len > K && mode != .window && mode != .everyWindow && rng.uniform() >= 0.5 {
            // Subsequence mode: K+1 distinct positions, in order: the first K+1 entries of a
            // Fisher-Yates shuffle of 0..<len, with only the displaced entries stored.
            scratch.picked.removeAll(keepingCapacity: true)
            scratch.displacedIndex.removeAll(keepingCapacity: true)
            scratch.displacedValue.removeAll(keepingCapacity: true)
            for i in 0...K {
                let j = i + rng.below(len - i)
                let atI = scratch.position(i), atJ = scratch.position(j)
                scratch.setPosition(i, atJ)
                scratch.setPosition(j, atI)
                scratch.picked.append(atJ)
            }
            scratch.picked.sort()
            for k in 0..<K { scratch.chosen.append(sequence[lo + scratch.picked[k]]) }
            target = sequence[lo + scratch.picked[K]]
        } else {
            let n = len > K ? K + rng.below(len - K) : len - 1
            target = sequence[lo + n]
            switch mode {
            case .reference:
                let stop = n - 1
                var start = min(0, n - 1 - K)
                if start < 0 { start = max(0, start + len) }   // Python's negative index
                if start < stop { for i in start..<stop { scratch.chosen.append(sequence[lo + i]) } }
            case .contiguous, .window, .everyWindow:
                for i in max(0, n - K)..<n { scratch.chosen.append(sequence[lo + i]) }
            }
        }

        // Walk backwards from the target as the reference does: position idx gets an input,
        // its next item, and a negative for that next item; missing positions stay padding.
        var next = target
        var idx = K - 1
        for item in scratch.chosen.reversed() {
            scratch.seq[idx] = item
            scratch.pos[idx] = next
            if next != 0 { scratch.neg[idx] = negative(&rng, user: u) }
            next = item
            idx -= 1
            if idx < 0 { break }
        }

        let S = K - 1
        for s in 0..<S {
            let n = b * S + s
            batch.supportHead[n] = scratch.seq[s]
            batch.supportTail[n] = scratch.pos[s]
            batch.supportNegativeHead[n] = scratch.seq[s]
            batch.supportNegativeTail[n] = scratch.neg[s]
        }
        batch.queryHead[b] = scratch.seq[K - 1]
        batch.queryTail[b] = scratch.pos[K - 1]
        batch.queryNegativeHead[b] = scratch.seq[K - 1]
        batch.queryNegativeTail[b] = scratch.neg[K - 1]
    }

    /// The softmax loss's shared negatives of step `step`: `batch.sharedNegatives.count` item rows
    /// drawn uniformly with replacement from their own generator (seed, step).
    ///
    /// With `.popularity` negatives they are the items of uniformly drawn training interactions
    /// (q_i = count_i / interactions), and ``logProposal`` holds log(N·q_i) for the softmax's
    /// log-Q correction.
    func fillSharedNegatives(_ batch: TaskBatch, step: Int) {
        var rng = RandomGenerator(seed: seed, stream: RandomStream.sharedNegatives.rawValue, UInt64(step))
        let out = batch.sharedNegatives
        let popular = negatives != .uniform && !data.trainItems.isEmpty
        for k in 0..<out.count {
            out[k] = popular && (negatives == .popularity || k % 2 == 0) ? popularItem(&rng) : uniformItem(&rng)
        }
    }

    /// An item row in proportion to its training frequency: the item of a uniformly drawn
    /// training interaction (there must be one).
    @inline(__always)
    private func popularItem(_ rng: inout RandomGenerator) -> Int32 { data.trainItems[rng.below(data.trainItems.count)] }

    /// An item row uniformly over the catalogue.
    @inline(__always)
    private func uniformItem(_ rng: inout RandomGenerator) -> Int32 { rng.uniformItem(items: items) }

    /// log(N·q_i) per item row for `N` shared popularity (or mixed) negatives: the log-Q correction that
    /// makes a sampled softmax estimate the full one (Bengio & Senecal 2008; Yi et al. 2019).
    /// Items never in training get the count 1/2 (their q would be 0). Nil for uniform draws,
    /// whose correction is the same for every item and cancels.
    func logProposal(negatives N: Int) -> [Float]? {
        guard negatives != .uniform, !data.trainItems.isEmpty else { return nil }
        let counts = data.trainingItemCounts()
        let total = Double(data.trainItems.count)
        // .mixed: ⌈N/2⌉ popularity draws and ⌊N/2⌋ uniform ones.
        let popular = negatives == .popularity ? Double(N) : Double((N + 1) / 2)
        let uniform = Double(N) - popular
        return counts.map { Float(Foundation.log(popular * max(Double($0), 0.5) / total + uniform / Double(max(items, 1)))) }
    }

    /// An item row outside the user's training items (0 if the user has them all): uniform, or
    /// with `.popularity` the item of a uniformly drawn training interaction (falling back to
    /// uniform after 32 draws inside the user's items, so that the draw always ends).
    private func negative(_ rng: inout RandomGenerator, user u: Int) -> Int32 {
        let lo = data.distinctOffsets[u], hi = data.distinctOffsets[u + 1]
        guard hi - lo < items else { return 0 }
        if negatives != .uniform && !data.trainItems.isEmpty && (negatives == .popularity || rng.uniform() < 0.5) {
            for _ in 0..<32 {
                let t = popularItem(&rng)
                if !contains(data.distinctItems, lo, hi, t) { return t }
            }
        }
        return rng.uniformItem(items: items, free: items - (hi - lo)) { contains(data.distinctItems, lo, hi, $0) }
    }

    private func contains(_ a: [Int32], _ lo: Int, _ hi: Int, _ v: Int32) -> Bool {
        var l = lo, h = hi
        while l < h {
            let m = (l + h) / 2
            if a[m] < v { l = m + 1 } else { h = m }
        }
        return l < hi && a[l] == v
    }
}

/// A ``TaskSampler``'s per-worker buffers, allocated once; worker c uses slot c.
final class SamplerScratch: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<TaskSampler.Scratch>
    private let count: Int

    init(workers: Int, K: Int) {
        count = max(workers, 1)
        slots = .allocate(capacity: count)
        for i in 0..<count { (slots + i).initialize(to: TaskSampler.Scratch(K: K)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// Worker c's buffers, or nil past the workers it was made for.
    func slot(_ c: Int) -> UnsafeMutablePointer<TaskSampler.Scratch>? { c >= 0 && c < count ? slots + c : nil }
}
