import Foundation

/// Interaction rows (user, item, timestamp) in file order, external ids.
///
/// Ids are non-negative integers, or, for a column with ``userStrings`` or ``itemStrings``,
/// codes into that table of string ids (0..<count).
public struct Interactions: Sendable, Equatable {
    public var users: [Int64]
    public var items: [Int64]
    public var timestamps: [Double]
    /// The users' string ids, when they are strings: `users` then holds their codes.
    public var userStrings: StringIDs?
    /// The items' string ids, when they are strings: `items` then holds their codes.
    public var itemStrings: StringIDs?

    public init(users: [Int64] = [], items: [Int64] = [], timestamps: [Double] = [],
                userStrings: StringIDs? = nil, itemStrings: StringIDs? = nil) {
        self.users = users
        self.items = items
        self.timestamps = timestamps
        self.userStrings = userStrings
        self.itemStrings = itemStrings
    }

    public var count: Int { users.count }

    /// The columns that hold string ids.
    var stringColumns: StringColumns {
        var c: StringColumns = []
        if userStrings != nil { c.insert(.users) }
        if itemStrings != nil { c.insert(.items) }
        return c
    }

    /// The first problem with the rows, if any: lengths that differ, an id that is negative (or,
    /// for string ids, not a code of the table), a time that is not finite.
    func problem(name: String) -> MetaTLError? {
        guard items.count == users.count && timestamps.count == users.count else {
            return .invalidArgument("\(name): users, items and timestamps must have the same length (got \(users.count), \(items.count), \(timestamps.count))")
        }
        for (ids, strings, role) in [(users, userStrings, "user"), (items, itemStrings, "item")] {
            if let strings {
                if let i = ids.firstIndex(where: { $0 < 0 || $0 >= Int64(strings.count) }) {
                    return .invalidData("\(name): row \(i + 1): field '\(role)': expected a code of the \(strings.count) string ids (0..<\(strings.count)), found \(ids[i])")
                }
            } else if let i = ids.firstIndex(where: { $0 < 0 }) {
                return .invalidData("\(name): row \(i + 1): field '\(role)': expected a non-negative integer id, found \(ids[i])")
            }
        }
        if let i = timestamps.firstIndex(where: { !$0.isFinite }) {
            return .invalidData("\(name): row \(i + 1): field 'timestamp': expected a finite number, found \(timestamps[i])")
        }
        return nil
    }

    /// The id of row `i`'s user or item as text: the string id, or the integer in decimal.
    static func text(_ id: Int64, _ strings: StringIDs?) -> String { strings?[id] ?? String(id) }
}

/// Which columns of an interaction file hold the user, the item and the time: by header name
/// or by 0-based position (`"user,item,timestamp"`, `"userId,movieId,timestamp"`, `"0,1,3"`).
public struct InteractionColumns: Sendable, Equatable {
    public enum Column: Sendable, Equatable {
        /// A header's name (matched exactly, then ignoring case, then without a RecBole `:type`).
        case name(String)
        /// A 0-based position.
        case position(Int)
    }

    public var user: Column
    public var item: Column
    public var time: Column

    public init(user: Column, item: Column, time: Column) {
        self.user = user
        self.item = item
        self.time = time
    }

    /// Three comma-separated entries, user, item, time, each a header name or a 0-based position.
    public init(parsing text: String) throws(MetaTLError) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 3 else {
            throw .invalidArgument("columns '\(MessageText.shown(text.utf8, limit: 80))': expected three comma-separated columns, "
                                   + "user,item,timestamp (header names or 0-based positions), found \(parts.count)")
        }
        var picked: [Column] = []
        for (part, role) in zip(parts, ["user", "item", "timestamp"]) {
            guard !part.isEmpty else {
                throw .invalidArgument("columns '\(MessageText.shown(text.utf8, limit: 80))': the \(role) column is empty")
            }
            if part.allSatisfy({ $0.isASCII && $0.isNumber }) {
                guard let p = Int(part), p < 1 << 20 else {
                    throw .invalidArgument("columns: the \(role) column's position \(MessageText.shown(part.utf8, limit: 40)) is too large")
                }
                picked.append(.position(p))
            } else {
                picked.append(.name(part))
            }
        }
        self.init(user: picked[0], item: picked[1], time: picked[2])
    }

    /// The names a header's user column is found by (ignoring case; RecBole's `user_id:token`
    /// is `user_id` with its type).
    public static let userNames = ["user", "user_id", "userId", "reviewerID", "user_id:token"]
    public static let itemNames = ["item", "item_id", "movieId", "asin", "item_id:token"]
    public static let timeNames = ["timestamp", "time", "ts", "timestamp:float", "unixReviewTime"]
}

extension Interactions {
    /// Reads an interaction file as ``InteractionLog`` describes: the reference's
    /// `user<TAB>item<TAB>timestamp`, or CSV/TSV with a header naming the columns.
    ///
    /// A column whose ids are all non-negative integers is read as integers, any other as string
    /// ids (``userStrings``, ``itemStrings``, codes in the order the strings first appear);
    /// `strings` reads those columns as strings whatever they hold (`007` stays `007`).
    public static func read(path: String, columns: InteractionColumns? = nil, strings: StringColumns = [],
                            maxFileBytes: Int = Dataset.defaultMaxFileBytes) throws(MetaTLError) -> Interactions {
        guard maxFileBytes >= 1 else { throw .invalidArgument("maxFileBytes must be at least 1 (got \(maxFileBytes))") }
        return try InteractionLog.read(path: path, maxBytes: maxFileBytes, columns: columns, strings: strings)
    }
}

/// Reads interaction files: one interaction per line, user, item and time.
///
/// - The delimiter is found from the first line: TAB if it holds one, else `::` (MovieLens-1M's
///   `ratings.dat`) if it holds that, else a comma; every line then has as many fields as the
///   first.
/// - A first line none of whose fields is a number or a date (and one of which starts with a
///   letter or `_`) is a header. Its columns are found by name (``InteractionColumns/userNames``,
///   ``InteractionColumns/itemNames``, ``InteractionColumns/timeNames``, ignoring case, RecBole's
///   typed `name:type` headers included); other columns (a rating) are ignored. A header of
///   three other names is read as user, item, timestamp, as before.
/// - Without a header a line holds user, item, timestamp (MovieLens-1M's four `::` fields are
///   user, item, rating, timestamp).
/// - ``InteractionColumns`` chooses the columns instead, by name or 0-based position.
/// - Ids are non-negative integers, or strings: a column with one id that is not a non-negative
///   integer is read again as strings (whitespace around a field is not part of it; an empty id
///   is an error); the time is any finite number, or an ISO 8601 date or
///   date-time (`2014-03-01`, `2014-03-01T12:00:00Z`, `2014-03-01 12:00:00+02:00`), converted to
///   seconds since 1970-01-01 UTC (a time without a zone is UTC).
/// - Fields may be quoted as RFC 4180 says (`"Smith, J."`, `"say ""hi"""`), and a quoted field may
///   hold delimiters and line breaks (a review's text); a record may be up to 1 MiB.
/// - Blank lines are skipped, and so is a UTF-8 byte-order mark at the start of the file (as
///   Python's utf-8-sig and CSV readers do: Excel and Notepad write one).
///
/// Every problem is reported with the file, the line, the field and what was expected; text
/// from the file is shown with ``shown(_:)``, so that no byte is invisible or cuts the message.
enum InteractionLog {
    /// Longest record (line, or lines when a quoted field holds line breaks) accepted: 1 MiB. A
    /// record holds a user, an item and a time, and perhaps other columns (a review's text);
    /// anything longer is not this format, and a binary file cannot make one record of gigabytes.
    static let maxLineBytes = 1 << 20

    /// The default largest data file, in bytes: 4 GiB.
    ///
    /// Real files are far smaller (the reference's Amazon Beauty files are 1.2 and 2.7 MB;
    /// MovieLens-25M's 25 million ratings would be about 0.6 GB in this format, Netflix's 100
    /// million about 2.4 GB). Loading costs about twice a file's size at its peak (its bytes, then
    /// a 24-byte row per line of ~24 bytes; measured: 0.4 GB peak for a 200 MB file of 8.3
    /// million lines), so even two files at the limit stay near 16 GB, within a 24 GB machine
    /// (only files of nothing but 6-byte lines, 4x the rows per byte, would cost more). Beyond
    /// it, a file is refused, and a pipe that never ends (`yes > fifo`) stops with an error
    /// instead of taking memory without bound.
    static let defaultMaxFileBytes = 4 << 30

    /// Reads and parses a file (a regular file or a pipe) of at most `maxBytes` bytes. Memory is
    /// linear in the file's size: each line of at least 6 bytes becomes one 24-byte row, and ids
    /// are kept as given (mapped to rows later through a dictionary), so their magnitude never
    /// matters.
    static func read(path: String, maxBytes: Int = defaultMaxFileBytes, columns: InteractionColumns? = nil,
                     strings: StringColumns = []) throws(MetaTLError) -> Interactions {
        let raise = "maxFileBytes (C: mt_dataset_options.max_file_bytes with mt_dataset_load; metatl: --max-file-bytes)"
        let bytes = try InputFile(path: path, allowPipes: true).readAll(limit: maxBytes, raise: raise)
        return try parse(bytes, name: path, columns: columns, strings: strings)
    }

    /// A column of string ids being read: each new string gets the next code.
    struct Interner {
        var codeOf: [ExactString: Int64] = [:]
        var strings: [String] = []
        mutating func code(_ text: Substring) -> Int64 {
            let key = ExactString(String(text))
            if let c = codeOf[key] { return c }
            let c = Int64(strings.count)
            codeOf[key] = c
            strings.append(key.string)
            return c
        }
    }

    /// Parses a file's bytes. Integer columns are the fast path: the first id of a column that
    /// is not a non-negative integer starts the parse again with that column read as strings
    /// (the ids before it must keep their text: `0205616461` is an ASIN, not 205616461).
    static func parse(_ data: [UInt8], name: String, columns: InteractionColumns? = nil,
                      strings: StringColumns = []) throws(MetaTLError) -> Interactions {
        var asStrings = strings
        while true {
            switch try parseOnce(data, name: name, columns: columns, strings: asStrings) {
            case .rows(let rows): return rows
            case .readAsStrings(let more): asStrings.formUnion(more)
            }
        }
    }

    enum Parsed { case rows(Interactions), readAsStrings(StringColumns) }

    /// The UTF-8 encoding of U+FEFF, skipped at the start of a file.
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    /// Longest piece of a field shown in a message, in bytes.
    static let shownBytes = 40

    /// Text from a file as a message shows it (``MessageText``), at most ``shownBytes`` bytes of it.
    static func shown(_ text: Substring) -> String { MessageText.shown(text.utf8, limit: shownBytes) }

    /// ``shown(_:)`` in quotes, saying how long the text was when it was cut.
    static func quoted(_ text: Substring) -> String {
        let n = text.utf8.count
        return n > shownBytes ? "'\(shown(text))...' (\(n) bytes)" : "'\(shown(text))'"
    }

    /// The 1-based position and the value of the first byte that is not valid UTF-8.
    static func firstInvalidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> (column: Int, byte: UInt8) {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return (offset + 1, 0)
            case .error: return (offset + 1, offset < bytes.count ? bytes[offset] : 0)
            }
        }
    }

    /// How one file's lines are read, settled by its first line.
    struct Layout {
        /// The field delimiter: TAB, comma or `::`.
        var delimiter: String
        /// Fields per line.
        var fieldCount: Int
        /// The columns of the user, the item and the time (0-based).
        var user: Int, item: Int, time: Int
        /// The header's names, when the first line is a header.
        var names: [Substring]?

        /// `'user'`, or `'user' (column userId)` when the file names its columns.
        func field(_ role: String, _ column: Int) -> String {
            guard let names, column < names.count else { return "'\(role)'" }
            return "'\(role)' (column \(InteractionLog.shown(names[column])))"
        }
    }

    /// The delimiter of a file, from its first line: TAB if it holds one, else `::` (MovieLens-1M's
    /// `ratings.dat`) if it holds that, else a comma.
    static func delimiter(of line: Substring) -> String {
        if line.contains("\t") { return "\t" }
        if line.contains("::") { return "::" }
        return ","
    }

    static func describe(delimiter: String) -> String {
        switch delimiter { case "\t": return "TAB"; case "::": return "'::'"; default: return "comma" }
    }

    /// The end of the record that starts at `start` (the index of its line break, or the end of
    /// the bytes), and how many line breaks lie inside it: a record is one line, unless a quoted
    /// field (one whose first byte, after the line's start, a comma or a TAB and any spaces, is
    /// `"`) holds line breaks. nil: a quoted field is never closed.
    static func recordEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, limit: Int) -> (end: Int, breaks: Int)? {
        var i = start, breaks = 0
        var fieldStart = true, quoted = false
        while i < bytes.count && i - start <= limit {
            let b = bytes[i]
            if quoted {
                if b == 0x22 {
                    if i + 1 < bytes.count && bytes[i + 1] == 0x22 { i += 2; continue }   // "" is one quote
                    quoted = false
                } else if b == 0x0A {
                    breaks += 1
                }
            } else {
                switch b {
                case 0x0A: return (i, breaks)
                case 0x22 where fieldStart: quoted = true; fieldStart = false
                case 0x2C, 0x09: fieldStart = true
                case 0x20: break
                default: fieldStart = false
                }
            }
            i += 1
        }
        return quoted && i >= bytes.count ? nil : (i, breaks)
    }

    /// A record's fields, RFC 4180's quoting undone: a field that starts with `"` (after any
    /// spaces) ends at the next lone `"`, and `""` inside it is one `"`; delimiters and line
    /// breaks inside it are part of it. Other fields are trimmed of spaces and TABs. nil: text
    /// between a closing quote and the next delimiter.
    static func split(_ line: Substring, by delimiter: String) -> [Substring]? {
        guard line.utf8.contains(0x22) else { return plainSplit(line, by: delimiter) }
        var fields: [Substring] = []
        let d = Array(delimiter.utf8)
        let u = Array(line.utf8)
        var i = 0
        func startsDelimiter(_ at: Int) -> Bool { at + d.count <= u.count && Array(u[at..<(at + d.count)]) == d }
        while true {
            var j = i
            while j < u.count && u[j] == 0x20 { j += 1 }
            if j < u.count && u[j] == 0x22 {
                var text: [UInt8] = []
                var k = j + 1
                var closed = false
                while k < u.count {
                    if u[k] == 0x22 {
                        if k + 1 < u.count && u[k + 1] == 0x22 { text.append(0x22); k += 2; continue }
                        closed = true; k += 1; break
                    }
                    text.append(u[k]); k += 1
                }
                guard closed else { return nil }
                while k < u.count && (u[k] == 0x20 || u[k] == 0x0D) { k += 1 }
                fields.append(String(decoding: text, as: UTF8.self)[...])
                if k >= u.count { return fields }
                guard startsDelimiter(k) else { return nil }
                i = k + d.count
            } else {
                var k = i
                while k < u.count && !startsDelimiter(k) { k += 1 }
                fields.append(String(decoding: u[i..<k], as: UTF8.self).trimmingCharacters(in: .whitespaces)[...])
                if k >= u.count { return fields }
                i = k + d.count
            }
        }
    }

    static func plainSplit(_ line: Substring, by delimiter: String) -> [Substring] {
        let parts: [Substring]
        if delimiter.count == 1, let c = delimiter.first {
            parts = line.split(separator: c, omittingEmptySubsequences: false)
        } else {
            parts = line.split(separator: delimiter, omittingEmptySubsequences: false)
        }
        return parts.map { $0.trimmingCharacters(in: .whitespaces)[...] }
    }

    /// Whether a first line is a header: none of its fields is a number or a date, and at least
    /// one starts with a letter or `_` (`user_id:token`, `userId`, `user`).
    static func isHeader(_ fields: [Substring]) -> Bool {
        fields.allSatisfy { Double($0) == nil && Timestamps.looksLikeDate($0) == false }
            && fields.contains { f in f.first.map { $0.isLetter || $0 == "_" } ?? false }
    }

    /// Settles the layout from the first line (its fields split by `delimiter`).
    static func layout(first fields: [Substring], delimiter: String, columns: InteractionColumns?,
                       name: String, line: Int) throws(MetaTLError) -> (Layout, isHeader: Bool) {
        let header = isHeader(fields)
        let n = fields.count
        let at = "\(name):\(line)"
        func position(_ column: InteractionColumns.Column, _ role: String) throws(MetaTLError) -> Int {
            switch column {
            case .position(let p):
                guard p >= 0 && p < n else {
                    throw .invalidData("\(at): column \(p) chosen for the \(role) (0-based), but the line has \(n) field\(n == 1 ? "" : "s") "
                                       + "separated by \(describe(delimiter: delimiter))")
                }
                return p
            case .name(let wanted):
                guard header else {
                    throw .invalidData("\(at): the \(role) column is chosen by the name '\(MessageText.shown(wanted.utf8, limit: shownBytes))', "
                                       + "but the file has no header line (its first line holds numbers); choose columns by 0-based position")
                }
                if let i = fields.firstIndex(where: { $0 == wanted }) ?? fields.firstIndex(where: { $0.lowercased() == wanted.lowercased() })
                    ?? fields.firstIndex(where: { baseName($0).lowercased() == wanted.lowercased() }) {
                    return i
                }
                throw .invalidData("\(at): the header has no column named '\(MessageText.shown(wanted.utf8, limit: shownBytes))' "
                                   + "for the \(role); its columns are \(listed(fields))")
            }
        }
        if let columns {
            let l = Layout(delimiter: delimiter, fieldCount: n, user: try position(columns.user, "user"),
                           item: try position(columns.item, "item"), time: try position(columns.time, "timestamp"),
                           names: header ? fields : nil)
            return (l, header)
        }
        if header {
            var found: [Int] = []
            var missing: [String] = []
            for (role, aliases) in [("user", InteractionColumns.userNames), ("item", InteractionColumns.itemNames),
                                    ("timestamp", InteractionColumns.timeNames)] {
                let matches = fields.indices.filter { i in
                    aliases.contains { $0.lowercased() == fields[i].lowercased() || $0.lowercased() == baseName(fields[i]).lowercased() }
                }
                if matches.count > 1 {
                    throw .invalidData("\(at): the header has \(matches.count) columns that could be the \(role) "
                                       + "(\(matches.map { "'\(shown(fields[$0]))'" }.joined(separator: ", "))); choose the columns "
                                       + "(metatl: --columns user,item,timestamp, by name or 0-based position)")
                }
                if let i = matches.first { found.append(i) } else { missing.append(role) }
            }
            if missing.isEmpty {
                return (Layout(delimiter: delimiter, fieldCount: n, user: found[0], item: found[1], time: found[2], names: fields), true)
            }
            // Any three names, as before: user, item, timestamp in that order.
            if n == 3 { return (Layout(delimiter: delimiter, fieldCount: 3, user: 0, item: 1, time: 2, names: fields), true) }
            let looked = missing.map { role -> String in
                let aliases = role == "user" ? InteractionColumns.userNames : role == "item" ? InteractionColumns.itemNames : InteractionColumns.timeNames
                return "\(role) (\(aliases.joined(separator: ", ")))"
            }
            throw .invalidData("\(at): the header has no column for the \(looked.joined(separator: "; nor for the ")); "
                               + "its columns are \(listed(fields)); choose the columns (metatl: --columns user,item,timestamp, "
                               + "by name or 0-based position)")
        }
        if n == 3 { return (Layout(delimiter: delimiter, fieldCount: 3, user: 0, item: 1, time: 2, names: nil), false) }
        // MovieLens-1M's ratings.dat: user::item::rating::timestamp, no header.
        if n == 4 && delimiter == "::" { return (Layout(delimiter: delimiter, fieldCount: 4, user: 0, item: 1, time: 3, names: nil), false) }
        let hint = n > 3 ? "; a file with more columns needs a header line naming them, or the columns chosen by 0-based position "
            + "(metatl: --columns 0,1,3)" : ""
        throw .invalidData("\(at): expected 3 fields (user, item, timestamp) separated by TAB or comma, found \(n)\(hint)")
    }

    /// A RecBole typed name without its type: `user_id:token` is `user_id`.
    static func baseName(_ field: Substring) -> Substring {
        field.firstIndex(of: ":").map { field[..<$0] } ?? field
    }

    static func listed(_ fields: [Substring]) -> String {
        let shownFields = fields.prefix(12).map { "'\(shown($0))'" }.joined(separator: ", ")
        return fields.count > 12 ? shownFields + ", ... (\(fields.count) in all)" : shownFields
    }

    static func parseOnce(_ data: [UInt8], name: String, columns: InteractionColumns?,
                          strings: StringColumns) throws(MetaTLError) -> Parsed {
        var out = Interactions()
        var userNames: Interner? = strings.contains(.users) ? Interner() : nil
        var itemNames: Interner? = strings.contains(.items) ? Interner() : nil
        var restart: StringColumns = []
        let result: Result<Void, MetaTLError> = data.withUnsafeBufferPointer { bytes in
            var lineNumber = 0
            var start = bytes.starts(with: byteOrderMark) ? byteOrderMark.count : 0
            var layout: Layout?
            var breaksBefore = 0
            while start < bytes.count {
                lineNumber += 1 + breaksBefore
                guard let (end, breaks) = recordEnd(bytes, from: start, limit: maxLineBytes) else {
                    return .failure(.invalidData("\(name):\(lineNumber): a quoted field (\") is not closed before the end of the file"))
                }
                breaksBefore = breaks
                if end - start > maxLineBytes {
                    return .failure(.invalidData(
                        "\(name):\(lineNumber): line is longer than \(maxLineBytes) bytes; expected user, item, timestamp"))
                }
                var stop = end
                if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }   // CRLF
                let lineBytes = UnsafeBufferPointer(rebasing: bytes[start..<stop])
                start = end + 1
                guard let line = String(validating: lineBytes, as: UTF8.self) else {
                    let (column, byte) = firstInvalidUTF8(lineBytes)
                    return .failure(.invalidData("\(name):\(lineNumber): not valid UTF-8 text (byte \(column) is "
                                                 + "\(MessageText.hex(byte))); expected user, item, timestamp"))
                }
                if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
                let l: Layout
                let fields: [Substring]
                let d = layout?.delimiter ?? delimiter(of: line[...])
                guard let split = split(line[...], by: d) else {
                    return .failure(.invalidData("\(name):\(lineNumber): text after a quoted field's closing quote (\"), before the "
                                                 + "next \(describe(delimiter: d)); inside quotes, a quote is written twice (\"\")"))
                }
                fields = split
                if let layout {
                    l = layout
                } else {
                    // The first line settles the delimiter, the columns and whether there is a header.
                    do throws(MetaTLError) {
                        let (found, header) = try InteractionLog.layout(first: fields, delimiter: d, columns: columns,
                                                                        name: name, line: lineNumber)
                        layout = found
                        if header { continue }
                        l = found
                    } catch { return .failure(error) }
                }
                if fields.count != l.fieldCount {
                    let how = "separated by \(describe(delimiter: l.delimiter))"
                    if l.names == nil && l.fieldCount == 3 {
                        return .failure(.invalidData(
                            "\(name):\(lineNumber): expected 3 fields (user, item, timestamp) separated by TAB or comma, found \(fields.count)"
                            + (fields.count == 1 ? " (the delimiter, from the first line, is \(describe(delimiter: l.delimiter)))" : "")))
                    }
                    let source = l.names == nil ? "as on the first line" : "as in the header"
                    return .failure(.invalidData(
                        "\(name):\(lineNumber): expected \(l.fieldCount) fields \(how) \(source), found \(fields.count)"))
                }
                /// The id in a field: a non-negative integer, or the code of a string id
                /// (nil: the column is to be read again as strings).
                func id(_ index: Int, _ role: String, _ names: inout Interner?) -> Result<Int64?, MetaTLError> {
                    let text = fields[index]
                    guard !text.isEmpty else {
                        return .failure(.invalidData("\(name):\(lineNumber): field \(l.field(role, index)): expected an id, found an empty field"))
                    }
                    if names != nil {
                        if let c = StringIDs.invisibleCharacter(in: text) {
                            return .failure(.invalidData("\(name):\(lineNumber): field \(l.field(role, index)): expected an id of visible characters, "
                                                         + "found \(quoted(text)) (it holds \(StringIDs.codePoint(c)))"))
                        }
                        return .success(names?.code(text))
                    }
                    guard let v = Int64(text), v >= 0 else { return .success(nil) }
                    return .success(v)
                }
                let user: Int64, item: Int64
                switch id(l.user, "user", &userNames) {
                case .success(let v?): user = v
                case .success(nil): restart.insert(.users); return .success(())
                case .failure(let e): return .failure(e)
                }
                switch id(l.item, "item", &itemNames) {
                case .success(let v?): item = v
                case .success(nil): restart.insert(.items); return .success(())
                case .failure(let e): return .failure(e)
                }
                let timeText = fields[l.time]
                let ts: Double
                if let v = Double(timeText), v.isFinite {
                    ts = v
                } else {
                    switch Timestamps.parseISO8601(timeText) {
                    case .success(let v): ts = v
                    case .failure(let problem):
                        let field = l.field("timestamp", l.time)
                        if Timestamps.looksLikeDate(timeText) {
                            return .failure(.invalidData(
                                "\(name):\(lineNumber): field \(field): expected an ISO 8601 date or date-time "
                                + "(2014-03-01, 2014-03-01T12:00:00Z), found \(quoted(timeText)): \(problem.reason)"))
                        }
                        return .failure(.invalidData(
                            "\(name):\(lineNumber): field \(field): expected a finite number, found \(quoted(timeText))"))
                    }
                }
                out.users.append(user)
                out.items.append(item)
                out.timestamps.append(ts)
            }
            return .success(())
        }
        if case .failure(let e) = result { throw e }
        if !restart.isEmpty { return .readAsStrings(restart) }
        if out.count == 0 { throw .invalidData("\(name): no interactions (the file is empty or holds only a header)") }
        // Codes in first-seen order; the strings are distinct by construction.
        if let userNames { out.userStrings = try StringIDs(userNames.strings) }
        if let itemNames { out.itemStrings = try StringIDs(itemNames.strings) }
        return .rows(out)
    }
}
