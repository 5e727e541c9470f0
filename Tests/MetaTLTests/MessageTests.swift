import Foundation
import Testing
@testable import MetaTL

/// Messages that say what is wrong, whole and visible (issue 12, point 10).
@Suite("Messages")
struct MessageTests {
    func load(train: [UInt8], test: String = smallTest) throws -> Dataset {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("metatl-messages-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let url = dir.appendingPathComponent("m_train.csv")
        try Data(train).write(to: url)
        return try Dataset(trainFile: url.path, testFile: try temporaryFile(test, name: "m_test.csv"))
    }

    /// The message of loading `train`, from ":LINE:" on (the folder is random).
    func message(_ train: [UInt8]) -> String {
        do { _ = try load(train: train); return "loaded" } catch let e as MetaTLError {
            guard let r = e.message.range(of: "m_train.csv") else { return e.message }
            return String(e.message[r.upperBound...])
        } catch { return "\(error)" }
    }

    static let bom: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// A UTF-8 byte-order mark at the start of a file (Excel and Notepad write one) is skipped, as
    /// Python's utf-8-sig and CSV readers do; it used to be reported as "found '1'".
    @Test func aLeadingByteOrderMarkIsSkipped() throws {
        let plain = try load(train: Array(smallTrain.utf8))
        let marked = try load(train: Self.bom + Array(smallTrain.utf8))
        #expect(marked.trainItems == plain.trainItems && marked.itemIDs == plain.itemIDs)
        // With a header line after it, and CRLF line ends.
        let header = "user,item,timestamp\r\n" + smallTrain.replacingOccurrences(of: "\t", with: ",").replacingOccurrences(of: "\n", with: "\r\n")
        let both = try load(train: Self.bom + Array(header.utf8))
        #expect(both.trainItems == plain.trainItems)
        // A file that is only the mark is empty.
        #expect(message(Self.bom) == ": no interactions (the file is empty or holds only a header)")
    }

    /// Anywhere else, bytes that are not printable ASCII are shown by their value.
    @Test func invisibleAndNonASCIIBytesAreShownEscaped() {
        // A byte-order mark inside the file is an invisible character in a string id.
        #expect(message(Array("1\t10\t1\n".utf8) + Self.bom + Array("1\t11\t2\n".utf8))
                == ":2: field 'user': expected an id of visible characters, found '\\xef\\xbb\\xbf1' (it holds U+FEFF)")
        #expect(message(Array("1\t10\t1é\n".utf8)) == ":1: field 'timestamp': expected a finite number, found '1\\xc3\\xa9'")
        #expect(message(Array("1\t1\u{7}\t1\n".utf8)) == ":1: field 'item': expected an id of visible characters, found '1\\x07' (it holds U+0007)")
        #expect(message(Array("1\t10\tnow\\n\n".utf8)) == ":1: field 'timestamp': expected a finite number, found 'now\\\\n'")
        // Long fields are cut, and say so.
        let long = String(repeating: "x", count: 100)
        #expect(message(Array("1\t10\t\(long)\n".utf8))
                == ":1: field 'timestamp': expected a finite number, found '\(String(repeating: "x", count: 40))...' (100 bytes)")
        // Invalid UTF-8: where, and which byte.
        #expect(message(Array("1\t10\t1\n1\t1".utf8) + [0xFF] + Array("\t2\n".utf8))
                == ":2: not valid UTF-8 text (byte 4 is \\xff); expected user, item, timestamp")
    }

    /// A NUL byte in a field is shown as \x00: the message goes through a C string, where a raw
    /// NUL ended it ("found '1").
    @Test func aNulByteIsEscaped() {
        let m = message(Array("1\t10\t1\n1\t1".utf8) + [0] + Array("\t2\n".utf8))
        #expect(m == ":2: field 'item': expected an id of visible characters, found '1\\x00' (it holds U+0000)")
        #expect(!m.contains("\u{0}"))
    }

    /// A model and a dataset of different vocabularies: how many items differ, and which.
    @Test func aVocabularyMismatchSaysWhatDiffers() throws {
        func rows(_ items: [Int64]) -> Interactions {
            var r = Interactions()
            for (i, item) in items.enumerated() { r.users.append(Int64(i / 4)); r.items.append(item); r.timestamps.append(Double(i)) }
            return r
        }
        let ids = Array(Int64(100)..<140)
        let data = try Dataset(train: rows(ids), test: rows(ids))
        var c = Configuration(); c.dim = 4; c.hidden1 = 6; c.hidden2 = 5; c.batchSize = 8
        let model = try MetaTLModel(configuration: c, dataset: data)
        func mismatch(_ other: [Int64]) throws -> String {
            let d = try Dataset(train: rows(other), test: rows(other))
            do { try model.train(on: d, steps: 1); return "trained" } catch { return error.message }
        }
        // Same count, different items: the count alone said "(40 items) differs from (40 items)".
        #expect(try mismatch(Array(100..<138) + [140, 141]) ==
                "the dataset's item vocabulary differs from the model's: 2 of the model's 40 items are not in the dataset (138, 139), "
                + "and 2 of the dataset's 40 items are not in the model (140, 141)")
        #expect(try mismatch(Array(100..<130)) ==
                "the dataset's item vocabulary differs from the model's: 10 of the model's 40 items are not in the dataset (130, 131, 132, 133, 134, ...)")
        #expect(try mismatch(ids + [7]) ==
                "the dataset's item vocabulary differs from the model's: 1 of the dataset's 41 items is not in the model (7)")
        // Evaluation checks the same.
        let other = try Dataset(train: rows(Array(100..<138) + [140, 141]), test: rows(Array(100..<138) + [140, 141]))
        do { _ = try model.evaluate(on: other, split: .test, protocol: .full); Issue.record("evaluated") } catch {
            #expect(error.message.contains("2 of the model's 40 items are not in the dataset (138, 139)"), "\(error.message)")
        }
    }

    /// The same items in another row order (a checkpoint written elsewhere) are not the same
    /// vocabulary either: the first differing row says so.
    @Test func aVocabularyInAnotherOrderNamesTheFirstDifference() throws {
        let m = Dataset.vocabularyDifference(dataset: try Vocabulary(items: [10, 11, 12, 13]), model: try Vocabulary(items: [10, 12, 11, 13]))
        #expect(m == "the dataset's item vocabulary differs from the model's: the same 4 items in another order "
                + "(row 2 holds item 11 in the dataset, 12 in the model)")
    }
}
