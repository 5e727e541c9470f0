// See metatl_access.h. A mutex, two condition variables and a few counters; every wait is a
// pthread_cond_wait loop on the condition written next to it.
#include "metatl_access.h"

#include <pthread.h>
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
    int training;                   // the training token is taken
};

size_t mtl_access_size(void) { return sizeof(struct mtl_access); }

static void init_sync(mtl_access *a) {
    pthread_mutex_init(&a->mutex, NULL);
    pthread_cond_init(&a->readers_cv, NULL);
    pthread_cond_init(&a->exclusive_cv, NULL);
}

void mtl_access_init(mtl_access *a) {
    memset(a, 0, sizeof *a);
    init_sync(a);
}

void mtl_access_destroy(mtl_access *a) {
    pthread_cond_destroy(&a->exclusive_cv);
    pthread_cond_destroy(&a->readers_cv);
    pthread_mutex_destroy(&a->mutex);
}

static void enter(mtl_access *a) { pthread_mutex_lock(&a->mutex); }

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
        return MTL_ACCESS_STALE;
    }
    release_exclusive(a, 0);
    a->readers++;
    pthread_mutex_unlock(&a->mutex);
    return MTL_ACCESS_OK;
}

void mtl_access_downgrade(mtl_access *a) {
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
    pthread_mutex_lock(&a->mutex);
    release_exclusive(a, stale != 0);
    pthread_mutex_unlock(&a->mutex);
}

int mtl_access_begin_training(mtl_access *a) {
    enter(a);
    int status = MTL_ACCESS_BUSY;
    if (!a->training) {
        a->training = 1;
        status = MTL_ACCESS_OK;
    }
    pthread_mutex_unlock(&a->mutex);
    return status;
}

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
