import Foundation

/// The cold-start split as the paper makes it: one interaction log becomes training users (whose
/// first interaction is before a cut time) and new users (whose first interaction is at or after
/// it), written as the reference's two files.
///
/// Training users keep all their interactions (also those after the cut); new users' items that
/// never occur in training are kept (the engine handles items not in training). Users with
/// too short a history for their side are dropped and counted.
public struct ColdStartSplit: Sendable {
    /// Where the cut falls.
    public enum Cut: Sendable, Equatable {
        /// Users whose first interaction is at or after this time are new.
        case time(Double)
        /// This fraction of users (in (0, 1)) are new: the cut is the first-interaction time of
        /// the user at that quantile (users sharing it are all new, so the fraction can be a
        /// little higher).
        case newUserFraction(Double)
    }

    public struct Options: Sendable, Equatable {
        /// The default cut: 20% of users are new.
        public var cut: Cut = .newUserFraction(0.2)
        /// Training users with fewer interactions are dropped. The default 2 is the least that
        /// makes a training task (one transition); shorter users would add nothing but items.
        public var minTrainInteractions = 2
        /// New users with fewer interactions are dropped. The default 4 is K + 1 for the
        /// default K = 3: K initial interactions and one to predict, the least that can be
        /// evaluated (the reference's new users all have at least 4).
        public var minNewInteractions = 4

        public init(cut: Cut = .newUserFraction(0.2), minTrainInteractions: Int = 2, minNewInteractions: Int = 4) {
            self.cut = cut
            self.minTrainInteractions = minTrainInteractions
            self.minNewInteractions = minNewInteractions
        }
    }

    /// Training users' rows, sorted by user, then time (ties in log order).
    public let train: Interactions
    /// New users' rows, sorted the same way.
    public let newUsers: Interactions
    /// The cut time used (given, or found from the fraction).
    public let cutTime: Double
    public let trainUserCount: Int
    public let newUserCount: Int
    /// Users dropped for too short a history: training side, new side.
    public let droppedTrainUsers: Int
    public let droppedNewUsers: Int
    /// Distinct items of the kept new users that no kept training user has.
    public let newItemsNotInTraining: Int

    /// Splits `log`. `name` names the log in errors.
    public init(_ log: Interactions, options: Options = Options(), name: String = "interactions") throws(MetaTLError) {
        if let problem = log.problem(name: name) { throw problem }
        guard log.count > 0 else { throw .invalidData("\(name): no interactions") }
        guard options.minTrainInteractions >= 1 && options.minTrainInteractions <= 1 << 30 else {
            throw .invalidArgument("minTrainInteractions must be in 1...\(1 << 30) (got \(options.minTrainInteractions))")
        }
        guard options.minNewInteractions >= 1 && options.minNewInteractions <= 1 << 30 else {
            throw .invalidArgument("minNewInteractions must be in 1...\(1 << 30) (got \(options.minNewInteractions))")
        }
        // Rows ordered by user, then time, then log order: each user's rows are one run.
        let order = log.users.indices.sorted { a, b in
            if log.users[a] != log.users[b] { return log.users[a] < log.users[b] }
            if log.timestamps[a] != log.timestamps[b] { return log.timestamps[a] < log.timestamps[b] }
            return a < b
        }
        var runs: [Range<Int>] = []   // positions in `order`
        var s = 0
        while s < order.count {
            var e = s + 1
            while e < order.count && log.users[order[e]] == log.users[order[s]] { e += 1 }
            runs.append(s..<e)
            s = e
        }
        let firstTimes = runs.map { log.timestamps[order[$0.lowerBound]] }

        let cut: Double
        switch options.cut {
        case .time(let t):
            guard t.isFinite else { throw .invalidArgument("the cut time must be a finite number (got \(t))") }
            cut = t
        case .newUserFraction(let f):
            guard f > 0 && f < 1 else { throw .invalidArgument("the new-user fraction must be between 0 and 1, exclusive (got \(f))") }
            guard runs.count >= 2 else {
                throw .invalidData("\(name): only one user, so no split into training and new users can be made")
            }
            let sorted = firstTimes.sorted()
            let newCount = min(max(Int((f * Double(sorted.count)).rounded()), 1), sorted.count - 1)
            cut = sorted[sorted.count - newCount]
        }

        var trainRows: [Int] = [], newRows: [Int] = []
        var trainUsers = 0, newUsersKept = 0, droppedTrain = 0, droppedNew = 0
        for (run, first) in zip(runs, firstTimes) {
            if first < cut {
                if run.count >= options.minTrainInteractions {
                    trainRows.append(contentsOf: order[run]); trainUsers += 1
                } else { droppedTrain += 1 }
            } else {
                if run.count >= options.minNewInteractions {
                    newRows.append(contentsOf: order[run]); newUsersKept += 1
                } else { droppedNew += 1 }
            }
        }
        func rows(_ r: [Int]) -> Interactions {
            Interactions(users: r.map { log.users[$0] }, items: r.map { log.items[$0] }, timestamps: r.map { log.timestamps[$0] },
                         userStrings: log.userStrings, itemStrings: log.itemStrings)
        }
        let cutText = ColdStartSplit.format(cut)
        guard trainUsers > 0 else {
            throw .invalidData("\(name): no training user (first interaction before \(cutText)) has at least "
                               + "\(options.minTrainInteractions) interactions (\(droppedTrain) too short); move the cut later or lower the minimum")
        }
        guard newUsersKept > 0 else {
            throw .invalidData("\(name): no new user (first interaction at or after \(cutText)) has at least "
                               + "\(options.minNewInteractions) interactions (\(droppedNew) too short); move the cut earlier or lower the minimum")
        }
        train = rows(trainRows)
        newUsers = rows(newRows)
        cutTime = cut
        trainUserCount = trainUsers
        newUserCount = newUsersKept
        droppedTrainUsers = droppedTrain
        droppedNewUsers = droppedNew
        newItemsNotInTraining = Set(newUsers.items).subtracting(train.items).count
    }

    /// Reads `input` (``Interactions/read(path:columns:maxFileBytes:)``) and splits it.
    public init(file input: String, columns: InteractionColumns? = nil, options: Options = Options(),
                maxFileBytes: Int = Dataset.defaultMaxFileBytes) throws(MetaTLError) {
        let log = try Interactions.read(path: input, columns: columns, maxFileBytes: maxFileBytes)
        try self.init(log, options: options, name: input)
    }

    /// Writes the reference's two files, `user<TAB>item<TAB>timestamp` per line (string ids as
    /// they are), each written to a temporary file and renamed over its path. A string id with a
    /// leading or trailing space cannot be written in this format and read back the same: it is
    /// an error, and nothing is written.
    public func write(train trainPath: String, test testPath: String) throws(MetaTLError) {
        let trainText = try ColdStartSplit.text(train), testText = try ColdStartSplit.text(newUsers)
        try writeAtomically(trainText, to: trainPath)
        try writeAtomically(testText, to: testPath)
    }

    /// A time given as text: a finite number, or an ISO 8601 date or date-time (seconds since 1970).
    public static func time(parsing text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)[...]
        if let v = Double(t) { return v.isFinite ? v : nil }
        if case .success(let v) = Timestamps.parseISO8601(t) { return v }
        return nil
    }

    /// A time as the files hold it: an integer when it is one (below 2^53), else the shortest
    /// decimal that reads back as the same Double.
    public static func format(_ t: Double) -> String {
        if t == t.rounded() && abs(t) < 9007199254740992 { return String(Int64(t)) }
        return "\(t)"
    }

    static func text(_ rows: Interactions) throws(MetaTLError) -> Data {
        for (strings, role) in [(rows.userStrings, "user"), (rows.itemStrings, "item")] {
            guard let strings else { continue }
            // Tables hold no control characters (no TAB, no line break: StringIDs refuses them); a
            // reader trims the spaces around a field, so those would not read back.
            if let bad = strings.strings.first(where: { $0.first?.isWhitespace == true || $0.last?.isWhitespace == true }) {
                throw .invalidData("the \(role) id '\(MessageText.shown(bad.utf8, limit: 40))' has surrounding whitespace, "
                                   + "which the user<TAB>item<TAB>timestamp files cannot hold (a reader trims it)")
            }
        }
        var out = ""
        out.reserveCapacity(rows.count * 24)
        for i in 0..<rows.count {
            out += "\(Interactions.text(rows.users[i], rows.userStrings))\t\(Interactions.text(rows.items[i], rows.itemStrings))\t\(format(rows.timestamps[i]))\n"
        }
        return Data(out.utf8)
    }
}
