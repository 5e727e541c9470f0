import Dispatch
import MetaTLThreads

/// Runs `body(chunk)` for `chunks` independent chunks on up to `threads` threads.
///
/// Work is split by chunk index, not by which thread is free, so the result never depends on
/// scheduling as long as each chunk writes only its own outputs.
///
/// The engine's worker pool (see metatl_threads.h) runs the chunks: thread t of T starts on the
/// t-th contiguous share, so consecutive loops over the same rows (a product, then the
/// element-wise passes over its output) mostly find them in the same core's cache, and takes
/// unstarted chunks from slower threads at the end. When the pool is busy (another thread's
/// loop, or a loop inside a chunk) the loop runs on Dispatch instead, with the same results.
func parallelChunks(_ chunks: Int, threads: Int, _ body: (Int) -> Void) {
    if chunks <= 0 { return }
    if threads <= 1 || chunks == 1 {
        for c in 0..<chunks { body(c) }
        return
    }
    if runOnPool(chunks, threads: threads, body) { return }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in box.value(c) }
    }
}

/// Runs the loop on the worker pool, thread t of T = min(threads, chunks) starting on the chunks
/// `splitRange(chunks, parts: T, index: t)` (the calling thread is thread 0); false, with nothing
/// run, when the pool is in use.
func runOnPool(_ chunks: Int, threads: Int, _ body: (Int) -> Void) -> Bool {
    withoutActuallyEscaping(body) { body -> Bool in
        var box = UncheckedBox(body)
        return withUnsafeMutablePointer(to: &box) { context in
            mtl_pool_run(Int32(clamping: threads), chunks, { context, chunk in
                context?.assumingMemoryBound(to: UncheckedBox<(Int) -> Void>.self).pointee.value(chunk)
            }, context) == 0
        }
    }
}

/// Splits `0..<count` into `parts` contiguous ranges of nearly equal size.
func splitRange(_ count: Int, parts: Int, index: Int) -> Range<Int> {
    let p = max(parts, 1)
    let lo = count * index / p
    let hi = count * (index + 1) / p
    return lo..<hi
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
