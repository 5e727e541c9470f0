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

#ifdef __cplusplus
}
#endif
#endif
