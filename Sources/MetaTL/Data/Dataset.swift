/// A cold-start dataset: training users' sequences, and new users split into validation and
/// test, over one item vocabulary.
///
/// External ids (non-negative Int64) map to dense rows; row 0 is the padding item, so a huge
/// id never means a huge table. The vocabulary is the union of both files' items, in
/// ascending id order. Each user's interactions are ordered by timestamp (ties keep file
/// order). New users with more than K interactions are eligible for evaluation; each goes to
/// validation with probability 0.3 (the reference's split), drawn from the seed.
public final class Dataset: @unchecked Sendable {
    /// Initial interactions per new user.
    public let K: Int
    /// The seed of the validation/test split and of the evaluation candidates.
    public let seed: UInt64
    /// The item vocabulary (shared with the models made from this dataset).
    let vocabulary: Vocabulary
    /// External item id of each row (index 0 is the padding row and holds -1).
    public var itemIDs: [Int64] { vocabulary.itemIDs }
    /// Items in the catalogue (rows 1...itemCount).
    public var itemCount: Int { vocabulary.itemCount }
    /// Items that occur only among new users: their embedding rows are never trained.
    public let itemsNotInTraining: Int
    /// Interactions left out because their item is not in the vocabulary of the model the dataset
    /// was built for (`vocabularyOf`); 0 otherwise.
    public let unknownInteractions: Int
    /// Number of training users (all of them, including those too short to sample from).
    public var trainUserCount: Int { trainUserIDs.count }
    /// Number of training interactions.
    public var trainInteractionCount: Int { trainItems.count }

    let trainUserIDs: [Int64]
    /// The users' string ids, when they are strings (user ids are then their codes, in the
    /// strings' sorted order).
    public let userStrings: StringIDs?
    /// The items' string ids, when they are strings (``itemIDs`` then holds their codes).
    public var itemStrings: StringIDs? { vocabulary.strings }

    /// How often each item row occurs in the training sequences (rows + 1 values; row 0, the
    /// padding item, occurs 0 times): the popularity baseline's ranking and the popularity
    /// negatives' proposal.
    /// Rows of the items that occur in the training sequences (row 0 false).
    func trainingItemMask() -> [Bool] { trainingItemCounts().map { $0 > 0 } }

    func trainingItemCounts() -> [Int] {
        var counts = [Int](repeating: 0, count: itemCount + 1)
        for item in trainItems { counts[Int(item)] += 1 }
        return counts
    }
    /// Training sequences as rows, user u's at trainItems[trainOffsets[u] ..< trainOffsets[u+1]].
    let trainOffsets: [Int]
    let trainItems: [Int32]
    /// Each training user's distinct items, sorted (negative sampling looks up membership).
    let distinctOffsets: [Int]
    let distinctItems: [Int32]
    /// Training users with at least 2 interactions: the ones tasks are sampled from.
    let sampleableUsers: [Int32]

    /// The validation and test users.
    public let valid: EvaluationUsers
    public let test: EvaluationUsers

    /// The default of `maxFileBytes`: 4 GiB, far above real data (see
    /// ``InteractionLog/defaultMaxFileBytes`` for the reasoning).
    public static let defaultMaxFileBytes = InteractionLog.defaultMaxFileBytes

    /// Builds a dataset from the reference's two files (regular files or pipes).
    ///
    /// `maxFileBytes` bounds each file: a larger regular file is refused before it is read, and a
    /// pipe that gives more (one that never ends) stops there, with an error naming the file and
    /// the limit.
    ///
    /// With `vocabularyOf`, the dataset takes that model's item vocabulary (see
    /// ``init(train:test:K:seed:trainName:testName:vocabularyOf:unknownItems:)``).
    public convenience init(trainFile: String, testFile: String, K: Int = 3, seed: UInt64 = 1,
                            maxFileBytes: Int = Dataset.defaultMaxFileBytes, vocabularyOf model: MetaTLModel? = nil,
                            unknownItems: UnknownItemPolicy = .skip,
                            sampledNegatives: Int = EvaluationUsers.defaultSampledNegatives) throws(MetaTLError) {
        guard maxFileBytes >= 1 else { throw .invalidArgument("maxFileBytes must be at least 1 (got \(maxFileBytes))") }
        // A model's string item ids are matched by their text, so the cohort's items are read as
        // strings (`0205616461` must stay that, not become 205616461).
        let forced: StringColumns = model?.vocabulary.strings != nil ? .items : []
        var train = try InteractionLog.read(path: trainFile, maxBytes: maxFileBytes, strings: forced)
        var newUsers = try InteractionLog.read(path: testFile, maxBytes: maxFileBytes, strings: forced)
        // A column of strings in one file is read as strings in the other too, for the same reason.
        let trainStrings = train.stringColumns, testStrings = newUsers.stringColumns
        if !testStrings.isSubset(of: trainStrings.union(forced)) {
            train = try InteractionLog.read(path: trainFile, maxBytes: maxFileBytes, strings: trainStrings.union(testStrings))
        }
        if !trainStrings.isSubset(of: testStrings.union(forced)) {
            newUsers = try InteractionLog.read(path: testFile, maxBytes: maxFileBytes, strings: trainStrings.union(testStrings))
        }
        try self.init(train: train, test: newUsers, K: K, seed: seed, trainName: trainFile, testName: testFile,
                      vocabularyOf: model, unknownItems: unknownItems, sampledNegatives: sampledNegatives)
    }

    /// Builds a dataset from interaction rows (training users, new users).
    ///
    /// The sampled protocol ranks each user's target against `sampledNegatives` uniform items
    /// (the reference's 100), drawn once from the seed.
    ///
    /// Ids are integers or string ids (``Interactions/userStrings``, ``Interactions/itemStrings``);
    /// a column of strings in one and integers in the other is read as strings, the integers in
    /// decimal. A dataset numbers its string ids in their sorted order (UTF-8 bytes): its
    /// ``itemStrings`` and ``userStrings`` give the string of each code.
    ///
    /// A new cohort for a trained model: with `vocabularyOf`, the dataset's item vocabulary is the
    /// model's (rows in the model's order; string ids matched by their text), so the model
    /// evaluates, serves and trains on it as on its own data. Interactions with items the model
    /// does not know are then left out of the sequences, as serving skips unknown ids, and
    /// counted (``unknownInteractions``); with `unknownItems: .fail` the first one is an error
    /// naming its file, row and id.
    public init(train: Interactions, test newUsers: Interactions, K: Int = 3, seed: UInt64 = 1,
                trainName: String = "training interactions", testName: String = "new-user interactions",
                vocabularyOf model: MetaTLModel? = nil, unknownItems: UnknownItemPolicy = .skip,
                sampledNegatives: Int = EvaluationUsers.defaultSampledNegatives) throws(MetaTLError) {
        guard K >= 2 && K <= 64 else { throw .invalidArgument("K must be in 2...64 (got \(K))") }
        guard sampledNegatives >= 1 && sampledNegatives <= EvaluationUsers.maxSampledNegatives else {
            throw .invalidArgument("sampledNegatives must be in 1...\(EvaluationUsers.maxSampledNegatives) (got \(sampledNegatives))")
        }
        for (rows, name) in [(train, trainName), (newUsers, testName)] {
            if let problem = rows.problem(name: name) { throw problem }
            guard rows.count > 0 else { throw .invalidData("\(name): no interactions") }
        }
        self.K = K
        self.seed = seed

        var train = train, newUsers = newUsers
        let users = try IDColumn.unify(train.users, train.userStrings, newUsers.users, newUsers.userStrings)
        train.users = users.a
        newUsers.users = users.b
        userStrings = users.strings
        if let model {
            // The model's vocabulary; interactions with other items left out (or an error).
            let vocabulary = model.vocabulary
            self.vocabulary = vocabulary
            var skipped = 0
            func known(_ rows: Interactions, _ name: String) throws(MetaTLError) -> Interactions {
                let ids = IDColumn.ids(rows.items, rows.itemStrings, in: vocabulary)
                if unknownItems == .fail, let i = ids.firstIndex(where: { $0 == nil }) {
                    throw MetaTLError(.unknownItem, "\(name): row \(i + 1): field 'item': item id \(Interactions.text(rows.items[i], rows.itemStrings)) "
                                      + "is not in the model's vocabulary of \(vocabulary.itemCount) items")
                }
                var out = Interactions()
                for i in 0..<rows.count {
                    guard let id = ids[i] else { continue }
                    out.users.append(rows.users[i]); out.items.append(id); out.timestamps.append(rows.timestamps[i])
                }
                skipped += rows.count - out.count
                return out
            }
            train = try known(train, trainName)
            newUsers = try known(newUsers, testName)
            unknownInteractions = skipped
            guard train.count > 0 else { throw .invalidData("\(trainName): no interaction has an item of the model's vocabulary") }
            guard newUsers.count > 0 else { throw .invalidData("\(testName): no interaction has an item of the model's vocabulary") }
        } else {
            let items = try IDColumn.unify(train.items, train.itemStrings, newUsers.items, newUsers.itemStrings)
            train.items = items.a
            newUsers.items = items.b
            if let strings = items.strings {
                // Every string occurs (unify keeps only those): the vocabulary is all of them.
                vocabulary = try Vocabulary(strings: strings)
            } else {
                // Vocabulary: the union of both files' items, ascending.
                let ids = Array(Set(train.items).union(newUsers.items)).sorted()
                guard ids.count < Int(Int32.max) else { throw .invalidData("too many distinct items (\(ids.count))") }
                vocabulary = try Vocabulary(items: ids)   // distinct and non-negative: checked above
            }
            unknownInteractions = 0
        }
        let rowOf = vocabulary.rowOfItem
        itemsNotInTraining = vocabulary.itemCount - Set(train.items).count

        // Training sequences.
        let trainSeqs = Dataset.sequences(train, rowOf: rowOf)
        trainUserIDs = trainSeqs.users
        trainOffsets = trainSeqs.offsets
        trainItems = trainSeqs.items
        var dOffsets = [0], dItems: [Int32] = [], sampleable: [Int32] = []
        for u in 0..<trainSeqs.users.count {
            let seq = trainItems[trainOffsets[u]..<trainOffsets[u + 1]]
            dItems.append(contentsOf: Set(seq).sorted())
            dOffsets.append(dItems.count)
            if seq.count >= 2 { sampleable.append(Int32(u)) }
        }
        distinctOffsets = dOffsets
        distinctItems = dItems
        sampleableUsers = sampleable
        guard !sampleable.isEmpty else {
            throw .invalidData("\(trainName): no training user has at least 2 interactions, so no training task can be made")
        }

        // New users: eligible with more than K interactions; split 0.3 / 0.7 from the seed.
        let newSeqs = Dataset.sequences(newUsers, rowOf: rowOf)
        var rng = RandomGenerator(seed: seed, stream: RandomStream.split.rawValue)
        var validUsers = EvaluationUsers.Builder(K: K), testUsers = EvaluationUsers.Builder(K: K)
        for u in 0..<newSeqs.users.count {
            let seq = Array(newSeqs.items[newSeqs.offsets[u]..<newSeqs.offsets[u + 1]])
            guard seq.count > K else { continue }
            if rng.uniform() < 0.3 {
                validUsers.add(user: newSeqs.users[u], sequence: seq)
            } else {
                testUsers.add(user: newSeqs.users[u], sequence: seq)
            }
        }
        guard validUsers.count + testUsers.count > 0 else {
            throw .invalidData("\(testName): no new user has more than K = \(K) interactions, so there is nobody to evaluate")
        }
        valid = validUsers.build(split: .valid, seed: seed, rows: vocabulary.itemIDs.count, sampledNegatives: sampledNegatives)
        test = testUsers.build(split: .test, seed: seed, rows: vocabulary.itemIDs.count, sampledNegatives: sampledNegatives)
    }

    /// The users of one evaluation split.
    public func users(_ split: Split) -> EvaluationUsers { split == .valid ? valid : test }

    /// The row of an external item id, if it is in the vocabulary.
    public func row(ofItem id: Int64) -> Int32? { vocabulary.row(of: id) }

    /// What differs between a dataset's and a model's vocabularies: how many items each lacks of
    /// the other's, with the first few ids, or, for the same items in another row order, the
    /// first row that differs. Ids compare as text (a string id, or an integer in decimal).
    static func vocabularyDifference(dataset: Vocabulary, model: Vocabulary) -> String {
        let d = dataset.itemIDs.dropFirst().map { dataset.text(of: $0) }, m = model.itemIDs.dropFirst().map { model.text(of: $0) }
        let inDataset = Set(d.map(ExactString.init)), inModel = Set(m.map(ExactString.init))
        let missing = m.filter { !inDataset.contains(ExactString($0)) }, extra = d.filter { !inModel.contains(ExactString($0)) }
        func items(_ n: Int) -> String { n == 1 ? "1 item" : "\(n) items" }
        func few(_ ids: [String]) -> String {
            let shown = ids.prefix(5).map { MessageText.shown($0.utf8, limit: 40) }.joined(separator: ", ")
            return "(" + shown + (ids.count > 5 ? ", ...)" : ")")
        }
        var parts: [String] = []
        if !missing.isEmpty {
            parts.append("\(missing.count) of the model's \(items(m.count)) \(missing.count == 1 ? "is" : "are") not in the dataset \(few(missing))")
        }
        if !extra.isEmpty {
            parts.append("\(extra.count) of the dataset's \(items(d.count)) \(extra.count == 1 ? "is" : "are") not in the model \(few(extra))")
        }
        let head = "the dataset's item vocabulary differs from the model's: "
        if !parts.isEmpty { return head + parts.joined(separator: ", and ") }
        if (dataset.strings == nil) != (model.strings == nil) {
            return head + "the same \(items(m.count)), as \(model.strings == nil ? "integers" : "string ids") in the model and "
                + "\(dataset.strings == nil ? "integers" : "string ids") in the dataset (load the data for the model: Dataset(vocabularyOf:))"
        }
        // The same items (each vocabulary's ids are distinct), rows in another order.
        if let i = d.indices.first(where: { $0 < m.count && ExactString(d[$0]) != ExactString(m[$0]) }) {
            return head + "the same \(items(m.count)) in another order (row \(i + 1) holds item \(MessageText.shown(d[i].utf8, limit: 40)) "
                + "in the dataset, \(MessageText.shown(m[i].utf8, limit: 40)) in the model)"
        }
        return head + "\(items(d.count)) in the dataset, \(items(m.count)) in the model"
    }

    /// Groups rows by user (ascending user id), each user's rows ordered by timestamp, ties in
    /// file order.
    private static func sequences(_ rows: Interactions, rowOf: [Int64: Int32]) -> (users: [Int64], offsets: [Int], items: [Int32]) {
        let order = rows.users.indices.sorted { a, b in
            if rows.users[a] != rows.users[b] { return rows.users[a] < rows.users[b] }
            if rows.timestamps[a] != rows.timestamps[b] { return rows.timestamps[a] < rows.timestamps[b] }
            return a < b
        }
        var users: [Int64] = [], offsets: [Int] = [0], items: [Int32] = []
        items.reserveCapacity(order.count)
        for i in order {
            if users.last != rows.users[i] {
                if !users.isEmpty { offsets.append(items.count) }
                users.append(rows.users[i])
            }
            items.append(rowOf[rows.items[i]] ?? 0)
        }
        offsets.append(items.count)
        return (users, offsets, items)
    }
}

/// Which group of new users.
public enum Split: String, Sendable, CaseIterable {
    case valid, test
}
