// Checksums of checkpoint tensors: XXH3-64 from xxHash (Debian libxxhash-dev), compiled inline
// into the library (XXH_INLINE_ALL), so libmetatl needs no xxHash library at run time.
//
// Internal to the MetaTL Swift module; not part of the public C ABI (include/metatl.h).
#ifndef METATL_CHECKSUM_H
#define METATL_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// XXH3-64 of the n bytes at data (seed 0). data may be NULL when n is 0.
uint64_t mtl_checksum64(const void *data, size_t n);

/// The same checksum of bytes given in pieces (checkpoints written as they are streamed): the
/// digest after any sequence of updates equals mtl_checksum64 of their concatenation.
typedef struct mtl_checksum_state mtl_checksum_state;
/// A fresh state (reset), or NULL when memory runs out.
mtl_checksum_state *mtl_checksum_create(void);
void mtl_checksum_reset(mtl_checksum_state *state);
/// data may be NULL when n is 0.
void mtl_checksum_update(mtl_checksum_state *state, const void *data, size_t n);
uint64_t mtl_checksum_digest(const mtl_checksum_state *state);
void mtl_checksum_free(mtl_checksum_state *state);

#ifdef __cplusplus
}
#endif
#endif
