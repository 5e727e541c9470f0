/// A catalogue's item vocabulary: external item ids to dense rows, row 0 the padding item (so a
/// huge id never means a huge table).
///
/// One object is shared by a dataset and the models made from it, so checking that a model fits
/// a dataset (every training and evaluation call does) is an identity check. Vocabularies built
/// apart (a model loaded from a checkpoint, a dataset read again) compare by their item count and
/// a 128-bit fingerprint of the ids in row order, both computed once here, never array by array.
final class Vocabulary: Sendable {
    /// External id of each row (row 0, the padding item, holds -1).
    let itemIDs: [Int64]
    /// The row of each external id (rows 1...itemCount).
    let rowOfItem: [Int64: Int32]
    /// Two independent 64-bit hashes of the ids in row order.
    private let fingerprint: (UInt64, UInt64)

    /// Items in the catalogue (rows 1...itemCount).
    var itemCount: Int { itemIDs.count - 1 }

    /// The vocabulary whose rows 1...n hold `items` in this order: non-negative, distinct, and
    /// fewer than Int32.max of them (checked; the callers check the count first with their own words).
    init(items: [Int64]) throws(MetaTLError) {
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
        itemIDs = [-1] + items
        rowOfItem = rowOf
        fingerprint = (a, b)
    }

    /// The row of an external item id, if it is in the vocabulary.
    func row(of id: Int64) -> Int32? { rowOfItem[id] }

    /// Whether both map the same ids to the same rows: the same object, or the same count and
    /// fingerprint.
    func matches(_ other: Vocabulary) -> Bool {
        self === other || (itemIDs.count == other.itemIDs.count && fingerprint == other.fingerprint)
    }
}
