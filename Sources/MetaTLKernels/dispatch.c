// Compiles kernels_body.h once per instruction set and routes each mtl_k_* call to the variant
// chosen at load time (METATL_SIMD, else the best the CPU runs).
//
// Why not -march=native: the library must run on any x86-64 (and other) machine it is copied
// to, and must give the same bits on each. So the baseline build stays generic, and the wider
// variants are compiled alongside with per-function target attributes. FMA contraction is off
// everywhere: a fused multiply-add rounds once instead of twice and would make the AVX2 variant
// differ from the generic one.
#pragma clang fp contract(off)

#include "metatl_kernels.h"

#include <stdlib.h>
#include <string.h>

typedef float vf __attribute__((vector_size(64)));
typedef int32_t vi __attribute__((vector_size(64)));
typedef uint32_t vu __attribute__((vector_size(64)));
typedef _Bool vb __attribute__((ext_vector_type(16)));
typedef float vf4 __attribute__((vector_size(16)));

#define MTL_STRINGIFY2(x) #x
#define MTL_STRINGIFY(x) MTL_STRINGIFY2(x)

struct mtl_kernel_table {
    const char *name;
    void (*bias_sum)(const float *, const float *, long, float *, float *);
    void (*norm_forward_row)(const float *, const float *, float *, uint16_t *, long, float, float, float, float, int,
                             float, uint32_t, float, uint64_t);
    void (*norm_backward_row_stats)(const float *, const float *, const float *, const uint16_t *, long, float, float,
                                    int, float, uint32_t, float, float *, float *);
    void (*norm_backward_row_apply)(float *, const float *, const float *, const uint16_t *, float *, long, float,
                                    float, int, float, uint32_t, float, float, float, float, float);
    void (*adam_update)(float *, float *, float *, const float *, long, const mtl_adam_constants *);
    void (*adam_update_terms)(float *, float *, float *, long, const mtl_adam_constants *, const int32_t *, long,
                              const float *, const float *const *);
    void (*adam_replay)(float *, float *, float *, long, const mtl_adam_constants *, long);
    float (*transe_score_direction)(const float *, const float *, const float *, long, float *);
    float (*transe_score)(const float *, const float *, const float *, long);
    void (*add_scaled)(float *, float, const float *, long);
    void (*add_scaled_difference)(float *, float, const float *, const float *, long);
    float (*softmax_exp)(float *, long, float, const float *, float *);
};

// lowbias32 (Chris Wellons' integer hash): dropout draws are a pure function of (row key, unit),
// so 16 lanes hash at once and no generator state runs through a row. Each hash gives two 16-bit
// draws (the integer multiplies dominate the forward pass otherwise). The scalar twin of DRAWS in
// kernels_body.h, for the units after the last full group of 16.
static inline uint32_t mtl_mix32(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; x ^= x >> 16;
    return x;
}
static inline int mtl_dropped_scalar(long j, uint32_t threshold, uint64_t key) {
    uint32_t input = (uint32_t)(((j >> 5) << 4) + (j & 15));
    uint32_t bits = mtl_mix32(mtl_mix32(input + (uint32_t)(key >> 32)) ^ (uint32_t)key);
    uint32_t draw = (j & 16) ? bits >> 16 : bits & 0xffffu;
    return draw < threshold;
}

#define ISA generic
#include "kernels_body.h"
#undef ISA

#if defined(__x86_64__)
#define ISA avx2
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#include "kernels_body.h"
#pragma clang attribute pop
#undef ISA

#define ISA avx512
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2"))), apply_to = function)
#include "kernels_body.h"
#pragma clang attribute pop
#undef ISA
#endif

static const struct mtl_kernel_table *mtl_active;

static int mtl_supported(const struct mtl_kernel_table *t) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (t == &table_avx512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (t == &table_avx2) return __builtin_cpu_supports("avx2");
#endif
    return t == &table_generic;
}

static const struct mtl_kernel_table *mtl_find(const char *name) {
    const struct mtl_kernel_table *all[] = {
#if defined(__x86_64__)
        &table_avx512, &table_avx2,
#endif
        &table_generic,
    };
    size_t count = sizeof all / sizeof all[0];
    int automatic = name == NULL || strcmp(name, "auto") == 0;
    for (size_t i = 0; i < count; i++) {
        if ((automatic || strcmp(name, all[i]->name) == 0) && mtl_supported(all[i])) return all[i];
    }
    return NULL;
}

static const struct mtl_kernel_table *mtl_table(void) {
    const struct mtl_kernel_table *t = __atomic_load_n(&mtl_active, __ATOMIC_ACQUIRE);
    if (t) return t;
    t = mtl_find(getenv("METATL_SIMD"));
    if (!t) t = mtl_find(NULL);
    __atomic_store_n(&mtl_active, t, __ATOMIC_RELEASE);
    return t;
}

unsigned mtl_k_flush_denormals(void) {
#if defined(__x86_64__)
    unsigned state = __builtin_ia32_stmxcsr();
    __builtin_ia32_ldmxcsr(state | 0x8040u);   // FTZ (bit 15) and DAZ (bit 6)
    return state;
#else
    return 0;
#endif
}

void mtl_k_restore_denormals(unsigned state) {
#if defined(__x86_64__)
    __builtin_ia32_ldmxcsr(state);
#else
    (void)state;
#endif
}

int mtl_k_select(const char *name) {
    const struct mtl_kernel_table *t = mtl_find(name);
    if (!t) return -1;
    __atomic_store_n(&mtl_active, t, __ATOMIC_RELEASE);
    return 0;
}

const char *mtl_k_selected(void) { return mtl_table()->name; }

void mtl_k_bias_sum(const float *row, const float *bias, long n, float *sum, float *sq) {
    mtl_table()->bias_sum(row, bias, n, sum, sq);
}
void mtl_k_norm_forward_row(const float *z, const float *bias, float *y, uint16_t *bits, long n, float mean,
                            float invstd, float gamma, float beta, int activation, float slope, uint32_t threshold,
                            float keep, uint64_t key) {
    mtl_table()->norm_forward_row(z, bias, y, bits, n, mean, invstd, gamma, beta, activation, slope, threshold, keep,
                                  key);
}
void mtl_k_norm_backward_row_stats(const float *d, const float *z, const float *bias, const uint16_t *bits, long n,
                                   float mean, float invstd, int activation, float slope, uint32_t threshold,
                                   float keep, float *sum, float *dot) {
    mtl_table()->norm_backward_row_stats(d, z, bias, bits, n, mean, invstd, activation, slope, threshold, keep, sum,
                                         dot);
}
void mtl_k_norm_backward_row_apply(float *d, const float *z, const float *bias, const uint16_t *bits, float *colsum,
                                   long n, float mean, float invstd, int activation, float slope, uint32_t threshold,
                                   float keep, float k, float count, float sum_dy, float sum_dy_xhat) {
    mtl_table()->norm_backward_row_apply(d, z, bias, bits, colsum, n, mean, invstd, activation, slope, threshold, keep,
                                         k, count, sum_dy, sum_dy_xhat);
}
void mtl_k_adam_update(float *p, float *m, float *v, const float *grad, long n, const mtl_adam_constants *k) {
    mtl_table()->adam_update(p, m, v, grad, n, k);
}
void mtl_k_adam_update_terms(float *p, float *m, float *v, long n, const mtl_adam_constants *k, const int32_t *terms,
                             long count, const float *scale, const float *const *vector) {
    mtl_table()->adam_update_terms(p, m, v, n, k, terms, count, scale, vector);
}
void mtl_k_adam_replay(float *p, float *m, float *v, long n, const mtl_adam_constants *steps, long steps_count) {
    mtl_table()->adam_replay(p, m, v, n, steps, steps_count);
}
float mtl_k_transe_score_direction(const float *h, const float *r, const float *t, long n, float *direction) {
    return mtl_table()->transe_score_direction(h, r, t, n, direction);
}
float mtl_k_transe_score(const float *h, const float *r, const float *t, long n) {
    return mtl_table()->transe_score(h, r, t, n);
}
void mtl_k_add_scaled(float *y, float a, const float *x, long n) { mtl_table()->add_scaled(y, a, x, n); }
void mtl_k_add_scaled_difference(float *y, float a, const float *p, const float *q, long n) {
    mtl_table()->add_scaled_difference(y, a, p, q, n);
}

float mtl_k_softmax_exp(float *x, long n, float shift, const float *offset, float *weighted) {
    return mtl_table()->softmax_exp(x, n, shift, offset, weighted);
}

float mtl_k_transe_squared_distance(const float *h, const float *r, const float *t, long n) {
    // Eight lanes, so that the loop vectorises at any ISA.
    float lane[8] = {0};
    long j = 0;
    for (; j + 8 <= n; j += 8) {
        for (int l = 0; l < 8; l++) { float u = h[j + l] + r[j + l] - t[j + l]; lane[l] += u * u; }
    }
    for (; j < n; j++) { float u = h[j] + r[j] - t[j]; lane[0] += u * u; }
    float sum = 0;
    for (int l = 0; l < 8; l++) sum += lane[l];
    return sum;
}

float mtl_k_max_abs(const float *x, long n) {
    // Eight independent lanes so the loop vectorises; a NaN makes `x == x` false and is
    // counted apart, since max() drops it.
    float lane[8] = {0};
    long nan = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; l++) {
            float a = __builtin_fabsf(x[i + l]);
            nan += x[i + l] != x[i + l];
            lane[l] = a > lane[l] ? a : lane[l];
        }
    }
    for (; i < n; i++) {
        float a = __builtin_fabsf(x[i]);
        nan += x[i] != x[i];
        lane[0] = a > lane[0] ? a : lane[0];
    }
    float best = 0;
    for (int l = 0; l < 8; l++) best = lane[l] > best ? lane[l] : best;
    return nan ? __builtin_nanf("") : best;
}

void mtl_k_screen_bounds(const float *dots, long n, const double *tail_squares, const double *tail_norms, double qq,
                         double hr, double cu, double u, int squared, double alpha, const float *bias, double *a, double *b) {
    // Plain loops over arrays: they vectorise (no early exits, no calls but sqrt).
    for (long i = 0; i < n; i++) {
        double m = hr + tail_norms[i];
        double bd = cu * m * m;
        double dist = qq - 2.0 * (double)dots[i] + tail_squares[i];
        dist = dist > 0 ? dist : 0;
        if (squared) {
            double bias_i = bias ? (double)bias[i] : 0.0;
            a[i] = -alpha * dist + bias_i;
            b[i] = 2.0 * (alpha * bd + 2.02 * u * (alpha * (dist + bd) + __builtin_fabs(bias_i)));
        } else {
            a[i] = -__builtin_sqrt(dist);
            b[i] = 2.0 * (__builtin_sqrt(bd) + 1.01 * u * __builtin_sqrt(dist + bd));
        }
    }
}
