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
        #expect(message(Array("1\t10\t1\n".utf8) + Self.bom + Array("1\t11\t2\n".utf8))
                == ":2: field 'user': expected a non-negative integer id, found '\\xef\\xbb\\xbf1'")
        #expect(message(Array("1\t1é\t1\n".utf8)) == ":1: field 'item': expected a non-negative integer id, found '1\\xc3\\xa9'")
        #expect(message(Array("1\t1\u{7}\t1\n".utf8)) == ":1: field 'item': expected a non-negative integer id, found '1\\x07'")
        #expect(message(Array("1\t10\tnow\\n\n".utf8)) == ":1: field 'timestamp': expected a finite number, found 'now\\\\n'")
        // Long fields are cut, and say so.
        let long = String(repeating: "x", count: 100)
        #expect(message(Array("1\t\(long)\t1\n".utf8))
                == ":1: field 'item': expected a non-negative integer id, found '\(String(repeating: "x", count: 40))...' (100 bytes)")
        // Invalid UTF-8: where, and which byte.
        #expect(message(Array("1\t10\t1\n1\t1".utf8) + [0xFF] + Array("\t2\n".utf8))
                == ":2: not valid UTF-8 text (byte 4 is \\xff); expected user, item, timestamp")
    }

    /// A NUL byte in a field is shown as \x00: the message goes through a C string, where a raw
    /// NUL ended it ("found '1").
    @Test func aNulByteIsEscaped() {
        let m = message(Array("1\t10\t1\n1\t1".utf8) + [0] + Array("\t2\n".utf8))
        #expect(m == ":2: field 'item': expected a non-negative integer id, found '1\\x00'")
        #expect(!m.contains("\u{0}"))
    }
}
