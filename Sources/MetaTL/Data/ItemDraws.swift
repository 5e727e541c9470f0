/// Uniform draws of item rows, the one place their rule is written: the task sampler's negatives
/// and the evaluation users' candidates both draw through these, and parity with the reference
/// depends on the exact sequence of generator calls (one `below(items)` per try).
extension RandomGenerator {
    /// An item row uniformly over the catalogue's rows 1...items (row 0 is padding).
    @inline(__always)
    mutating func uniformItem(items: Int) -> Int32 { Int32(1 + below(items)) }

    /// A uniform item row in 1...items that `excluded` rejects not, by redrawing until one is
    /// accepted; 0 (padding), with no draw, when `free` (the rows not excluded) is 0, so the loop
    /// always ends. `free` must count the non-excluded rows of 1...items exactly.
    @inline(__always)
    mutating func uniformItem(items: Int, free: Int, outside excluded: (Int32) -> Bool) -> Int32 {
        guard free > 0 else { return 0 }
        while true {
            let t = uniformItem(items: items)
            if !excluded(t) { return t }
        }
    }
}
