// The model side of the fork guard (see fork_guard.c), for access.c: held while a model is held
// exclusively, so that fork() waits for that work to end. Never nested on one thread.
#ifndef METATL_FORK_GUARD_H
#define METATL_FORK_GUARD_H

void mtl_fork_guard_model_enter(void);
void mtl_fork_guard_model_leave(void);

#endif
