/// A fixed-size, zero-initialised array of Int32 item rows whose storage never moves, so
/// parallel workers can fill disjoint ranges of it.
final class IndexBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>
    let count: Int

    init(count: Int) {
        let n = max(count, 1)
        pointer = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        pointer.initialize(repeating: 0, count: n)
        self.count = count
    }

    convenience init(_ values: [Int32]) {
        self.init(count: values.count)
        for (i, v) in values.enumerated() { pointer[i] = v }
    }

    deinit { pointer.deallocate() }

    subscript(i: Int) -> Int32 {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    var array: [Int32] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

}
