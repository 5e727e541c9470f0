// The faiss side of include/metatl_ivf.h. Nothing here knows about MetaTL's scores: the engine
// (Serve/ApproximateIndex.swift) turns items and queries into plain L2 vectors first.
#include "metatl_ivf.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/invlists/InvertedLists.h>
// OpenMP (libgomp, which faiss uses); declared here rather than through omp.h, which is the
// compiler's own header.
extern "C" int omp_get_max_threads(void);
extern "C" void omp_set_num_threads(int);

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

struct mtl_ivf {
    faiss::IndexFlatL2 quantizer;
    faiss::IndexIVFScalarQuantizer index;
    mtl_ivf(int dim, int lists)
        : quantizer(dim), index(&quantizer, dim, size_t(lists), faiss::ScalarQuantizer::QT_8bit, faiss::METRIC_L2) {}
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

extern "C" int mtl_ivf_create(int dim, int lists, const float *train, int64_t train_count, uint64_t seed, int threads,
                              mtl_ivf **out, char *error, size_t error_len) {
    if (!out || !train || dim < 1 || lists < 1 || train_count < int64_t(lists) * 39) {
        report(error, error_len, "mtl_ivf_create: invalid arguments");
        return 1;
    }
    *out = nullptr;
    return guarded(error, error_len, [&] {
        OpenMPThreads scope(threads);
        auto ivf = std::make_unique<mtl_ivf>(dim, lists);
        ivf->index.cp.seed = int(seed & 0x7fffffff);
        ivf->index.cp.niter = 20;
        ivf->index.cp.max_points_per_centroid = int(train_count / lists) + 1;   // faiss subsamples nothing
        ivf->index.verbose = false;
        ivf->index.train(train_count, train);
        *out = ivf.release();
    });
}

extern "C" int mtl_ivf_add(mtl_ivf *ivf, const float *vectors, int64_t count, const int64_t *ids, int threads,
                           char *error, size_t error_len) {
    if (!ivf || (count > 0 && (!vectors || !ids)) || count < 0) {
        report(error, error_len, "mtl_ivf_add: invalid arguments");
        return 1;
    }
    return guarded(error, error_len, [&] {
        OpenMPThreads scope(threads);
        ivf->index.add_with_ids(count, vectors, ids);
    });
}

extern "C" int mtl_ivf_search(const mtl_ivf *ivf, const float *queries, int64_t count, int64_t k, int probes,
                              int64_t *labels, char *error, size_t error_len) {
    if (!ivf || count < 0 || k < 1 || probes < 1 || (count > 0 && (!queries || !labels))) {
        report(error, error_len, "mtl_ivf_search: invalid arguments");
        return 1;
    }
    return guarded(error, error_len, [&] {
        OpenMPThreads scope(1);
        faiss::SearchParametersIVF params;
        params.nprobe = size_t(probes);
        std::vector<float> distances(size_t(count) * size_t(k));
        ivf->index.search(count, queries, k, distances.data(), labels, &params);
    });
}

extern "C" size_t mtl_ivf_bytes(const mtl_ivf *ivf) {
    if (!ivf) return 0;
    size_t n = ivf->index.ntotal;
    return n * (ivf->index.code_size + sizeof(faiss::Index::idx_t)) + ivf->quantizer.codes.size();
}

extern "C" void mtl_ivf_free(mtl_ivf *ivf) { delete ivf; }
