/*
 * Fuzzes the interaction-file parser and dataset construction through
 * mt_dataset_from_files: the input is the training file and, after a line "%%", the new-user
 * file (without that line both files hold the whole input). When the dataset loads, a tiny
 * model is created on it, trained for two steps, evaluated and asked for a recommendation, so
 * that sampling and evaluation also meet whatever odd data the parser accepted.
 */
#include "fuzz_common.h"

static void exercise(mt_dataset *d) {
    mt_dataset_info info = mt_dataset_info_default();
    FUZZ_CHECK(fuzz_status(mt_dataset_info_get(d, &info)) == MT_OK);
    FUZZ_CHECK(info.items >= 1 && info.items_not_in_training >= 0 && info.items_not_in_training < info.items);
    FUZZ_CHECK(info.train_users >= 1 && info.train_interactions >= 2);
    FUZZ_CHECK(info.valid_users >= 0 && info.test_users >= 0 && info.valid_users + info.test_users >= 1);
    FUZZ_CHECK(info.K == 3);

    mt_config c = fuzz_config();
    mt_model *m = NULL;
    FUZZ_CHECK(fuzz_status(mt_model_create(&c, d, &m)) == MT_OK && m != NULL);
    float loss = -1;
    FUZZ_CHECK(fuzz_status(mt_model_train(m, d, 2, &loss)) == MT_OK);
    FUZZ_CHECK(loss >= 0);
    for (int split = MT_SPLIT_VALID; split <= MT_SPLIT_TEST; split++) {
        for (int proto = MT_PROTOCOL_SAMPLED; proto <= MT_PROTOCOL_FULL; proto++) {
            mt_metrics met = mt_metrics_default();
            FUZZ_CHECK(fuzz_status(mt_model_evaluate(m, d, split, proto, &met)) == MT_OK);
            FUZZ_CHECK(met.users == (split == MT_SPLIT_VALID ? info.valid_users : info.test_users));
            FUZZ_CHECK(met.mrr >= 0 && met.mrr <= 1 && met.hits1 <= met.hits10 && met.hits10 <= 1);
        }
    }
    /* String ids, when the files hold them: the model keeps the dataset's item strings, each
     * non-empty, offsets ascending, codes 0..n-1. */
    mt_string_ids di, mi, du;
    FUZZ_CHECK(fuzz_status(mt_dataset_string_ids(d, MT_COLUMN_ITEMS, &di)) == MT_OK);
    FUZZ_CHECK(fuzz_status(mt_dataset_string_ids(d, MT_COLUMN_USERS, &du)) == MT_OK);
    FUZZ_CHECK(fuzz_status(mt_model_item_strings(m, &mi)) == MT_OK);
    FUZZ_CHECK(di.count == mi.count && (di.count == 0 || di.count == (size_t)info.items));
    for (size_t i = 0; i < di.count; i++) {
        FUZZ_CHECK(di.offsets[i] < di.offsets[i + 1]);
        int64_t code = -1;
        size_t len = (size_t)(di.offsets[i + 1] - di.offsets[i]);
        FUZZ_CHECK(fuzz_status(mt_model_item_code(m, di.bytes + di.offsets[i], len, &code)) == MT_OK && code == (int64_t)i);
    }
    for (size_t i = 0; i < du.count; i++) FUZZ_CHECK(du.offsets[i] < du.offsets[i + 1]);
    size_t n = (size_t)info.items;
    int64_t *ids = malloc(n * sizeof *ids);
    FUZZ_CHECK(ids != NULL);
    FUZZ_CHECK(fuzz_status(mt_model_items(m, ids, n, NULL, 0)) == MT_OK);
    for (size_t i = 1; i < n; i++) FUZZ_CHECK(ids[i - 1] < ids[i]);   /* ascending, distinct */
    if (n >= 2) {
        int64_t history[2] = {ids[0], ids[n - 1]}, top[4];
        float scores[4];
        size_t count = 99;
        /* Every item but the history's once untrained items are allowed; fewer without them. */
        FUZZ_CHECK(fuzz_status(mt_model_recommend(m, history, 2, 4, MT_RECOMMEND_INCLUDE_UNTRAINED, top, scores, &count)) == MT_OK);
        FUZZ_CHECK(count == (n - 2 < 4 ? n - 2 : 4));
        size_t trained = 99;
        FUZZ_CHECK(fuzz_status(mt_model_recommend(m, history, 2, 4, 0, top, scores, &trained)) == MT_OK);
        FUZZ_CHECK(trained <= count);
    }
    free(ids);
    mt_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char separator[] = "\n%%\n";
    const uint8_t *cut = memmem(data, size, separator, sizeof separator - 1);
    const char *train, *test;
    if (cut) {
        size_t head = (size_t)(cut - data) + 1;   /* keep the line's own newline */
        size_t skip = head + (sizeof separator - 2);
        train = fuzz_file(0, data, head);
        test = fuzz_file(1, data + skip, size - skip);
    } else {
        train = fuzz_file(0, data, size);
        test = fuzz_file(1, data, size);
    }
    mt_dataset *d = (mt_dataset *)0x1;
    mt_status s = fuzz_status(mt_dataset_from_files(train, test, 3, 1, &d));
    if (s == MT_OK) {
        FUZZ_CHECK(d != NULL);
        exercise(d);
        mt_dataset_free(d);
    } else {
        FUZZ_CHECK(d == NULL);
        FUZZ_CHECK(s == MT_ERR_INVALID_DATA);   /* the files exist: only their content can be wrong */
    }
    return 0;
}
