/// A catalogue's item vocabulary: external item ids to dense rows, row 0 the padding item (so a
/// huge id never means a huge table).
///
/// One object is shared by a dataset and the models made from it, so checking that a model fits
/// a dataset (every training and evaluation call does) is an identity check. Vocabularies built
/// apart (a model loaded from a checkpoint, a dataset read again) compare by their item count and
/// a 128-bit fingerprint of the ids in row order, both computed once here, never array by array.
///
/// A vocabulary of string ids (``StringIDs``) has the ids 0..<n, the codes of its strings: row r
/// holds code r - 1, the string `strings[r - 1]`.
final class Vocabulary: Sendable {
    /// External id of each row (row 0, the padding item, holds -1).
    let itemIDs: [Int64]
    /// The items' string ids, when they are strings (`itemIDs` then holds their codes).
    let strings: StringIDs?
    /// The row of each external id (rows 1...itemCount).
    let rowOfItem: [Int64: Int32]
    /// Two independent 64-bit hashes of the ids in row order.
    private let fingerprint: (UInt64, UInt64)

    /// Items in the catalogue (rows 1...itemCount).
    var itemCount: Int { itemIDs.count - 1 }

    /// The vocabulary whose rows 1...n hold `items` in this order: non-negative, distinct, and
    /// fewer than Int32.max of them (checked; the callers check the count first with their own words).
    init(items: [Int64], strings: StringIDs? = nil) throws(MetaTLError) {
        if let strings {
            guard strings.count == items.count, items.indices.allSatisfy({ items[$0] == Int64($0) }) else {
                throw .invalidArgument("a vocabulary of string ids has the ids 0..<\(strings.count), their codes, in order")
            }
        }
        guard items.count < Int(Int32.max) else {
            throw .invalidArgument("item count must be below \(Int32.max) (got \(items.count))")
        }
        var rowOf: [Int64: Int32] = [:]
        rowOf.reserveCapacity(items.count)
        var a: UInt64 = 0x243F_6A88_85A3_08D3, b: UInt64 = 0x1319_8A2E_0370_7344
        for (i, id) in items.enumerated() {
            guard id >= 0 else { throw .invalidArgument("item ids must be non-negative (got \(id))") }
            guard rowOf.updateValue(Int32(i + 1), forKey: id) == nil else {
                throw .invalidArgument("item id \(id) occurs twice in the vocabulary")
            }
            let x = UInt64(bitPattern: id)
            a = SplitMix64.hash(a ^ x)
            b = SplitMix64.hash(b &+ x &* 0xD6E8_FEB8_6659_FD93)
        }
        if let strings {
            // The strings too: two string vocabularies of n items have the same ids 0..<n.
            let t = strings.table
            for i in 0..<t.byteCount {
                let x = UInt64(t.bytes[i])
                a = SplitMix64.hash(a ^ x)
                b = SplitMix64.hash(b &+ x &* 0xD6E8_FEB8_6659_FD93)
            }
            for i in 0...t.count {
                let x = UInt64(bitPattern: t.offsets[i])
                a = SplitMix64.hash(a ^ x)
                b = SplitMix64.hash(b &+ x &* 0xD6E8_FEB8_6659_FD93)
            }
        }
        itemIDs = [-1] + items
        rowOfItem = rowOf
        fingerprint = (a, b)
        self.strings = strings
    }

    /// The vocabulary of string ids `strings`: ids 0..<n in their order.
    convenience init(strings: StringIDs) throws(MetaTLError) {
        try self.init(items: (0..<Int64(strings.count)).map { $0 }, strings: strings)
    }

    /// An item id as text: its string id, or the integer in decimal.
    func text(of id: Int64) -> String { Interactions.text(id, strings) }

    /// The row of an external item id, if it is in the vocabulary.
    func row(of id: Int64) -> Int32? { rowOfItem[id] }

    /// Whether both map the same ids to the same rows: the same object, or the same count and
    /// fingerprint.
    func matches(_ other: Vocabulary) -> Bool {
        self === other || (itemIDs.count == other.itemIDs.count && fingerprint == other.fingerprint
                           && (strings == nil) == (other.strings == nil))
    }
}
