/// The engine's only source of randomness: xoshiro256** seeded through SplitMix64.
///
/// Every random choice in a run comes from a generator derived from the run's seed and a
/// position (a stream name, a training step, a task index), never from the clock or from the
/// order in which threads happen to run. Same seed and data therefore give the same draws
/// whatever the thread count.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator for `seed`, optionally specialised to a position (`stream`, `a`, `b`).
    public init(seed: UInt64, stream: UInt64 = 0, _ a: UInt64 = 0, _ b: UInt64 = 0) {
        var sm = SplitMix64(seed)
        // Fold the position into the state so that neighbouring positions are unrelated.
        var mix = sm.next() ^ SplitMix64.hash(stream &+ 0x9E37_79B9_7F4A_7C15)
        mix = SplitMix64.hash(mix ^ SplitMix64.hash(a &+ 0xD1B5_4A32_D192_ED03))
        mix = SplitMix64.hash(mix ^ SplitMix64.hash(b &+ 0x8CB9_2BA7_2F3D_8DD7))
        var seeder = SplitMix64(mix)
        s0 = seeder.next(); s1 = seeder.next(); s2 = seeder.next(); s3 = seeder.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits (Python's `random.random()` has the same resolution).
    @inline(__always)
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform integer in `0..<n` without modulo bias (Lemire's method); `n` must be positive.
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        let bound = UInt64(n)
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return Int(m.high)
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

/// SplitMix64: seeds xoshiro and hashes positions into seeds.
struct SplitMix64 {
    private var x: UInt64
    init(_ seed: UInt64) { x = seed }
    mutating func next() -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.hash(x)
    }
    static func hash(_ v: UInt64) -> UInt64 {
        var z = v
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Stream identifiers, so that each kind of random choice has draws of its own.
enum RandomStream: UInt64 {
    case split = 1, initialisation, trainingTask, dropout, evaluation, synthetic, serving, sharedNegatives, bootstrap, index
}
