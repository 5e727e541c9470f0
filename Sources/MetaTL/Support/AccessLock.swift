import Foundation
import MetaTLThreads

/// Shares a model between serving and training (the contract: include/metatl.h, "Thread
/// safety"; the waiting rules: metatl_access.h, which implements them with a pthread mutex and
/// two condition variables):
/// - ``reading(_:_:)``, shared access: serving, evaluation, saving. Waits while a training step
///   or an exclusive call runs.
/// - ``writing(_:settleFirst:_:)``, exclusive access: snapshot, restore, setting a tensor. Waits
///   for the readers in flight and for the current step.
/// - ``training(_:_:)``: one training call at a time (a second is refused with `.busy` at once);
///   inside it each ``step(_:_:)`` holds the model alone, and readers get in between steps.
///
/// Readers and writers never fail because of each other; only a second training call does. A
/// fork() waits for exclusive work in flight, so a forked child gets the model whole (see
/// metatl_access.h).
///
/// Every library call on a model comes through here, so each body also runs with OpenBLAS
/// single-threaded and the caller's OpenBLAS thread count back afterwards
/// (``BLASThreadCount``).
///
/// Lazy Adam: a step leaves idle embedding rows' updates pending. If anybody is waiting when the
/// step ends, the step calls ``settle`` (the model's catch-up) before letting them in; otherwise
/// it leaves the model marked stale, and whoever gets it next calls ``settle`` first, holding it
/// alone. No reader ever sees pending updates, and training that nobody watches pays nothing.
final class AccessLock: @unchecked Sendable {
    private let core: OpaquePointer
    /// Brings pending updates up to date; set once by the model when it is created.
    var settle: () -> Void = {}

    init() {
        core = OpaquePointer(UnsafeMutableRawPointer.allocate(byteCount: mtl_access_size(), alignment: 16))
        mtl_access_init(core)
    }

    deinit {
        mtl_access_destroy(core)
        UnsafeMutableRawPointer(core).deallocate()
    }

    private static let stale = Int32(MTL_ACCESS_STALE), busy = Int32(MTL_ACCESS_BUSY)

    /// Runs `body` with shared access, waiting while the model is held exclusively. (`what`
    /// names the call in errors; waiting never fails.)
    func reading<T>(_ what: String, _ body: () throws(MetaTLError) -> T) throws(MetaTLError) -> T {
        if mtl_access_lock_shared(core) == Self.stale {
            settle()
            mtl_access_downgrade(core)
        }
        defer { mtl_access_unlock_shared(core) }
        return try BLASThreadCount.singleThreaded(body)
    }

    /// Runs `body` with exclusive access, waiting for the readers in flight and the current
    /// training step. Pending updates are brought up to date first, unless `settleFirst` is
    /// false: `body` then leaves none (it catches up or replaces everything), or throws and the
    /// model stays marked as having them.
    func writing<T>(_ what: String, settleFirst: Bool = true,
                    _ body: () throws(MetaTLError) -> T) throws(MetaTLError) -> T {
        let stale = mtl_access_lock_exclusive(core) == Self.stale
        if stale && settleFirst { settle() }
        var leftStale = stale && !settleFirst
        defer { mtl_access_unlock_exclusive(core, leftStale ? 1 : 0) }
        let result = try BLASThreadCount.singleThreaded(body)
        leftStale = false
        return result
    }

    /// Runs `body`, a whole training call, holding the training token: `.busy` at once if another
    /// training call holds it. The model itself is not held; take each step with ``step(_:_:)``.
    func training<T>(_ what: String, _ body: () throws(MetaTLError) -> T) throws(MetaTLError) -> T {
        guard mtl_access_begin_training(core) != Self.busy else {
            throw MetaTLError(.busy, "cannot \(what): the model is already being trained by another call (one training call at a time)")
        }
        defer { mtl_access_end_training(core) }
        return try BLASThreadCount.singleThreaded(body)
    }

    /// Runs one training step with exclusive access. The step may leave updates pending: they are
    /// brought up to date now if anybody waits for the model, else left for whoever comes next.
    func step<T>(_ what: String, _ body: () throws(MetaTLError) -> T) throws(MetaTLError) -> T {
        // Stale or not, the step goes on from the model as it is (it catches up the rows it uses).
        _ = mtl_access_lock_exclusive(core)
        var settled = false
        defer { mtl_access_unlock_exclusive(core, settled ? 0 : 1) }
        let result = try body()
        if mtl_access_has_waiters(core) != 0 {
            settle()
            settled = true
        }
        return result
    }

    /// (Tests.) Calls holding shared access, readers waiting, exclusive requests queued or held.
    var counts: (readers: Int, waitingReaders: Int, exclusive: Int) {
        var r: Int32 = 0, w: Int32 = 0, x: Int32 = 0
        mtl_access_counts(core, &r, &w, &x)
        return (Int(r), Int(w), Int(x))
    }
}
