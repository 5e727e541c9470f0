// The engine's element-wise inner loops (everything beside the BLAS products), in C so that
// each can be compiled for several instruction sets and picked at run time (see dispatch.c).
//
// Internal to the MetaTL Swift module; not part of the public C ABI (include/metatl.h).
// Every variant performs the same IEEE operations in the same order (no FMA contraction, fixed
// 16-lane accumulators reduced lane 0..15), so results are bit-identical whichever runs.
#ifndef METATL_KERNELS_H
#define METATL_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One Adam step's constants (float32, derived in double precision as PyTorch does).
typedef struct {
    float step_size;     ///< lr / (1 - beta1^t)
    float bc2_sqrt;      ///< sqrt(1 - beta2^t)
    float one_minus_b1;  ///< 1 - beta1
    float b2;            ///< beta2
    float one_minus_b2;  ///< 1 - beta2
    float eps;
} mtl_adam_constants;

/// *sum = Σ (row + bias), *sq = Σ (row + bias)² over n values (row is not changed).
void mtl_k_bias_sum(const float *row, const float *bias, long n, float *sum, float *sq);

// Training BatchNorm → LeakyReLU → Dropout over one row. z is the Linear product without its
// bias; x̂ = (z + bias - mean)·invstd is recomputed wherever needed instead of being stored.
// y = gamma·x̂ + beta, then, when `activation`, LeakyReLU(slope) and dropout: element j is
// dropped when its 16-bit draw is below threshold (threshold = p·2¹⁶; 0: no dropout) and kept
// elements are scaled by `keep` = 1/(1-p). One 32-bit hash of (key, 32-element group, lane l)
// gives the draws of elements 32q + l (low half) and 32q + 16 + l (high half).
//
// With `activation`, the forward records for the backward, per 16 elements (the last group may
// be partial), two 16-bit words in `bits` (2·⌈n/16⌉ words): bit l of word 2c is set when element
// 16c + l was dropped, bit l of word 2c + 1 when its pre-activation was not positive.

/// The forward: y[0..<n] from z (bits unused, may be NULL, without `activation`).
void mtl_k_norm_forward_row(const float *z, const float *bias, float *y, uint16_t *bits, long n, float mean,
                            float invstd, float gamma, float beta, int activation, float slope, uint32_t threshold,
                            float keep, uint64_t key);

/// The backward's first pass: with g = dL/d(gamma·x̂ + beta) from d = dL/dy (through dropout and
/// the activation, as the forward's bits record), *sum = Σ g and *dot = Σ g·x̂. d is not changed.
void mtl_k_norm_backward_row_stats(const float *d, const float *z, const float *bias, const uint16_t *bits, long n,
                                   float mean, float invstd, int activation, float slope, uint32_t threshold,
                                   float keep, float *sum, float *dot);

/// The backward's second pass: d ← k·(count·g - sum_dy - x̂·sum_dy_xhat) (BatchNorm's input
/// gradient, g as above) and colsum += d.
void mtl_k_norm_backward_row_apply(float *d, const float *z, const float *bias, const uint16_t *bits, float *colsum,
                                   long n, float mean, float invstd, int activation, float slope, uint32_t threshold,
                                   float keep, float k, float count, float sum_dy, float sum_dy_xhat);

/// PyTorch's Adam update over n values; grad NULL means g = 0.
void mtl_k_adam_update(float *p, float *m, float *v, const float *grad, long n, const mtl_adam_constants *k);

/// mtl_k_adam_update with the gradient g = Σ scale[i]·vector[i] over the term indices
/// i = terms[0..<count], added in that order to zero (NULL vectors skipped): the same result as
/// summing them into a zeroed buffer with mtl_k_add_scaled and calling mtl_k_adam_update with it.
void mtl_k_adam_update_terms(float *p, float *m, float *v, long n, const mtl_adam_constants *k, const int32_t *terms,
                             long count, const float *scale, const float *const *vector);

/// steps_count zero-gradient Adam updates with constants steps[0..<steps_count], exactly as that
/// many calls of mtl_k_adam_update with grad NULL.
void mtl_k_adam_replay(float *p, float *m, float *v, long n, const mtl_adam_constants *steps, long steps_count);

/// TransE: returns -‖h + r - t‖₂ and writes u/‖u‖ (u = h + r - t; zero when ‖u‖ = 0) to direction.
float mtl_k_transe_score_direction(const float *h, const float *r, const float *t, long n, float *direction);

/// TransE: -‖h + r - t‖₂.
float mtl_k_transe_score(const float *h, const float *r, const float *t, long n);

/// The softmax's exponentials in place: x[i] ← exp(x[i] - shift) for x[i] > -∞ (≤ 0 after the
/// shift), 0 for -∞ (a masked logit); returns Σ x[i] and writes Σ x[i]·(old x[i] - offset[i])
/// over the unmasked ones to *weighted. The same values on every instruction set.
float mtl_k_softmax_exp(float *x, long n, float shift, const float *offset, float *weighted);

/// ‖h + r - t‖₂² (the softmax loss's score; see ScoreRule).
float mtl_k_transe_squared_distance(const float *h, const float *r, const float *t, long n);

/* The catalogue screen's scores and error bounds for one user over n rows (Swift's
 * CatalogueScreen says why the bound holds): distance = max(0, qq - 2 dots[i] + tail_squares[i]);
 * squared rule: a = -alpha distance + bias[i] (bias may be NULL), b = 2 (alpha bD + 2.02 u (alpha
 * (distance + bD) + |bias|)); else a = -sqrt(distance), b = 2 (sqrt(bD) + 1.01 u sqrt(distance + bD));
 * bD = cu (hr + tail_norms[i])^2. */
void mtl_k_screen_bounds(const float *dots, long n, const double *tail_squares, const double *tail_norms, double qq,
                         double hr, double cu, double u, int squared, double alpha, const float *bias, double *a, double *b);

/// y += a·x.
void mtl_k_add_scaled(float *y, float a, const float *x, long n);

/// y += a·(p - q).
void mtl_k_add_scaled_difference(float *y, float a, const float *p, const float *q, long n);

/// The largest |x[i]| over n values (0 for n = 0), or NaN when any value is NaN: one read-only
/// pass, for the checks that keep a model finite and within its bounds (ValueLimits.swift).
/// Plain C (the compiler vectorises it for the baseline ISA); not in the dispatch table since
/// its result does not depend on operation order.
float mtl_k_max_abs(const float *x, long n);

/// Asks the CPU to start loading the n floats at p into its caches (a hint: nothing is read or
/// changed). For rows fetched at random from a table too large for the caches (embedding rows),
/// issued a few rows ahead of their use.
static inline void mtl_prefetch(const float *p, long n) {
    for (long i = 0; i < n; i += 16) __builtin_prefetch(p + i);
    if (n > 0) __builtin_prefetch(p + n - 1);
}

/// Prefetches the cache line at base + byte_offset (see mtl_prefetch).
static inline void mtl_prefetch_at(const void *base, long byte_offset) {
    __builtin_prefetch((const char *)base + byte_offset);
}

/// Makes this thread flush denormal floats to zero (x86: MXCSR's FTZ and DAZ bits; elsewhere
/// nothing) and returns the previous state for mtl_k_restore_denormals. Adam wraps its work in
/// these: a long-idle row's first moment decays by β₁ each replayed step into the denormal range
/// (where it stays: 0.1·m rounds to nothing), and there every operation costs ~100x. Flushed, it
/// stays at the smallest normal numbers instead; either way the parameter steps it makes are far
/// below a parameter's resolution.
unsigned mtl_k_flush_denormals(void);

/// Restores the state mtl_k_flush_denormals returned.
void mtl_k_restore_denormals(unsigned state);

/// Chooses the variant: "avx512", "avx2", "generic", or NULL / "auto" for the best this CPU
/// runs. Returns 0, or -1 (nothing changed) when the name is unknown or the CPU lacks it.
/// The default at load time is METATL_SIMD from the environment when valid, else "auto".
/// Not for use while other threads run kernels.
int mtl_k_select(const char *name);

/// The variant in use.
const char *mtl_k_selected(void);

#ifdef __cplusplus
}
#endif
#endif
