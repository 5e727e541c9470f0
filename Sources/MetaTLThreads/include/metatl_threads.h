// A small persistent worker pool for the engine's parallel loops.
//
// Internal to the MetaTL Swift module; not part of the public C ABI (include/metatl.h).
//
// Why not Dispatch's concurrentPerform: it hands chunks to whichever thread is free, so the rows
// a core produced in one pass (a matrix product's block, say) are often read by the other core in
// the next pass, from memory instead of its own L2; and each call costs tens of microseconds of
// wake-up. Here thread t of T starts on the chunks [chunks·t/T, chunks·(t+1)/T) (the calling
// thread is thread 0) and, once done, takes the chunks others have not started yet from the back
// of their shares; idle workers spin for at most 200 µs before they sleep on a condition variable,
// so the back-to-back loops of a training step start in about a microsecond and an idle pool
// costs no CPU. Results never depend on which thread ran a chunk:
// each chunk writes only its own outputs.
#ifndef METATL_THREADS_H
#define METATL_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/// One chunk of a parallel loop.
typedef void (*mtl_pool_chunk_fn)(void *context, long chunk);

/// Runs fn(context, c) for every c in [0, chunks) on up to `threads` threads (the caller and
/// threads - 1 pool workers, started on first use), thread t starting on the chunks
/// [chunks·t/T, chunks·(t+1)/T) with T = min(threads, chunks), and returns once all have run.
///
/// Returns 0 when it ran them, or -1 without running anything when the pool is in use (another
/// thread's loop, or a loop nested inside a chunk) or no worker could be started: the caller
/// then runs the loop some other way.
int mtl_pool_run(int threads, long chunks, mtl_pool_chunk_fn fn, void *context);

/// Stops and joins every pool worker (include/metatl.h's mt_threads_release); the next loop
/// starts them anew. Waits for a loop in flight on another thread. Returns 0, or -1 without
/// doing anything on a pool worker or inside a loop (where it would wait for itself).
int mtl_pool_release(void);

/// Fork guard: every OpenBLAS call runs between enter and leave, and fork() waits until none
/// runs (OpenBLAS is not fork-safe; see fork_guard.c). Never nested on one thread.
void mtl_fork_guard_enter(void);
void mtl_fork_guard_leave(void);

#ifdef __cplusplus
}
#endif

#endif
