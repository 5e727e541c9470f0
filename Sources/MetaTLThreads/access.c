// See metatl_access.h. A mutex, two condition variables and a few counters; every wait is a
// pthread_cond_wait loop on the condition written next to it.
#include "metatl_access.h"
#include "fork_guard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

struct mtl_access {
    pthread_mutex_t mutex;
    pthread_cond_t readers_cv;      // readers waiting to get in
    pthread_cond_t exclusive_cv;    // exclusive requests waiting for their turn
    int readers;                    // calls holding shared access
    int writer;                     // 1 while exclusive access is held
    int waiting_readers;
    int admitted;                   // readers let in by the last release, not yet in
    uint64_t releases;              // exclusive releases so far (a waiting reader notes the count)
    uint64_t next_ticket, serving;  // exclusive requests, served in ticket order
    int stale;                      // the model has pending work (see the header)
    int training;                   // the training token is taken...
    pthread_t trainer;              // ...by this thread
    _Atomic uint64_t generation;    // the fork generation this state belongs to
};

// Fork generations: incremented in each child, so a lock can tell that its state was copied
// from the parent. `forking_thread` is the thread that forked (the only one in the child).
static _Atomic uint64_t fork_generation;
static pthread_t forking_thread;
static pthread_mutex_t repair = PTHREAD_MUTEX_INITIALIZER;

static void after_fork_in_child(void) {
    pthread_mutex_init(&repair, NULL);
    forking_thread = pthread_self();
    atomic_fetch_add(&fork_generation, 1);
}

static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;
static void install_fork_handler(void) { pthread_atfork(NULL, NULL, after_fork_in_child); }

size_t mtl_access_size(void) { return sizeof(struct mtl_access); }

static void init_sync(mtl_access *a) {
    pthread_mutex_init(&a->mutex, NULL);
    pthread_cond_init(&a->readers_cv, NULL);
    pthread_cond_init(&a->exclusive_cv, NULL);
}

void mtl_access_init(mtl_access *a) {
    pthread_once(&fork_handler_once, install_fork_handler);
    memset(a, 0, sizeof *a);
    init_sync(a);
    atomic_init(&a->generation, atomic_load(&fork_generation));
}

void mtl_access_destroy(mtl_access *a) {
    pthread_cond_destroy(&a->exclusive_cv);
    pthread_cond_destroy(&a->readers_cv);
    pthread_mutex_destroy(&a->mutex);
}

// First use in a forked child: the parent's other threads, which held or waited for this lock
// (and possibly its mutex), do not exist here. Forget them. None was changing the model: fork()
// waits for exclusive work in flight (the model fork guard), so an exclusive holder at the fork
// had not started or had finished.
static void repair_after_fork(mtl_access *a) {
    pthread_mutex_lock(&repair);
    uint64_t now = atomic_load(&fork_generation);
    if (atomic_load(&a->generation) != now) {
        init_sync(a);
        a->writer = 0;
        a->readers = a->waiting_readers = a->admitted = 0;
        a->next_ticket = a->serving = 0;
        if (a->training && !pthread_equal(a->trainer, forking_thread)) a->training = 0;
        atomic_store(&a->generation, now);
    }
    pthread_mutex_unlock(&repair);
}

// Every call that may be a forked child's first use of the lock locks the mutex through this.
static void enter(mtl_access *a) {
    if (atomic_load_explicit(&a->generation, memory_order_acquire) != atomic_load_explicit(&fork_generation, memory_order_acquire))
        repair_after_fork(a);
    pthread_mutex_lock(&a->mutex);
}

// With the mutex held: queues an exclusive request and waits for its turn, with no reader in
// and none admitted by the previous release still on its way.
static void wait_exclusive(mtl_access *a) {
    uint64_t ticket = a->next_ticket++;
    while (ticket != a->serving || a->writer || a->readers > 0 || a->admitted > 0)
        pthread_cond_wait(&a->exclusive_cv, &a->mutex);
    a->writer = 1;
}

// With the mutex held, by the exclusive holder: ends exclusive access, letting in every reader
// waiting now before the next exclusive request.
static void release_exclusive(mtl_access *a, int stale) {
    a->writer = 0;
    a->serving++;
    a->releases++;
    a->stale = stale;
    a->admitted = a->waiting_readers;
    if (a->waiting_readers > 0) pthread_cond_broadcast(&a->readers_cv);
    pthread_cond_broadcast(&a->exclusive_cv);   // tickets: each waiter checks whether it is next
}

int mtl_access_lock_shared(mtl_access *a) {
    enter(a);
    // In at once when no exclusive request is queued or held; else wait for a release (writers
    // first), which admits this reader ahead of the next request.
    if (a->next_ticket != a->serving) {
        uint64_t seen = a->releases;
        a->waiting_readers++;
        while (a->next_ticket != a->serving && (a->releases == seen || a->writer))
            pthread_cond_wait(&a->readers_cv, &a->mutex);
        a->waiting_readers--;
        if (a->releases != seen) a->admitted--;
        if (a->admitted == 0) pthread_cond_broadcast(&a->exclusive_cv);
    }
    if (!a->stale) {
        a->readers++;
        pthread_mutex_unlock(&a->mutex);
        return MTL_ACCESS_OK;
    }
    // Pending work: this reader brings the model up to date, holding it alone. Another may have
    // done it by the time this one's turn comes; then it is a reader at once.
    wait_exclusive(a);
    if (a->stale) {
        pthread_mutex_unlock(&a->mutex);
        mtl_fork_guard_model_enter();
        return MTL_ACCESS_STALE;
    }
    release_exclusive(a, 0);
    a->readers++;
    pthread_mutex_unlock(&a->mutex);
    return MTL_ACCESS_OK;
}

void mtl_access_downgrade(mtl_access *a) {
    mtl_fork_guard_model_leave();
    pthread_mutex_lock(&a->mutex);
    release_exclusive(a, 0);
    a->readers++;
    pthread_mutex_unlock(&a->mutex);
}

void mtl_access_unlock_shared(mtl_access *a) {
    pthread_mutex_lock(&a->mutex);
    a->readers--;
    if (a->readers == 0) pthread_cond_broadcast(&a->exclusive_cv);
    pthread_mutex_unlock(&a->mutex);
}

int mtl_access_lock_exclusive(mtl_access *a) {
    enter(a);
    wait_exclusive(a);
    int stale = a->stale;
    pthread_mutex_unlock(&a->mutex);
    mtl_fork_guard_model_enter();
    return stale ? MTL_ACCESS_STALE : MTL_ACCESS_OK;
}

int mtl_access_has_waiters(mtl_access *a) {
    pthread_mutex_lock(&a->mutex);
    // The holder's own ticket is the one being served.
    int waiting = a->waiting_readers > 0 || a->next_ticket - a->serving > 1;
    pthread_mutex_unlock(&a->mutex);
    return waiting;
}

void mtl_access_unlock_exclusive(mtl_access *a, int stale) {
    mtl_fork_guard_model_leave();
    pthread_mutex_lock(&a->mutex);
    release_exclusive(a, stale != 0);
    pthread_mutex_unlock(&a->mutex);
}

int mtl_access_begin_training(mtl_access *a) {
    enter(a);
    int status = MTL_ACCESS_BUSY;
    if (!a->training) {
        a->training = 1;
        a->trainer = pthread_self();
        status = MTL_ACCESS_OK;
    }
    pthread_mutex_unlock(&a->mutex);
    return status;
}

// (The token may be ended in a forked child: by the thread that forked from a progress callback.)
void mtl_access_end_training(mtl_access *a) {
    enter(a);
    a->training = 0;
    pthread_mutex_unlock(&a->mutex);
}

void mtl_access_counts(mtl_access *a, int *readers, int *waiting_readers, int *exclusive) {
    enter(a);
    *readers = a->readers;
    *waiting_readers = a->waiting_readers;
    *exclusive = (int)(a->next_ticket - a->serving);
    pthread_mutex_unlock(&a->mutex);
}
