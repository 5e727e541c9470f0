import CMetaTL
import Foundation
import MetaTL

// mt_split_files: the C face of ColdStartSplit (read, split, write).

@_cdecl("mt_split_options_default")
public func mt_split_options_default() -> mt_split_options {
    let d = ColdStartSplit.Options()
    var o = mt_split_options()
    o.struct_size = UInt32(MemoryLayout<mt_split_options>.size)
    o.cut_by_time = 0
    o.cut_time = 0
    if case .newUserFraction(let f) = d.cut { o.new_user_fraction = f }
    o.min_train_interactions = Int32(d.minTrainInteractions)
    o.min_new_interactions = Int32(d.minNewInteractions)
    o.columns = nil
    o.max_file_bytes = UInt64(Dataset.defaultMaxFileBytes)
    return o
}

@_cdecl("mt_split_info_default")
public func mt_split_info_default() -> mt_split_info {
    var i = mt_split_info()
    i.struct_size = UInt32(MemoryLayout<mt_split_info>.size)
    return i
}

@_cdecl("mt_split_files")
public func mt_split_files(_ input: UnsafePointer<CChar>?, _ trainOut: UnsafePointer<CChar>?, _ testOut: UnsafePointer<CChar>?,
                           _ options: UnsafePointer<mt_split_options>?, _ info: UnsafeMutablePointer<mt_split_info>?) -> mt_status {
    guarded("mt_split_files") {
        if let info { try checkSize(info.pointee.struct_size, of: mt_split_info.self, "info", "mt_split_info_default") }
        let o = try callerSplitOptions(options)
        let inputPath = try string(input, "input"), trainPath = try string(trainOut, "train_out"), testPath = try string(testOut, "test_out")
        guard o.max_file_bytes >= 1 else { throw BoundaryError.argument("options->max_file_bytes must be at least 1 (UINT64_MAX for no limit)") }
        let limit = o.max_file_bytes > UInt64(Int.max) ? Int.max : Int(o.max_file_bytes)
        let columns = try o.columns.map { p throws in try InteractionColumns(parsing: try string(p, "options->columns")) }
        let split = try ColdStartSplit(file: inputPath, columns: columns, options: splitOptions(o), maxFileBytes: limit)
        try split.write(train: trainPath, test: testPath)
        if let info { report(split, into: info) }
    }
}

/// The caller's mt_split_options (its struct_size checked), or the defaults for NULL.
func callerSplitOptions(_ options: UnsafePointer<mt_split_options>?) throws -> mt_split_options {
    guard let options else { return mt_split_options_default() }
    try checkSize(options.pointee.struct_size, of: mt_split_options.self, "options", "mt_split_options_default")
    return options.pointee
}

/// The split's settings of mt_split_options (columns and max_file_bytes are the caller's to use).
func splitOptions(_ o: mt_split_options) -> ColdStartSplit.Options {
    let cut: ColdStartSplit.Cut = o.cut_by_time != 0 ? .time(o.cut_time) : .newUserFraction(o.new_user_fraction)
    return .init(cut: cut, minTrainInteractions: Int(o.min_train_interactions), minNewInteractions: Int(o.min_new_interactions))
}

/// What a split did, into the caller's mt_split_info (its struct_size checked, kept).
func report(_ split: ColdStartSplit, into info: UnsafeMutablePointer<mt_split_info>) {
    var r = mt_split_info_default()
    r.struct_size = info.pointee.struct_size
    r.cut_time = split.cutTime
    r.train_users = Int64(split.trainUserCount)
    r.train_interactions = Int64(split.train.count)
    r.new_users = Int64(split.newUserCount)
    r.new_interactions = Int64(split.newUsers.count)
    r.dropped_train_users = Int64(split.droppedTrainUsers)
    r.dropped_new_users = Int64(split.droppedNewUsers)
    r.new_items_not_in_training = Int64(split.newItemsNotInTraining)
    info.pointee = r
}

@_cdecl("mt_dataset_split")
public func mt_dataset_split(_ log: UnsafePointer<mt_interactions>?, _ options: UnsafePointer<mt_split_options>?,
                             _ datasetOptions: UnsafePointer<mt_dataset_options>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                             _ info: UnsafeMutablePointer<mt_split_info>?) -> mt_status {
    guarded("mt_dataset_split") {
        let out = try clear(out)
        if let info { try checkSize(info.pointee.struct_size, of: mt_split_info.self, "info", "mt_split_info_default") }
        let o = try callerSplitOptions(options)
        let d = try MetaTLCAPI.datasetOptions(datasetOptions, "dataset_options")
        let split = try ColdStartSplit(try interactions(log, "log"), options: splitOptions(o), name: "interaction log")
        let data = try Dataset(train: split.train, test: split.newUsers, K: Int(d.K), seed: d.seed,
                               trainName: "training users of the split", testName: "new users of the split",
                               sampledNegatives: Int(d.sampled_negatives))
        if let info { report(split, into: info) }
        out.pointee = retain(DatasetHandle(data))
    }
}
