import Foundation
import Testing
@testable import MetaTL

/// String ids: read as written, numbered by the ids alone, saved with the model, matched by text.
@Suite struct StringIDTests {
    /// The synthetic data with every id written as a string: users `U<n>`, items `I<n>` (and
    /// items divisible by 7 as zero-padded digits, as ISBN-style ASINs are).
    static func stringRows() throws -> (train: Interactions, test: Interactions) {
        var g = SyntheticData()
        g.side = 8
        g.trainUsers = 300
        g.newUsers = 150
        let (train, test) = g.generate()
        func named(_ rows: Interactions) throws -> Interactions {
            let userNames = Array(Set(rows.users)).sorted().map { "U\($0)" }
            let itemNames = Array(Set(rows.items)).sorted().map { $0 % 7 == 0 ? String(format: "%010lld", $0) : "I\($0)" }
            let userCode = Dictionary(uniqueKeysWithValues: Array(Set(rows.users)).sorted().enumerated().map { ($1, Int64($0)) })
            let itemCode = Dictionary(uniqueKeysWithValues: Array(Set(rows.items)).sorted().enumerated().map { ($1, Int64($0)) })
            return Interactions(users: rows.users.map { userCode[$0]! }, items: rows.items.map { itemCode[$0]! },
                                timestamps: rows.timestamps, userStrings: try StringIDs(userNames), itemStrings: try StringIDs(itemNames))
        }
        return (try named(train), try named(test))
    }

    static func text(_ rows: Interactions) -> String {
        (0..<rows.count).map { "\(Interactions.text(rows.users[$0], rows.userStrings))\t\(Interactions.text(rows.items[$0], rows.itemStrings))\t\(Int(rows.timestamps[$0]))\n" }.joined()
    }

    static func configuration() -> Configuration {
        var c = Configuration()
        c.dim = 8
        c.hidden1 = 8
        c.hidden2 = 8
        c.batchSize = 32
        c.threads = 1
        return c
    }

    /// A column becomes strings at its first id that is not a non-negative integer, and the ids
    /// before it keep their text: `0205616461` is an ASIN, not 205616461.
    @Test func leadingZerosAndTextAreKept() throws {
        let rows = try InteractionLog.parse(Array("1\t0205616461\t1\n1\t7\t2\n2\tB00004U9V2\t3\n".utf8), name: "f")
        let items = try #require(rows.itemStrings)
        #expect(rows.items.map { items[$0] } == ["0205616461", "7", "B00004U9V2"])
        #expect(rows.userStrings == nil && rows.users == [1, 1, 2])
        // Read as strings on request.
        let forced = try InteractionLog.parse(Array("1\t007\t1\n".utf8), name: "f", strings: [.users, .items])
        #expect(forced.itemStrings?.strings == ["007"] && forced.userStrings?.strings == ["1"])
        // Integer files are read as before.
        let plain = try InteractionLog.parse(Array("1\t007\t1\n".utf8), name: "f")
        #expect(plain.itemStrings == nil && plain.items == [7])
    }

    /// A dataset numbers string ids in their sorted order (UTF-8 bytes): the same rows in
    /// another order, or coded another way, give the same dataset and the same model.
    @Test func codesDependOnTheIdsAlone() throws {
        let (train, test) = try Self.stringRows()
        let a = try Dataset(train: train, test: test)
        // Reversed rows and reversed codes.
        func shuffled(_ r: Interactions) throws -> Interactions {
            let n = try #require(r.itemStrings).count, m = try #require(r.userStrings).count
            let items = try StringIDs(Array(r.itemStrings!.strings.reversed())), users = try StringIDs(Array(r.userStrings!.strings.reversed()))
            let order = Array((0..<r.count).reversed())
            return Interactions(users: order.map { Int64(m - 1) - r.users[$0] }, items: order.map { Int64(n - 1) - r.items[$0] },
                                timestamps: order.map { r.timestamps[$0] }, userStrings: users, itemStrings: items)
        }
        let b = try Dataset(train: shuffled(train), test: shuffled(test))
        let strings = try #require(a.itemStrings)
        #expect(strings == b.itemStrings && a.userStrings == b.userStrings)
        #expect(strings.strings == strings.strings.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(a.test.userIDs == b.test.userIDs && a.test.inputs == b.test.inputs)
        let ma = try MetaTLModel(configuration: Self.configuration(), dataset: a)
        let mb = try MetaTLModel(configuration: Self.configuration(), dataset: b)
        _ = try ma.train(on: a, steps: 3)
        _ = try mb.train(on: b, steps: 3)
        #expect(try ma.checkpointBytes() == mb.checkpointBytes())
    }

    /// One file's string column makes the other file's the same column strings too, read again
    /// so that its ids keep their text.
    @Test func aStringColumnInOneFileIsStringsInTheOther() throws {
        let train = try temporaryFile("1\t007\t1\n1\t8\t2\n2\t8\t1\n2\t007\t2\n", name: "s_train.csv")
        let test = try temporaryFile("9\tB1\t1\n9\t007\t2\n9\t8\t3\n9\tB1\t4\n", name: "s_test.csv")
        let d = try Dataset(trainFile: train, testFile: test)
        #expect(d.itemStrings?.strings == ["007", "8", "B1"])
        #expect(d.userStrings == nil)
    }

    /// The checkpoint keeps the strings: a loaded model serves and evaluates exactly as the saved
    /// one; a model of other strings (the same count) does not fit the dataset.
    @Test func theCheckpointKeepsTheStrings() throws {
        let (train, test) = try Self.stringRows()
        let d = try Dataset(train: train, test: test)
        let m = try MetaTLModel(configuration: Self.configuration(), dataset: d)
        _ = try m.train(on: d, steps: 5)
        let loaded = try MetaTLModel.load(checkpoint: try m.checkpointBytes())
        #expect(loaded.itemStrings == d.itemStrings)
        let strings = try #require(loaded.itemStrings)
        let history = try ["I1", "I2", "I3"].map { try #require(strings.code(of: $0)) }
        let a = try m.recommend(history: history, topN: 5), b = try loaded.recommend(history: history, topN: 5)
        #expect(a.map(\.item) == b.map(\.item) && a.map(\.score) == b.map(\.score))
        #expect(try loaded.evaluate(on: d, split: .test, protocol: .full) == m.evaluate(on: d, split: .test, protocol: .full))
        // Same item count, ids 0..<n, other strings: not the same vocabulary.
        var other = train
        other.itemStrings = try StringIDs(strings.strings.map { "X" + $0 })
        var otherTest = test
        otherTest.itemStrings = other.itemStrings
        let e = try Dataset(train: other, test: otherTest)
        #expect(e.itemCount == d.itemCount)
        #expect(throws: MetaTLError.self) { _ = try loaded.evaluate(on: e, split: .test, protocol: .full) }
    }

    /// A cohort for a model of string ids: items matched by text (read as strings, `0000000007`
    /// stays that), unknown ones skipped and counted.
    @Test func aCohortIsMatchedByText() throws {
        let (train, test) = try Self.stringRows()
        let d = try Dataset(train: train, test: test)
        let m = try MetaTLModel(configuration: Self.configuration(), dataset: d)
        var cohort = Self.text(test)
        cohort += "U9999\tNEW-ITEM\t1\nU9999\tI1\t2\nU9999\t0000000007\t3\nU9999\tI2\t4\nU9999\tI3\t5\n"
        let trainPath = try temporaryFile(Self.text(train), name: "c_train.csv"), testPath = try temporaryFile(cohort, name: "c_test.csv")
        let c = try Dataset(trainFile: trainPath, testFile: testPath, vocabularyOf: m)
        #expect(c.unknownInteractions == 1)
        #expect(c.itemStrings == d.itemStrings)
        _ = try m.evaluate(on: c, split: .test, protocol: .full)
        do {
            _ = try Dataset(trainFile: trainPath, testFile: testPath, vocabularyOf: m, unknownItems: .fail)
            Issue.record("loaded")
        } catch {
            #expect(error.kind == .unknownItem)
            #expect(error.message.contains("field 'item': item id NEW-ITEM is not in the model's vocabulary"), "\(error.message)")
        }
    }

    /// The split writes string ids as they are; read back they are the same; one that the
    /// format cannot hold is an error.
    @Test func theSplitWritesStringIDs() throws {
        let (train, test) = try Self.stringRows()
        var log = train
        let n = Int64(try #require(train.userStrings).count)
        log.users += test.users.map { $0 + n }
        log.items += test.items
        log.timestamps += test.timestamps.map { $0 + 1000 }
        log.userStrings = try StringIDs(train.userStrings!.strings + test.userStrings!.strings)
        let split = try ColdStartSplit(log, options: .init(cut: .time(1000)))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-split-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let a = dir.appendingPathComponent("a.csv").path, b = dir.appendingPathComponent("b.csv").path
        try split.write(train: a, test: b)
        let d = try Dataset(trainFile: a, testFile: b)
        #expect(d.itemStrings == (try Dataset(train: train, test: test)).itemStrings)
        #expect(try String(contentsOfFile: a, encoding: .utf8).contains("\t0000000007\t"))
        var bad = log
        bad.itemStrings = try StringIDs(log.itemStrings!.strings.enumerated().map { $0.offset == 0 ? "a b " : $0.element })
        do { try ColdStartSplit(bad, options: .init(cut: .time(1000))).write(train: a, test: b); Issue.record("written") } catch {
            #expect(error.message.contains("surrounding whitespace"), "\(error.message)")
        }
    }

    /// Tables refuse what they cannot hold: duplicates (by bytes: precomposed é and e + U+0301 are
    /// two ids), empty or invisible strings, bad offsets.
    @Test func tablesAreChecked() throws {
        #expect(throws: MetaTLError.self) { _ = try StringIDs(["a", "a"]) }
        #expect(throws: MetaTLError.self) { _ = try StringIDs(["a", ""]) }
        #expect(throws: MetaTLError.self) { _ = try StringIDs(["a\u{0}"]) }
        #expect(throws: MetaTLError.self) { _ = try StringIDs(bytes: Array("ab".utf8), offsets: [0, 3]) }
        #expect(throws: MetaTLError.self) { _ = try StringIDs(bytes: Array("ab".utf8), offsets: [0, 2, 1]) }
        #expect(throws: MetaTLError.self) { _ = try StringIDs(bytes: [0xFF], offsets: [0, 1]) }
        let accents = try StringIDs(["\u{E9}", "e\u{301}"])
        #expect(accents.count == 2 && accents.code(of: "e\u{301}") == 1)
        #expect(StringIDs.sortedDistinct(["b", "a", "b", "\u{E9}", "e\u{301}"]).count == 4)
    }
}
