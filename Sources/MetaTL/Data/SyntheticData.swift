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
        let (train, test, _) = generateWithOracle()
        return (train, test)
    }

    /// The data and its ``Oracle``: the generator's own knowledge of every user's direction.
    public func generateWithOracle() -> (train: Interactions, test: Interactions, oracle: Oracle) {
        var rng = RandomGenerator(seed: seed, stream: RandomStream.synthetic.rawValue)
        let cells = side * side
        // External ids: a seeded permutation of 1...cells, so ids carry no grid structure.
        var ids = Array(1...Int64(cells))
        ids.shuffle(using: &rng)
        let directions = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1)]

        var directionOfUser: [Int64: (Int, Int)] = [:]
        func users(_ count: Int, lengths: ClosedRange<Int>, firstUser: Int64) -> Interactions {
            var out = Interactions()
            var clock = 0.0
            for u in 0..<count {
                let (dx, dy) = directions[rng.below(directions.count)]
                directionOfUser[firstUser + Int64(u)] = (dx, dy)
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
        var cellOfID: [Int64: Int] = [:]
        for (cell, id) in ids.enumerated() { cellOfID[id] = cell }
        return (train, test, Oracle(side: side, ids: ids, cellOfID: cellOfID, directionOfUser: directionOfUser))
    }

    /// What the generator knows: each user's direction. It predicts the neighbouring cell of the
    /// user's last input in that direction (first; every other item ties behind it), which is
    /// the next item unless the walk jumps (with probability `noise`, or at the grid's edge). Its
    /// metrics are a ceiling for any model of this data.
    public struct Oracle: Sendable {
        let side: Int
        let ids: [Int64]
        let cellOfID: [Int64: Int]
        let directionOfUser: [Int64: (Int, Int)]

        /// The oracle's metrics on the dataset's users (built from this generator's data), with
        /// the same candidates and pessimistic ranks as every other system.
        public func evaluate(on dataset: Dataset, split: Split, protocol method: EvaluationProtocol) -> Metrics {
            let users = dataset.users(split)
            let K = users.K, N = users.sampledNegatives
            var ranks: [Int] = []
            ranks.reserveCapacity(users.count)
            for u in 0..<users.count {
                let inputs = users.inputs[(u * K)..<(u * K + K)]
                let last = dataset.itemIDs[Int(users.inputs[u * K + K - 1])]
                var predicted: Int32 = -1
                if let (dx, dy) = directionOfUser[users.userIDs[u]], let cell = cellOfID[last] {
                    let x = cell / side + dx, y = cell % side + dy
                    if x >= 0, y >= 0, x < side, y < side { predicted = dataset.row(ofItem: ids[x * side + y]) ?? -1 }
                }
                let target = users.targets[u]
                func score(_ row: Int32) -> Int { row == predicted ? 1 : 0 }
                let t = score(target)
                var above = 0
                switch method {
                case .sampled:
                    for j in 0..<N where score(users.negatives[u * N + j]) >= t { above += 1 }
                case .full:
                    for row in 1..<Int32(dataset.itemCount + 1) where row != target && !inputs.contains(row) && score(row) >= t {
                        above += 1
                    }
                }
                ranks.append(1 + above)
            }
            return Metrics(ranks: ranks)
        }
    }
}
