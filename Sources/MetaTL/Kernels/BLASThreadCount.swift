import CBLAS
import Foundation
import MetaTLThreads

/// OpenBLAS's thread count while the library works, and the caller's around it.
///
/// The engine splits every product over its own workers, one single-threaded sgemm each (see
/// ``BLAS``), so OpenBLAS must run single-threaded while it works. The count is process-wide
/// (OpenBLAS has no per-call setting), and the host program may use OpenBLAS itself: the first
/// library call to start saves the caller's count and sets 1, and the last one to end puts the
/// saved count back. Calls overlap freely (serving threads, a fit evaluating inside its training
/// call); while any runs, the process's OpenBLAS is single-threaded.
///
/// Cheap: per library call a mutex, the fork guard's read lock, and openblas_get_num_threads
/// (plus two openblas_set_num_threads when the caller's count is not 1).
enum BLASThreadCount {
    private struct State {
        /// Library calls running now.
        var calls = 0
        /// The caller's count, saved when `calls` went from 0 to 1.
        var callers: Int32 = 1
        /// Set in a child forked while calls ran (their threads are not in the child): its
        /// OpenBLAS is still at 1 and `callers` is the count to give back at the end of its
        /// next call.
        var owed = false
    }

    /// Guarded by `lock`. (A pthread mutex rather than Synchronization's Mutex, so that
    /// ThreadSanitizer, which does not see inside the toolchain's Synchronization, sees it.)
    nonisolated(unsafe) private static var state = State()
    nonisolated(unsafe) private static let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        // A fork never happens while the mutex is held (it is taken inside the fork guard).
        pthread_atfork(nil, nil) { BLASThreadCount.forgetCallsInChild() }
        return m
    }()

    /// Runs `body`, a library call, with OpenBLAS single-threaded.
    static func singleThreaded<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        enter()
        defer { leave() }
        return try body()
    }

    private static func enter() {
        withState { s in
            if s.calls == 0 {
                if !s.owed { s.callers = openblas_get_num_threads() }
                s.owed = false
                if s.callers != 1 { openblas_set_num_threads(1) }
            }
            s.calls += 1
        }
    }

    private static func leave() {
        withState { s in
            // Zero only after a fork reset the count during this call (forked from a callback).
            guard s.calls > 0 else { return }
            s.calls -= 1
            if s.calls == 0 && s.callers != 1 { openblas_set_num_threads(s.callers) }
        }
    }

    /// Runs `update` holding the mutex, inside the fork guard: a fork waits until the mutex is
    /// released (see metatl_threads.h), so a child never inherits it held.
    private static func withState(_ update: (inout State) -> Void) {
        mtl_fork_guard_enter()
        defer { mtl_fork_guard_leave() }
        let m = lock
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        update(&state)
    }

    private static func forgetCallsInChild() {
        let m = lock
        pthread_mutex_lock(m)
        defer { pthread_mutex_unlock(m) }
        if state.calls > 0 { state.owed = true }
        state.calls = 0
    }
}
