// See metatl_threads.h. One process-wide pool; a loop owns it from start to end (a mutex taken
// with trylock, so a second caller falls back instead of waiting). mtl_pool_release takes the
// same mutex, waiting, to stop and join the workers between two loops.
#define _GNU_SOURCE
#include "metatl_threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

enum { MAX_WORKERS = 255 };   // thread counts fit the job word's 16 bits
// The job word's thread count that tells every worker to exit (mtl_pool_release): above any
// real count, so no worker takes it for a loop.
enum { STOP_WORKERS = 0xffff };
// How long an idle worker polls for the next loop before it sleeps, and how long the caller polls
// for the workers to finish before it starts yielding the CPU. A training step runs ~20 loops
// a few hundred microseconds apart; serving calls may be far apart, and then the workers sleep.
// So after its last loop a worker burns at most 200 µs of CPU, then blocks in pthread_cond_wait
// (a futex) until the next loop: an idle pool costs no CPU (include/metatl.h, "The process").
static const int64_t WORKER_SPIN_NS = 200000;
static const int64_t CALLER_SPIN_NS = 2000000;

static struct {
    pthread_mutex_t owner;      // held by the thread running a loop
    pthread_mutex_t lock;       // guards sleeping workers' wake-ups and worker creation
    pthread_cond_t wake;
    int workers;                // started workers (indices 1...workers)
    int sleepers;
    // The current loop's number (high 48 bits) and thread count (low 16), published together so
    // that a worker which takes no part in a loop never reads the loop's other fields, which
    // the owner may already be rewriting for the next loop.
    _Atomic uint64_t job;
    _Atomic long pending;         // workers of the current loop not yet done
    // The current loop (written by the owner before `job` is published; read by its workers).
    mtl_pool_chunk_fn fn;
    void *context;
    long chunks;
} pool = {
    .owner = PTHREAD_MUTEX_INITIALIZER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static uint64_t created_after[MAX_WORKERS + 1];   // see worker_main
static pthread_t worker_threads[MAX_WORKERS + 1];  // indices 1...pool.workers, for joining them

// Set on the pool's own threads and on a thread while it runs a loop: mtl_pool_release refuses
// there (it would wait for the loop it is part of).
static _Thread_local int inside_pool;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// Chunk claims of the current loop, for loops of up to MAX_CLAIMED chunks (longer loops run
// their static shares only). A thread runs its own share front to back, then takes the chunks
// the others have not started, from the back of their shares: a thread slowed down (the other
// virtual CPU's host thread preempted, say) then costs the loop its share of one chunk, not half
// the loop, while nearly every chunk still runs where its rows were produced.
enum { MAX_CLAIMED = 4096 };
static _Atomic unsigned char claimed[MAX_CLAIMED];

static int claim(long chunk, long chunks) {
    if (chunks > MAX_CLAIMED) return 1;
    if (atomic_load_explicit(&claimed[chunk], memory_order_relaxed)) return 0;
    return !atomic_exchange_explicit(&claimed[chunk], 1, memory_order_relaxed);
}

static void run_share(int index, int threads, long chunks, mtl_pool_chunk_fn fn, void *context) {
    long lo = chunks * index / threads, hi = chunks * (index + 1) / threads;
    for (long c = lo; c < hi; c++)
        if (claim(c, chunks)) fn(context, c);
    if (chunks > MAX_CLAIMED) return;
    for (int k = 1; k < threads; k++) {
        int other = (index + k) % threads;
        long olo = chunks * other / threads, ohi = chunks * (other + 1) / threads;
        for (long c = ohi - 1; c >= olo; c--)
            if (claim(c, chunks)) fn(context, c);
    }
}

static void *worker_main(void *arg) {
    const int index = (int)(intptr_t)arg;
    inside_pool = 1;
    // The last loop published before this worker was created: a loop published since then, even
    // before this thread first runs, is one to take part in.
    uint64_t seen = created_after[index];
    for (;;) {
        // Poll for the next loop, then sleep until one is published.
        uint64_t job = atomic_load_explicit(&pool.job, memory_order_acquire);
        if (job == seen) {
            int64_t until = now_ns() + WORKER_SPIN_NS;
            for (int i = 0; job == seen; i++) {
                CPU_RELAX();
                job = atomic_load_explicit(&pool.job, memory_order_acquire);
                if ((i & 63) == 63 && now_ns() > until) break;
            }
        }
        if (job == seen) {
            pthread_mutex_lock(&pool.lock);
            pool.sleepers++;
            while ((job = atomic_load_explicit(&pool.job, memory_order_acquire)) == seen)
                pthread_cond_wait(&pool.wake, &pool.lock);
            pool.sleepers--;
            pthread_mutex_unlock(&pool.lock);
        }
        // A worker may miss loops it takes no part in (the owner does not wait for it), but
        // never one it takes part in: the owner waits for those workers before the next loop.
        seen = job;
        const int threads = (int)(job & 0xffff);
        if (threads == STOP_WORKERS) return NULL;
        if (index < threads) {
            run_share(index, threads, pool.chunks, pool.fn, pool.context);
            atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel);
        }
    }
    return NULL;
}

// Starts workers up to `wanted` (called by the owner); returns how many there are.
static int ensure_workers(int wanted) {
    if (wanted > MAX_WORKERS) wanted = MAX_WORKERS;
    while (pool.workers < wanted) {
        // Joinable, so that mtl_pool_release can wait until they are gone.
        created_after[pool.workers + 1] = atomic_load_explicit(&pool.job, memory_order_relaxed);
        int failed = pthread_create(&worker_threads[pool.workers + 1], NULL, worker_main,
                                    (void *)(intptr_t)(pool.workers + 1));
        if (failed) break;
        pthread_mutex_lock(&pool.lock);
        pool.workers++;
        pthread_mutex_unlock(&pool.lock);
    }
    return pool.workers;
}

// A forked child has only the thread that forked: forget the parent's workers (they do not
// exist in the child, and are neither joined nor freed there) and reset the locks, which the
// parent's threads may have held.
static void after_fork_in_child(void) {
    pthread_mutex_init(&pool.owner, NULL);
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pool.workers = 0;
    pool.sleepers = 0;
    atomic_store(&pool.pending, 0);
    atomic_store(&pool.job, 0);
}

static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;
static void install_fork_handler(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

int mtl_pool_run(int threads, long chunks, mtl_pool_chunk_fn fn, void *context) {
    if (chunks <= 0) return 0;
    if (threads > chunks) threads = (int)chunks;
    if (threads <= 1) {
        for (long c = 0; c < chunks; c++) fn(context, c);
        return 0;
    }
    pthread_once(&fork_handler_once, install_fork_handler);
    if (pthread_mutex_trylock(&pool.owner) != 0) return -1;
    const int was_inside = inside_pool;
    inside_pool = 1;
    int available = ensure_workers(threads - 1);
    if (available < threads - 1) {
        inside_pool = was_inside;
        pthread_mutex_unlock(&pool.owner);
        return -1;
    }
    pool.fn = fn;
    pool.context = context;
    pool.chunks = chunks;
    for (long c = 0; c < chunks && c < MAX_CLAIMED; c++) atomic_store_explicit(&claimed[c], 0, memory_order_relaxed);
    atomic_store_explicit(&pool.pending, threads - 1, memory_order_relaxed);
    uint64_t previous = atomic_load_explicit(&pool.job, memory_order_relaxed);
    atomic_store_explicit(&pool.job, ((previous >> 16) + 1) << 16 | (uint64_t)threads, memory_order_release);
    pthread_mutex_lock(&pool.lock);
    if (pool.sleepers > 0) pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    run_share(0, threads, chunks, fn, context);

    int64_t until = 0;
    for (int i = 0; atomic_load_explicit(&pool.pending, memory_order_acquire) != 0; i++) {
        if (until == 0) {
            CPU_RELAX();
            if ((i & 63) == 63) until = now_ns() + CALLER_SPIN_NS;
        } else if (now_ns() < until) {
            CPU_RELAX();
        } else {
            sched_yield();
        }
    }
    inside_pool = was_inside;
    pthread_mutex_unlock(&pool.owner);
    return 0;
}

int mtl_pool_release(void) {
    if (inside_pool) return -1;
    // Waits for a loop in flight on another thread (as long as one loop takes); the next
    // loop after this starts workers anew (or, if it tries while this runs, falls back).
    pthread_mutex_lock(&pool.owner);
    const int workers = pool.workers;
    if (workers > 0) {
        // Every worker is idle or about to be: the owner mutex is held, and the last loop's
        // workers finished before it was released. Each one sees this job, polling or woken.
        uint64_t previous = atomic_load_explicit(&pool.job, memory_order_relaxed);
        atomic_store_explicit(&pool.job, ((previous >> 16) + 1) << 16 | STOP_WORKERS, memory_order_release);
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
        for (int w = 1; w <= workers; w++) pthread_join(worker_threads[w], NULL);
        pthread_mutex_lock(&pool.lock);
        pool.workers = 0;
        pool.sleepers = 0;
        pthread_mutex_unlock(&pool.lock);
    }
    pthread_mutex_unlock(&pool.owner);
    return 0;
}
