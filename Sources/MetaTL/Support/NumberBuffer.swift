/// A fixed-size, zero-initialised array of numbers whose storage never moves, so parallel
/// workers can fill disjoint ranges of it (item rows, mask words, partial sums; the large Float
/// blocks are ``FloatBuffer``s).
final class NumberBuffer<Element: Numeric>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Element>
    let count: Int

    init(count: Int) {
        let n = max(count, 1)
        pointer = UnsafeMutablePointer<Element>.allocate(capacity: n)
        pointer.initialize(repeating: 0, count: n)
        self.count = count
    }

    convenience init(_ values: [Element]) {
        self.init(count: values.count)
        for (i, v) in values.enumerated() { pointer[i] = v }
    }

    deinit { pointer.deallocate() }

    subscript(i: Int) -> Element {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    var array: [Element] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// Item rows (row 0 = padding).
typealias IndexBuffer = NumberBuffer<Int32>

/// The norm blocks' dropout and activation bits, written by the forward and read by the backward.
typealias MaskBuffer = NumberBuffer<UInt16>

extension NumberBuffer where Element == UInt16 {
    /// Words per row of `features` values: two per group of 16 (see ``normBlockForward``).
    static func wordsPerRow(_ features: Int) -> Int { 2 * ((features + 15) / 16) }
}
