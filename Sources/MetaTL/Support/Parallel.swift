import Dispatch

/// Runs `body(chunk)` for `chunks` independent chunks on up to `threads` threads.
///
/// Work is split by chunk index, not by which thread is free, so the result never depends on
/// scheduling as long as each chunk writes only its own outputs.
func parallelChunks(_ chunks: Int, threads: Int, _ body: (Int) -> Void) {
    if chunks <= 0 { return }
    if threads <= 1 || chunks == 1 {
        for c in 0..<chunks { body(c) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in box.value(c) }
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
