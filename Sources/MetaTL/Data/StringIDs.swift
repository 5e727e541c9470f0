/// String ids (Amazon's ASINs and reviewer ids, RecBole's token fields) and the integer codes the
/// engine works with: code `i` stands for the `i`-th string.
///
/// The engine's every id is an Int64; a column of string ids is carried as codes plus this
/// table. A dataset numbers its strings in sorted order (UTF-8 bytes), so the codes depend on
/// the data only, never on the order of its rows; a model keeps its dataset's item table (and
/// saves it in its checkpoint), so its integer API takes and returns the same codes, and
/// ``code(of:)`` and ``subscript(_:)`` translate.
///
/// The strings lie one after another in one UTF-8 buffer with offsets, held at a fixed address
/// for the table's lifetime: the C ABI lends them out without copying (`mt_string_ids`), and
/// the checkpoint stores exactly these two arrays.
public struct StringIDs: Sendable, Equatable {
    let table: Table

    /// How many strings (codes 0..<count).
    public var count: Int { table.count }

    /// The strings in code order (distinct and non-empty, checked).
    public init(_ strings: [String]) throws(MetaTLError) {
        var bytes: [UInt8] = []
        var offsets: [Int64] = [0]
        offsets.reserveCapacity(strings.count + 1)
        for s in strings {
            bytes.append(contentsOf: s.utf8)
            offsets.append(Int64(bytes.count))
        }
        table = try Table(bytes: bytes, offsets: offsets, name: "string ids")
    }

    /// The strings of a packed buffer (the checkpoint's and the C ABI's form): string `i` is
    /// `bytes[offsets[i] ..< offsets[i + 1]]`, valid UTF-8, non-empty and distinct (checked,
    /// naming `name` in errors).
    public init(bytes: [UInt8], offsets: [Int64], name: String = "string ids") throws(MetaTLError) {
        table = try Table(bytes: bytes, offsets: offsets, name: name)
    }

    /// The packed strings in place, for the C boundary to lend out: valid while this value (or a
    /// copy of it) lives.
    @_spi(CBoundary) public var packed: (bytes: UnsafePointer<UInt8>, offsets: UnsafePointer<Int64>) {
        (UnsafePointer(table.bytePointer), UnsafePointer(table.offsetPointer))
    }

    /// The string of a code (nil outside 0..<count).
    public subscript(code: Int64) -> String? {
        guard code >= 0 && code < Int64(count) else { return nil }
        return table.strings[Int(code)]
    }

    /// The code of a string, if it is in the table.
    public func code(of string: String) -> Int64? { table.codeOf[ExactString(string)] }

    /// The strings in code order.
    public var strings: [String] { table.strings }

    public static func == (a: StringIDs, b: StringIDs) -> Bool { 
        a.table === b.table || (a.count == b.count && a.table.offsets.elementsEqual(b.table.offsets)
                                && a.table.bytes.elementsEqual(b.table.bytes))
    }

    /// The first character a string id may not hold, if any: ids are visible text, so a control
    /// character (a NUL, a TAB, a line break) or an invisible format character (U+FEFF, U+200B)
    /// is a damaged file or a mistake, never an id two people could tell apart.
    static func invisibleCharacter(in string: some StringProtocol) -> Unicode.Scalar? {
        string.unicodeScalars.first { c in
            switch c.properties.generalCategory { case .control, .format: return true; default: return false }
        }
    }

    /// A character as Unicode writes it: U+0007, U+FEFF.
    static func codePoint(_ c: Unicode.Scalar) -> String {
        let hex = String(c.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// The distinct strings of `strings` in the order datasets number them: ascending by UTF-8
    /// bytes (Swift's `<` on strings compares by Unicode canonical equivalence instead, where two
    /// different byte strings can be equal).
    static func sortedDistinct<S: Sequence<String>>(_ strings: S) -> [String] {
        var seen = Set<ExactString>()
        var out: [String] = []
        for s in strings where seen.insert(ExactString(s)).inserted { out.append(s) }
        out.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return out
    }

    /// The packed strings, at an address that stays fixed while the table lives.
    final class Table: @unchecked Sendable {
        let count: Int
        /// The UTF-8 bytes of every string, one after another (room for at least one byte, so
        /// that even an empty table has a real address).
        let bytePointer: UnsafeMutablePointer<UInt8>
        /// count + 1 offsets into the bytes, ascending, the first 0 and the last the byte count.
        let offsetPointer: UnsafeMutablePointer<Int64>
        var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: bytePointer, count: byteCount) }
        var offsets: UnsafeBufferPointer<Int64> { UnsafeBufferPointer(start: offsetPointer, count: count + 1) }
        let strings: [String]
        let codeOf: [ExactString: Int64]

        init(bytes source: [UInt8], offsets source_offsets: [Int64], name: String) throws(MetaTLError) {
            guard let last = source_offsets.last, source_offsets.first == 0, last == Int64(source.count) else {
                throw .invalidData("\(name): the offsets must start at 0 and end at the byte count (\(source.count))")
            }
            let n = source_offsets.count - 1
            guard n < Int(Int32.max) else { throw .invalidData("\(name): too many strings (\(n))") }
            var strings: [String] = []
            strings.reserveCapacity(n)
            var codeOf: [ExactString: Int64] = [:]
            codeOf.reserveCapacity(n)
            try source.withUnsafeBufferPointer { (all: UnsafeBufferPointer<UInt8>) throws(MetaTLError) in
                for i in 0..<n {
                    let a = source_offsets[i], b = source_offsets[i + 1]
                    guard a < b, b <= Int64(all.count) else {
                        throw .invalidData("\(name): string \(i) is empty or its offsets (\(a), \(b)) are out of order")
                    }
                    let piece = UnsafeBufferPointer(rebasing: all[Int(a)..<Int(b)])
                    guard let s = String(validating: piece, as: UTF8.self) else {
                        throw .invalidData("\(name): string \(i) is not valid UTF-8")
                    }
                    if let c = StringIDs.invisibleCharacter(in: s) {
                        throw .invalidData("\(name): the string id '\(MessageText.shown(s.utf8, limit: 40))' holds the invisible character "
                                           + "\(StringIDs.codePoint(c)); ids are visible text")
                    }
                    guard codeOf.updateValue(Int64(i), forKey: ExactString(s)) == nil else {
                        throw .invalidData("\(name): the string id '\(MessageText.shown(s.utf8, limit: 40))' occurs twice")
                    }
                    strings.append(s)
                }
            }
            count = n
            self.strings = strings
            self.codeOf = codeOf
            byteCount = source.count
            bytePointer = .allocate(capacity: max(source.count, 1))
            bytePointer.initialize(from: source, count: source.count)
            offsetPointer = .allocate(capacity: source_offsets.count)
            offsetPointer.initialize(from: source_offsets, count: source_offsets.count)
        }

        deinit {
            bytePointer.deallocate()
            offsetPointer.deallocate()
        }

        let byteCount: Int
    }
}

/// Which id columns of an interaction file are read as strings whatever they hold.
public struct StringColumns: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let users = StringColumns(rawValue: 1)
    public static let items = StringColumns(rawValue: 2)
}

/// A string compared and hashed by its UTF-8 bytes: ids are the bytes a file or a DataFrame
/// holds, so `é` written precomposed and `e` + U+0301 are two ids (as in Python and pandas),
/// though Swift's `==` on strings calls them equal.
struct ExactString: Hashable, Sendable {
    let string: String
    init(_ string: String) { self.string = string }
    static func == (a: ExactString, b: ExactString) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }
    func hash(into hasher: inout Hasher) {
        for b in string.utf8 { hasher.combine(b) }
        hasher.combine(0xFF as UInt8)   // never a UTF-8 byte: ends the string
    }
}
