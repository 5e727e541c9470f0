/// A seeded synthetic cold-start dataset with planted per-user transition patterns, the
/// built-in default data of `metatl demo`.
///
/// Items are the cells of a `side` x `side` grid (with shuffled external ids). Every user
/// follows one of eight directions (→ ← ↑ ↓ and the diagonals): from a cell, the next item is
/// the neighbouring cell in the user's direction, except with probability `noise` (or at the
/// edge) a uniformly random cell. From an item alone the next one is any of eight neighbours,
/// so item-to-item transition counts can only guess among them; a model that reads the
/// direction from a user's first transitions, as MetaTL's relation does, can do much better.
public struct SyntheticData: Sendable {
    public var side = 40
    public var trainUsers = 4000
    public var newUsers = 2000
    public var trainLength = 5...20
    public var newUserLength = 4...8
    public var noise = 0.1
    public var seed: UInt64 = 1

    public init() {}

    /// (training users' interactions, new users' interactions).
    public func generate() -> (train: Interactions, test: Interactions) {
        var rng = RandomGenerator(seed: seed, stream: RandomStream.synthetic.rawValue)
        let cells = side * side
        // External ids: a seeded permutation of 1...cells, so ids carry no grid structure.
        var ids = Array(1...Int64(cells))
        ids.shuffle(using: &rng)
        let directions = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)]

        func users(_ count: Int, lengths: ClosedRange<Int>, firstUser: Int64) -> Interactions {
            var out = Interactions()
            var clock = 0.0
            for u in 0..<count {
                let (dx, dy) = directions[rng.below(directions.count)]
                let length = lengths.lowerBound + rng.below(lengths.count)
                var x = rng.below(side), y = rng.below(side)
                for _ in 0..<length {
                    out.users.append(firstUser + Int64(u))
                    out.items.append(ids[x * side + y])
                    out.timestamps.append(clock)
                    clock += 1
                    let nx = x + dx, ny = y + dy
                    if rng.uniform() < noise || nx < 0 || ny < 0 || nx >= side || ny >= side {
                        x = rng.below(side); y = rng.below(side)
                    } else {
                        x = nx; y = ny
                    }
                }
            }
            return out
        }
        let train = users(trainUsers, lengths: trainLength, firstUser: 1)
        let test = users(newUsers, lengths: newUserLength, firstUser: Int64(trainUsers) + 1)
        return (train, test)
    }
}
