import Foundation
import Testing
@testable import MetaTL

/// Interaction files as real data comes: headers, columns by name or position, CSV/TSV/`::`,
/// extra columns, ISO 8601 times, and precise errors.
struct InteractionFileTests {
    func parse(_ text: String, columns: String? = nil) throws -> Interactions {
        try InteractionLog.parse(Array(text.utf8), name: "f.csv", columns: try columns.map { t throws(MetaTLError) in try InteractionColumns(parsing: t) })
    }

    func message(_ text: String, columns: String? = nil) -> String? {
        do { _ = try parse(text, columns: columns); return nil } catch let e as MetaTLError { return e.message } catch { return "\(error)" }
    }

    @Test func movieLensRatingsCSV() throws {
        let r = try parse("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n2,10,4.0,835355493\n")
        #expect(r.users == [1, 1, 2])
        #expect(r.items == [31, 1029, 10])
        #expect(r.timestamps == [1260759144, 1260759179, 835355493])
    }

    @Test func recBoleTypedHeader() throws {
        let r = try parse("user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
        #expect(r.users == [196, 186] && r.items == [242, 302] && r.timestamps == [881250949, 891717742])
        // Columns in another order, found by name.
        let s = try parse("timestamp:float\titem_id:token\tuser_id:token\n5\t7\t9\n")
        #expect(s.users == [9] && s.items == [7] && s.timestamps == [5])
    }

    @Test func headerNamesIgnoreCase() throws {
        let r = try parse("ReviewerID,ASIN,Time\n3,4,5\n")
        #expect(r.users == [3] && r.items == [4] && r.timestamps == [5])
        // Any three names, read as user, item, timestamp (as before).
        let s = try parse("a\tb\tc\n1\t2\t3\n")
        #expect(s.users == [1] && s.items == [2] && s.timestamps == [3])
    }

    @Test func movieLens1MDoubleColon() throws {
        let r = try parse("1::1193::5::978300760\n1::661::3::978302109\n")
        #expect(r.users == [1, 1] && r.items == [1193, 661] && r.timestamps == [978300760, 978302109])
    }

    @Test func columnsByNameAndPosition() throws {
        let text = "u,i,rating,when\n1,10,5,100\n2,20,4,200\n"
        let byName = try parse(text, columns: "u,i,when")
        #expect(byName.users == [1, 2] && byName.items == [10, 20] && byName.timestamps == [100, 200])
        let byPosition = try parse(text, columns: "0,1,3")
        #expect(byPosition == byName)
        let headerless = try parse("1,10,5,100\n2,20,4,200\n", columns: "0,1,3")
        #expect(headerless == byName)
        let mixed = try parse(text, columns: "0,i,3")
        #expect(mixed == byName)
    }

    @Test func isoDatesAndDateTimes() throws {
        let r = try parse("user,item,time\n1,2,2014-03-01\n1,3,2014-03-01T12:00:00Z\n1,4,2014-03-01 12:00:00+02:00\n1,5,1970-01-01T00:00:01.5\n1,6,2000-02-29T23:59\n")
        #expect(r.timestamps == [1393632000, 1393675200, 1393668000, 1.5, 951868740])
    }

    @Test func referenceFilesReadAsBefore() throws {
        let r = try parse("1\t1\t0\n1\t2\t1\n\n2\t3\t2\r\n")
        #expect(r.users == [1, 1, 2] && r.items == [1, 2, 3] && r.timestamps == [0, 1, 2])
        let c = try parse("\u{FEFF}user,item,timestamp\n1,1,0\n")
        #expect(c.users == [1])
    }

    /// Quoted fields as RFC 4180 writes them (pandas, R, Excel): delimiters, quotes and line
    /// breaks inside; a review's text spanning lines is skipped as one record, and later lines are
    /// still counted right.
    @Test func quotedFields() throws {
        let text = "reviewerID,asin,reviewText,unixReviewTime\n"
            + "\"A1, Jr.\",B001,\"Great, \"\"really\"\" great\nsecond line\",1400000000\n"
            + "A2,\"B,002\",plain,1400000001\n"
            + "A2,B003,\"\",1400000002\n"
        let r = try parse(text)
        #expect(r.userStrings?.strings == ["A1, Jr.", "A2"])
        #expect(r.itemStrings?.strings == ["B001", "B,002", "B003"])
        #expect(r.timestamps == [1400000000, 1400000001, 1400000002])
        // A quoted header; quoted numbers are numbers.
        let q = try parse("\"user\",\"item\",\"timestamp\"\n\"1\",\"2\",\"3\"\n")
        #expect(q.users == [1] && q.items == [2] && q.timestamps == [3] && q.itemStrings == nil)
        // Errors after a two-line record name the right line.
        #expect(message(text + "A3,B004,x,soon\n")?.contains("f.csv:6: field 'timestamp' (column unixReviewTime): expected a finite number, found 'soon'") == true)
        #expect(message(text + "A3,B004,\"never closed,1\n")?.contains("f.csv:6: a quoted field (\") is not closed before the end of the file") == true)
        #expect(message(text + "A3,\"B004\"x,y,1\n")?.contains("f.csv:6: text after a quoted field's closing quote") == true)
        // A quote inside an unquoted field is a character like any other.
        #expect(try parse("user,item,timestamp\n1,12\"x,3\n").itemStrings?.strings == ["12\"x"])
    }

    @Test func preciseErrors() throws {
        let ml = "userId,movieId,rating,timestamp\n"
        #expect(message(ml + "1,,4,1\n")?.contains("f.csv:2: field 'item' (column movieId): expected an id, found an empty field") == true)
        #expect(message(ml + "1,a\u{2060}b,4,1\n")?.contains(
            "f.csv:2: field 'item' (column movieId): expected an id of visible characters, found 'a\\xe2\\x81\\xa0b' (it holds U+2060)") == true)
        #expect(message(ml + "1,2,4\n")?.contains("f.csv:2: expected 4 fields separated by comma as in the header, found 3") == true)
        #expect(message(ml + "1,2,4,2014-13-01\n")?.contains(
            "f.csv:2: field 'timestamp' (column timestamp): expected an ISO 8601 date or date-time (2014-03-01, 2014-03-01T12:00:00Z), found '2014-13-01': month 13 is not 1...12") == true)
        #expect(message(ml + "1,2,4,2014-02-30\n")?.contains("day 30 is not in month 2 of 2014") == true)
        #expect(message(ml + "1,2,4,2014-02-03T25:00\n")?.contains("hour 25 is not 0...23") == true)
        #expect(message(ml + "1,2,4,soon\n")?.contains("f.csv:2: field 'timestamp' (column timestamp): expected a finite number, found 'soon'") == true)
        let m = message("a,b,rating,d\n1,2,3,4\n")
        #expect(m?.contains("f.csv:1: the header has no column for the user (user, user_id, userId, reviewerID, user_id:token)") == true, "\(m ?? "")")
        #expect(m?.contains("its columns are 'a', 'b', 'rating', 'd'") == true)
        #expect(message("user,user_id,item,time\n1,2,3,4\n")?.contains("the header has 2 columns that could be the user ('user', 'user_id')") == true)
        #expect(message("1,2,3,4\n")?.contains("f.csv:1: expected 3 fields (user, item, timestamp) separated by TAB or comma, found 4; a file with more columns needs a header line") == true)
        #expect(message("1,2,3\n", columns: "user,item,time")?.contains("f.csv:1: the user column is chosen by the name 'user', but the file has no header line") == true)
        #expect(message("u,i,t\n1,2,3\n", columns: "u,i,x")?.contains("f.csv:1: the header has no column named 'x' for the timestamp; its columns are 'u', 'i', 't'") == true)
        #expect(message("1,2,3\n", columns: "0,1,5")?.contains("f.csv:1: column 5 chosen for the timestamp (0-based), but the line has 3 fields separated by comma") == true)
        #expect(message("1\t2\t3\n1,2,3\n")?.contains("f.csv:2: expected 3 fields (user, item, timestamp) separated by TAB or comma, found 1 (the delimiter, from the first line, is TAB)") == true)
    }

    @Test func columnSpecErrors() {
        func m(_ t: String) -> String? {
            do { _ = try InteractionColumns(parsing: t); return nil } catch { return error.message }
        }
        #expect(m("user,item")?.contains("expected three comma-separated columns") == true)
        #expect(m("user,,time")?.contains("the item column is empty") == true)
        #expect(m("0,1,99999999999999999999")?.contains("too large") == true)
        #expect((try? InteractionColumns(parsing: " userId , 1 ,timestamp")) == InteractionColumns(user: .name("userId"), item: .position(1), time: .name("timestamp")))
    }

    @Test func timestampsAgreeWithFoundation() throws {
        let f = ISO8601DateFormatter()
        for text in ["1999-12-31T23:59:59Z", "2024-02-29T00:00:00Z", "1970-01-01T00:00:00Z", "2038-01-19T03:14:08Z", "1900-03-01T00:00:00Z"] {
            guard case .success(let v) = Timestamps.parseISO8601(text[...]) else { Issue.record("\(text) not parsed"); continue }
            #expect(v == f.date(from: text)?.timeIntervalSince1970, "\(text)")
        }
    }
}
