import CMetaTL
import Foundation
import MetaTL

// A dataset over a trained model's vocabulary (a new cohort): the C face of
// Dataset(trainFile:testFile:...:vocabularyOf:unknownItems:).

@_cdecl("mt_dataset_load_for_model")
public func mt_dataset_load_for_model(_ train: UnsafePointer<CChar>?, _ test: UnsafePointer<CChar>?,
                                      _ options: UnsafePointer<mt_dataset_options>?, _ p: OpaquePointer?, _ flags: UInt32,
                                      _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_dataset_load_for_model") {
        let out = try clear(out)
        let m = try model(p)
        guard flags & ~MT_DATASET_UNKNOWN_IS_ERROR == 0 else { throw BoundaryError.argument("unknown flags 0x\(String(flags, radix: 16))") }
        var defaults = mt_dataset_options_default()
        defaults.K = Int32(clamping: m.configuration.K)
        defaults.seed = m.configuration.seed
        try loadDataset(train, test, options: try datasetOptions(options, defaults: defaults), vocabularyOf: m,
                        unknownItems: flags & MT_DATASET_UNKNOWN_IS_ERROR != 0 ? .fail : .skip, into: out)
    }
}

@_cdecl("mt_dataset_unknown_interactions")
public func mt_dataset_unknown_interactions(_ p: OpaquePointer?, _ count: UnsafeMutablePointer<Int64>?) -> mt_status {
    guarded("mt_dataset_unknown_interactions") {
        let d = try dataset(p)
        guard let count else { throw BoundaryError.argument("count is NULL") }
        count.pointee = Int64(d.unknownInteractions)
    }
}
