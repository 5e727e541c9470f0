// See include/metatl_checksum.h.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "metatl_checksum.h"

uint64_t mtl_checksum64(const void *data, size_t n) { return (uint64_t)XXH3_64bits(data, n); }

struct mtl_checksum_state { XXH3_state_t xxh; };

mtl_checksum_state *mtl_checksum_create(void) {
    XXH3_state_t *s = XXH3_createState();
    if (s == NULL) return NULL;
    XXH3_64bits_reset(s);
    return (mtl_checksum_state *)s;
}

void mtl_checksum_reset(mtl_checksum_state *state) { XXH3_64bits_reset((XXH3_state_t *)state); }

void mtl_checksum_update(mtl_checksum_state *state, const void *data, size_t n) {
    if (n > 0) XXH3_64bits_update((XXH3_state_t *)state, data, n);
}

uint64_t mtl_checksum_digest(const mtl_checksum_state *state) {
    return (uint64_t)XXH3_64bits_digest((const XXH3_state_t *)state);
}

void mtl_checksum_free(mtl_checksum_state *state) { XXH3_freeState((XXH3_state_t *)state); }
