// The kernels' bodies, written once and compiled once per instruction set: dispatch.c includes
// this file with ISA defined (avx512, avx2, generic) inside a `#pragma clang attribute` region
// that sets the target. Vectors are clang's generic 16-lane types, which each target lowers to
// one zmm, two ymm or four xmm registers with the same per-lane results.

#define MTL_CAT2(a, b) a##_##b
#define MTL_CAT(a, b) MTL_CAT2(a, b)
#define K(name) MTL_CAT(name, ISA)

// Helpers are macros, not functions: a 64-byte vector passed by value would change the calling
// convention between variants (clang warns, -Wpsabi), and these must inline anyway.
#define LD(p) ({ vf _v; __builtin_memcpy(&_v, (p), sizeof _v); _v; })
#define LD4(p) ({ vf4 _v; __builtin_memcpy(&_v, (p), sizeof _v); _v; })
#define ST4(p, v) do { vf4 _v = (v); __builtin_memcpy((p), &_v, sizeof _v); } while (0)
#define SCALAR_ST(p, v) (*(p) = (v))
#define SPLAT4(x) ((vf4){0} + (float)(x))
#define ST(p, v) do { vf _v = (v); __builtin_memcpy((p), &_v, sizeof _v); } while (0)
#define SPLAT(x) ((vf){0} + (float)(x))
#define SELECT(mask, a, b) ({ vi _m = (mask); (vf)(((vi)(a) & _m) | ((vi)(b) & ~_m)); })
#define REDUCE(v) ({ vf _v = (v); float _s = 0; for (int _l = 0; _l < 16; _l++) _s += _v[_l]; _s; })
#define MIX(x) ({ vu _x = (x); _x ^= _x >> 16; _x *= 0x7feb352dU; _x ^= _x >> 15; _x *= 0x846ca68bU; \
                  _x ^= _x >> 16; _x; })
// The draws of the 32 elements from j (a multiple of 32): lane l's low half for element j + l,
// its high half for element j + 16 + l.
#define DRAWS(j, key) ({ \
    const vu _lanes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}; \
    MIX(MIX(_lanes + (uint32_t)((j) >> 1) + (uint32_t)((key) >> 32)) ^ (uint32_t)(key)); })

void K(bias_sum)(const float *row, const float *bias, long n, float *sum, float *sq) {
    vf s = {0}, q = {0};
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        vf v = LD(row + j) + LD(bias + j);
        s += v;
        q += v * v;
    }
    float st = 0, qt = 0;
    for (; j < n; j++) { float v = row[j] + bias[j]; st += v; qt += v * v; }
    *sum = REDUCE(s) + st;
    *sq = REDUCE(q) + qt;
}

// x̂ = (z + bias - mean)·invstd, computed the same way by the forward and both backward passes.
#define XHAT(z, bias) ((((z) + (bias)) - mean) * invstd)

// Per 16 elements the forward keeps two 16-bit words for the backward: which elements dropout
// dropped, and which had a non-positive pre-activation (LeakyReLU's slope applies).
// Through clang's bool vectors, which AVX-512 keeps in mask registers (vptestmd, kmov).
#define TO_BITS(mask) ({ vb _b = __builtin_convertvector((mask) != 0, vb); uint16_t _w; \
                         __builtin_memcpy(&_w, &_b, sizeof _w); _w; })
#define FROM_BITS(word) ({ uint16_t _w = (word); vb _b; __builtin_memcpy(&_b, &_w, sizeof _w); \
                           -__builtin_convertvector(_b, vi); })

void K(norm_forward_row)(const float *z, const float *bias, float *y, uint16_t *bits, long n, float mean,
                         float invstd, float gamma, float beta, int activation, float slope, uint32_t threshold,
                         float keep, uint64_t key) {
    long j = 0;
    vu draws = {0};
    for (; j + 16 <= n; j += 16) {
        vf out = gamma * XHAT(LD(z + j), LD(bias + j)) + beta;
        if (activation) {
            vi negative = ~(out > 0);
            out = SELECT(negative, out * slope, out);
            vi dropped = {0};
            if (threshold) {
                if ((j & 16) == 0) draws = DRAWS(j, key);
                dropped = (vi)(((j & 16) ? draws >> 16 : draws & 0xffffu) < threshold);
            }
            if (threshold) out = SELECT(dropped, SPLAT(0), out * keep);
            bits[j / 8] = TO_BITS(dropped);
            bits[j / 8 + 1] = TO_BITS(negative);
        }
        ST(y + j, out);
    }
    if (j < n && activation) { bits[j / 8] = 0; bits[j / 8 + 1] = 0; }
    for (long i = j; i < n; i++) {
        float out = gamma * XHAT(z[i], bias[i]) + beta;
        if (activation) {
            if (!(out > 0)) { out = out * slope; bits[j / 8 + 1] |= (uint16_t)(1u << (i - j)); }
            if (threshold && mtl_dropped_scalar(i, threshold, key)) { out = 0; bits[j / 8] |= (uint16_t)(1u << (i - j)); }
            else if (threshold) out = out * keep;
        }
        y[i] = out;
    }
}

// dL/dy → dL/d(gamma·x̂ + beta): through dropout and the LeakyReLU, from the forward's bits.
#define THROUGH_ACTIVATION(v, j) ({ \
    vf _g = (v); \
    if (activation) { \
        if (threshold) _g = SELECT(FROM_BITS(bits[(j) / 8]), SPLAT(0), _g * keep); \
        _g = SELECT(FROM_BITS(bits[(j) / 8 + 1]), _g * slope, _g); \
    } \
    _g; })
#define THROUGH_ACTIVATION_SCALAR(v, i, j) ({ \
    float _g = (v); \
    if (activation) { \
        if (threshold) _g = (bits[(j) / 8] >> ((i) - (j))) & 1 ? 0 : _g * keep; \
        if ((bits[(j) / 8 + 1] >> ((i) - (j))) & 1) _g = _g * slope; \
    } \
    _g; })

void K(norm_backward_row_stats)(const float *d, const float *z, const float *bias, const uint16_t *bits, long n,
                                float mean, float invstd, int activation, float slope, uint32_t threshold,
                                float keep, float *sum, float *dot) {
    vf s = {0}, q = {0};
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        vf h = XHAT(LD(z + j), LD(bias + j));
        vf v = THROUGH_ACTIVATION(LD(d + j), j);
        s += v;
        q += v * h;
    }
    float st = 0, qt = 0;
    for (long i = j; i < n; i++) {
        float h = XHAT(z[i], bias[i]);
        float v = THROUGH_ACTIVATION_SCALAR(d[i], i, j);
        st += v;
        qt += v * h;
    }
    *sum = REDUCE(s) + st;
    *dot = REDUCE(q) + qt;
}

void K(norm_backward_row_apply)(float *d, const float *z, const float *bias, const uint16_t *bits, float *colsum,
                                long n, float mean, float invstd, int activation, float slope, uint32_t threshold,
                                float keep, float k, float count, float sum_dy, float sum_dy_xhat) {
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        vf h = XHAT(LD(z + j), LD(bias + j));
        vf v = THROUGH_ACTIVATION(LD(d + j), j);
        v = k * (count * v - sum_dy - h * sum_dy_xhat);
        ST(d + j, v);
        ST(colsum + j, LD(colsum + j) + v);
    }
    for (long i = j; i < n; i++) {
        float h = XHAT(z[i], bias[i]);
        float v = THROUGH_ACTIVATION_SCALAR(d[i], i, j);
        v = k * (count * v - sum_dy - h * sum_dy_xhat);
        d[i] = v;
        colsum[i] += v;
    }
}

#undef XHAT
#undef THROUGH_ACTIVATION
#undef THROUGH_ACTIVATION_SCALAR

// Adam runs 16 lanes at a time, then 4 (a row of 100 ends in 4 values), then one: division and
// square root dominate, so the tail is worth a short vector too. The same operations per value.
// The update of the values at j with gradient g, shared by adam_update and adam_update_terms so
// that both perform exactly the same operations.
#define ADAM_APPLY(T, LDT, STT, SQRT, g) do { \
    T mj = LDT(m + j), vj = LDT(v + j); \
    mj = mj + b1 * ((g) - mj); \
    vj = vj * b2 + ob2 * (g) * (g); \
    STT(m + j, mj); \
    STT(v + j, vj); \
    STT(p + j, LDT(p + j) - ss * mj / (SQRT(vj) / bc + eps)); } while (0)

#define ADAM_UPDATE(T, LDT, STT, SPLATT, SQRT, step) do { \
    T g = grad ? LDT(grad + j) : SPLATT(0); \
    ADAM_APPLY(T, LDT, STT, SQRT, g); \
    j += (step); } while (0)

// m ← m + (1-β₁)(g - m); v ← β₂v + (1-β₂)g²; p ← p - stepSize·m / (√v / √bc₂ + ε)
void K(adam_update)(float *p, float *m, float *v, const float *grad, long n, const mtl_adam_constants *k) {
    const float ss = k->step_size, bc = k->bc2_sqrt, b1 = k->one_minus_b1, b2 = k->b2, ob2 = k->one_minus_b2, eps = k->eps;
    long j = 0;
    while (j + 16 <= n) ADAM_UPDATE(vf, LD, ST, SPLAT, __builtin_elementwise_sqrt, 16);
    while (j + 4 <= n) ADAM_UPDATE(vf4, LD4, ST4, SPLAT4, __builtin_elementwise_sqrt, 4);
    while (j < n) ADAM_UPDATE(float, *, SCALAR_ST, (float), __builtin_sqrtf, 1);
}

// The same operations as adam_update with g = 0, steps_count times, each value kept in
// registers.
#define ADAM_REPLAY(T, LDT, STT, ZERO, SQRT, step) do { \
    T pj = LDT(p + j), mj = LDT(m + j), vj = LDT(v + j); \
    for (long s = 0; s < steps_count; s++) { \
        const mtl_adam_constants *k = steps + s; \
        mj = mj + k->one_minus_b1 * (ZERO - mj); \
        vj = vj * k->b2 + k->one_minus_b2 * ZERO * ZERO; \
        pj = pj - k->step_size * mj / (SQRT(vj) / k->bc2_sqrt + k->eps); \
    } \
    STT(p + j, pj); STT(m + j, mj); STT(v + j, vj); \
    j += (step); } while (0)

void K(adam_replay)(float *p, float *m, float *v, long n, const mtl_adam_constants *steps, long steps_count) {
    const vf zero = {0};
    const vf4 zero4 = {0};
    long j = 0;
    while (j + 16 <= n) ADAM_REPLAY(vf, LD, ST, zero, __builtin_elementwise_sqrt, 16);
    while (j + 4 <= n) ADAM_REPLAY(vf4, LD4, ST4, zero4, __builtin_elementwise_sqrt, 4);
    while (j < n) ADAM_REPLAY(float, *, SCALAR_ST, 0.0f, __builtin_sqrtf, 1);
}

// adam_update with the gradient summed from terms, in registers: g = 0, then g + scale·vector
// for each term in order, exactly as summing them into a zeroed buffer with add_scaled would.
#define ADAM_UPDATE_TERMS(T, LDT, STT, SPLATT, SQRT, step) do { \
    T g = SPLATT(0); \
    for (long t = 0; t < count; t++) { \
        const float *x = vector[terms[t]]; \
        if (x) g = g + scale[terms[t]] * LDT(x + j); \
    } \
    ADAM_APPLY(T, LDT, STT, SQRT, g); \
    j += (step); } while (0)

void K(adam_update_terms)(float *p, float *m, float *v, long n, const mtl_adam_constants *k, const int32_t *terms,
                          long count, const float *scale, const float *const *vector) {
    const float ss = k->step_size, bc = k->bc2_sqrt, b1 = k->one_minus_b1, b2 = k->b2, ob2 = k->one_minus_b2, eps = k->eps;
    long j = 0;
    while (j + 16 <= n) ADAM_UPDATE_TERMS(vf, LD, ST, SPLAT, __builtin_elementwise_sqrt, 16);
    while (j + 4 <= n) ADAM_UPDATE_TERMS(vf4, LD4, ST4, SPLAT4, __builtin_elementwise_sqrt, 4);
    while (j < n) ADAM_UPDATE_TERMS(float, *, SCALAR_ST, (float), __builtin_sqrtf, 1);
}

#undef ADAM_APPLY
#undef ADAM_UPDATE
#undef ADAM_UPDATE_TERMS
#undef ADAM_REPLAY

float K(transe_score_direction)(const float *h, const float *r, const float *t, long n, float *direction) {
    vf q = {0};
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        vf u = LD(h + j) + LD(r + j) - LD(t + j);
        ST(direction + j, u);
        q += u * u;
    }
    float qt = 0;
    for (; j < n; j++) { float u = h[j] + r[j] - t[j]; direction[j] = u; qt += u * u; }
    float norm = __builtin_sqrtf(REDUCE(q) + qt);
    float inv = norm > 0 ? 1 / norm : 0;
    for (j = 0; j + 16 <= n; j += 16) ST(direction + j, LD(direction + j) * inv);
    for (; j < n; j++) direction[j] *= inv;
    return -norm;
}

float K(transe_score)(const float *h, const float *r, const float *t, long n) {
    vf q = {0};
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        vf u = LD(h + j) + LD(r + j) - LD(t + j);
        q += u * u;
    }
    float qt = 0;
    for (; j < n; j++) { float u = h[j] + r[j] - t[j]; qt += u * u; }
    return -__builtin_sqrtf(REDUCE(q) + qt);
}

void K(add_scaled)(float *y, float a, const float *x, long n) {
    long j = 0;
    for (; j + 16 <= n; j += 16) ST(y + j, LD(y + j) + a * LD(x + j));
    for (; j < n; j++) y[j] += a * x[j];
}

void K(add_scaled_difference)(float *y, float a, const float *p, const float *q, long n) {
    long j = 0;
    for (; j + 16 <= n; j += 16) ST(y + j, LD(y + j) + a * (LD(p + j) - LD(q + j)));
    for (; j < n; j++) y[j] += a * (p[j] - q[j]);
}

// exp(x) for x ≤ 0 (Cephes' expf: x = k·ln2 + r, |r| ≤ ln2/2, a degree-7 polynomial in r, then
// ·2^k; about 1 ulp), clamped below at -87.3 where 2^k is the smallest normal float. k is
// rounded by the 1.5·2^23 trick, so every step is lane-wise arithmetic. The scalar tail repeats
// the same operations, so each element's value is the same whichever lane computes it.
#define EXP_STEPS(T, x, splat, to_int, from_bits, sel) ({ \
    T _x = (x); \
    _x = sel(_x < splat(-87.33654f), splat(-87.33654f), _x); \
    T _k = (_x * splat(1.44269504088896341f) + splat(12582912.0f)) - splat(12582912.0f); \
    T _r = (_x - _k * splat(0.693359375f)) + _k * splat(2.12194440e-4f); \
    T _p = splat(1.9875691500E-4f); \
    _p = _p * _r + splat(1.3981999507E-3f); \
    _p = _p * _r + splat(8.3334519073E-3f); \
    _p = _p * _r + splat(4.1665795894E-2f); \
    _p = _p * _r + splat(1.6666665459E-1f); \
    _p = _p * _r + splat(5.0000001201E-1f); \
    T _y = (_p * _r * _r + _r) + splat(1.0f); \
    _y * from_bits((to_int(_k) + 127) << 23); })
#define VSPLAT(x) SPLAT(x)
#define VTOINT(k) __builtin_convertvector((k), vi)
#define VFROMBITS(b) ({ vi _b = (b); vf _f; __builtin_memcpy(&_f, &_b, sizeof _f); _f; })
#define SSPLAT(x) ((float)(x))
#define SSEL(m, a, b) ((m) ? (a) : (b))
#define STOINT(k) ((int32_t)(k))
#define SFROMBITS(b) ({ int32_t _b = (b); float _f; __builtin_memcpy(&_f, &_b, sizeof _f); _f; })

float K(softmax_exp)(float *x, long n, float shift, const float *offset, float *weighted) {
    vf s = {0}, w = {0};
    long j = 0;
    for (; j + 16 <= n; j += 16) {
        vf v = LD(x + j);
        vf e = EXP_STEPS(vf, v - SPLAT(shift), VSPLAT, VTOINT, VFROMBITS, SELECT);
        e = SELECT(v > SPLAT(-__builtin_inff()), e, SPLAT(0));
        ST(x + j, e);
        s += e;
        w += SELECT(v > SPLAT(-__builtin_inff()), e * (v - LD(offset + j)), SPLAT(0));
    }
    float st = 0, wt = 0;
    for (; j < n; j++) {
        float v = x[j];
        float e = v > -__builtin_inff() ? EXP_STEPS(float, v - shift, SSPLAT, STOINT, SFROMBITS, SSEL) : 0;
        x[j] = e;
        st += e;
        wt += v > -__builtin_inff() ? e * (v - offset[j]) : 0;
    }
    *weighted = REDUCE(w) + wt;
    return REDUCE(s) + st;
}

#undef EXP_STEPS
#undef VSPLAT
#undef VTOINT
#undef VFROMBITS
#undef SSPLAT
#undef SSEL
#undef STOINT
#undef SFROMBITS

static const struct mtl_kernel_table K(table) = {
    MTL_STRINGIFY(ISA),
    K(bias_sum), K(norm_forward_row), K(norm_backward_row_stats), K(norm_backward_row_apply),
    K(adam_update), K(adam_update_terms), K(adam_replay), K(transe_score_direction), K(transe_score),
    K(add_scaled), K(add_scaled_difference), K(softmax_exp),
};

#undef K
#undef LD
#undef LD4
#undef ST4
#undef SCALAR_ST
#undef SPLAT4
#undef ST
#undef SPLAT
#undef SELECT
#undef REDUCE
#undef MIX
#undef DRAWS
#undef MTL_CAT
#undef MTL_CAT2
#undef TO_BITS
#undef FROM_BITS
