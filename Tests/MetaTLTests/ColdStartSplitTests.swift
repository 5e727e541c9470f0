import Foundation
import Testing
@testable import MetaTL

/// The cold-start split on a hand-made log with known answers.
struct ColdStartSplitTests {
    /// Users 1-3 start before 100, 4-6 at or after it. User 3 has 1 interaction, user 6 has 2;
    /// user 2's rows are out of time order in the log; user 1 also acts after the cut.
    let log = Interactions(
        users: [4, 1, 1, 2, 2, 3, 4, 4, 4, 5, 5, 5, 5, 6, 6, 1],
        items: [10, 10, 11, 12, 11, 13, 14, 11, 12, 10, 11, 15, 16, 10, 11, 12],
        timestamps: [100, 1, 2, 6, 5, 50, 101, 102, 103, 150, 151, 152, 153, 300, 301, 500])

    @Test func cutByTime() throws {
        let s = try ColdStartSplit(log, options: .init(cut: .time(100)))
        #expect(s.cutTime == 100)
        #expect(s.train.users == [1, 1, 1, 2, 2])
        #expect(s.train.items == [10, 11, 12, 11, 12])
        #expect(s.train.timestamps == [1, 2, 500, 5, 6])
        #expect(s.newUsers.users == [4, 4, 4, 4, 5, 5, 5, 5])
        #expect(s.newUsers.timestamps == [100, 101, 102, 103, 150, 151, 152, 153])
        #expect(s.trainUserCount == 2 && s.newUserCount == 2)
        #expect(s.droppedTrainUsers == 1 && s.droppedNewUsers == 1)   // user 3 (1 < 2), user 6 (2 < 4)
        #expect(s.newItemsNotInTraining == 3)                         // 14, 15, 16
    }

    @Test func cutByFraction() throws {
        // First times 1, 5, 50, 100, 150, 300: half new means the cut is 100.
        let half = try ColdStartSplit(log, options: .init(cut: .newUserFraction(0.5)))
        #expect(half.cutTime == 100 && half.newUserCount == 2 && half.trainUserCount == 2)
        // The default 0.2 of 6 users is 1 (user 6, too short): lower the minimum.
        let s = try ColdStartSplit(log, options: .init(minNewInteractions: 2))
        #expect(s.cutTime == 300 && s.newUsers.users == [6, 6])
        #expect(s.trainUserCount == 4 && s.droppedTrainUsers == 1)
        // Ties at the cut are all new: users 7 and 8 both start at 1000.
        var tied = log
        tied.users += [7, 7, 8, 8]; tied.items += [1, 2, 1, 2]; tied.timestamps += [1000, 1001, 1000, 1001]
        let t = try ColdStartSplit(tied, options: .init(cut: .newUserFraction(0.1), minNewInteractions: 2))
        #expect(t.cutTime == 1000 && t.newUserCount == 2)
    }

    @Test func minimumLengths() throws {
        let s = try ColdStartSplit(log, options: .init(cut: .time(100), minTrainInteractions: 1, minNewInteractions: 2))
        #expect(s.trainUserCount == 3 && s.newUserCount == 3 && s.droppedTrainUsers == 0 && s.droppedNewUsers == 0)
        let strict = try ColdStartSplit(log, options: .init(cut: .time(100), minTrainInteractions: 3))
        #expect(strict.train.users == [1, 1, 1] && strict.droppedTrainUsers == 2)
    }

    @Test func errors() {
        func m(_ options: ColdStartSplit.Options, _ l: Interactions? = nil) -> String? {
            do { _ = try ColdStartSplit(l ?? log, options: options, name: "log"); return nil } catch { return error.message }
        }
        #expect(m(.init(cut: .newUserFraction(1)))?.contains("the new-user fraction must be between 0 and 1") == true)
        #expect(m(.init(cut: .newUserFraction(0)))?.contains("the new-user fraction must be between 0 and 1") == true)
        #expect(m(.init(cut: .time(.nan)))?.contains("the cut time must be a finite number") == true)
        #expect(m(.init(cut: .time(0)))?.contains("log: no training user (first interaction before 0) has at least 2 interactions") == true)
        #expect(m(.init(cut: .time(1000)))?.contains("log: no new user (first interaction at or after 1000) has at least 4 interactions") == true)
        #expect(m(.init(minTrainInteractions: 0))?.contains("minTrainInteractions must be in 1...") == true)
        #expect(m(.init(), Interactions(users: [1], items: [1], timestamps: [1]))?.contains("only one user") == true)
        #expect(m(.init(), Interactions())?.contains("log: no interactions") == true)
        #expect(m(.init(), Interactions(users: [1], items: [], timestamps: []))?.contains("must have the same length") == true)
    }

    @Test func writesTheReferenceFilesWhichLoad() throws {
        let input = try temporaryFile("userId,movieId,rating,timestamp\n"
            + zip(log.users, zip(log.items, log.timestamps)).map { "\($0),\($1.0),4.5,\(Int($1.1))" }.joined(separator: "\n") + "\n",
            name: "ratings.csv")
        let s = try ColdStartSplit(file: input, options: .init(cut: .time(100)))
        let dir = (input as NSString).deletingLastPathComponent
        let train = dir + "/x_train.csv", test = dir + "/x_test_new_user.csv"
        try s.write(train: train, test: test)
        #expect(try String(contentsOfFile: train, encoding: .utf8) == "1\t10\t1\n1\t11\t2\n1\t12\t500\n2\t11\t5\n2\t12\t6\n")
        #expect(try String(contentsOfFile: test, encoding: .utf8).hasPrefix("4\t10\t100\n4\t14\t101\n"))
        let d = try Dataset(trainFile: train, testFile: test)
        #expect(d.trainUserCount == 2 && d.valid.count + d.test.count == 2 && d.itemsNotInTraining == 3)
        #expect(ColdStartSplit.format(1.5) == "1.5" && ColdStartSplit.format(-3) == "-3" && ColdStartSplit.format(1e300) == "1e+300")
        #expect(ColdStartSplit.time(parsing: "2014-03-01") == 1393632000 && ColdStartSplit.time(parsing: "12.5") == 12.5)
        #expect(ColdStartSplit.time(parsing: "soon") == nil && ColdStartSplit.time(parsing: "inf") == nil)
    }
}
