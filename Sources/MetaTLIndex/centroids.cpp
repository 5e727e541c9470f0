// The faiss side of include/metatl_centroids.h. Nothing here knows about MetaTL's scores: the engine
// (Serve/ApproximateIndex.swift) turns items and queries into plain L2 vectors first, and keeps
// the inverted lists itself (row ids into the model's own table, no copy of the vectors).
#include "metatl_centroids.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

// OpenMP (libgomp, which faiss uses); declared here rather than through omp.h, which is the
// compiler's own header.
extern "C" int omp_get_max_threads(void);
extern "C" void omp_set_num_threads(int);

struct mtl_centroids {
    faiss::IndexFlatL2 flat;
    explicit mtl_centroids(int dim) : flat(dim) {}
};

namespace {

void report(char *error, size_t len, const char *what) {
    if (error && len > 0) std::snprintf(error, len, "%s", what ? what : "unknown faiss error");
}

// OpenMP's thread count is a per-thread setting of the caller's: set ours for the call, then
// give the caller theirs back.
struct OpenMPThreads {
    int before;
    explicit OpenMPThreads(int n) : before(omp_get_max_threads()) { omp_set_num_threads(n < 1 ? 1 : n); }
    ~OpenMPThreads() { omp_set_num_threads(before); }
};

template <typename F>
int guarded(char *error, size_t len, F body) {
    try {
        body();
        return 0;
    } catch (const std::exception &e) {
        report(error, len, e.what());
    } catch (...) {
        report(error, len, nullptr);
    }
    return 1;
}

}  // namespace

extern "C" int mtl_centroids_train(int dim, int count, const float *train, int64_t train_count, uint64_t seed,
                                   int threads, mtl_centroids **out, char *error, size_t error_len) {
    if (!out || !train || dim < 1 || count < 1 || train_count < int64_t(count) * 39) {
        report(error, error_len, "mtl_centroids_train: invalid arguments");
        return 1;
    }
    *out = nullptr;
    return guarded(error, error_len, [&] {
        OpenMPThreads scope(threads);
        faiss::ClusteringParameters cp;
        cp.niter = 20;
        cp.seed = int(seed & 0x7fffffff);
        cp.max_points_per_centroid = int(train_count / count) + 1;   // faiss subsamples nothing
        cp.verbose = false;
        faiss::Clustering kmeans(dim, count, cp);
        auto made = std::make_unique<mtl_centroids>(dim);
        kmeans.train(train_count, train, made->flat);   // leaves the centroids in the flat index
        *out = made.release();
    });
}

extern "C" int mtl_centroids_nearest(const mtl_centroids *centroids, const float *vectors, int64_t count, int64_t k,
                                     int threads, int64_t *nearest, char *error, size_t error_len) {
    if (!centroids || count < 0 || k < 1 || k > centroids->flat.ntotal || (count > 0 && (!vectors || !nearest))) {
        report(error, error_len, "mtl_centroids_nearest: invalid arguments");
        return 1;
    }
    return guarded(error, error_len, [&] {
        OpenMPThreads scope(threads);
        std::vector<float> distances(size_t(count) * size_t(k));
        centroids->flat.search(count, vectors, k, distances.data(), nearest);
    });
}

extern "C" void mtl_centroids_free(mtl_centroids *centroids) { delete centroids; }
