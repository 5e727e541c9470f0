#ifndef METATL_CENTROIDS_H
#define METATL_CENTROIDS_H
/* The engine's only door to faiss (Debian: libfaiss-dev, linked statically): k-means centroids
 * and the nearest centroids of vectors under the L2 metric (faiss::Clustering, IndexFlatL2), for
 * the catalogue's inverted file (Serve/ApproximateIndex.swift). C functions so that Swift can call
 * them; every faiss exception is caught here and comes back as a nonzero return with its message
 * in `error` (never across the boundary). */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mtl_centroids mtl_centroids;

/* `count` k-means centroids of the `train_count` vectors of `train` (dim floats each,
 * row-major; at least 39 per centroid, so that faiss never warns), 20 iterations seeded by
 * `seed`, on `threads` OpenMP threads (the caller's own OpenMP setting is restored).
 * 0 on success with them in *out. */
int mtl_centroids_train(int dim, int count, const float *train, int64_t train_count, uint64_t seed, int threads,
                        mtl_centroids **out, char *error, size_t error_len);

/* The `k` nearest centroids of each of `vectors` (count x dim), nearest first, into
 * nearest[v * k ...]; `threads` OpenMP threads. Safe to call from many threads at once. */
int mtl_centroids_nearest(const mtl_centroids *centroids, const float *vectors, int64_t count, int64_t k, int threads,
                          int64_t *nearest, char *error, size_t error_len);

void mtl_centroids_free(mtl_centroids *centroids);

#ifdef __cplusplus
}
#endif
#endif
