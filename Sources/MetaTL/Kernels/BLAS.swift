import CBLAS
import MetaTLThreads

/// Matrix products through OpenBLAS. Row-major throughout; shapes are in the names.
///
/// With `threads` > 1 a product is split into row blocks of C that workers compute at once (see
/// ``rowBlocks(_:threads:)``), each with a single-threaded sgemm, instead of using OpenBLAS's own
/// thread pool: its idle workers spin (sched_yield) right after each product, exactly when the
/// engine's element-wise loops want both cores. Library calls run with OpenBLAS single-threaded
/// (``BLASThreadCount``). Each element of C comes from one sgemm call over its whole inner dimension,
/// so results depend only on the split, i.e. on the thread count.
enum BLAS {
    /// c[m, n] = alpha · a[m, k] · b[n, k]ᵀ + beta · c   (b stored as PyTorch stores a Linear weight)
    static func gemmNT(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       beta: Float, _ c: UnsafeMutablePointer<Float>, threads: Int = 1) {
        split(m, threads, blocks: rowBlocks(m, threads: threads)) { lo, rows in
            gemmNT(rows: lo..<lo + rows, n, k, alpha: alpha, a, b, beta: beta, c)
        }
    }

    /// Rows `rows` of ``gemmNT(_:_:_:alpha:_:_:beta:_:threads:)`` (a and c are the whole
    /// matrices), in one single-threaded call.
    static func gemmNT(rows: Range<Int>, _ n: Int, _ k: Int, alpha: Float = 1,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       beta: Float, _ c: UnsafeMutablePointer<Float>) {
        if rows.isEmpty { return }
        let lo = rows.lowerBound
        forkSafe {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows.count), Int32(n), Int32(k),
                        alpha, a + lo * k, Int32(k), b, Int32(k), beta, c + lo * n, Int32(n))
        }
    }

    /// c[m, n] = alpha · a[m, k] · b[k, n] + beta · c
    static func gemmNN(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       beta: Float, _ c: UnsafeMutablePointer<Float>, threads: Int = 1) {
        split(m, threads, blocks: rowBlocks(m, threads: threads)) { lo, rows in
            gemmNN(rows: lo..<lo + rows, n, k, alpha: alpha, a, b, beta: beta, c)
        }
    }

    /// Rows `rows` of ``gemmNN(_:_:_:alpha:_:_:beta:_:threads:)``, in one single-threaded call.
    static func gemmNN(rows: Range<Int>, _ n: Int, _ k: Int, alpha: Float = 1,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       beta: Float, _ c: UnsafeMutablePointer<Float>) {
        if rows.isEmpty { return }
        let lo = rows.lowerBound
        forkSafe {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows.count), Int32(n), Int32(k),
                        alpha, a + lo * k, Int32(k), b, Int32(n), beta, c + lo * n, Int32(n))
        }
    }

    /// c[m, n] = alpha · a[k, m]ᵀ · b[k, n] + beta · c   (weight gradients: doutᵀ · inp)
    static func gemmTN(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       beta: Float, _ c: UnsafeMutablePointer<Float>, threads: Int = 1) {
        // One block per worker: each block packs all of b (the layer's input rows), so more
        // blocks would cost more than they balance.
        split(m, threads, blocks: max(1, min(threads, m / 32))) { lo, rows in
            forkSafe {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows), Int32(n), Int32(k),
                            alpha, a + lo, Int32(m), b, Int32(n), beta, c + lo * n, Int32(n))
            }
        }
    }

    /// The row blocks of an m-row product over `threads` workers: two per worker, so that one done
    /// early takes a block from a slower one (see `parallelChunks`; on shared virtual CPUs a worker
    /// is often descheduled for milliseconds), of at least 32 rows. Each block packs the other
    /// operand (a layer's weight) once more, which costs less than the waits it saves.
    static func rowBlocks(_ m: Int, threads: Int) -> Int {
        threads <= 1 ? 1 : max(1, min(2 * threads, m / 32))
    }

    /// Runs `body(firstRow, rowCount)` over `blocks` blocks of `m` rows on up to `threads` workers.
    private static func split(_ m: Int, _ threads: Int, blocks: Int, _ body: (Int, Int) -> Void) {
        if m == 0 { return }
        parallelChunks(blocks, threads: min(threads, blocks)) { p in
            let r = splitRange(m, parts: blocks, index: p)
            if !r.isEmpty { body(r.lowerBound, r.count) }
        }
    }

    /// Runs one OpenBLAS call inside the fork guard (see metatl_threads.h): a process forked
    /// meanwhile waits for it, so its child never inherits OpenBLAS's locks held.
    @inline(__always)
    private static func forkSafe(_ call: () -> Void) {
        mtl_fork_guard_enter()
        defer { mtl_fork_guard_leave() }
        call()
    }

    /// Sets the number of OpenBLAS's own threads (process-wide: OpenBLAS has no per-call
    /// setting). Only inside ``BLASThreadCount/singleThreaded(_:)``, which gives the caller's
    /// count back at the end (the GEMM floor measures OpenBLAS's own threading with it).
    static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }
}
