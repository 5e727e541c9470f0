// The lock that arbitrates a model between serving and training (AccessLock.swift wraps it).
//
// Internal to the MetaTL Swift module; not part of the public C ABI (include/metatl.h), whose
// "Thread safety" section states the contract this implements.
//
// - Shared access (serving, evaluation, saving) and exclusive access (one training step, a
//   snapshot, a restore, setting a tensor) wait for each other; neither ever fails because of
//   the other.
// - Writers first: once an exclusive request is queued, readers that arrive wait, so a stream
//   of readers cannot starve it; exclusive requests are served in arrival order.
// - No reader starvation either: when exclusive access ends, the readers waiting at that moment
//   get in before the next exclusive request (a training loop that releases and asks again at
//   once lets them through first).
// - Stale: a training step may leave work pending (lazy optimiser updates) that readers must
//   not see. Its release says so; the next call to get the model is then handed it exclusively
//   with MTL_ACCESS_STALE, must bring it up to date, and continues (a reader as a reader).
// - The training token: one training call at a time; a second one is refused at once.
// - Fork: fork() waits for exclusive work in flight (see fork_guard.c), so a child never gets a
//   half-updated model. The child has only the thread that forked: on its first use there a
//   lock forgets its holders and waiters (they do not exist) and the training token unless the
//   forking thread holds it.
#ifndef METATL_ACCESS_H
#define METATL_ACCESS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtl_access mtl_access;

enum {
    MTL_ACCESS_OK = 0,
    /// Exclusive access is held and the model has pending work: bring it up to date, then call
    /// mtl_access_downgrade (a reader) or go on (an exclusive caller).
    MTL_ACCESS_STALE = 1,
    /// Another training call holds the training token.
    MTL_ACCESS_BUSY = -1,
};

/// Bytes to allocate for one lock (any alignment up to 16).
size_t mtl_access_size(void);
void mtl_access_init(mtl_access *a);
void mtl_access_destroy(mtl_access *a);

/// Waits for shared access. MTL_ACCESS_OK: shared access is held. MTL_ACCESS_STALE: exclusive
/// access is held instead; bring the model up to date, then mtl_access_downgrade.
int mtl_access_lock_shared(mtl_access *a);
/// Exclusive access (held after a STALE answer, with the model brought up to date) becomes shared.
void mtl_access_downgrade(mtl_access *a);
void mtl_access_unlock_shared(mtl_access *a);

/// Waits for exclusive access: MTL_ACCESS_OK, or MTL_ACCESS_STALE (held; the model has pending
/// work). A fork() meanwhile waits until it is released.
int mtl_access_lock_exclusive(mtl_access *a);
/// Whether other calls wait for the model (asked by the exclusive holder).
int mtl_access_has_waiters(mtl_access *a);
/// Ends exclusive access; `stale` nonzero: the model is left with pending work.
void mtl_access_unlock_exclusive(mtl_access *a, int stale);

/// Takes the training token: MTL_ACCESS_OK, or MTL_ACCESS_BUSY (another training call holds it).
/// It does not hold the model: each step asks for exclusive access.
int mtl_access_begin_training(mtl_access *a);
void mtl_access_end_training(mtl_access *a);

/// For tests: calls holding shared access, readers waiting, exclusive requests queued or held.
void mtl_access_counts(mtl_access *a, int *readers, int *waiting_readers, int *exclusive);

#ifdef __cplusplus
}
#endif

#endif
