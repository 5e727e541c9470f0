import CMetaTL
import Foundation
import MetaTL

// mt_model_recommend_batch: the C face of MetaTLModel.recommend(histories:options:). Converts the
// arrays and options; the rules (candidates, unknown ids, per-user problems) are the engine's.

private let maxBatchIds = 1 << 30, maxBatchUsers = 1 << 24

@_cdecl("mt_recommend_options_default")
public func mt_recommend_options_default() -> mt_recommend_options {
    let o = RecommendOptions()
    var c = mt_recommend_options()
    c.struct_size = UInt32(MemoryLayout<mt_recommend_options>.size)
    c.flags = (o.excludeHistory ? 0 : MT_RECOMMEND_INCLUDE_HISTORY) | (o.unknownItems == .fail ? MT_RECOMMEND_UNKNOWN_IS_ERROR : 0)
        | (o.includeUntrained ? MT_RECOMMEND_INCLUDE_UNTRAINED : 0) | (o.exact ? MT_RECOMMEND_EXACT : 0)
    c.top_n = o.topN
    return c
}

@_cdecl("mt_model_recommend_batch")
public func mt_model_recommend_batch(_ p: OpaquePointer?, _ historyItems: UnsafePointer<Int64>?,
                                     _ historyOffsets: UnsafePointer<Int>?, _ users: Int,
                                     _ options: UnsafePointer<mt_recommend_options>?,
                                     _ items: UnsafeMutablePointer<Int64>?, _ scores: UnsafeMutablePointer<Float>?,
                                     _ counts: UnsafeMutablePointer<Int>?, _ unknown: UnsafeMutablePointer<Int>?) -> mt_status {
    guarded("mt_model_recommend_batch") {
        let m = try model(p)
        let u = try count(users, "users", limit: maxBatchUsers)
        var c = mt_recommend_options_default()
        if let options {
            try checkSize(options.pointee.struct_size, of: mt_recommend_options.self, "options", "mt_recommend_options_default")
            c = options.pointee
        }
        let known = MT_RECOMMEND_INCLUDE_HISTORY | MT_RECOMMEND_INCLUDE_UNTRAINED | MT_RECOMMEND_UNKNOWN_IS_ERROR | MT_RECOMMEND_EXACT
        guard c.flags & ~known == 0 else { throw BoundaryError.argument("options->flags: unknown flags 0x\(String(c.flags, radix: 16))") }
        let topN = try count(c.top_n, "options->top_n", min: 1)
        guard u > 0 else { return }
        guard let historyOffsets else { throw BoundaryError.argument("history_offsets is NULL") }
        guard let items else { throw BoundaryError.argument("items is NULL") }
        guard let counts else { throw BoundaryError.argument("counts is NULL") }
        let (cells, overflow) = u.multipliedReportingOverflow(by: topN)
        guard !overflow, cells <= maxBatchIds else { throw BoundaryError.argument("users x top_n = \(unsigned(u)) x \(unsigned(topN)) exceeds the limit of \(maxBatchIds)") }
        // The offsets: from 0, non-decreasing, within the limit.
        var histories: [[Int64]] = []
        histories.reserveCapacity(u)
        let total = try count(historyOffsets[u], "history_offsets[users]", limit: maxBatchIds)
        let flat = try array(historyItems, total, "history_items")
        guard historyOffsets[0] == 0 else { throw BoundaryError.argument("history_offsets[0] must be 0 (got \(unsigned(historyOffsets[0])))") }
        for i in 0..<u {
            let lo = historyOffsets[i], hi = historyOffsets[i + 1]
            guard lo >= 0, lo <= hi, hi <= total else {
                throw BoundaryError.argument("history_offsets must be non-decreasing from 0 to history_offsets[users] (entries \(i) and \(i + 1): \(unsigned(lo)), \(unsigned(hi)))")
            }
            histories.append(Array(flat[lo..<hi]))
        }
        var o = RecommendOptions()
        o.topN = topN
        o.excludeHistory = c.flags & MT_RECOMMEND_INCLUDE_HISTORY == 0
        o.unknownItems = c.flags & MT_RECOMMEND_UNKNOWN_IS_ERROR != 0 ? .fail : .skip
        o.includeUntrained = c.flags & MT_RECOMMEND_INCLUDE_UNTRAINED != 0
        o.exact = c.flags & MT_RECOMMEND_EXACT != 0
        if c.allowed != nil || c.allowed_count > 0 {
            o.allowed = try array(c.allowed, try count(c.allowed_count, "options->allowed_count", limit: maxBatchIds), "options->allowed")
        }
        o.blocked = try array(c.blocked, try count(c.blocked_count, "options->blocked_count", limit: maxBatchIds), "options->blocked")
        let answers = try m.recommend(histories: histories, options: o)
        for (i, a) in answers.enumerated() {
            let row = i * topN
            for j in 0..<topN {
                items[row + j] = j < a.items.count ? a.items[j] : -1
                scores?[row + j] = j < a.scores.count ? a.scores[j] : .nan
            }
            counts[i] = a.items.count
            unknown?[i] = a.unknownItems
        }
    }
}
