/*
 * Fuzzes the checkpoint loader (safetensors container, header JSON, metadata, tensor
 * shapes and values, both the MetaTL format and a reference state_dict) through
 * mt_model_load and mt_model_load_for_serving. A checkpoint that loads must then answer every query consistently: its
 * catalogue, an adaptation, a recommendation whose scores mt_model_score reproduces, and
 * its transition prior's weight (with a prior, both blend it in).
 */
#include "fuzz_common.h"
#include <math.h>

static void exercise(mt_model *m) {
    int64_t items = -1, step = -1;
    int32_t dim = -1;
    FUZZ_CHECK(fuzz_status(mt_model_info(m, &items, &dim, &step)) == MT_OK);
    FUZZ_CHECK(items >= 1 && dim >= 1 && step >= 0);
    mt_config c = mt_config_default();
    FUZZ_CHECK(fuzz_status(mt_model_config(m, &c)) == MT_OK);
    FUZZ_CHECK(c.dim == dim && c.K >= 2);
    /* A transition prior that loads has a finite, non-negative weight (its counts and offsets
     * were validated: scores below stay finite and recommend agrees with score). */
    float prior_weight = -1;
    FUZZ_CHECK(fuzz_status(mt_model_transition_prior_weight(m, &prior_weight)) == MT_OK);
    FUZZ_CHECK(isfinite(prior_weight) && prior_weight >= 0);

    size_t n = (size_t)items, d = (size_t)dim;
    int64_t *ids = malloc(n * sizeof *ids);
    float *emb = malloc(n * d * sizeof *emb);
    FUZZ_CHECK(ids && emb);
    FUZZ_CHECK(fuzz_status(mt_model_items(m, ids, n, emb, n * d)) == MT_OK);
    for (size_t i = 0; i < n * d; i++) FUZZ_CHECK(isfinite(emb[i]));
    for (size_t i = 0; i < n; i++) FUZZ_CHECK(ids[i] >= 0);
    if (n >= 2) {
        int64_t history[3] = {ids[0], ids[n - 1], ids[n / 2]};
        float *rel = malloc(d * sizeof *rel);
        int64_t top[3];
        float scores[3], again[3];
        size_t count = 0;
        FUZZ_CHECK(rel != NULL);
        /* A loadable model holds only values within the documented limits, but its adapted
         * relation can still leave them (extreme weights compound through the layers): then
         * adapt and recommend both refuse it, clearly, and never answer with NaN or -inf. */
        mt_status a = fuzz_status(mt_model_adapt(m, history, 3, rel, d));
        FUZZ_CHECK(a == MT_OK || (a == MT_ERR_INVALID_STATE && strstr(mt_last_error_message(), "adapted relation")));
        mt_status s = fuzz_status(mt_model_recommend(m, history, 3, 3, MT_RECOMMEND_INCLUDE_HISTORY, top, scores, &count));
        FUZZ_CHECK(s == a);
        if (s == MT_OK) {
            FUZZ_CHECK(count == (n < 3 ? n : 3));
            for (size_t i = 0; i < count; i++) FUZZ_CHECK(isfinite(scores[i]));
            for (size_t i = 1; i < count; i++) FUZZ_CHECK(scores[i - 1] >= scores[i]);
            for (size_t i = 0; i < d; i++) FUZZ_CHECK(isfinite(rel[i]));
            FUZZ_CHECK(fuzz_status(mt_model_score(m, rel, d, history[2], top, count, again)) == MT_OK);
            FUZZ_CHECK(memcmp(scores, again, count * sizeof *scores) == 0);
        }
        free(rel);
    }
    free(ids);
    free(emb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(0, data, size);
    mt_model *m = (mt_model *)0x1;
    mt_status s = fuzz_status(mt_model_load(path, &m));
    if (s == MT_OK) {
        FUZZ_CHECK(m != NULL);
        exercise(m);
        mt_model_free(m);
    } else {
        FUZZ_CHECK(m == NULL);
        FUZZ_CHECK(s == MT_ERR_BAD_CHECKPOINT);   /* the file exists: only its content can be wrong */
    }
    /* For serving only (Adam's moments not read): whatever loads in full loads so too, and
     * whatever loads so answers as consistently. */
    mt_model *lean = (mt_model *)0x1;
    mt_status ls = fuzz_status(mt_model_load_for_serving(path, &lean));
    if (s == MT_OK) FUZZ_CHECK(ls == MT_OK);
    if (ls == MT_OK) {
        FUZZ_CHECK(lean != NULL);
        exercise(lean);
        mt_model_free(lean);
    } else {
        FUZZ_CHECK(lean == NULL && ls == MT_ERR_BAD_CHECKPOINT);
    }
    return 0;
}
