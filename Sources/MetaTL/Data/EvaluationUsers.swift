/// New users of one split: their first K items (the input), the item right after (the
/// target), and the candidates of the sampled protocol, drawn once from the seed so that
/// every evaluation of the split (and every baseline) sees the same candidates.
public struct EvaluationUsers: Sendable {
    /// The default of negatives per user in the sampled protocol: the reference's 100.
    public static let defaultSampledNegatives = 100
    /// The most negatives per user a dataset may draw (each user's candidates are kept).
    public static let maxSampledNegatives = 100_000

    /// Negatives per user in the sampled protocol.
    public let sampledNegatives: Int

    public let K: Int
    /// External ids of the users.
    public let userIDs: [Int64]
    /// Input rows, user i's at inputs[i·K ..< (i+1)·K], oldest first.
    let inputs: [Int32]
    /// Target row of each user.
    let targets: [Int32]
    /// One negative tail per support pair (K-1 per user), outside the user's K inputs.
    let supportNegatives: [Int32]
    /// ``sampledNegatives`` uniform items per user, outside the inputs and the target
    /// (the reference may draw the target itself; we do not), drawn with replacement; a user's
    /// first n draws are the same whatever the count.
    let negatives: [Int32]

    /// Number of users.
    public var count: Int { userIDs.count }

    struct Builder {
        let K: Int
        var userIDs: [Int64] = []
        var inputs: [Int32] = []
        var targets: [Int32] = []
        var count: Int { userIDs.count }

        init(K: Int) { self.K = K }

        mutating func add(user: Int64, sequence: [Int32]) {
            userIDs.append(user)
            inputs.append(contentsOf: sequence.prefix(K))
            targets.append(sequence[K])
        }

        func build(split: Split, seed: UInt64, rows: Int, sampledNegatives N: Int) -> EvaluationUsers {
            let S = K - 1
            var supportNegatives = [Int32](repeating: 0, count: count * S)
            var negatives = [Int32](repeating: 0, count: count * N)
            let items = rows - 1
            for i in 0..<count {
                var rng = RandomGenerator(seed: seed, stream: RandomStream.evaluation.rawValue,
                                          split == .valid ? 1 : 2, UInt64(i))
                let input = Set(inputs[i * K..<(i + 1) * K])
                var excluded = input
                excluded.insert(targets[i])
                let freeForSupport = items - input.filter { $0 >= 1 }.count
                let freeForQuery = items - excluded.filter { $0 >= 1 }.count
                for s in 0..<S {
                    supportNegatives[i * S + s] = rng.uniformItem(items: items, free: freeForSupport) { input.contains($0) }
                }
                for j in 0..<N {
                    negatives[i * N + j] = rng.uniformItem(items: items, free: freeForQuery) { excluded.contains($0) }
                }
            }
            return EvaluationUsers(sampledNegatives: N, K: K, userIDs: userIDs, inputs: inputs, targets: targets,
                                   supportNegatives: supportNegatives, negatives: negatives)
        }
    }
}
