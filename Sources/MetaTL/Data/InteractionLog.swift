import Foundation

/// Interaction rows (user, item, timestamp) in file order, external ids.
public struct Interactions: Sendable, Equatable {
    public var users: [Int64]
    public var items: [Int64]
    public var timestamps: [Double]

    public init(users: [Int64] = [], items: [Int64] = [], timestamps: [Double] = []) {
        self.users = users
        self.items = items
        self.timestamps = timestamps
    }

    public var count: Int { users.count }
}

/// Reads interaction files: `user<TAB>item<TAB>timestamp` per line (the reference's format);
/// commas are accepted instead of TABs, and so is one header line. Ids are non-negative
/// integers, timestamps any finite number. Blank lines are skipped, and so is a UTF-8 byte-order
/// mark at the start of the file (as Python's utf-8-sig and CSV readers do: Excel and Notepad
/// write one).
///
/// Every problem is reported with the file, the line, the field and what was expected; text
/// from the file is shown with ``shown(_:)``, so that no byte is invisible or cuts the message.
enum InteractionLog {
    /// Longest line accepted: a line holds three numbers, so anything longer is not this format
    /// (and a binary file cannot make one line of gigabytes).
    static let maxLineBytes = 4096

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
    static func read(path: String, maxBytes: Int = defaultMaxFileBytes) throws(MetaTLError) -> Interactions {
        let raise = "maxFileBytes (C: mt_dataset_options.max_file_bytes with mt_dataset_load; metatl: --max-file-bytes)"
        let bytes = try InputFile(path: path, allowPipes: true).readAll(limit: maxBytes, raise: raise)
        return try parse(bytes, name: path)
    }

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

    static func parse(_ data: [UInt8], name: String) throws(MetaTLError) -> Interactions {
        var out = Interactions()
        let result: Result<Void, MetaTLError> = data.withUnsafeBufferPointer { bytes in
            var lineNumber = 0
            var start = bytes.starts(with: byteOrderMark) ? byteOrderMark.count : 0
            var sawData = false
            var fields: [Substring] = []
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 0x0A && end - start <= maxLineBytes { end += 1 }
                lineNumber += 1
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
                let separator: Character = line.contains("\t") ? "\t" : ","
                fields = line.split(separator: separator, omittingEmptySubsequences: false)
                    .map { $0.trimmingCharacters(in: .whitespaces)[...] }
                if fields.count != 3 {
                    return .failure(.invalidData(
                        "\(name):\(lineNumber): expected 3 fields (user, item, timestamp) separated by TAB or comma, found \(fields.count)"))
                }
                // One header line is allowed, before any data.
                if !sawData && Int64(fields[0]) == nil && Double(fields[0]) == nil
                    && fields.allSatisfy({ f in f.first.map { $0.isLetter || $0 == "_" } ?? false }) {
                    sawData = true
                    continue
                }
                sawData = true
                func id(_ index: Int, _ field: String) -> Result<Int64, MetaTLError> {
                    let text = fields[index]
                    guard let v = Int64(text) else {
                        if !text.isEmpty && text.allSatisfy({ $0.isASCII && $0.isNumber }) {
                            return .failure(.invalidData(
                                "\(name):\(lineNumber): field '\(field)': expected an id below 2^63, found \(shown(text))"))
                        }
                        return .failure(.invalidData(
                            "\(name):\(lineNumber): field '\(field)': expected a non-negative integer id, found \(quoted(text))"))
                    }
                    guard v >= 0 else {
                        return .failure(.invalidData(
                            "\(name):\(lineNumber): field '\(field)': expected a non-negative integer id, found \(v)"))
                    }
                    return .success(v)
                }
                let user: Int64, item: Int64
                switch id(0, "user") { case .success(let v): user = v; case .failure(let e): return .failure(e) }
                switch id(1, "item") { case .success(let v): item = v; case .failure(let e): return .failure(e) }
                guard let ts = Double(fields[2]), ts.isFinite else {
                    return .failure(.invalidData(
                        "\(name):\(lineNumber): field 'timestamp': expected a finite number, found \(quoted(fields[2]))"))
                }
                out.users.append(user)
                out.items.append(item)
                out.timestamps.append(ts)
            }
            return .success(())
        }
        if case .failure(let e) = result { throw e }
        if out.count == 0 { throw .invalidData("\(name): no interactions (the file is empty or holds only a header)") }
        return out
    }
}
