import Testing
@_spi(Diagnostics) @testable import MetaTL

/// OpenBLAS gives the engine's products correctly with whichever kernel it runs (older OpenBLAS
/// builds are known to compute wrong results on some CPUs), split over workers or not.
@Suite("BLAS")
struct BLASTests {
    func random(_ n: Int, _ rng: inout RandomGenerator) -> [Float] { (0..<n).map { _ in Float(rng.uniform() - 0.5) } }

    @Test(arguments: [1, 2])
    func productsMatchADoublePrecisionReference(threads: Int) {
        var rng = RandomGenerator(seed: 5)
        let m = 300, n = 500, k = 200
        let a = random(m * k, &rng), b = random(n * k, &rng), g = random(m * n, &rng)
        var c = [Float](repeating: 0, count: m * n), dw = [Float](repeating: 0, count: n * k), dx = [Float](repeating: 0, count: m * k)
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in g.withUnsafeBufferPointer { gp in
            c.withUnsafeMutableBufferPointer { cp in
                BLAS.gemmNT(m, n, k, ap.baseAddress!, bp.baseAddress!, beta: 0, cp.baseAddress!, threads: threads)
            }
            dw.withUnsafeMutableBufferPointer { wp in
                BLAS.gemmTN(n, k, m, gp.baseAddress!, ap.baseAddress!, beta: 0, wp.baseAddress!, threads: threads)
            }
            dx.withUnsafeMutableBufferPointer { xp in
                BLAS.gemmNN(m, k, n, gp.baseAddress!, bp.baseAddress!, beta: 0, xp.baseAddress!, threads: threads)
            }
        }}}
        var worst = 0.0
        for i in stride(from: 0, to: m, by: 7) {
            for j in stride(from: 0, to: n, by: 11) {
                var s = 0.0
                for l in 0..<k { s += Double(a[i * k + l]) * Double(b[j * k + l]) }
                worst = max(worst, abs(Double(c[i * n + j]) - s))
            }
        }
        for i in stride(from: 0, to: n, by: 13) {
            for j in stride(from: 0, to: k, by: 5) {
                var s = 0.0
                for l in 0..<m { s += Double(g[l * n + i]) * Double(a[l * k + j]) }
                worst = max(worst, abs(Double(dw[i * k + j]) - s))
            }
        }
        for i in stride(from: 0, to: m, by: 9) {
            for j in stride(from: 0, to: k, by: 7) {
                var s = 0.0
                for l in 0..<n { s += Double(g[i * n + l]) * Double(b[l * k + j]) }
                worst = max(worst, abs(Double(dx[i * k + j]) - s))
            }
        }
        #expect(worst < 1e-4, "largest error \(worst) with kernel \(BLASKernel.current)")
    }

    @Test func kernelChoiceFollowsCPUFlags() {
        #expect(BLASKernel.bestFor(flags: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]) == "SkylakeX")
        #expect(BLASKernel.bestFor(flags: ["avx512f", "avx2", "fma"]) == "Haswell")
        #expect(BLASKernel.bestFor(flags: ["sse3", "ssse3"]) == nil)
    }
}
