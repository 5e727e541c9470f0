import CMetaTL
@_spi(CBoundary) import MetaTL

// String ids across the boundary: mt_string_ids in and out, mt_interactions in.

/// A caller's mt_string_ids as StringIDs (nil for count 0, integer ids); copied and checked.
func stringIDs(_ s: mt_string_ids, _ name: String) throws -> StringIDs? {
    let n = try count(s.count, "\(name).count", limit: Int(Int32.max) - 1)
    if n == 0 { return nil }
    guard let offsetsPointer = s.offsets else { throw BoundaryError.argument("\(name).offsets is NULL but its count is \(n)") }
    let offsets = Array(UnsafeBufferPointer(start: offsetsPointer, count: n + 1))
    guard let total = offsets.last, offsets.first == 0, total >= 0, total <= 1 << 40 else {
        throw BoundaryError.argument("\(name).offsets must start at 0 and end at the byte count (found \(offsets.first ?? 0) ... \(offsets.last ?? 0))")
    }
    guard let bytesPointer = s.bytes else { throw BoundaryError.argument("\(name).bytes is NULL but its count is \(n)") }
    let bytes = bytesPointer.withMemoryRebound(to: UInt8.self, capacity: Int(total)) { Array(UnsafeBufferPointer(start: $0, count: Int(total))) }
    return try StringIDs(bytes: bytes, offsets: offsets, name: name)
}

/// StringIDs lent to the caller as mt_string_ids (all zero for integer ids).
func lent(_ strings: StringIDs?) -> mt_string_ids {
    guard let strings else { return mt_string_ids(bytes: nil, offsets: nil, count: 0) }
    let (bytes, offsets) = strings.packed
    return mt_string_ids(bytes: UnsafeRawPointer(bytes).assumingMemoryBound(to: CChar.self), offsets: offsets, count: strings.count)
}

/// A caller's mt_interactions as Interactions (copied).
func interactions(_ p: UnsafePointer<mt_interactions>?, _ name: String) throws -> Interactions {
    guard let p else { throw BoundaryError.argument("\(name) is NULL") }
    guard p.pointee.struct_size >= UInt32(MemoryLayout<mt_interactions>.size) else {
        throw BoundaryError.argument("\(name)->struct_size is \(p.pointee.struct_size); set it to sizeof(mt_interactions)")
    }
    let r = p.pointee
    let n = try count(r.count, "\(name)->count", min: 1)
    return Interactions(users: try array(r.users, n, "\(name)->users"), items: try array(r.items, n, "\(name)->items"),
                        timestamps: try array(r.timestamps, n, "\(name)->timestamps"),
                        userStrings: try stringIDs(r.user_ids, "\(name)->user_ids"),
                        itemStrings: try stringIDs(r.item_ids, "\(name)->item_ids"))
}

@_cdecl("mt_dataset_from_interactions")
public func mt_dataset_from_interactions(_ train: UnsafePointer<mt_interactions>?, _ test: UnsafePointer<mt_interactions>?,
                                         _ options: UnsafePointer<mt_dataset_options>?,
                                         _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_dataset_from_interactions") {
        let out = try clear(out)
        let o = try datasetOptions(options)
        let d = try Dataset(train: try interactions(train, "train"), test: try interactions(test, "test"), K: Int(o.K), seed: o.seed,
                            trainName: "training interactions", testName: "new-user interactions",
                            sampledNegatives: Int(o.sampled_negatives))
        out.pointee = retain(DatasetHandle(d))
    }
}

@_cdecl("mt_dataset_string_ids")
public func mt_dataset_string_ids(_ p: OpaquePointer?, _ column: Int32, _ out: UnsafeMutablePointer<mt_string_ids>?) -> mt_status {
    guarded("mt_dataset_string_ids") {
        let d = try dataset(p)
        guard let out else { throw BoundaryError.argument("out is NULL") }
        switch column {
        case MT_COLUMN_USERS: out.pointee = lent(d.userStrings)
        case MT_COLUMN_ITEMS: out.pointee = lent(d.itemStrings)
        default: throw BoundaryError.argument("column must be MT_COLUMN_USERS (0) or MT_COLUMN_ITEMS (1) (got \(column))")
        }
    }
}

@_cdecl("mt_model_item_strings")
public func mt_model_item_strings(_ p: OpaquePointer?, _ out: UnsafeMutablePointer<mt_string_ids>?) -> mt_status {
    guarded("mt_model_item_strings") {
        let m = try model(p)
        guard let out else { throw BoundaryError.argument("out is NULL") }
        out.pointee = lent(m.itemStrings)
    }
}

@_cdecl("mt_model_item_code")
public func mt_model_item_code(_ p: OpaquePointer?, _ id: UnsafePointer<CChar>?, _ len: Int,
                               _ code: UnsafeMutablePointer<Int64>?) -> mt_status {
    guarded("mt_model_item_code") {
        let m = try model(p)
        guard let code else { throw BoundaryError.argument("code is NULL") }
        let n = try count(len, "len", limit: 1 << 20)
        guard let id else { throw BoundaryError.argument("id is NULL") }
        let bytes = id.withMemoryRebound(to: UInt8.self, capacity: n) { UnsafeBufferPointer(start: $0, count: n) }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw BoundaryError.argument("id '\(MessageText.shown(bytes, limit: 80))' is not valid UTF-8")
        }
        guard let strings = m.itemStrings else {
            throw BoundaryError.argument("the model's item ids are integers, not strings")
        }
        guard let c = strings.code(of: text) else {
            throw BoundaryError(status: MT_ERR_UNKNOWN_ITEM,
                                message: "item id '\(MessageText.shown(bytes, limit: 80))' is not in the model's vocabulary of \(strings.count) items")
        }
        code.pointee = c
    }
}
