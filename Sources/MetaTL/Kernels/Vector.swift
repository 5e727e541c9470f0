// Small vector loops over floats, 16 lanes at a time (the element-wise work beside BLAS).

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func load16(_ p: UnsafeMutablePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always) func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// y += a·(p - q) over `n` floats.
@inline(__always)
func addScaledDifference(_ y: FPtr, _ a: Float, _ p: CFPtr, _ q: CFPtr, _ n: Int) {
    var j = 0
    while j + 16 <= n { store16(load16(y + j) + a * (load16(p + j) - load16(q + j)), y + j); j += 16 }
    while j < n { y[j] += a * (p[j] - q[j]); j += 1 }
}

/// y += a·x over `n` floats.
@inline(__always)
func addScaled(_ y: FPtr, _ a: Float, _ x: CFPtr, _ n: Int) {
    var j = 0
    while j + 16 <= n { store16(load16(y + j) + a * load16(x + j), y + j); j += 16 }
    while j < n { y[j] += a * x[j]; j += 1 }
}

/// row += bias, and (Σ row, Σ row²) of the result, over `count` floats.
@inline(__always) func addBiasAndSum(_ row: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, _ count: Int) -> (Float, Float) {
    var s16 = SIMD16<Float>(), q16 = SIMD16<Float>()
    var s: Float = 0, q: Float = 0
    var j = 0
    while j + 16 <= count {
        let v = load16(row + j) + load16(bias + j)
        store16(v, row + j)
        s16 += v
        q16 += v * v
        j += 16
    }
    while j < count { let v = row[j] + bias[j]; row[j] = v; s += v; q += v * v; j += 1 }
    return (s16.sum() + s, q16.sum() + q)
}
