// See include/metatl_checksum.h.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "metatl_checksum.h"

uint64_t mtl_checksum64(const void *data, size_t n) { return (uint64_t)XXH3_64bits(data, n); }
