/// A fixed-size, zero-initialised array of 16-bit mask words whose storage never moves (the
/// norm blocks' dropout and activation bits, written by the forward and read by the backward).
final class MaskBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<UInt16>
    let count: Int

    init(count: Int) {
        let n = max(count, 1)
        pointer = UnsafeMutablePointer<UInt16>.allocate(capacity: n)
        pointer.initialize(repeating: 0, count: n)
        self.count = count
    }

    deinit { pointer.deallocate() }

    /// Words per row of `features` values: two per group of 16 (see ``normBlockForward``).
    static func wordsPerRow(_ features: Int) -> Int { 2 * ((features + 15) / 16) }
}
