import CMetaTL
import Foundation
import MetaTL

// Training with a progress callback, and validation-driven training (fit): the C face of
// MetaTLModel.train(on:steps:progress:) and MetaTLModel.fit(on:options:progress:evaluated:).
// The rules (selection, patience, cancel, divergence) are the engine's; this file only converts.

/// A fit's outcome behind an mt_fit_result handle.
final class FitResultHandle {
    let result: FitResult
    /// The divergence message as a C string that lives as long as the handle.
    let divergence: UnsafeMutablePointer<CChar>?
    init(_ r: FitResult) {
        result = r
        divergence = r.divergence.map { strdup($0) }
    }
    deinit { free(divergence) }
}

/// The C callback and its user data, called from the engine's progress closures.
private struct ProgressCallback {
    let function: mt_progress_callback?
    let userData: UnsafeMutableRawPointer?

    /// False when the callback asks to stop (returns non-zero).
    func call(_ p: TrainingProgress?, total: Int, step: Int, validation: ValidationPoint? = nil) -> Bool {
        guard let function else { return true }
        var progress = mt_progress()
        progress.struct_size = UInt32(MemoryLayout<mt_progress>.size)
        progress.done = Int64(p?.done ?? 0)
        progress.total = Int64(total)
        progress.step = Int64(p?.step ?? step)
        progress.query_loss = p?.queryLoss ?? 0
        progress.support_loss = p?.supportLoss ?? 0
        progress.elapsed_seconds = validation?.elapsed ?? p?.elapsed ?? 0
        guard let validation else { return function(&progress, userData) == 0 }
        var point = cCurvePoint(validation)
        return withUnsafePointer(to: &point) { point in
            progress.validation = point
            return function(&progress, userData) == 0
        }
    }
}

func cCurvePoint(_ p: ValidationPoint) -> mt_curve_point {
    var c = mt_curve_point()
    c.struct_size = UInt32(MemoryLayout<mt_curve_point>.size)
    c.step = Int64(p.step)
    c.elapsed_seconds = p.elapsed
    c.steps_per_second = p.stepsPerSecond
    c.train_loss = p.trainLoss ?? .nan
    c.valid_sampled_mrr = p.sampled.mrr
    c.valid_sampled_hits10 = p.sampled.hits10
    c.valid_full_mrr = p.full.mrr
    c.valid_full_hits10 = p.full.hits10
    return c
}

@_cdecl("mt_model_train_with_progress")
public func mt_model_train_with_progress(_ p: OpaquePointer?, _ data: OpaquePointer?, _ steps: Int64,
                                         _ callback: mt_progress_callback?, _ userData: UnsafeMutableRawPointer?,
                                         _ meanLoss: UnsafeMutablePointer<Float>?) -> mt_status {
    guarded("mt_model_train_with_progress") {
        let m = try model(p)
        let d = try dataset(data)
        guard steps >= 1 && steps <= Int64(Int32.max) else { throw BoundaryError.argument("steps must be in 1...\(Int32.max) (got \(steps))") }
        let watcher = ProgressCallback(function: callback, userData: userData)
        let loss = try m.train(on: d, steps: Int(steps), progress: callback == nil ? nil : { progress in
            watcher.call(progress, total: Int(steps), step: progress.step)
        })
        meanLoss?.pointee = loss
    }
}

@_cdecl("mt_fit_params_default")
public func mt_fit_params_default() -> mt_fit_params {
    let o = FitOptions()
    var c = mt_fit_params()
    c.struct_size = UInt32(MemoryLayout<mt_fit_params>.size)
    c.max_steps = Int64(o.maxSteps)
    c.eval_every = Int64(o.evalEvery)
    c.patience = Int64(o.patience)
    c.select_by = cSelection(o.selectBy)
    return c
}

func cSelection(_ m: SelectionMetric) -> Int32 {
    switch m {
    case .sampledMRR: MT_SELECT_SAMPLED_MRR
    case .fullMRR: MT_SELECT_FULL_MRR
    }
}

/// FitOptions from mt_fit_params, every field checked here or by FitOptions.
private func fitOptions(_ c: mt_fit_params) throws -> FitOptions {
    var o = FitOptions()
    let limit = Int64(Int32.max)
    guard c.max_steps >= 0 && c.max_steps <= limit else { throw BoundaryError.argument("params->max_steps must be in 0...\(limit) (got \(c.max_steps))") }
    guard c.eval_every >= 1 && c.eval_every <= limit else { throw BoundaryError.argument("params->eval_every must be in 1...\(limit) (got \(c.eval_every))") }
    guard c.patience >= 0 && c.patience <= limit else { throw BoundaryError.argument("params->patience must be in 0...\(limit) (got \(c.patience))") }
    o.maxSteps = Int(c.max_steps)
    o.evalEvery = Int(c.eval_every)
    o.patience = Int(c.patience)
    switch c.select_by {
    case MT_SELECT_SAMPLED_MRR: o.selectBy = .sampledMRR
    case MT_SELECT_FULL_MRR: o.selectBy = .fullMRR
    default: throw BoundaryError.argument("params->select_by must be MT_SELECT_SAMPLED_MRR (0) or MT_SELECT_FULL_MRR (1) (got \(c.select_by))")
    }
    return o
}

@_cdecl("mt_model_fit")
public func mt_model_fit(_ p: OpaquePointer?, _ data: OpaquePointer?, _ params: UnsafePointer<mt_fit_params>?,
                         _ out: UnsafeMutablePointer<OpaquePointer?>?) -> mt_status {
    guarded("mt_model_fit") {
        let o = try clear(out)
        let m = try model(p)
        let d = try dataset(data)
        var c = mt_fit_params_default()
        if let params {
            try checkSize(params.pointee.struct_size, of: mt_fit_params.self, "params", "mt_fit_params_default")
            c = params.pointee
        }
        let options = try fitOptions(c)
        let watcher = ProgressCallback(function: c.progress_callback, userData: c.progress_user_data)
        var lastStep: TrainingProgress?
        let result = try m.fit(on: d, options: options, progress: { progress in
            lastStep = progress
            return watcher.call(progress, total: options.maxSteps, step: progress.step)
        }, evaluated: { point in
            watcher.call(lastStep, total: options.maxSteps, step: point.step, validation: point)
        })
        o.pointee = retain(FitResultHandle(result))
    }
}

private func fitResult(_ p: OpaquePointer?) throws -> FitResult {
    guard let p else { throw BoundaryError.argument("result is NULL") }
    return Unmanaged<FitResultHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue().result
}

@_cdecl("mt_fit_result_summary")
public func mt_fit_result_summary(_ p: OpaquePointer?, _ out: UnsafeMutablePointer<mt_fit_summary>?) -> mt_status {
    guarded("mt_fit_result_summary") {
        let r = try fitResult(p)
        guard let out else { throw BoundaryError.argument("out is NULL") }
        guard out.pointee.struct_size >= UInt32(MemoryLayout<mt_fit_summary>.size) else {
            throw BoundaryError.argument("out->struct_size is \(out.pointee.struct_size); set it to sizeof(mt_fit_summary)")
        }
        var s = mt_fit_summary()
        s.struct_size = out.pointee.struct_size
        s.best_step = Int64(r.bestStep)
        s.best_score = r.bestScore
        s.steps_taken = Int64(r.stepsTaken)
        s.stopped_early = r.stoppedEarly ? 1 : 0
        s.cancelled = r.cancelled ? 1 : 0
        s.diverged = r.divergence == nil ? 0 : 1
        s.curve_points = Int64(r.curve.count)
        out.pointee = s
    }
}

@_cdecl("mt_fit_result_curve_point")
public func mt_fit_result_curve_point(_ p: OpaquePointer?, _ index: Int, _ out: UnsafeMutablePointer<mt_curve_point>?) -> mt_status {
    guarded("mt_fit_result_curve_point") {
        let r = try fitResult(p)
        guard let out else { throw BoundaryError.argument("out is NULL") }
        guard out.pointee.struct_size >= UInt32(MemoryLayout<mt_curve_point>.size) else {
            throw BoundaryError.argument("out->struct_size is \(out.pointee.struct_size); set it to sizeof(mt_curve_point)")
        }
        // size_t arrives as Int: 2^63 and above are negative, and out of range like any other.
        guard index >= 0 && index < r.curve.count else {
            throw BoundaryError.argument("index \(unsigned(index)) is out of range: the curve has \(r.curve.count) points")
        }
        var c = cCurvePoint(r.curve[index])
        c.struct_size = out.pointee.struct_size
        out.pointee = c
    }
}

@_cdecl("mt_fit_result_divergence")
public func mt_fit_result_divergence(_ p: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let p else { return nil }
    return Unmanaged<FitResultHandle>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue().divergence.map { UnsafePointer($0) }
}

@_cdecl("mt_fit_result_free")
public func mt_fit_result_free(_ p: OpaquePointer?) {
    if let p { release(p, as: FitResultHandle.self) }
}
