/// The rules that put the id columns of a dataset's two files (training users, new users) into
/// one id space, and a cohort's items into a trained model's.
enum IDColumn {
    /// One id column of both files, in one id space.
    ///
    /// Integers when both are integers. Otherwise string ids: an integer column's ids are
    /// written in decimal, and the codes are renumbered in the order of the strings sorted by
    /// UTF-8 bytes (so they depend on the ids alone, not on row order or on how the caller
    /// numbered them), over the strings that occur (a table's unused strings are dropped).
    /// The codes must be valid (``Interactions/problem(name:)``).
    static func unify(_ a: [Int64], _ aStrings: StringIDs?, _ b: [Int64], _ bStrings: StringIDs?)
        throws(MetaTLError) -> (a: [Int64], b: [Int64], strings: StringIDs?) {
        if aStrings == nil && bStrings == nil { return (a, b, nil) }
        let table = try StringIDs(StringIDs.sortedDistinct(used(a, aStrings) + used(b, bStrings)))
        return (recode(a, aStrings, into: table), recode(b, bStrings, into: table), table)
    }

    /// The distinct ids of a column as strings.
    private static func used(_ ids: [Int64], _ strings: StringIDs?) -> [String] {
        guard let strings else { return Set(ids).map { String($0) } }
        var seen = [Bool](repeating: false, count: strings.count)
        for id in ids { seen[Int(id)] = true }
        return strings.strings.indices.filter { seen[$0] }.map { strings.strings[$0] }
    }

    /// A column's codes in `table` (which holds every one of its ids).
    private static func recode(_ ids: [Int64], _ strings: StringIDs?, into table: StringIDs) -> [Int64] {
        if let strings {
            let code = strings.strings.map { table.code(of: $0) ?? -1 }
            return ids.map { code[Int($0)] }
        }
        var code: [Int64: Int64] = [:]
        return ids.map { id in
            if let c = code[id] { return c }
            let c = table.code(of: String(id)) ?? -1
            code[id] = c
            return c
        }
    }

    /// A cohort's item column as ids of `vocabulary` (nil: not in it). By text for a vocabulary
    /// of string ids (an integer id is its decimal text); for an integer vocabulary, a string id
    /// that is a non-negative integer in decimal is that integer, any other is unknown.
    static func ids(_ items: [Int64], _ strings: StringIDs?, in vocabulary: Vocabulary) -> [Int64?] {
        var cache: [Int64: Int64?] = [:]
        return items.map { id in
            if let known = cache[id] { return known }
            let mapped: Int64?
            switch (strings, vocabulary.strings) {
            case (nil, nil): mapped = id
            case (let s?, nil): mapped = s[id].flatMap { Int64($0) }.flatMap { $0 >= 0 ? $0 : nil }
            case (let s?, let v?): mapped = s[id].flatMap { v.code(of: $0) }
            case (nil, let v?): mapped = v.code(of: String(id))
            }
            let known = mapped.flatMap { vocabulary.row(of: $0) == nil ? nil : $0 }
            cache[id] = known
            return known
        }
    }
}
