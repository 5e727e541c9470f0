// See metatl_threads.h (fork guard) and fork_guard.h. fork() copies memory, not threads: a child
// inherits, held, every lock a parent thread held at that instant, and the half-done work behind
// it. Two kinds of work must never be cut by a fork:
// - an OpenBLAS call: it may hold OpenBLAS's buffer-allocation lock, which the child would then
//   wait for on its first product, forever (OpenBLAS does not reset it);
// - a model held exclusively (a training step, a restore, a catch-up): the child would get a
//   half-updated model.
// Each runs holding one of two rwlocks shared; fork() takes both exclusively first (a
// pthread_atfork prepare handler), so it waits for the work in flight. Writers first, so a stream
// of products from serving threads cannot hold a fork off. Always model guard, then BLAS guard.
#define _GNU_SOURCE
#include "fork_guard.h"
#include "metatl_threads.h"

#include <pthread.h>

enum { MODEL, BLAS, GUARDS };
static pthread_rwlock_t guards[GUARDS];
static pthread_once_t guards_once = PTHREAD_ONCE_INIT;

static void make_guards(void) {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    for (int g = 0; g < GUARDS; g++) pthread_rwlock_init(&guards[g], &attr);
    pthread_rwlockattr_destroy(&attr);
}

static void before_fork(void) {
    for (int g = 0; g < GUARDS; g++) pthread_rwlock_wrlock(&guards[g]);
}
static void after_fork_in_parent(void) {
    for (int g = GUARDS - 1; g >= 0; g--) pthread_rwlock_unlock(&guards[g]);
}
// The child's are made anew: they also record the parent's threads that queued for them.
static void after_fork_in_child(void) { make_guards(); }

static void init_guards(void) {
    make_guards();
    pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

static void enter(int g) {
    pthread_once(&guards_once, init_guards);
    pthread_rwlock_rdlock(&guards[g]);
}

void mtl_fork_guard_enter(void) { enter(BLAS); }
void mtl_fork_guard_leave(void) { pthread_rwlock_unlock(&guards[BLAS]); }
void mtl_fork_guard_model_enter(void) { enter(MODEL); }
void mtl_fork_guard_model_leave(void) { pthread_rwlock_unlock(&guards[MODEL]); }
