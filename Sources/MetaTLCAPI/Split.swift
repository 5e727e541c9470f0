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
        var o = mt_split_options_default()
        if let options {
            try checkSize(options.pointee.struct_size, of: mt_split_options.self, "options", "mt_split_options_default")
            o = options.pointee
        }
        let inputPath = try string(input, "input"), trainPath = try string(trainOut, "train_out"), testPath = try string(testOut, "test_out")
        guard o.max_file_bytes >= 1 else { throw BoundaryError.argument("options->max_file_bytes must be at least 1 (UINT64_MAX for no limit)") }
        let limit = o.max_file_bytes > UInt64(Int.max) ? Int.max : Int(o.max_file_bytes)
        let columns = try o.columns.map { p throws in try InteractionColumns(parsing: try string(p, "options->columns")) }
        let cut: ColdStartSplit.Cut = o.cut_by_time != 0 ? .time(o.cut_time) : .newUserFraction(o.new_user_fraction)
        let split = try ColdStartSplit(file: inputPath, columns: columns,
                                       options: .init(cut: cut, minTrainInteractions: Int(o.min_train_interactions),
                                                      minNewInteractions: Int(o.min_new_interactions)),
                                       maxFileBytes: limit)
        try split.write(train: trainPath, test: testPath)
        if let info {
            let size = info.pointee.struct_size
            var r = mt_split_info_default()
            r.struct_size = size
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
    }
}
