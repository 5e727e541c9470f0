import MetaTLKernels

// Small vector loops over floats. The loops themselves live in the MetaTLKernels C target,
// compiled for AVX-512, AVX2 and a generic baseline and chosen at run time (bit-identical
// results whichever runs); these wrappers only give them Swift argument labels.

/// y += a·(p - q) over `n` floats.
@inline(__always)
func addScaledDifference(_ y: FPtr, _ a: Float, _ p: CFPtr, _ q: CFPtr, _ n: Int) {
    mtl_k_add_scaled_difference(y, a, p, q, n)
}

/// y += a·x over `n` floats.
@inline(__always)
func addScaled(_ y: FPtr, _ a: Float, _ x: CFPtr, _ n: Int) {
    mtl_k_add_scaled(y, a, x, n)
}

/// The instruction-set variant of the element-wise kernels in use ("avx512", "avx2", "generic").
///
/// Diagnostics only: `@_spi(Diagnostics) import MetaTL` (the `metatl bench` command, tests);
/// programs choose a variant with `METATL_SIMD` instead.
@_spi(Diagnostics) public enum VectorKernels {
    /// The variant running now.
    public static var selected: String { String(cString: mtl_k_selected()) }

    /// Switches variant ("avx512", "avx2", "generic", or "auto"); false when this CPU cannot run
    /// it. For tests and benchmarks; do not switch while other threads train or serve.
    @discardableResult
    public static func select(_ name: String) -> Bool { mtl_k_select(name) == 0 }
}
