import MetaTLThreads

/// The engine's worker threads, seen from the program that hosts it.
///
/// The first parallel loop that asks for T threads (a ``Configuration/threads`` > 1 in training,
/// evaluation or serving) starts T - 1 worker threads, which stay for later loops: idle, each
/// polls for at most 200 µs after its last loop, then sleeps on a condition variable and uses
/// no CPU. ``release()`` ends them.
public enum WorkerThreads {
    /// Stops and joins the worker threads, freeing their stacks; the next parallel loop starts
    /// them again, and results do not change. Safe from any thread at any time: a loop running
    /// on another thread is waited for (one loop, usually milliseconds), and a training call running meanwhile
    /// goes on, starting new workers at its next loop.
    ///
    /// Returns false, doing nothing, when called from inside one of the engine's own loops
    /// (which a program cannot do from the public API).
    @discardableResult
    public static func release() -> Bool {
        mtl_pool_release() == 0
    }
}
