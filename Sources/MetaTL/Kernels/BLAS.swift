import CBLAS

/// Matrix products through OpenBLAS. Row-major throughout; shapes are in the names.
enum BLAS {
    /// c[m, n] = alpha * a[m, k] · b[n, k]ᵀ + beta * c   (b stored as PyTorch stores a Linear weight)
    @inline(__always)
    static func gemmNT(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       beta: Float, _ c: UnsafeMutablePointer<Float>) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(k), b, Int32(k), beta, c, Int32(n))
    }

    /// c[m, n] = alpha * a[m, k] · b[k, n] + beta * c
    @inline(__always)
    static func gemmNN(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       beta: Float, _ c: UnsafeMutablePointer<Float>) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(k), b, Int32(n), beta, c, Int32(n))
    }

    /// c[m, n] = alpha * a[k, m]ᵀ · b[k, n] + beta * c   (weight gradients: doutᵀ · inp)
    @inline(__always)
    static func gemmTN(_ m: Int, _ n: Int, _ k: Int, alpha: Float = 1,
                       _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                       beta: Float, _ c: UnsafeMutablePointer<Float>) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(m), b, Int32(n), beta, c, Int32(n))
    }

    /// Sets the number of OpenBLAS threads (process-wide: OpenBLAS has no per-call setting).
    static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }
}
