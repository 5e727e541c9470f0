import ArgumentParser
import Foundation
import MetaTL

struct Split: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Split one interaction log into the reference's two files: training users and new users.",
        discussion: """
        Training users are those whose first interaction is before the cut time, new users those \
        whose first interaction is at or after it (the paper's cold-start split). The cut is \
        --cut-time, or else the time that makes --new-user-fraction of the users new (default \
        0.2). Training users keep all their interactions. Writes PREFIX_train.csv and \
        PREFIX_test_new_user.csv (user<TAB>item<TAB>timestamp, sorted by user then time), which \
        `metatl train --train PREFIX_train.csv --test PREFIX_test_new_user.csv` reads.

        The input is CSV or TSV (the delimiter found from the first line: TAB, comma or '::'); a \
        header line names the columns (user/user_id/userId/reviewerID, item/item_id/movieId/asin, \
        timestamp/time/ts/unixReviewTime; RecBole's typed `name:type` headers too) and other columns are \
        ignored. Times are numbers or ISO 8601 dates (2014-03-01, 2014-03-01T12:00:00Z), written \
        as seconds since 1970.
        """
    )

    @Option(help: "The interaction log (a MovieLens ratings.csv, a RecBole .inter file, ...).")
    var input: String
    @Option(help: "Write PREFIX_train.csv and PREFIX_test_new_user.csv.")
    var outPrefix: String
    @Option(help: ArgumentHelp("Users whose first interaction is at or after this time are new: a number or an ISO 8601 date.",
                               valueName: "time"))
    var cutTime: String?
    @Option(help: "The fraction of users that are new, when --cut-time is not given (default 0.2).")
    var newUserFraction: Double?
    @Option(help: ArgumentHelp("The user, item and time columns, by header name or 0-based position (default: found from the header).",
                               valueName: "user,item,timestamp"))
    var columns: String?
    @Option(help: "Drop training users with fewer interactions (2: the least that makes a training task).")
    var minTrainInteractions = ColdStartSplit.Options().minTrainInteractions
    @Option(help: "Drop new users with fewer interactions (4: K + 1 for K = 3, the least that can be evaluated).")
    var minNewInteractions = ColdStartSplit.Options().minNewInteractions
    @OptionGroup var files: DataFileOptions

    func run() throws {
        var options = ColdStartSplit.Options(minTrainInteractions: minTrainInteractions, minNewInteractions: minNewInteractions)
        if let cutTime {
            guard newUserFraction == nil else { throw ValidationError("give --cut-time or --new-user-fraction, not both") }
            guard let t = ColdStartSplit.time(parsing: cutTime) else {
                throw ValidationError("--cut-time: expected a number or an ISO 8601 date (2014-03-01, 2014-03-01T12:00:00Z), found '\(cutTime)'")
            }
            options.cut = .time(t)
        } else if let newUserFraction {
            options.cut = .newUserFraction(newUserFraction)
        }
        let chosen = try columns.map { text throws(MetaTLError) in try InteractionColumns(parsing: text) }
        let split = try ColdStartSplit(file: input, columns: chosen, options: options, maxFileBytes: files.maxFileBytes.value)
        let trainPath = outPrefix + "_train.csv", testPath = outPrefix + "_test_new_user.csv"
        try split.write(train: trainPath, test: testPath)
        print("cut time: \(ColdStartSplit.format(split.cutTime))")
        print("training users: \(split.trainUserCount) (\(split.train.count) interactions) -> \(trainPath)")
        print("new users: \(split.newUserCount) (\(split.newUsers.count) interactions, \(split.newItemsNotInTraining) items not in training) -> \(testPath)")
        print("dropped for short histories: \(split.droppedTrainUsers) training users (< \(minTrainInteractions)), "
              + "\(split.droppedNewUsers) new users (< \(minNewInteractions))")
    }
}
