import Foundation
import Testing
@testable import MetaTL

/// Writes `text` to a fresh temporary file and returns its path.
func temporaryFile(_ text: String, name: String = "data.csv") throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

/// A small valid pair of files: 3 training users, 4 new users with more than K = 3 items.
let smallTrain = """
1\t10\t1
1\t11\t2
1\t12\t3
1\t13\t4
2\t11\t1
2\t12\t2
2\t14\t3
3\t10\t5
3\t14\t6

"""
let smallTest = """
7\t10\t1
7\t11\t2
7\t12\t3
7\t13\t4
8\t12\t1
8\t13\t2
8\t14\t3
8\t10\t4
9\t11\t1
9\t10\t2
9\t12\t3
9\t99\t4
10\t13\t1
10\t10\t2
10\t11\t3
10\t14\t4
"""

@Suite("Data loading")
struct DataLoadingTests {
    func load(train: String = smallTrain, test: String = smallTest, K: Int = 3, seed: UInt64 = 1) throws -> Dataset {
        try Dataset(trainFile: try temporaryFile(train, name: "x_train.csv"), testFile: try temporaryFile(test, name: "x_test_new_user.csv"),
                    K: K, seed: seed)
    }

    /// The message of the error thrown by `body`, or nil if it did not throw.
    func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let e as MetaTLError { return e.message } catch { return "\(error)" }
    }

    @Test func readsTheReferenceFormat() throws {
        let d = try load()
        #expect(d.itemCount == 6)                    // 10, 11, 12, 13, 14, 99
        #expect(d.itemsNotInTraining == 1)           // 99 only occurs among new users
        #expect(d.trainUserCount == 3)
        #expect(d.valid.count + d.test.count == 4)
        #expect(d.itemIDs == [-1, 10, 11, 12, 13, 14, 99])
        #expect(d.row(ofItem: 99) == 6)
    }

    @Test func acceptsCommasAHeaderAndCRLF() throws {
        let tabbed = try load()
        let train = "user,item,timestamp\r\n" + smallTrain.replacingOccurrences(of: "\t", with: ",").replacingOccurrences(of: "\n", with: "\r\n")
        let commas = try load(train: train)
        #expect(commas.trainItems == tabbed.trainItems)
        #expect(commas.itemIDs == tabbed.itemIDs)
    }

    @Test func ordersEachUserByTimestampKeepingFileOrderOnTies() throws {
        let train = "5\t3\t30\n5\t1\t10\n5\t2\t20\n5\t4\t20\n6\t1\t1\n6\t2\t2\n"
        let d = try load(train: train, test: smallTest)
        let ids = d.trainItems[d.trainOffsets[0]..<d.trainOffsets[1]].map { d.itemIDs[Int($0)] }
        #expect(ids == [1, 2, 4, 3])
    }

    @Test func hugeIdsMapToDenseRows() throws {
        let big = Int64.max
        let train = "1\t\(big)\t1\n1\t5\t2\n1\t\(big - 1)\t3\n"
        let test = "9\t\(big)\t1\n9\t5\t2\n9\t\(big - 1)\t3\n9\t5\t4\n"
        let d = try load(train: train, test: test)
        #expect(d.itemCount == 3)
        #expect(d.row(ofItem: big) == 3)
    }

    @Test func theSplitFollowsTheSeed() throws {
        var users = ""
        for u in 1...200 { for t in 0..<5 { users += "\(u)\t\(10 + (u + t) % 5)\t\(t)\n" } }
        let a = try load(test: users, seed: 3), b = try load(test: users, seed: 3), c = try load(test: users, seed: 4)
        #expect(a.valid.userIDs == b.valid.userIDs)
        #expect(a.valid.negatives == b.valid.negatives)
        #expect(a.valid.userIDs != c.valid.userIDs)
        #expect(a.valid.count + a.test.count == 200)
        // About 30% go to validation.
        #expect(a.valid.count > 40 && a.valid.count < 80)
    }

    @Test func evaluationCandidatesAvoidTheInputsAndTheTarget() throws {
        let d = try load()
        for users in [d.valid, d.test] {
            for u in 0..<users.count {
                let inputs = Set(users.inputs[(u * 3)..<(u * 3 + 3)])
                let negatives = users.negatives[(u * 100)..<(u * 100 + 100)]
                #expect(negatives.allSatisfy { !inputs.contains($0) && $0 != users.targets[u] && $0 >= 1 })
                #expect(users.supportNegatives[(u * 2)..<(u * 2 + 2)].allSatisfy { !inputs.contains($0) && $0 >= 1 })
            }
        }
    }

    // MARK: Malformed input: each class gets a clear error naming the file, line and problem.

    @Test func wrongColumnCount() throws {
        let m = message { _ = try load(train: "1\t10\t1\n1\t11\n") }
        #expect(m?.contains("x_train.csv:2: expected 3 fields (user, item, timestamp) separated by TAB or comma, found 2") == true, "\(m ?? "no error")")
    }

    /// An id that is not a non-negative integer makes its column string ids (in both files),
    /// each kept exactly as written.
    @Test func nonNumericIdsAreStringIDs() throws {
        let d = try load(train: "1\t10\t1\n1\tabc\t2\n2\t007\t1\n2\t10\t2\n")
        let items = try #require(d.itemStrings)
        #expect(items.strings.contains("abc") && items.strings.contains("007") && items.strings.contains("10"))
        #expect(d.userStrings == nil)
        let u = try load(test: "x7\t10\t1\nx7\t11\t2\nx7\t12\t3\nx7\t13\t4\n")
        #expect(u.userStrings?.strings.contains("x7") == true && u.userStrings?.strings.contains("1") == true)
    }

    @Test func negativeIdsAreStringIDs() throws {
        let d = try load(train: "1\t10\t1\n-4\t11\t2\n-4\t12\t3\n")
        #expect(d.userStrings?.strings.contains("-4") == true)
    }

    @Test func badTimestamp() throws {
        let m = message { _ = try load(train: "1\t10\tyesterday\n") }
        #expect(m?.contains("x_train.csv:1: field 'timestamp': expected a finite number, found 'yesterday'") == true, "\(m ?? "no error")")
    }

    @Test func emptyFile() throws {
        let m = message { _ = try load(train: "") }
        #expect(m?.contains("x_train.csv: no interactions (the file is empty or holds only a header)") == true, "\(m ?? "no error")")
        let h = message { _ = try load(test: "user\titem\ttimestamp\n\n") }
        #expect(h?.contains("x_test_new_user.csv: no interactions") == true, "\(h ?? "no error")")
    }

    @Test func noEligibleUsers() throws {
        let m = message { _ = try load(test: "7\t10\t1\n7\t11\t2\n7\t12\t3\n") }
        #expect(m?.contains("no new user has more than K = 3 interactions") == true, "\(m ?? "no error")")
    }

    @Test func noTrainableUser() throws {
        let m = message { _ = try load(train: "1\t10\t1\n2\t11\t2\n") }
        #expect(m?.contains("no training user has at least 2 interactions") == true, "\(m ?? "no error")")
    }

    @Test func missingFile() throws {
        do {
            _ = try Dataset(trainFile: "/nonexistent/metatl_train.csv", testFile: "/nonexistent/t.csv")
            Issue.record("no error")
        } catch {
            #expect(error.kind == .fileNotFound)
            #expect(error.message == "/nonexistent/metatl_train.csv: no such file")
        }
    }

    @Test func mismatchedArrays() throws {
        let rows = Interactions(users: [1, 1], items: [2], timestamps: [0, 1])
        #expect(throws: MetaTLError.self) { _ = try Dataset(train: rows, test: rows) }
    }
}
