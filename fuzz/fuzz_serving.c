/*
 * Fuzzes the serving arguments of the C ABI (mt_model_adapt, mt_model_score,
 * mt_model_recommend, mt_model_items) on one small trained model: the input is a little
 * program of calls whose item ids (known, unknown, negative, extreme), lengths and counts
 * (zero, one, huge, with NULL pointers) and relation values (any float bits) come from the
 * fuzzer. Buffers are allocated at exactly the size passed, so AddressSanitizer catches a
 * read or write past what the caller said it owns. Every call's status is checked against
 * the header's contract: valid arguments must succeed, and each kind of bad argument must
 * give its own status.
 */
#include "fuzz_common.h"
#include <math.h>

enum { ITEMS = 40, FIRST_ID = 100, DIM = 4, K = 3, MAX_HISTORY = 1 << 20 };

static mt_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    enum { U = 60, L = 8, N = 30, M = 5 };
    static int64_t tu[U * L], ti[U * L], nu[N * M], ni[N * M];
    static double tt[U * L], nt[N * M];
    for (int u = 0, k = 0; u < U; u++)
        for (int t = 0; t < L; t++, k++) { tu[k] = u; ti[k] = FIRST_ID + (u + t * (1 + u % 3)) % ITEMS; tt[k] = t; }
    for (int u = 0, k = 0; u < N; u++)
        for (int t = 0; t < M; t++, k++) { nu[k] = 1000 + u; ni[k] = FIRST_ID + (3 * u + t * (1 + u % 3)) % ITEMS; nt[k] = t; }
    mt_dataset *d = NULL;
    mt_config c = fuzz_config();
    if (mt_dataset_from_arrays(tu, ti, tt, U * L, nu, ni, nt, N * M, K, 7, &d) != MT_OK ||
        mt_model_create(&c, d, &model) != MT_OK || mt_model_train(model, d, 3, NULL) != MT_OK) {
        fprintf(stderr, "setup failed: %s\n", mt_last_error_message());
        abort();
    }
    mt_dataset_free(d);
    return 0;
}

/* The input, consumed front to back; reads past the end give zeros. */
typedef struct { const uint8_t *p; size_t left; } reader;

static uint8_t byte(reader *r) {
    if (r->left == 0) return 0;
    r->left--;
    return *r->p++;
}

static uint64_t word(reader *r) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)byte(r) << (8 * i);
    return v;
}

static int known(int64_t id) { return id >= FIRST_ID && id < FIRST_ID + ITEMS; }

/* Mostly catalogue ids; sometimes unknown, negative or extreme ones. */
static int64_t item_id(reader *r) {
    uint8_t b = byte(r);
    if (b < 200) return FIRST_ID + b % ITEMS;
    switch (b % 8) {
    case 0: return -1;
    case 1: return 0;
    case 2: return INT64_MIN;
    case 3: return INT64_MAX;
    case 4: return FIRST_ID + ITEMS;
    case 5: return 99999999999LL;
    default: return (int64_t)word(r);
    }
}

/* A length or count: mostly small; sometimes at or past the library's limits. The bool says
 * whether a buffer of that many elements can be allocated (otherwise the pointer is NULL). */
static size_t length(reader *r, int *allocatable) {
    uint8_t b = byte(r);
    *allocatable = 1;
    if (b < 240) return b % 24;
    switch (b % 8) {
    case 0: return 1000;
    case 1: *allocatable = 0; return MAX_HISTORY;
    case 2: *allocatable = 0; return (size_t)MAX_HISTORY + 1;
    case 3: *allocatable = 0; return SIZE_MAX;
    case 4: *allocatable = 0; return (size_t)INT64_MAX;
    case 5: *allocatable = 0; return (size_t)1 << 31;
    case 6: *allocatable = 0; return ((size_t)1 << 31) + 1;
    default: return (size_t)(word(r) % 4096);
    }
}

/* A history of `n` ids (NULL if it cannot be allocated); *all_known says whether every id is
 * in the catalogue. The caller frees it. */
static int64_t *history(reader *r, size_t n, int allocatable, int *all_known) {
    *all_known = 1;
    if (!allocatable || n == 0) return NULL;
    int64_t *h = malloc(n * sizeof *h);
    FUZZ_CHECK(h != NULL);
    for (size_t i = 0; i < n; i++) {
        h[i] = item_id(r);
        *all_known &= known(h[i]);
    }
    return h;
}

static void do_adapt(reader *r) {
    int ok_len, known_ids;
    size_t n = length(r, &ok_len);
    int64_t *h = history(r, n, ok_len, &known_ids);
    size_t rel_len = byte(r) % 8;
    float *rel = rel_len ? malloc(rel_len * sizeof *rel) : NULL;
    mt_status s = fuzz_status(mt_model_adapt(model, h, n, rel, rel_len));
    if (n < 2 || n > MAX_HISTORY || (n > 0 && h == NULL) || rel == NULL) FUZZ_CHECK(s == MT_ERR_INVALID_ARGUMENT);
    else if (rel_len < DIM) FUZZ_CHECK(s == MT_ERR_BUFFER_TOO_SMALL);
    else if (rel_len > DIM) FUZZ_CHECK(s == MT_ERR_INVALID_ARGUMENT);   /* exactly dim, as mt_model_score */
    else if (!known_ids) FUZZ_CHECK(s == MT_ERR_UNKNOWN_ITEM);
    else {
        FUZZ_CHECK(s == MT_OK);
        /* The same history gives the same relation, and only the most recent K items count. */
        float again[DIM];
        size_t used = n < K ? n : K;
        FUZZ_CHECK(fuzz_status(mt_model_adapt(model, h + (n - used), used, again, DIM)) == MT_OK);
        FUZZ_CHECK(memcmp(rel, again, sizeof again) == 0);
        for (int i = 0; i < DIM; i++) FUZZ_CHECK(isfinite(rel[i]));
    }
    free(h);
    free(rel);
}

static void do_score(reader *r) {
    /* A relation from a real history, or arbitrary float bits. */
    size_t rel_len = DIM;
    float rel[DIM + 1] = {0};
    uint8_t mode = byte(r);
    if (mode % 2 == 0) {
        int64_t h[K] = {item_id(r), item_id(r), item_id(r)};
        if (mt_model_adapt(model, h, K, rel, DIM) != MT_OK) memset(rel, 0, sizeof rel);
    } else {
        for (int i = 0; i < DIM; i++) {
            uint32_t bits = (uint32_t)word(r);
            memcpy(&rel[i], &bits, sizeof bits);
        }
    }
    if (mode % 8 == 7) rel_len = byte(r) % (DIM + 2);
    int finite = 1;
    for (size_t i = 0; i < DIM; i++) finite &= isfinite(rel[i]) != 0;
    int64_t last = item_id(r);
    int ok_len, known_ids;
    size_t n = length(r, &ok_len);
    int64_t *cands = history(r, n, ok_len, &known_ids);
    float *scores = ok_len && n ? malloc(n * sizeof *scores) : NULL;
    mt_status s = fuzz_status(mt_model_score(model, rel, rel_len, last, cands, n, scores));
    if (rel_len != DIM || n < 1 || n > ((size_t)1 << 31) || cands == NULL || scores == NULL)
        FUZZ_CHECK(s == MT_ERR_INVALID_ARGUMENT);
    else if (!finite) FUZZ_CHECK(s == MT_ERR_INVALID_ARGUMENT);
    else if (!known(last) || !known_ids) FUZZ_CHECK(s == MT_ERR_UNKNOWN_ITEM);
    else {
        FUZZ_CHECK(s == MT_OK);
        for (size_t i = 0; i < n; i++) FUZZ_CHECK(!isnan(scores[i]) && scores[i] <= 0);
    }
    free(cands);
    free(scores);
}

static void do_recommend(reader *r) {
    int ok_len, known_ids, ok_top;
    size_t n = length(r, &ok_len);
    int64_t *h = history(r, n, ok_len, &known_ids);
    size_t top_n = length(r, &ok_top);
    uint8_t f = byte(r);
    uint32_t flags = f < 200 ? (f & 1u) : (uint32_t)word(r);
    /* The library writes at most min(top_n, catalogue) entries: give exactly that room. */
    size_t room = top_n < ITEMS ? top_n : ITEMS;
    int64_t *items = room ? malloc(room * sizeof *items) : (f & 2 ? NULL : malloc(1));
    float *scores = room && (f & 4) == 0 ? malloc(room * sizeof *scores) : NULL;
    size_t count = 12345;
    size_t *count_p = f & 8 ? NULL : &count;
    mt_status s = fuzz_status(mt_model_recommend(model, h, n, top_n, flags, items, scores, count_p));
    if (count_p) FUZZ_CHECK(s == MT_OK || count == 0);
    if (n < 2 || n > MAX_HISTORY || (n > 0 && h == NULL) || top_n < 1 || top_n > ((size_t)1 << 31) || items == NULL ||
        (flags & ~MT_RECOMMEND_INCLUDE_HISTORY) != 0)
        FUZZ_CHECK(s == MT_ERR_INVALID_ARGUMENT);
    else if (!known_ids) FUZZ_CHECK(s == MT_ERR_UNKNOWN_ITEM);
    else {
        FUZZ_CHECK(s == MT_OK);
        if (count_p) {
            /* Every catalogue item outside the (excluded) history, best first. */
            int in_history[ITEMS] = {0}, excluded = 0;
            if (!(flags & MT_RECOMMEND_INCLUDE_HISTORY))
                for (size_t i = 0; i < n; i++)
                    if (!in_history[h[i] - FIRST_ID]) { in_history[h[i] - FIRST_ID] = 1; excluded++; }
            size_t available = (size_t)(ITEMS - excluded);
            FUZZ_CHECK(count == (top_n < available ? top_n : available));
            int seen[ITEMS] = {0};
            for (size_t i = 0; i < count; i++) {
                FUZZ_CHECK(known(items[i]) && !in_history[items[i] - FIRST_ID] && !seen[items[i] - FIRST_ID]);
                seen[items[i] - FIRST_ID] = 1;
                if (scores && i > 0) FUZZ_CHECK(scores[i - 1] >= scores[i]);
            }
            /* The scores are what mt_model_score gives for the adapted relation. */
            if (scores && count > 0) {
                float rel[DIM], again[ITEMS];
                FUZZ_CHECK(fuzz_status(mt_model_adapt(model, h, n, rel, DIM)) == MT_OK);
                FUZZ_CHECK(fuzz_status(mt_model_score(model, rel, DIM, h[n - 1], items, count, again)) == MT_OK);
                FUZZ_CHECK(memcmp(scores, again, count * sizeof *scores) == 0);
            }
        }
    }
    free(h);
    free(items);
    free(scores);
}

static void do_items(reader *r) {
    size_t ids_len = byte(r) % (ITEMS + 8), emb_len = (size_t)byte(r) * 2;
    uint8_t f = byte(r);
    int64_t *ids = f & 1 ? NULL : malloc((ids_len ? ids_len : 1) * sizeof *ids);
    float *emb = f & 2 ? NULL : malloc((emb_len ? emb_len : 1) * sizeof *emb);
    mt_status s = fuzz_status(mt_model_items(model, ids, ids_len, emb, emb_len));
    if (ids == NULL) FUZZ_CHECK(s == MT_ERR_INVALID_ARGUMENT);
    else if (ids_len < ITEMS || (emb && emb_len < ITEMS * DIM)) FUZZ_CHECK(s == MT_ERR_BUFFER_TOO_SMALL);
    else {
        FUZZ_CHECK(s == MT_OK);
        for (int i = 0; i < ITEMS; i++) FUZZ_CHECK(ids[i] == FIRST_ID + i);
    }
    free(ids);
    free(emb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    for (int calls = 0; r.left > 0 && calls < 32; calls++) {
        switch (byte(&r) % 4) {
        case 0: do_adapt(&r); break;
        case 1: do_score(&r); break;
        case 2: do_recommend(&r); break;
        default: do_items(&r); break;
        }
    }
    return 0;
}
