#ifndef METATL_IVF_H
#define METATL_IVF_H
/* The engine's only door to faiss (Debian: libfaiss-dev, linked statically): an inverted-file
 * index with 8-bit scalar-quantised codes (faiss's IndexIVFScalarQuantizer, "IVFn,SQ8") under
 * the L2 metric. C functions so that Swift can call them; every faiss exception is caught here
 * and comes back as a nonzero return with its message in `error` (never across the boundary). */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtl_ivf mtl_ivf;

/* A trained, empty index of `lists` inverted lists over `dim`-dimensional vectors: k-means on the
 * `train_count` vectors of `train` (row-major; at least 39 per list, so faiss never warns),
 * seeded by `seed`, on `threads` OpenMP threads (the caller's own OpenMP setting is restored).
 * 0 on success with the index in *out. */
int mtl_ivf_create(int dim, int lists, const float *train, int64_t train_count, uint64_t seed, int threads,
                   mtl_ivf **out, char *error, size_t error_len);

/* Appends `count` vectors with ids `ids`. */
int mtl_ivf_add(mtl_ivf *index, const float *vectors, int64_t count, const int64_t *ids, int threads,
                char *error, size_t error_len);

/* The `k` nearest ids (by the codes' squared L2 distance) of each of `queries` (count x dim),
 * probing `probes` lists: ids into labels[q * k ...] (-1 past the end of what was found).
 * Single-threaded and safe to call from many threads at once. */
int mtl_ivf_search(const mtl_ivf *index, const float *queries, int64_t count, int64_t k, int probes,
                   int64_t *labels, char *error, size_t error_len);

/* Bytes held by the codes and ids. */
size_t mtl_ivf_bytes(const mtl_ivf *index);

void mtl_ivf_free(mtl_ivf *index);

#ifdef __cplusplus
}
#endif
#endif
