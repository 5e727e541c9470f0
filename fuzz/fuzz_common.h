/*
 * Shared helpers of the libFuzzer harnesses in fuzz/. Each harness drives the C ABI of
 * include/metatl.h exactly as a caller would, and aborts (which libFuzzer reports as a crash)
 * when the library breaks its written contract: an unknown or internal status, a failure
 * without a message, or a result that contradicts another call.
 */
#ifndef METATL_FUZZ_COMMON_H
#define METATL_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <metatl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Stops the run with a message: libFuzzer records the input as a crash. */
#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "contract violated at %s:%d: %s (last error: %s)\n", __FILE__,  \
                    __LINE__, #cond, mt_last_error_message());                             \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* Every status must be one the header defines, never MT_ERR_INTERNAL (a bug by definition),
 * and every failure must leave a message. */
static inline mt_status fuzz_status(mt_status s) {
    switch (s) {
    case MT_OK:
        return s;
    case MT_ERR_INVALID_ARGUMENT: case MT_ERR_INVALID_DATA: case MT_ERR_NOT_FOUND: case MT_ERR_IO:
    case MT_ERR_BUFFER_TOO_SMALL: case MT_ERR_UNKNOWN_ITEM: case MT_ERR_BUSY: case MT_ERR_BAD_CHECKPOINT:
    case MT_ERR_INVALID_STATE: case MT_ERR_DIVERGED:
        FUZZ_CHECK(mt_last_error_message()[0] != '\0');
        return s;
    default:
        fprintf(stderr, "unexpected status %d (%s): %s\n", s, mt_status_name(s), mt_last_error_message());
        abort();
    }
}

/* The bytes as a file the library can open by path, without touching the disk: an in-memory
 * file (memfd) per slot, rewritten for every input, named /proc/self/fd/N. */
static inline const char *fuzz_file(int slot, const uint8_t *data, size_t size) {
    static int fds[4] = {-1, -1, -1, -1};
    static char paths[4][64];
    if (fds[slot] < 0) {
        fds[slot] = memfd_create("metatl-fuzz", MFD_CLOEXEC);
        if (fds[slot] < 0) { perror("memfd_create"); abort(); }
        snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
    }
    if (ftruncate(fds[slot], 0) != 0) { perror("ftruncate"); abort(); }
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite(fds[slot], data + done, size - done, (off_t)done);
        if (n <= 0) { perror("pwrite"); abort(); }
        done += (size_t)n;
    }
    return paths[slot];
}

/* A small, quick configuration for models made inside a harness: the reference preset's. */
static inline mt_config fuzz_config(void) {
    mt_config c = mt_config_default();
    FUZZ_CHECK(mt_config_preset("reference", &c) == MT_OK);
    c.dim = 4; c.hidden1 = 6; c.hidden2 = 5; c.batch_size = 8; c.threads = 1;
    return c;
}

#endif
