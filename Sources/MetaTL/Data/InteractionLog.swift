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
/// integers, timestamps any finite number. Blank lines are skipped.
///
/// Every problem is reported with the file, the line, the field and what was expected.
enum InteractionLog {
    static func read(path: String) throws(MetaTLError) -> Interactions {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MetaTLError(.fileNotFound, "\(path): no such file")
        }
        guard !isDirectory.boolValue else { throw MetaTLError(.fileNotFound, "\(path): is a directory, expected a file") }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw MetaTLError(.io, "\(path): cannot read: \(error.localizedDescription)")
        }
        return try parse(data, name: path)
    }

    static func parse(_ data: Data, name: String) throws(MetaTLError) -> Interactions {
        var out = Interactions()
        let result: Result<Void, MetaTLError> = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineNumber = 0
            var start = 0
            var sawData = false
            var fields: [Substring] = []
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != 0x0A { end += 1 }
                lineNumber += 1
                var stop = end
                if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }   // CRLF
                let lineBytes = UnsafeBufferPointer(rebasing: bytes[start..<stop])
                start = end + 1
                guard let line = String(validating: lineBytes, as: UTF8.self) else {
                    return .failure(.invalidData("\(name):\(lineNumber): not valid UTF-8 text"))
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
                        return .failure(.invalidData(
                            "\(name):\(lineNumber): field '\(field)': expected a non-negative integer id, found '\(text.prefix(40))'"))
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
                        "\(name):\(lineNumber): field 'timestamp': expected a finite number, found '\(fields[2].prefix(40))'"))
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
