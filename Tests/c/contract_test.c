/*
 * Contract tests of the C ABI: every exported function, on its success path and on misuse
 * (NULL pointers, zero or negative counts, ids out of range, too-small buffers, free of NULL,
 * calls on a handle whose create failed, concurrent training). Each misuse must return its
 * status and leave a message; none may crash.
 */
#include <metatl.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Whether this build runs under a sanitizer (which reserves terabytes of address space, so an
 * address-space limit cannot be set). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif
/* ThreadSanitizer cannot start threads in a child forked from a multi-threaded process. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif
#ifndef UNDER_TSAN
#define UNDER_TSAN 0
#endif

static int passed, failed;

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (cond) passed++;                                                           \
        else { failed++; fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

/* A call must return `want` and, when failing, leave a message containing `needle`. */
#define EXPECT_STATUS(call, want, needle)                                             \
    do {                                                                              \
        mt_status got_ = (call);                                                      \
        if (got_ == (want) && (got_ == MT_OK || strstr(mt_last_error_message(), (needle)))) passed++; \
        else {                                                                        \
            failed++;                                                                 \
            fprintf(stderr, "FAILED %s:%d: %s -> %s (want %s), message: %s\n", __FILE__, __LINE__, #call, \
                    mt_status_name(got_), mt_status_name(want), mt_last_error_message()); \
        }                                                                             \
    } while (0)

static char tmpdir[256];

static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static mt_dataset *small_dataset(void) {
    enum { U = 60, L = 8, N = 30, M = 5, ITEMS = 40 };
    static int64_t tu[U * L], ti[U * L], nu[N * M], ni[N * M];
    static double tt[U * L], nt[N * M];
    for (int u = 0, k = 0; u < U; u++)
        for (int t = 0; t < L; t++, k++) { tu[k] = u; ti[k] = 100 + (u + t * (1 + u % 3)) % ITEMS; tt[k] = t; }
    for (int u = 0, k = 0; u < N; u++)
        for (int t = 0; t < M; t++, k++) { nu[k] = 1000 + u; ni[k] = 100 + (3 * u + t * (1 + u % 3)) % ITEMS; nt[k] = t; }
    mt_dataset *d = NULL;
    mt_status s = mt_dataset_from_arrays(tu, ti, tt, U * L, nu, ni, nt, N * M, 3, 7, &d);
    if (s != MT_OK) { fprintf(stderr, "dataset: %s\n", mt_last_error_message()); exit(2); }
    return d;
}

/* The reference preset, small: the tests below were written against its margin-loss scores
 * (-||h + r - t|| <= 0); test_presets covers the recommended one. */
static mt_config small_config(void) {
    mt_config c = mt_config_default();
    if (mt_config_preset("reference", &c) != MT_OK) { fprintf(stderr, "preset: %s\n", mt_last_error_message()); exit(2); }
    c.dim = 8; c.hidden1 = 16; c.hidden2 = 12; c.batch_size = 64; c.threads = 1;
    return c;
}

static void test_version_and_errors(void) {
    EXPECT(mt_version_number() == MT_VERSION_NUMBER);
    EXPECT(strcmp(mt_version(), MT_VERSION_STRING) == 0);
    EXPECT(strcmp(mt_status_name(MT_ERR_BUSY), "MT_ERR_BUSY") == 0);
    EXPECT(strcmp(mt_status_name(12345), "MT_UNKNOWN_STATUS") == 0);
    EXPECT(mt_last_error_message() != NULL);
}

/* Every field of two configurations equal (not memcmp: padding bytes are unspecified). */
static int same_config(const mt_config *a, const mt_config *b) {
    return a->struct_size == b->struct_size && a->K == b->K && a->dim == b->dim && a->hidden1 == b->hidden1 &&
           a->hidden2 == b->hidden2 && a->batch_size == b->batch_size && a->learning_rate == b->learning_rate &&
           a->beta == b->beta && a->margin == b->margin && a->dropout == b->dropout && a->seed == b->seed &&
           a->sampler == b->sampler && a->inner_step == b->inner_step && a->threads == b->threads &&
           a->eval_mode_after == b->eval_mode_after && a->loss == b->loss && a->shared_negatives == b->shared_negatives &&
           a->tail_embeddings == b->tail_embeddings && a->item_bias == b->item_bias &&
           a->zero_initial_relation == b->zero_initial_relation && a->relation_penalty == b->relation_penalty &&
           a->negatives == b->negatives && a->table_decay == b->table_decay && a->query_margin == b->query_margin &&
           a->optimizer == b->optimizer;
}

/* The fields an earlier header's mt_config had end where eval_mode_after begins. */
_Static_assert(offsetof(mt_config, eval_mode_after) == 64, "the first mt_config was 64 bytes; new fields go after it");
/* optimizer took the tail padding after query_margin: the struct's size is the one before it. */
_Static_assert(offsetof(mt_config, optimizer) == offsetof(mt_config, query_margin) + 4 && sizeof(mt_config) == 112,
               "optimizer is the last field, in what was padding");
#define MT_CONFIG_FIRST_SIZE ((uint32_t)offsetof(mt_config, eval_mode_after))

/* Whether the reference preset's values are exactly the notebook's. */
static int is_reference(const mt_config *c) {
    return c->K == 3 && c->dim == 100 && c->hidden1 == 500 && c->hidden2 == 200 && c->batch_size == 1024 &&
           c->learning_rate == 0.001f && c->beta == 5 && c->margin == 1 && c->dropout == 0.5f && c->seed == 1 &&
           c->sampler == MT_SAMPLER_REFERENCE && c->inner_step == MT_INNER_STEP_REFERENCE && c->threads == 1 &&
           c->eval_mode_after == -1 && c->loss == MT_LOSS_MARGIN && c->shared_negatives == 1024 &&
           c->tail_embeddings == 0 && c->item_bias == 0 && c->zero_initial_relation == 0 && c->relation_penalty == 0 &&
           c->negatives == MT_NEGATIVES_UNIFORM && c->table_decay == 0 && c->query_margin == 0 &&
           c->optimizer == MT_OPTIMIZER_ADAM;
}

static void test_config(void) {
    /* The default is the recommended preset; mt_config_preset gives either by name. */
    mt_config c = mt_config_default(), named = mt_config_default(), ref = mt_config_default();
    EXPECT(c.struct_size == sizeof(mt_config));
    EXPECT(c.loss == MT_LOSS_SOFTMAX);
    EXPECT_STATUS(mt_config_preset("recommended", &named), MT_OK, "");
    EXPECT(same_config(&c, &named));
    EXPECT_STATUS(mt_config_preset("reference", &ref), MT_OK, "");
    EXPECT(ref.struct_size == sizeof(mt_config) && is_reference(&ref));
    EXPECT(!same_config(&c, &ref));
    /* Back again: nothing of the other preset is left. */
    EXPECT_STATUS(mt_config_preset("recommended", &ref), MT_OK, "");
    EXPECT(same_config(&c, &ref));

    /* Unknown names and bad arguments are errors, and leave *out as it was. */
    mt_config before = named;
    EXPECT_STATUS(mt_config_preset("fancy", &named), MT_ERR_INVALID_ARGUMENT,
                  "mt_config_preset: unknown preset 'fancy'; expected 'recommended' or 'reference'");
    EXPECT_STATUS(mt_config_preset("Reference", &named), MT_ERR_INVALID_ARGUMENT, "unknown preset 'Reference'");
    EXPECT_STATUS(mt_config_preset("", &named), MT_ERR_INVALID_ARGUMENT, "unknown preset ''");
    EXPECT_STATUS(mt_config_preset("\xff\n", &named), MT_ERR_INVALID_ARGUMENT, "not valid UTF-8");
    EXPECT_STATUS(mt_config_preset("ref\terence", &named), MT_ERR_INVALID_ARGUMENT, "unknown preset 'ref\\x09erence'");
    EXPECT(same_config(&named, &before));
    EXPECT_STATUS(mt_config_preset(NULL, &named), MT_ERR_INVALID_ARGUMENT, "name is NULL");
    EXPECT_STATUS(mt_config_preset("reference", NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");
    named.struct_size = 0;
    EXPECT_STATUS(mt_config_preset("reference", &named), MT_ERR_INVALID_ARGUMENT, "out->struct_size is 0");
    named.struct_size = MT_CONFIG_FIRST_SIZE + 4;   /* not the size of any header's mt_config */
    EXPECT_STATUS(mt_config_preset("reference", &named), MT_ERR_INVALID_ARGUMENT, "out->struct_size is 68");

    /* An earlier caller's struct (it ends before eval_mode_after) gets its own fields only: the
     * bytes after it are not written, and struct_size stays as it was. */
    union { mt_config c; unsigned char bytes[sizeof(mt_config) + 8]; } old;
    memset(&old, 0xCD, sizeof old);
    old.c.struct_size = MT_CONFIG_FIRST_SIZE;
    EXPECT_STATUS(mt_config_preset("reference", &old.c), MT_OK, "");
    int untouched = 1;
    for (size_t i = MT_CONFIG_FIRST_SIZE; i < sizeof old; i++) untouched &= old.bytes[i] == 0xCD;
    EXPECT(untouched && old.c.struct_size == MT_CONFIG_FIRST_SIZE && old.c.dim == 100 && old.c.dropout == 0.5f);
    /* A newer caller's larger struct keeps its fields after this library's. */
    struct { mt_config c; int64_t newer_field; } newer;
    memset(&newer, 0, sizeof newer);
    newer.c.struct_size = (uint32_t)sizeof newer;
    newer.newer_field = 0x1234;
    EXPECT_STATUS(mt_config_preset("reference", &newer.c), MT_OK, "");
    EXPECT(newer.c.struct_size == sizeof newer && newer.newer_field == 0x1234 && newer.c.loss == MT_LOSS_MARGIN);
}

/* The presets through models: every field reaches the model and comes back from a checkpoint;
 * an earlier caller's struct (struct_size ends before the later fields) makes a reference model,
 * never reading past its struct_size; bad values of the later fields are errors. */
static void test_presets(void) {
    mt_dataset *d = small_dataset();
    mt_model *m = NULL, *loaded = NULL;
    mt_config c = mt_config_default();
    c.dim = 8; c.hidden1 = 16; c.hidden2 = 12; c.batch_size = 64;
    c.shared_negatives = 16; c.relation_penalty = 0.25f; c.negatives = MT_NEGATIVES_MIXED; c.eval_mode_after = 3;
    c.table_decay = 0.125f; c.query_margin = 1; c.optimizer = MT_OPTIMIZER_SPARSE_ADAM;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    mt_config back = mt_config_default();
    EXPECT_STATUS(mt_model_config(m, &back), MT_OK, "");
    EXPECT(same_config(&c, &back));
    float loss = -1;
    EXPECT_STATUS(mt_model_train(m, d, 5, &loss), MT_OK, "");
    EXPECT(isfinite(loss));
    mt_metrics met = mt_metrics_default();
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &met), MT_OK, "");
    EXPECT(met.users > 0 && met.mrr > 0 && met.mrr <= 1);
    char path[512];
    snprintf(path, sizeof path, "%s/recommended.safetensors", tmpdir);
    EXPECT_STATUS(mt_model_save(m, path), MT_OK, "");
    EXPECT_STATUS(mt_model_load(path, &loaded), MT_OK, "");
    mt_config from_file = mt_config_default();
    EXPECT_STATUS(mt_model_config(loaded, &from_file), MT_OK, "");
    EXPECT(same_config(&c, &from_file));
    int64_t h[3] = {100, 101, 102}, top[5], top2[5];
    float s1[5], s2[5];
    size_t n1 = 0, n2 = 0;
    EXPECT_STATUS(mt_model_recommend(m, h, 3, 5, 0, top, s1, &n1), MT_OK, "");
    EXPECT_STATUS(mt_model_recommend(loaded, h, 3, 5, 0, top2, s2, &n2), MT_OK, "");
    EXPECT(n1 == 5 && n2 == 5 && memcmp(top, top2, sizeof top) == 0 && memcmp(s1, s2, sizeof s1) == 0);
    mt_model_free(loaded);
    mt_model_free(m);

    /* An earlier caller: the bytes after its struct are garbage that would be refused if read. */
    union { mt_config c; unsigned char bytes[sizeof(mt_config)]; } old;
    old.c = c;
    old.c.sampler = MT_SAMPLER_CONTIGUOUS; old.c.dropout = 0.25f; old.c.seed = 9;
    old.c.struct_size = MT_CONFIG_FIRST_SIZE;
    memset(old.bytes + MT_CONFIG_FIRST_SIZE, 0xAB, sizeof old - MT_CONFIG_FIRST_SIZE);
    EXPECT_STATUS(mt_model_create(&old.c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_config(m, &back), MT_OK, "");
    /* The caller's 64 bytes, then the reference preset's later fields. */
    mt_config want = mt_config_default();
    EXPECT_STATUS(mt_config_preset("reference", &want), MT_OK, "");
    memcpy(&want, &old.c, MT_CONFIG_FIRST_SIZE);
    want.struct_size = sizeof(mt_config);
    EXPECT(same_config(&back, &want) && back.dim == 8 && back.sampler == MT_SAMPLER_CONTIGUOUS && back.seed == 9);
    EXPECT(back.loss == MT_LOSS_MARGIN && back.tail_embeddings == 0 && back.negatives == MT_NEGATIVES_UNIFORM &&
           back.optimizer == MT_OPTIMIZER_ADAM);
    EXPECT_STATUS(mt_model_train(m, d, 2, NULL), MT_OK, "");
    /* ...and mt_model_config writes only its fields for it. */
    memset(old.bytes + MT_CONFIG_FIRST_SIZE, 0xAB, sizeof old - MT_CONFIG_FIRST_SIZE);
    old.c.dim = 0;
    EXPECT_STATUS(mt_model_config(m, &old.c), MT_OK, "");
    int untouched = 1;
    for (size_t i = MT_CONFIG_FIRST_SIZE; i < sizeof old; i++) untouched &= old.bytes[i] == 0xAB;
    EXPECT(untouched && old.c.struct_size == MT_CONFIG_FIRST_SIZE && old.c.dim == 8 && old.c.sampler == MT_SAMPLER_CONTIGUOUS);
    old.c.struct_size = MT_CONFIG_FIRST_SIZE - 8;
    EXPECT_STATUS(mt_model_config(m, &old.c), MT_ERR_INVALID_ARGUMENT, "out->struct_size is 56");
    mt_model_free(m);
    m = (mt_model *)0x1;
    EXPECT_STATUS(mt_model_create(&old.c, d, &m), MT_ERR_INVALID_ARGUMENT, "config->struct_size is 56");
    EXPECT(m == NULL);

    /* The later fields' values are checked like the others. */
    enum { BAD = 13 };
    struct { mt_config c; const char *message; } bad[BAD];
    for (int i = 0; i < BAD; i++) bad[i].c = c;
    bad[0].c.loss = 2;                   bad[0].message = "config->loss must be MT_LOSS_MARGIN or MT_LOSS_SOFTMAX (got 2)";
    bad[1].c.tail_embeddings = 2;        bad[1].message = "config->tail_embeddings must be 0 or 1 (got 2)";
    bad[2].c.item_bias = -1;             bad[2].message = "config->item_bias must be 0 or 1 (got -1)";
    bad[3].c.zero_initial_relation = 7;  bad[3].message = "config->zero_initial_relation must be 0 or 1 (got 7)";
    bad[4].c.negatives = 3;              bad[4].message = "config->negatives must be MT_NEGATIVES_UNIFORM, MT_NEGATIVES_POPULARITY or MT_NEGATIVES_MIXED (got 3)";
    bad[5].c.eval_mode_after = -2;       bad[5].message = "config->eval_mode_after must be a step >= 0, or -1 for never (got -2)";
    bad[6].c.shared_negatives = -1;      bad[6].message = "shared negatives must be in";
    bad[7].c.relation_penalty = NAN;     bad[7].message = "relation penalty must be non-negative";
    bad[8].c.loss = MT_LOSS_MARGIN;      bad[8].message = "an item bias needs the softmax loss";
    bad[9].c.query_margin = 2;           bad[9].message = "config->query_margin must be 0 or 1 (got 2)";
    bad[10].c.table_decay = -1;          bad[10].message = "table decay must be non-negative";
    bad[11].c.optimizer = 2;             bad[11].message = "config->optimizer must be MT_OPTIMIZER_ADAM or MT_OPTIMIZER_SPARSE_ADAM (got 2)";
    bad[12].c.optimizer = -1;            bad[12].message = "config->optimizer must be MT_OPTIMIZER_ADAM or MT_OPTIMIZER_SPARSE_ADAM (got -1)";
    for (int i = 0; i < BAD; i++) {
        m = (mt_model *)0x1;
        EXPECT_STATUS(mt_model_create(&bad[i].c, d, &m), MT_ERR_INVALID_ARGUMENT, bad[i].message);
        EXPECT(m == NULL);
    }
    mt_dataset_free(d);
}

static void test_datasets(void) {
    mt_dataset *d = (mt_dataset *)0x1;
    const char *train = write_file("c_train.csv", "1\t10\t1\n1\t11\t2\n1\t12\t3\n2\t10\t1\n2\t12\t2\n");
    char train_path[512];
    strcpy(train_path, train);
    char test[512];
    strcpy(test, write_file("c_test.csv", "5\t10\t1\n5\t11\t2\n5\t12\t3\n5\t10\t4\n"));
    EXPECT_STATUS(mt_dataset_from_files(train_path, test, 3, 1, &d), MT_OK, "");
    mt_dataset_info info = mt_dataset_info_default();
    EXPECT_STATUS(mt_dataset_info_get(d, &info), MT_OK, "");
    EXPECT(info.items == 3 && info.train_users == 2 && info.valid_users + info.test_users == 1 && info.K == 3);
    mt_dataset_free(d);

    EXPECT_STATUS(mt_dataset_from_files(NULL, test, 3, 1, &d), MT_ERR_INVALID_ARGUMENT, "train_path is NULL");
    EXPECT(d == NULL);
    EXPECT_STATUS(mt_dataset_from_files(train_path, test, 3, 1, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");
    EXPECT_STATUS(mt_dataset_from_files("/nonexistent/a.csv", test, 3, 1, &d), MT_ERR_NOT_FOUND, "no such file");
    const char *bad = write_file("c_bad.csv", "1\t10\t1\n1\t\t2\n");
    EXPECT_STATUS(mt_dataset_from_files(bad, test, 3, 1, &d), MT_ERR_INVALID_DATA, "c_bad.csv:2: field 'item': expected an id, found an empty field");
    EXPECT(d == NULL);
    EXPECT_STATUS(mt_dataset_from_files(train_path, test, 1, 1, &d), MT_ERR_INVALID_ARGUMENT, "K must be in 2...64");
    /* A leading UTF-8 byte-order mark is skipped (it was "found '1'"); a NUL byte is shown as
     * \x00 and the message goes on past it (it used to end the message: "found '1"). */
    const char *marked = write_file("c_bom.csv", "\xEF\xBB\xBF" "1\t10\t1\n1\t11\t2\n1\t12\t3\n2\t10\t1\n2\t12\t2\n");
    EXPECT_STATUS(mt_dataset_from_files(marked, test, 3, 1, &d), MT_OK, "");
    mt_dataset_free(d);
    char nul_path[512];
    snprintf(nul_path, sizeof nul_path, "%s/c_nul.csv", tmpdir);
    FILE *nf = fopen(nul_path, "wb");
    fwrite("1\t10\t1\n1\t1\0\t2\n", 1, sizeof "1\t10\t1\n1\t1\0\t2\n" - 1, nf);
    fclose(nf);
    EXPECT_STATUS(mt_dataset_from_files(nul_path, test, 3, 1, &d), MT_ERR_INVALID_DATA,
                  "c_nul.csv:2: field 'item': expected an id of visible characters, found '1\\x00' (it holds U+0000)");
    const char *late = write_file("c_late_bom.csv", "1\t10\t1\n\xEF\xBB\xBF" "1\t11\t2\n");
    EXPECT_STATUS(mt_dataset_from_files(late, test, 3, 1, &d), MT_ERR_INVALID_DATA,
                  "c_late_bom.csv:2: field 'user': expected an id of visible characters, found '\\xef\\xbb\\xbf1' (it holds U+FEFF)");
    /* An id beyond int64 is a string id, kept as written. */
    const char *huge_path = write_file("huge_id.csv", "1\t99999999999999999999\t1\n1\t11\t2\n1\t12\t3\n2\t10\t1\n2\t12\t2\n");
    EXPECT_STATUS(mt_dataset_from_files(huge_path, test, 3, 1, &d), MT_OK, "");
    mt_string_ids huge;
    EXPECT_STATUS(mt_dataset_string_ids(d, MT_COLUMN_ITEMS, &huge), MT_OK, "");
    EXPECT(huge.count >= 2 && memcmp(huge.bytes + huge.offsets[huge.count - 1], "99999999999999999999", 20) == 0);
    mt_dataset_free(d);

    int64_t users[2] = {1, 1}, items[2] = {3, 4}, nusers[4] = {9, 9, 9, 9}, nitems[4] = {3, 4, 3, 4};
    double ts[4] = {0, 1, 2, 3};
    EXPECT_STATUS(mt_dataset_from_arrays(users, items, ts, 2, nusers, nitems, ts, 4, 3, 1, &d), MT_OK, "");
    mt_dataset_free(d);
    EXPECT_STATUS(mt_dataset_from_arrays(users, items, ts, 0, nusers, nitems, ts, 4, 3, 1, &d), MT_ERR_INVALID_ARGUMENT,
                  "train_count must be at least 1");
    EXPECT_STATUS(mt_dataset_from_arrays(users, NULL, ts, 2, nusers, nitems, ts, 4, 3, 1, &d), MT_ERR_INVALID_ARGUMENT,
                  "train_items is NULL");
    /* size_t values of 2^63 and above are printed as what the caller passed, not negative. */
    EXPECT_STATUS(mt_dataset_from_arrays(users, items, ts, (size_t)-1, nusers, nitems, ts, 4, 3, 1, &d),
                  MT_ERR_INVALID_ARGUMENT, "train_count = 18446744073709551615 exceeds the limit of 2147483648");
    EXPECT_STATUS(mt_dataset_from_arrays(users, items, ts, 2, nusers, nitems, ts, (size_t)1 << 63, 3, 1, &d),
                  MT_ERR_INVALID_ARGUMENT, "test_count = 9223372036854775808 exceeds the limit of 2147483648");
    int64_t negative[2] = {1, -5};
    EXPECT_STATUS(mt_dataset_from_arrays(users, negative, ts, 2, nusers, nitems, ts, 4, 3, 1, &d), MT_ERR_INVALID_DATA,
                  "expected a non-negative integer id, found -5");
    EXPECT(d == NULL);

    EXPECT_STATUS(mt_dataset_synthetic(6, 50, 30, 3, &d), MT_OK, "");
    EXPECT_STATUS(mt_dataset_info_get(d, &info), MT_OK, "");
    EXPECT(info.items == 36 && info.train_users == 50 && info.K == 3);
    mt_dataset_free(d);
    EXPECT_STATUS(mt_dataset_synthetic(2, 50, 30, 3, &d), MT_ERR_INVALID_ARGUMENT, "side must be at least 3");
    EXPECT_STATUS(mt_dataset_synthetic(6, -1, 30, 3, &d), MT_ERR_INVALID_ARGUMENT, "train_users");
    EXPECT(d == NULL);

    mt_dataset_free(NULL);
    EXPECT_STATUS(mt_dataset_info_get(NULL, &info), MT_ERR_INVALID_ARGUMENT, "dataset is NULL");
    mt_dataset_info zero = {0};
    d = small_dataset();
    EXPECT_STATUS(mt_dataset_info_get(d, &zero), MT_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT_STATUS(mt_dataset_info_get(d, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");
    mt_dataset_free(d);
}

/* ---- Data files: mt_dataset_load and the limit on a file's size ---- */

static long peak_rss_kb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

static void test_dataset_load(void) {
    mt_dataset_options o = mt_dataset_options_default();
    EXPECT(o.struct_size == sizeof(mt_dataset_options) && o.K == 3 && o.seed == 1);
    EXPECT(o.max_file_bytes == MT_DEFAULT_MAX_FILE_BYTES && MT_DEFAULT_MAX_FILE_BYTES == 4294967296u);
    char train[512], test[512];
    strcpy(train, write_file("load_train.csv", "1\t10\t1\n1\t11\t2\n1\t12\t3\n2\t10\t1\n2\t12\t2\n\n\n\n\n\n\n\n\n\n\n\n"));
    strcpy(test, write_file("load_test.csv", "5\t10\t1\n5\t11\t2\n5\t12\t3\n5\t10\t4\n"));
    mt_dataset *d = (mt_dataset *)0x1;
    mt_dataset_info info = mt_dataset_info_default();
    EXPECT_STATUS(mt_dataset_load(train, test, NULL, &d), MT_OK, "");
    EXPECT_STATUS(mt_dataset_info_get(d, &info), MT_OK, "");
    EXPECT(info.items == 3 && info.train_users == 2 && info.K == 3);
    mt_dataset_free(d);
    o.max_file_bytes = UINT64_MAX;   /* no limit */
    EXPECT_STATUS(mt_dataset_load(train, test, &o, &d), MT_OK, "");
    mt_dataset_free(d);
    o.max_file_bytes = 46;   /* the training file's size: within the limit */
    EXPECT_STATUS(mt_dataset_load(train, test, &o, &d), MT_OK, "");
    mt_dataset_free(d);
    o.max_file_bytes = 45;
    EXPECT_STATUS(mt_dataset_load(train, test, &o, &d), MT_ERR_INVALID_DATA,
                  "load_train.csv: holds 46 bytes, more than the limit of 45 bytes on a data file; if it is meant to be this large, raise the limit");
    EXPECT(d == NULL);
    EXPECT(strstr(mt_last_error_message(), "mt_dataset_options.max_file_bytes") != NULL);
    o.max_file_bytes = 0;
    EXPECT_STATUS(mt_dataset_load(train, test, &o, &d), MT_ERR_INVALID_ARGUMENT, "max_file_bytes must be at least 1");
    o = mt_dataset_options_default();
    o.K = 1;
    EXPECT_STATUS(mt_dataset_load(train, test, &o, &d), MT_ERR_INVALID_ARGUMENT, "K must be in 2...64");
    o = mt_dataset_options_default();
    o.struct_size = 4;
    EXPECT_STATUS(mt_dataset_load(train, test, &o, &d), MT_ERR_INVALID_ARGUMENT, "options->struct_size is 4");
    EXPECT_STATUS(mt_dataset_load(NULL, test, NULL, &d), MT_ERR_INVALID_ARGUMENT, "train_path is NULL");
    EXPECT_STATUS(mt_dataset_load(train, test, NULL, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");

    /* A FIFO whose writer never stops (`yes > fifo`): reading ends at the limit with an error,
     * and memory stays near the limit (it used to grow without bound: 2 GB in 15 s). The writer
     * is a child process; SIGPIPE ends it once the pipe is closed. */
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/endless.fifo", tmpdir);
    EXPECT(mkfifo(fifo, 0600) == 0);
    pid_t writer = fork();
    if (writer == 0) {
        static const char line[] = "1\t2\t3\n";
        static char chunk[8190];
        for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = line[i % 6];
        int fd = open(fifo, O_WRONLY);
        while (fd >= 0 && write(fd, chunk, sizeof chunk) > 0) {}
        _exit(0);
    }
    long before = peak_rss_kb();
    alarm(120);   /* a reader that does not stop fails the test instead of hanging it */
    o = mt_dataset_options_default();
    o.max_file_bytes = 1 << 20;
    EXPECT_STATUS(mt_dataset_load(fifo, test, &o, &d), MT_ERR_INVALID_DATA,
                  "endless.fifo: is a pipe that gave more than the limit of 1048576 bytes (1 MiB) on a data file");
    alarm(0);
    EXPECT(d == NULL);
    long grown_kb = peak_rss_kb() - before;
    /* AddressSanitizer's shadow memory and freed-memory quarantine add their own growth. */
    long allowed_kb = (UNDER_SANITIZER ? 512 : 64) * 1024;
    EXPECT(grown_kb < allowed_kb);
    if (grown_kb >= allowed_kb) fprintf(stderr, "reading the endless FIFO raised peak memory by %ld MB\n", grown_kb / 1024);
    int status = 0;
    kill(writer, SIGKILL);
    EXPECT(writer > 0 && waitpid(writer, &status, 0) == writer);
}

static void test_models(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_model *m = (mt_model *)0x1;

    /* Create failures leave *out NULL; calls on that NULL handle are errors, not crashes. */
    mt_config badc = c; badc.dim = 0;
    EXPECT_STATUS(mt_model_create(&badc, d, &m), MT_ERR_INVALID_ARGUMENT, "dim must be in");
    EXPECT(m == NULL);
    badc = c; badc.struct_size = 4;
    EXPECT_STATUS(mt_model_create(&badc, d, &m), MT_ERR_INVALID_ARGUMENT, "struct_size");
    badc = c; badc.sampler = 9;
    EXPECT_STATUS(mt_model_create(&badc, d, &m), MT_ERR_INVALID_ARGUMENT, "sampler");
    badc = c; badc.K = 4;
    EXPECT_STATUS(mt_model_create(&badc, d, &m), MT_ERR_INVALID_ARGUMENT, "differs from the dataset");
    EXPECT_STATUS(mt_model_create(NULL, d, &m), MT_ERR_INVALID_ARGUMENT, "config is NULL");
    EXPECT_STATUS(mt_model_create(&c, NULL, &m), MT_ERR_INVALID_ARGUMENT, "dataset is NULL");
    EXPECT_STATUS(mt_model_train(m, d, 1, NULL), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    int64_t h[3] = {100, 101, 102};
    float r[8];
    EXPECT_STATUS(mt_model_adapt(m, h, 3, r, 8), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    mt_model_free(NULL);

    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    mt_config back = mt_config_default();
    EXPECT_STATUS(mt_model_config(m, &back), MT_OK, "");
    EXPECT(back.dim == 8 && back.hidden1 == 16 && back.batch_size == 64);
    /* A newer caller's larger struct: its struct_size is kept, fields this library does not know
     * are left alone (mt_model_config used to overwrite struct_size with its own). */
    struct { mt_config c; int64_t newer_field; } newer;
    memset(&newer, 0, sizeof newer);
    newer.c.struct_size = (uint32_t)sizeof newer;
    newer.newer_field = 0x1234;
    EXPECT_STATUS(mt_model_config(m, &newer.c), MT_OK, "");
    EXPECT(newer.c.struct_size == sizeof newer && newer.newer_field == 0x1234 && newer.c.dim == 8 && newer.c.threads == 1);
    int64_t items = 0, step = -1; int32_t dim = 0;
    EXPECT_STATUS(mt_model_info(m, &items, &dim, &step), MT_OK, "");
    EXPECT(items == 40 && dim == 8 && step == 0);

    int64_t ids[40]; float emb[40 * 8];
    EXPECT_STATUS(mt_model_items(m, ids, 40, emb, 40 * 8), MT_OK, "");
    EXPECT(ids[0] == 100 && ids[39] == 139);
    EXPECT_STATUS(mt_model_items(m, ids, 40, NULL, 0), MT_OK, "");
    EXPECT_STATUS(mt_model_items(m, ids, SIZE_MAX, NULL, 0), MT_OK, "");   /* room for more than enough */
    EXPECT_STATUS(mt_model_items(m, ids, 39, NULL, 0), MT_ERR_BUFFER_TOO_SMALL, "room for 39 values");
    EXPECT_STATUS(mt_model_items(m, ids, 40, emb, 40 * 8 - 1), MT_ERR_BUFFER_TOO_SMALL, "40 x 8 are needed");
    EXPECT_STATUS(mt_model_items(m, NULL, 40, emb, 320), MT_ERR_INVALID_ARGUMENT, "ids is NULL");

    float loss = -1;
    EXPECT_STATUS(mt_model_train(m, d, 5, &loss), MT_OK, "");
    EXPECT(loss > 0);
    EXPECT_STATUS(mt_model_train(m, d, 0, &loss), MT_ERR_INVALID_ARGUMENT, "steps must be in");
    EXPECT_STATUS(mt_model_train(m, d, -3, &loss), MT_ERR_INVALID_ARGUMENT, "steps must be in");
    EXPECT_STATUS(mt_model_train(m, NULL, 1, &loss), MT_ERR_INVALID_ARGUMENT, "dataset is NULL");

    mt_metrics met = mt_metrics_default();
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_SAMPLED, &met), MT_OK, "");
    EXPECT(met.users > 0 && met.mrr > 0 && met.mrr <= 1 && met.hits10 >= met.hits1);
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_VALID, MT_PROTOCOL_FULL, &met), MT_OK, "");
    EXPECT_STATUS(mt_model_evaluate(m, d, 7, MT_PROTOCOL_FULL, &met), MT_ERR_INVALID_ARGUMENT, "split must be");
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, 3, &met), MT_ERR_INVALID_ARGUMENT, "protocol must be");
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");

    /* A dataset with another vocabulary cannot train or evaluate this model. */
    int64_t users[2] = {1, 1}, its[2] = {3, 4}, nusers[4] = {9, 9, 9, 9}, nitems[4] = {3, 4, 3, 4};
    double ts[4] = {0, 1, 2, 3};
    mt_dataset *other = NULL;
    EXPECT_STATUS(mt_dataset_from_arrays(users, its, ts, 2, nusers, nitems, ts, 4, 3, 1, &other), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, other, 1, NULL), MT_ERR_INVALID_ARGUMENT,
                  "the dataset's item vocabulary differs from the model's: 40 of the model's 40 items are not in the dataset "
                  "(100, 101, 102, 103, 104, ...), and 2 of the dataset's 2 items are not in the model (3, 4)");
    /* One item replaced: the message names it (it used to say "(40 items) differs from the model's (40 items)"). */
    {
        enum { U = 60, L = 8, N = 30, M = 5 };
        static int64_t tu[U * L], ti[U * L], nu[N * M], ni[N * M];
        static double tt[U * L], nt[N * M];
        for (int u = 0, k = 0; u < U; u++)
            for (int t = 0; t < L; t++, k++) { tu[k] = u; ti[k] = 100 + (u + t * (1 + u % 3)) % 40; tt[k] = t; }
        for (int u = 0, k = 0; u < N; u++)
            for (int t = 0; t < M; t++, k++) { nu[k] = 1000 + u; ni[k] = 100 + (3 * u + t * (1 + u % 3)) % 40; nt[k] = t; }
        for (int k = 0; k < U * L; k++) if (ti[k] == 117) ti[k] = 555;
        for (int k = 0; k < N * M; k++) if (ni[k] == 117) ni[k] = 555;
        mt_dataset *swapped = NULL;
        EXPECT_STATUS(mt_dataset_from_arrays(tu, ti, tt, U * L, nu, ni, nt, N * M, 3, 7, &swapped), MT_OK, "");
        EXPECT_STATUS(mt_model_evaluate(m, swapped, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &met), MT_ERR_INVALID_ARGUMENT,
                      "1 of the model's 40 items is not in the dataset (117), and 1 of the dataset's 40 items is not in the model (555)");
        mt_dataset_free(swapped);
    }
    mt_dataset_free(other);

    /* Serving. */
    float rel[8], small[4], scores[3];
    EXPECT_STATUS(mt_model_adapt(m, h, 3, rel, 8), MT_OK, "");
    EXPECT_STATUS(mt_model_adapt(m, h, 3, small, 4), MT_ERR_BUFFER_TOO_SMALL, "room for 4 floats");
    /* The relation is a dim-vector: adapt takes exactly dim, as score does. */
    float wide[9];
    EXPECT_STATUS(mt_model_adapt(m, h, 3, wide, 9), MT_ERR_INVALID_ARGUMENT, "relation_len must be the model's dimension 8 (got 9)");
    EXPECT_STATUS(mt_model_adapt(m, h, 3, wide, SIZE_MAX), MT_ERR_INVALID_ARGUMENT,
                  "relation_len must be the model's dimension 8 (got 18446744073709551615)");
    EXPECT_STATUS(mt_model_adapt(m, h, SIZE_MAX, rel, 8), MT_ERR_INVALID_ARGUMENT,
                  "history_len = 18446744073709551615 exceeds the limit of 1048576");
    EXPECT_STATUS(mt_model_adapt(m, h, 1, rel, 8), MT_ERR_INVALID_ARGUMENT, "history_len must be at least 2");
    EXPECT_STATUS(mt_model_adapt(m, h, 0, rel, 8), MT_ERR_INVALID_ARGUMENT, "history_len must be at least 2");
    EXPECT_STATUS(mt_model_adapt(m, NULL, 3, rel, 8), MT_ERR_INVALID_ARGUMENT, "history is NULL");
    EXPECT_STATUS(mt_model_adapt(m, h, 3, NULL, 8), MT_ERR_INVALID_ARGUMENT, "relation is NULL");
    int64_t unknown[3] = {100, 555555, 102};
    EXPECT_STATUS(mt_model_adapt(m, unknown, 3, rel, 8), MT_ERR_UNKNOWN_ITEM, "unknown item id 555555");
    int64_t cands[3] = {103, 104, 105};
    EXPECT_STATUS(mt_model_score(m, rel, 8, 102, cands, 3, scores), MT_OK, "");
    EXPECT(scores[0] <= 0 && scores[1] <= 0 && scores[2] <= 0);
    EXPECT_STATUS(mt_model_score(m, rel, 7, 102, cands, 3, scores), MT_ERR_INVALID_ARGUMENT, "relation_len must be");
    EXPECT_STATUS(mt_model_score(m, rel, SIZE_MAX, 102, cands, 3, scores), MT_ERR_INVALID_ARGUMENT,
                  "relation_len must be the model's dimension 8 (got 18446744073709551615)");
    EXPECT_STATUS(mt_model_score(m, rel, 8, 102, cands, SIZE_MAX, scores), MT_ERR_INVALID_ARGUMENT,
                  "candidate_count = 18446744073709551615 exceeds the limit of 2147483648");
    EXPECT_STATUS(mt_model_score(m, rel, 8, -1, cands, 3, scores), MT_ERR_UNKNOWN_ITEM, "unknown item id -1");
    EXPECT_STATUS(mt_model_score(m, rel, 8, 102, cands, 0, scores), MT_ERR_INVALID_ARGUMENT, "candidate_count");
    EXPECT_STATUS(mt_model_score(m, rel, 8, 102, NULL, 3, scores), MT_ERR_INVALID_ARGUMENT, "candidates is NULL");
    EXPECT_STATUS(mt_model_score(m, rel, 8, 102, cands, 3, NULL), MT_ERR_INVALID_ARGUMENT, "scores is NULL");
    int64_t top[50]; float topScores[50]; size_t n = 99;
    EXPECT_STATUS(mt_model_recommend(m, h, 3, 5, 0, top, topScores, &n), MT_OK, "");
    EXPECT(n == 5 && topScores[0] >= topScores[4]);
    for (size_t i = 0; i < n; i++) EXPECT(top[i] != 100 && top[i] != 101 && top[i] != 102);
    EXPECT_STATUS(mt_model_recommend(m, h, 3, 50, MT_RECOMMEND_INCLUDE_HISTORY, top, NULL, &n), MT_OK, "");
    EXPECT(n == 40);
    EXPECT_STATUS(mt_model_recommend(m, h, 3, 0, 0, top, topScores, &n), MT_ERR_INVALID_ARGUMENT, "top_n must be at least 1");
    EXPECT_STATUS(mt_model_recommend(m, h, 3, SIZE_MAX, 0, top, topScores, &n), MT_ERR_INVALID_ARGUMENT,
                  "top_n = 18446744073709551615 exceeds the limit of 2147483648");
    EXPECT(n == 0);
    EXPECT_STATUS(mt_model_recommend(m, h, 3, 5, 0x80, top, topScores, &n), MT_ERR_INVALID_ARGUMENT, "unknown flags");
    EXPECT_STATUS(mt_model_recommend(m, h, 3, 5, 0, NULL, topScores, &n), MT_ERR_INVALID_ARGUMENT, "items is NULL");
    EXPECT_STATUS(mt_model_recommend(m, unknown, 3, 5, 0, top, topScores, &n), MT_ERR_UNKNOWN_ITEM, "555555");

    /* Checkpoints: round trip gives identical scores. */
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", tmpdir);
    EXPECT_STATUS(mt_model_save(m, path), MT_OK, "");
    EXPECT_STATUS(mt_model_save(m, NULL), MT_ERR_INVALID_ARGUMENT, "path is NULL");
    EXPECT_STATUS(mt_model_save(NULL, path), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    EXPECT_STATUS(mt_model_save(m, "/nonexistent-dir/m.safetensors"), MT_ERR_NOT_FOUND, "cannot create");
    mt_model *loaded = (mt_model *)0x1;
    EXPECT_STATUS(mt_model_load(path, &loaded), MT_OK, "");
    float again[3], rel2[8];
    EXPECT_STATUS(mt_model_adapt(loaded, h, 3, rel2, 8), MT_OK, "");
    EXPECT(memcmp(rel, rel2, sizeof rel) == 0);
    EXPECT_STATUS(mt_model_score(loaded, rel, 8, 102, cands, 3, again), MT_OK, "");
    EXPECT(memcmp(scores, again, sizeof scores) == 0);
    mt_model_free(loaded);
    loaded = (mt_model *)0x1;
    EXPECT_STATUS(mt_model_load("/nonexistent/m.safetensors", &loaded), MT_ERR_NOT_FOUND, "no such file");
    EXPECT(loaded == NULL);
    const char *junk = write_file("junk.safetensors", "this is not a checkpoint");
    EXPECT_STATUS(mt_model_load(junk, &loaded), MT_ERR_BAD_CHECKPOINT, "junk.safetensors");
    /* An empty file (through Foundation this leaked 4 KB per load: see make sanitize). */
    const char *empty = write_file("empty.safetensors", "");
    EXPECT_STATUS(mt_model_load(empty, &loaded), MT_ERR_BAD_CHECKPOINT, "truncated: 0 bytes");
    EXPECT_STATUS(mt_model_load(NULL, &loaded), MT_ERR_INVALID_ARGUMENT, "path is NULL");
    EXPECT_STATUS(mt_model_load(path, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");

    mt_model_free(m);
    mt_dataset_free(d);
}

/* ---- Save paths: every legal name saves; a path that cannot name a file creates nothing ---- */

/* A folder's entry count and modification time. Creating or removing an entry, even a temporary
 * file that is gone again, moves the time; age_folder first sets it far in the past so that any
 * such change shows. */
struct folder_state { long entries; long long mtime; };

static void age_folder(const char *path) {
    struct timespec t[2] = {{1000000, 0}, {1000000, 0}};
    utimensat(AT_FDCWD, path, t, 0);
}

static struct folder_state folder_state(const char *path) {
    struct folder_state s = {-1, 0};
    struct stat st;
    if (stat(path, &st) == 0) s.mtime = (long long)st.st_mtime;
    DIR *d = opendir(path);
    if (!d) return s;
    s.entries = 0;
    while (readdir(d)) s.entries++;
    closedir(d);
    return s;
}

static void test_save_paths(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");

    /* Names of 234...255 bytes (NAME_MAX): the atomic save's temporary name must fit too. */
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/names", tmpdir);
    EXPECT(mkdir(dir, 0700) == 0);
    int saved = 0;
    for (int n = 234; n <= 255; n++) {
        int k = snprintf(path, sizeof path, "%s/", dir);
        memset(path + k, 'c', (size_t)n);
        path[k + n] = 0;
        mt_model *back = NULL;
        if (mt_model_save(m, path) == MT_OK && mt_model_load(path, &back) == MT_OK) saved++;
        else fprintf(stderr, "FAILED: a %d-byte name: %s\n", n, mt_last_error_message());
        mt_model_free(back);
    }
    EXPECT(saved == 22);
    EXPECT(folder_state(dir).entries == 22 + 2);   /* and "." and "..": no temporary file left */
    int k = snprintf(path, sizeof path, "%s/", dir);
    memset(path + k, 'c', 256);
    path[k + 256] = 0;
    age_folder(dir);
    struct folder_state before = folder_state(dir);
    EXPECT_STATUS(mt_model_save(m, path), MT_ERR_INVALID_ARGUMENT, "the file name is 256 bytes, longer than the 255");
    struct folder_state after = folder_state(dir);
    EXPECT(after.entries == before.entries && after.mtime == before.mtime);

    /* Paths that name a folder, or nothing, fail before anything is created: not in the folder
     * itself, not in its parent (the old save wrote a temporary file there, named after the
     * folder, then failed to rename it). Relative ones from inside tmpdir/p/here. */
    char parent[512], here[512], cwd[4096];
    snprintf(parent, sizeof parent, "%s/p", tmpdir);
    snprintf(here, sizeof here, "%s/p/here", tmpdir);
    EXPECT(mkdir(parent, 0700) == 0 && mkdir(here, 0700) == 0);
    EXPECT(getcwd(cwd, sizeof cwd) != NULL);
    EXPECT(chdir(here) == 0);
    struct { const char *path; mt_status status; const char *message; } cases[] = {
        {"", MT_ERR_INVALID_ARGUMENT, "mt_model_save: cannot save to an empty path; expected a file name"},
        {".", MT_ERR_INVALID_ARGUMENT, "mt_model_save: .: names a directory ('.' or '..'), expected a file name"},
        {"..", MT_ERR_INVALID_ARGUMENT, "mt_model_save: ..: names a directory ('.' or '..'), expected a file name"},
        {"./", MT_ERR_INVALID_ARGUMENT, "mt_model_save: ./: names a directory (it ends in '/'), expected a file name"},
        {"new/", MT_ERR_INVALID_ARGUMENT, "mt_model_save: new/: names a directory (it ends in '/'), expected a file name"},
        {"../here", MT_ERR_IO, "mt_model_save: ../here: is a directory, expected a file"},
        {tmpdir, MT_ERR_IO, "is a directory, expected a file"},
    };
    const char *watched[3] = {here, parent, tmpdir};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct folder_state was[3], now[3];
        for (int w = 0; w < 3; w++) { age_folder(watched[w]); was[w] = folder_state(watched[w]); }
        EXPECT_STATUS(mt_model_save(m, cases[i].path), cases[i].status, cases[i].message);
        for (int w = 0; w < 3; w++) {
            now[w] = folder_state(watched[w]);
            if (now[w].entries != was[w].entries || now[w].mtime != was[w].mtime) {
                failed++;
                fprintf(stderr, "FAILED: saving to '%s' changed %s (entries %ld -> %ld, mtime %lld -> %lld)\n", cases[i].path,
                        watched[w], was[w].entries, now[w].entries, was[w].mtime, now[w].mtime);
            } else {
                passed++;
            }
        }
    }
    EXPECT(chdir(cwd) == 0);

    /* A path that is not UTF-8 is refused: it used to be repaired (each bad byte became U+FFFD),
     * so the checkpoint went to a file of another name. */
    snprintf(path, sizeof path, "%s/latin1-\xE9t\xE9.safetensors", dir);
    age_folder(dir);
    before = folder_state(dir);
    EXPECT_STATUS(mt_model_save(m, path), MT_ERR_INVALID_ARGUMENT, "names/latin1-\\xe9t\\xe9.safetensors' is not valid UTF-8");
    after = folder_state(dir);
    EXPECT(after.entries == before.entries && after.mtime == before.mtime);
    mt_model *none = (mt_model *)0x1;
    EXPECT_STATUS(mt_model_load(path, &none), MT_ERR_INVALID_ARGUMENT, "latin1-\\xe9t\\xe9.safetensors' is not valid UTF-8; this library takes UTF-8 strings");
    EXPECT(none == NULL);
    mt_model_free(m);
    mt_dataset_free(d);
}

/* ---- Concurrency: serving shares the model; training takes it one step at a time ---- */

struct shared { mt_model *model; mt_dataset *data; atomic_int training; mt_status train_status; };

static void *train_thread(void *arg) {
    struct shared *s = arg;
    s->train_status = mt_model_train(s->model, s->data, 400, NULL);
    s->training = 0;
    return NULL;
}

/* While one thread trains, another serves, reads the step, snapshots and restores: each of
 * those waits for the current step and succeeds; a second training call is refused at once. */
static void test_serving_while_training(void) {
    struct shared s = {0};
    s.data = small_dataset();
    mt_config c = small_config();
    EXPECT_STATUS(mt_model_create(&c, s.data, &s.model), MT_OK, "");
    mt_snapshot *initial = NULL;
    EXPECT_STATUS(mt_model_snapshot(s.model, &initial), MT_OK, "");
    pthread_t t;
    s.training = 1;
    pthread_create(&t, NULL, train_thread, &s);
    /* Wait until training has taken a step (reading the step waits for it, never fails). */
    int64_t step = 0;
    mt_status info = MT_OK;
    while (s.training && step == 0 && info == MT_OK) { info = mt_model_info(s.model, NULL, NULL, &step); usleep(50); }
    EXPECT(info == MT_OK);
    int served = 0, busy_train = 0, trained_after = 0, snapshots = 0, other = 0;
    int64_t h[3] = {100, 101, 102}, items[5], last = 0;
    char busy_message[256] = "";
    for (int i = 0; i < 20000 && s.training; i++) {
        mt_status r = mt_model_recommend(s.model, h, 3, 5, 0, items, NULL, NULL);
        if (r == MT_OK) served++; else other++;
        mt_status tr = mt_model_train(s.model, s.data, 1, NULL);
        if (tr == MT_ERR_BUSY) { busy_train++; snprintf(busy_message, sizeof busy_message, "%s", mt_last_error_message()); }
        else if (tr == MT_OK) trained_after++;   /* the first call had just ended */
        else other++;
        if (i % 16 == 0) {
            mt_snapshot *snap = NULL;
            mt_status sn = mt_model_snapshot(s.model, &snap);
            if (sn == MT_OK && mt_snapshot_step(snap) >= last && mt_snapshot_step(snap) <= 400 + trained_after) {
                snapshots++;
                last = mt_snapshot_step(snap);
            }
            else other++;
            mt_snapshot_free(snap);
        }
        if (mt_model_info(s.model, NULL, NULL, &step) != MT_OK) other++;
    }
    pthread_join(t, NULL);
    EXPECT(s.train_status == MT_OK);
    EXPECT(served > 0 && snapshots > 0);
    EXPECT(busy_train > 0);
    EXPECT(other == 0);
    EXPECT(strstr(busy_message, "already being trained"));
    if (other || !busy_train) fprintf(stderr, "serving while training: %d served, %d snapshots, %d refused, %d other\n",
                                      served, snapshots, busy_train, other);
    /* Restoring from another thread while training runs waits for a step, then succeeds. */
    int64_t before = -1;
    EXPECT_STATUS(mt_model_info(s.model, NULL, NULL, &before), MT_OK, "");
    s.training = 1;
    pthread_create(&t, NULL, train_thread, &s);
    step = before;
    while (s.training && step == before && info == MT_OK) info = mt_model_info(s.model, NULL, NULL, &step);
    EXPECT_STATUS(mt_model_restore(s.model, initial), MT_OK, "");
    pthread_join(t, NULL);
    EXPECT(s.train_status == MT_OK);
    EXPECT_STATUS(mt_model_restore(s.model, initial), MT_OK, "");
    EXPECT_STATUS(mt_model_info(s.model, NULL, NULL, &step), MT_OK, "");
    EXPECT(step == 0);
    /* Afterwards the model serves normally. */
    EXPECT_STATUS(mt_model_recommend(s.model, h, 3, 5, 0, items, NULL, NULL), MT_OK, "");
    mt_snapshot_free(initial);
    mt_model_free(s.model);
    mt_dataset_free(s.data);
}

/* Snapshots: restore gives back exactly the model that was saved, and training goes on from there. */
static void test_snapshots(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_model *m = NULL, *twin = NULL, *wide = NULL;
    mt_snapshot *snap = (mt_snapshot *)0x1;
    EXPECT_STATUS(mt_model_snapshot(NULL, &snap), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    EXPECT(snap == NULL);
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_create(&c, d, &twin), MT_OK, "");
    EXPECT_STATUS(mt_model_snapshot(m, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");
    EXPECT_STATUS(mt_model_train(m, d, 4, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_snapshot(m, &snap), MT_OK, "");
    EXPECT(mt_snapshot_step(snap) == 4 && mt_snapshot_step(NULL) == -1);
    mt_metrics at4 = mt_metrics_default(), later = mt_metrics_default(), back = mt_metrics_default();
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &at4), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 6, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &later), MT_OK, "");
    EXPECT_STATUS(mt_model_restore(m, snap), MT_OK, "");
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &back), MT_OK, "");
    /* Field by field: the struct has padding after struct_size. */
    EXPECT(back.mrr == at4.mrr && back.ndcg10 == at4.ndcg10 && back.hits10 == at4.hits10 && back.users == at4.users);
    EXPECT(later.mrr != at4.mrr || later.ndcg10 != at4.ndcg10);
    int64_t items, step; int32_t dim;
    EXPECT_STATUS(mt_model_info(m, &items, &dim, &step), MT_OK, "");
    EXPECT(step == 4);
    /* Training on from the restored model equals a model trained straight through. */
    EXPECT_STATUS(mt_model_train(m, d, 3, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_train(twin, d, 7, NULL), MT_OK, "");
    float a[40 * 8], b[40 * 8]; int64_t ids[40];
    EXPECT_STATUS(mt_model_items(m, ids, 40, a, 320), MT_OK, "");
    EXPECT_STATUS(mt_model_items(twin, ids, 40, b, 320), MT_OK, "");
    EXPECT(memcmp(a, b, sizeof a) == 0);
    /* A snapshot fits only a model of the same shape. */
    mt_config cw = c; cw.hidden1 = 24;
    EXPECT_STATUS(mt_model_create(&cw, d, &wide), MT_OK, "");
    EXPECT_STATUS(mt_model_restore(wide, snap), MT_ERR_INVALID_ARGUMENT, "another shape");
    EXPECT_STATUS(mt_model_restore(m, NULL), MT_ERR_INVALID_ARGUMENT, "snapshot is NULL");
    mt_snapshot_free(snap);
    mt_snapshot_free(NULL);
    mt_model_free(wide);
    mt_model_free(twin);
    mt_model_free(m);
    mt_dataset_free(d);
}

/* ---- Concurrency: eight threads serve one model; every answer equals the single-threaded one ---- */

enum { SERVERS = 8, HISTORIES = 16, ROUNDS = 20, TOP = 5, CANDS = 10 };

struct answer { float relation[8]; int64_t top[TOP]; float top_scores[TOP]; float cand_scores[CANDS]; };

struct serving {
    mt_model *model;
    mt_dataset *other;                 /* a dataset with another vocabulary: training on it never changes the model */
    int64_t histories[HISTORIES][5];
    size_t lengths[HISTORIES];
    int64_t cands[CANDS];
    struct answer expected[HISTORIES];
    pthread_mutex_t lock;
    int served, mismatches, serve_other, servers_done;
    int train_attempts, train_refused, train_other;
};

static mt_status compute_answer(struct serving *s, int h, struct answer *a) {
    memset(a, 0, sizeof *a);
    mt_status st = mt_model_adapt(s->model, s->histories[h], s->lengths[h], a->relation, 8);
    if (st != MT_OK) return st;
    size_t n = 0;
    st = mt_model_recommend(s->model, s->histories[h], s->lengths[h], TOP, 0, a->top, a->top_scores, &n);
    if (st != MT_OK || n != TOP) return st != MT_OK ? st : MT_ERR_INTERNAL;
    return mt_model_score(s->model, a->relation, 8, s->histories[h][s->lengths[h] - 1], s->cands, CANDS, a->cand_scores);
}

static void *server_thread(void *arg) {
    struct serving *s = arg;
    static int next_id;
    pthread_mutex_lock(&s->lock);
    int t = next_id++;
    pthread_mutex_unlock(&s->lock);
    for (int r = 0; r < ROUNDS; r++) {
        for (int k = 0; k < HISTORIES; k++) {
            int h = (k + 3 * t + r) % HISTORIES;
            struct answer a;
            mt_status st = compute_answer(s, h, &a);
            pthread_mutex_lock(&s->lock);
            if (st != MT_OK) s->serve_other++;
            else if (memcmp(&a, &s->expected[h], sizeof a) != 0) s->mismatches++;
            else s->served++;
            pthread_mutex_unlock(&s->lock);
        }
    }
    pthread_mutex_lock(&s->lock);
    s->servers_done++;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void *trainer_thread(void *arg) {
    struct serving *s = arg;
    /* At least one attempt: on a loaded machine the servers may all finish before this thread
     * first runs (the test then failed on train_attempts > 0). */
    for (int done = 0; !done;) {
        mt_status st = mt_model_train(s->model, s->other, 1, NULL);
        pthread_mutex_lock(&s->lock);
        s->train_attempts++;
        if (st == MT_ERR_INVALID_ARGUMENT && strstr(mt_last_error_message(), "vocabulary")) s->train_refused++;
        else s->train_other++;
        done = s->servers_done == SERVERS;
        pthread_mutex_unlock(&s->lock);
        usleep(100);
    }
    return NULL;
}

static void test_concurrent_serving(void) {
    static struct serving s;
    memset(&s, 0, sizeof s);
    pthread_mutex_init(&s.lock, NULL);
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    EXPECT_STATUS(mt_model_create(&c, d, &s.model), MT_OK, "");
    EXPECT_STATUS(mt_model_train(s.model, d, 5, NULL), MT_OK, "");
    int64_t users[2] = {1, 1}, its[2] = {3, 4}, nusers[4] = {9, 9, 9, 9}, nitems[4] = {3, 4, 3, 4};
    double ts[4] = {0, 1, 2, 3};
    EXPECT_STATUS(mt_dataset_from_arrays(users, its, ts, 2, nusers, nitems, ts, 4, 3, 1, &s.other), MT_OK, "");
    for (int h = 0; h < HISTORIES; h++) {
        s.lengths[h] = 2 + h % 4;
        for (size_t i = 0; i < s.lengths[h]; i++) s.histories[h][i] = 100 + (h * 7 + (int)i * (3 + h % 5)) % 40;
    }
    for (int i = 0; i < CANDS; i++) s.cands[i] = 100 + 4 * i;
    int setup_ok = 1;
    for (int h = 0; h < HISTORIES; h++) setup_ok &= compute_answer(&s, h, &s.expected[h]) == MT_OK;
    EXPECT(setup_ok);
    int64_t step_before = -1, step_after = -2;
    EXPECT_STATUS(mt_model_info(s.model, NULL, NULL, &step_before), MT_OK, "");

    pthread_t servers[SERVERS], trainer;
    for (int t = 0; t < SERVERS; t++) pthread_create(&servers[t], NULL, server_thread, &s);
    pthread_create(&trainer, NULL, trainer_thread, &s);
    for (int t = 0; t < SERVERS; t++) pthread_join(servers[t], NULL);
    pthread_join(trainer, NULL);

    EXPECT(s.served == SERVERS * ROUNDS * HISTORIES);
    EXPECT(s.mismatches == 0);
    EXPECT(s.serve_other == 0);
    EXPECT(s.train_attempts > 0);
    EXPECT(s.train_refused == s.train_attempts && s.train_other == 0);
    EXPECT_STATUS(mt_model_info(s.model, NULL, NULL, &step_after), MT_OK, "");
    EXPECT(step_after == step_before);
    if (s.mismatches || s.serve_other || s.train_other)
        fprintf(stderr, "concurrent serving: %d served, %d mismatches, %d errors; training: %d attempts, %d refused, %d other\n",
                s.served, s.mismatches, s.serve_other, s.train_attempts, s.train_refused, s.train_other);
    mt_model_free(s.model);
    mt_dataset_free(s.other);
    mt_dataset_free(d);
    pthread_mutex_destroy(&s.lock);
}

/* ---- Resource limits: files that would need absurd memory are refused before allocating ---- */

/* Writes a safetensors container: the length field (`length`, or the padded header's length
 * when 0), the header padded with spaces to 8 bytes, then `data_bytes` zero bytes. */
static const char *write_container(const char *name, const char *header, uint64_t length, size_t data_bytes) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    size_t n = strlen(header), padded = (n + 7) / 8 * 8;
    uint64_t field = length ? length : padded;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(field >> (8 * i));
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    fwrite(le, 1, 8, f);
    fputs(header, f);
    for (size_t i = n; i < padded; i++) fputc(' ', f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
    return path;
}

/* Copies the checkpoint at `src` to `dst` with `old` replaced by `new` in its header (the
 * length field and padding rewritten; tensor offsets are relative to the data, so stay valid). */
static int patch_header(const char *src, const char *dst, const char *old, const char *new) {
    FILE *f = fopen(src, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) { fclose(f); free(buf); return 0; }
    fclose(f);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)buf[i] << (8 * i);
    char *header = malloc(n + 1 + strlen(new));
    memcpy(header, buf + 8, n);
    header[n] = 0;
    char *at = strstr(header, old);
    int ok = at != NULL;
    if (ok) {
        memmove(at + strlen(new), at + strlen(old), strlen(at + strlen(old)) + 1);
        memcpy(at, new, strlen(new));
        while (strlen(header) > 0 && header[strlen(header) - 1] == ' ') header[strlen(header) - 1] = 0;
        const char *path = write_container("patched.tmp", header, 0, 0);
        FILE *out = fopen(path, "ab");
        fwrite(buf + 8 + n, 1, (size_t)size - 8 - n, out);
        fclose(out);
        ok = rename(path, dst) == 0;
    }
    free(header);
    free(buf);
    return ok;
}

/* The files of test_resource_limits, each with the message its load must give. */
enum { ABSURD = 5 };
static const char *absurd_names[ABSURD] = {"gigabyte_header.safetensors", "terabyte_tensor.safetensors",
                                           "overflowing_shape.safetensors", "reference_sizes.safetensors",
                                           "configuration_sizes.safetensors"};
static const char *absurd_messages[ABSURD] = {
    "header length 4294967296 exceeds the 1048576-byte limit",
    "data_offsets [0, 1099511627776] fall outside",
    "is too large",
    "tensor relation_learner.rel_fc1.fc.weight has shape [16384, 0], expected [16384, 8192]",
    "tensor embedding.embedding.weight has shape [41, 8], expected [41, 4096]",
};

/* Loads every absurd file; returns how many were refused with their message. */
static int load_absurd_files(const char *dir) {
    int refused = 0;
    for (int i = 0; i < ABSURD; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, absurd_names[i]);
        mt_model *m = (mt_model *)0x1;
        mt_status st = mt_model_load(path, &m);
        if (st == MT_ERR_BAD_CHECKPOINT && m == NULL && strstr(mt_last_error_message(), absurd_messages[i])) refused++;
        else fprintf(stderr, "FAILED: %s -> %s: %s\n", absurd_names[i], mt_status_name(st), mt_last_error_message());
        if (st == MT_OK) mt_model_free(m);
    }
    return refused;
}

/* `contract-test --limited-loads DIR`: the loads again in a process whose address space may
 * grow by only 1 GiB, so that any attempt to allocate what the files claim would fail (Swift
 * traps on a failed allocation: the process would die by a signal). */
static int limited_loads(const char *dir) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1) { fprintf(stderr, "cannot read /proc/self/statm\n"); return 3; }
    fclose(f);
    rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)1 << 30);
    struct rlimit rl = {limit, limit};
    if (setrlimit(RLIMIT_AS, &rl) != 0) { perror("setrlimit"); return 3; }
    return load_absurd_files(dir) == ABSURD ? 0 : 1;
}

static void test_resource_limits(const char *self) {
    write_container(absurd_names[0], "{}", (uint64_t)1 << 32, 0);
    write_container(absurd_names[1], "{\"x\":{\"dtype\":\"F32\",\"shape\":[262144,1048576],\"data_offsets\":[0,1099511627776]}}", 0, 16);
    write_container(absurd_names[2], "{\"x\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 0, 8);
    /* A reference state_dict whose (empty) tensors imply a 4096 x 16384 x 16384 model: 7.5 GB. */
    write_container(absurd_names[3],
                    "{\"embedding.embedding.weight\":{\"dtype\":\"F32\",\"shape\":[2,4096],\"data_offsets\":[0,32768]},"
                    "\"relation_learner.rel_fc1.bn.weight\":{\"dtype\":\"F32\",\"shape\":[63],\"data_offsets\":[32768,33020]},"
                    "\"relation_learner.rel_fc1.fc.weight\":{\"dtype\":\"F32\",\"shape\":[16384,0],\"data_offsets\":[33020,33020]},"
                    "\"relation_learner.rel_fc2.fc.weight\":{\"dtype\":\"F32\",\"shape\":[16384,0],\"data_offsets\":[33020,33020]}}",
                    0, 33020);
    /* A real small checkpoint whose configuration metadata claims the largest sizes, its
     * checksums dropped (renamed) as a hand-made file would have none: the shapes must then
     * refuse it before anything is allocated. */
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_model *m = NULL;
    char small[512], big[512];
    snprintf(small, sizeof small, "%s/small.safetensors", tmpdir);
    snprintf(big, sizeof big, "%s/%s", tmpdir, absurd_names[4]);
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_save(m, small), MT_OK, "");
    EXPECT(patch_header(small, big, "\\\"dim\\\":8,", "\\\"dim\\\":4096,"));
    EXPECT(patch_header(big, big, "\\\"hidden1\\\":16,", "\\\"hidden1\\\":16384,"));
    EXPECT(patch_header(big, big, "\\\"hidden2\\\":12,", "\\\"hidden2\\\":16384,"));
    EXPECT(patch_header(big, big, "\"checksums\":", "\"checksumz\":"));
    mt_model_free(m);
    mt_dataset_free(d);

    EXPECT(load_absurd_files(tmpdir) == ABSURD);
    if (UNDER_SANITIZER) {
        printf("resource limits: the address-space-limited run is skipped under a sanitizer\n");
    } else {
        pid_t pid = fork();
        if (pid == 0) {
            execl(self, self, "--limited-loads", tmpdir, (char *)NULL);
            _exit(127);
        }
        int status = 0;
        EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (!WIFEXITED(status)) fprintf(stderr, "limited loads died by signal %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }

    /* Ids are mapped through a dictionary: 99999999999 costs one row, like 7. */
    const char *train = write_file("huge_ids.tsv", "1\t99999999999\t1\n1\t7\t2\n1\t1000000000000000000\t3\n");
    char train_path[512];
    strcpy(train_path, train);
    const char *test = write_file("huge_ids_new.tsv", "2\t7\t1\n2\t99999999999\t2\n2\t7\t3\n2\t1000000000000000000\t4\n");
    mt_dataset *h = NULL;
    mt_dataset_info info = mt_dataset_info_default();
    EXPECT_STATUS(mt_dataset_from_files(train_path, test, 3, 1, &h), MT_OK, "");
    EXPECT_STATUS(mt_dataset_info_get(h, &info), MT_OK, "");
    EXPECT(info.items == 3);
    mt_dataset_free(h);

    /* Devices are not read forever; a directory is not a file. */
    EXPECT_STATUS(mt_dataset_from_files("/dev/zero", test, 3, 1, &h), MT_ERR_IO, "/dev/zero: is a character device");
    EXPECT_STATUS(mt_model_load("/dev/zero", &m), MT_ERR_IO, "/dev/zero: is a character device");
    EXPECT(m == NULL);
    EXPECT_STATUS(mt_model_load(tmpdir, &m), MT_ERR_NOT_FOUND, "is a directory");
}

/* A process that forks after training (Python's multiprocessing does) can train in the child:
 * the engine's worker threads do not survive a fork, and the child must not wait for them. */
static void test_fork_after_training(void) {
    if (UNDER_TSAN) {
        printf("fork after training: skipped under ThreadSanitizer (no threads in a forked child)\n");
        return;
    }
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    c.threads = 2;
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 5, NULL), MT_OK, "");
    pid_t child = fork();
    if (child == 0) {
        alarm(60);   /* a hang fails the test instead of blocking it */
        float loss = 0;
        _exit(mt_model_train(m, d, 5, &loss) == MT_OK && loss == loss ? 0 : 1);
    }
    int status = 0;
    EXPECT(child > 0 && waitpid(child, &status, 0) == child);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_STATUS(mt_model_train(m, d, 5, NULL), MT_OK, "");
    mt_model_free(m);
    mt_dataset_free(d);
}

/* Finite or failed: an absurd learning rate ends training with MT_ERR_DIVERGED at its first
 * step and leaves the model exactly as it was; the model then still saves and loads. */
static void test_divergence(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    c.learning_rate = 1e30f;
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    int64_t items = 0, step = -1;
    int32_t dim = 0;
    EXPECT_STATUS(mt_model_info(m, &items, &dim, &step), MT_OK, "");
    size_t n = (size_t)(items * dim);
    float *before = calloc(n, sizeof *before), *after = calloc(n, sizeof *after);
    int64_t *ids = calloc((size_t)items, sizeof *ids);
    EXPECT_STATUS(mt_model_items(m, ids, (size_t)items, before, n), MT_OK, "");
    float loss = -1;
    EXPECT_STATUS(mt_model_train(m, d, 5, &loss), MT_ERR_DIVERGED, "step 1");
    EXPECT(loss == -1);
    EXPECT(strcmp(mt_status_name(MT_ERR_DIVERGED), "MT_ERR_DIVERGED") == 0);
    EXPECT_STATUS(mt_model_info(m, NULL, NULL, &step), MT_OK, "");
    EXPECT(step == 0);
    EXPECT_STATUS(mt_model_items(m, ids, (size_t)items, after, n), MT_OK, "");
    EXPECT(memcmp(before, after, n * sizeof *before) == 0);
    char path[512];
    snprintf(path, sizeof path, "%s/diverged.safetensors", tmpdir);
    EXPECT_STATUS(mt_model_save(m, path), MT_OK, "");
    mt_model *loaded = NULL;
    EXPECT_STATUS(mt_model_load(path, &loaded), MT_OK, "");
    mt_metrics metrics = mt_metrics_default();
    EXPECT_STATUS(mt_model_evaluate(loaded, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &metrics), MT_OK, "");
    EXPECT(metrics.mrr >= 0 && metrics.mrr < 1);
    mt_model_free(loaded);
    free(before); free(after); free(ids);
    mt_model_free(m);
    mt_dataset_free(d);
}

/* Forking while other threads use the model (serving it, or training it) must not leave the
 * child waiting for threads it does not have, or with a half-updated model: the child serves and
 * trains it. (fork() waits for a training step or an OpenBLAS call in flight.) */
struct forker { mt_model *model; mt_dataset *data; atomic_int stop; atomic_int calls; int train; };

static void *use_thread(void *arg) {
    struct forker *f = arg;
    int64_t h[3] = {100, 101, 102}, items[5];
    while (!f->stop) {
        if (f->train) mt_model_train(f->model, f->data, 1, NULL);
        else mt_model_recommend(f->model, h, 3, 5, 0, items, NULL, NULL);
        f->calls++;
    }
    return NULL;
}

static int child_uses(mt_model *m, mt_dataset *d) {
    int64_t h[3] = {100, 101, 102}, items[5];
    mt_status r = mt_model_recommend(m, h, 3, 5, 0, items, NULL, NULL);
    mt_status t = mt_model_train(m, d, 2, NULL);
    if (r == MT_OK && t == MT_OK) return 0;
    fprintf(stderr, "forked child: recommend %s, train %s: %s\n", mt_status_name(r), mt_status_name(t), mt_last_error_message());
    return 1;
}

static void test_fork_while_in_use(void) {
    if (UNDER_TSAN) {
        printf("fork while in use: skipped under ThreadSanitizer (no threads in a forked child)\n");
        return;
    }
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    c.threads = 2;
    for (int train = 0; train <= 1; train++) {
        mt_model *m = NULL;
        EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
        EXPECT_STATUS(mt_model_train(m, d, 2, NULL), MT_OK, "");
        struct forker f = {.model = m, .data = d, .train = train};
        pthread_t users[2];
        int n = train ? 1 : 2, failures = 0;
        for (int i = 0; i < n; i++) pthread_create(&users[i], NULL, use_thread, &f);
        for (int k = 0; k < 8; k++) {
            while (f.calls < 3 * (k + 1)) usleep(100);
            pid_t child = fork();
            if (child == 0) {
                alarm(60);   /* a hang fails the test instead of blocking it */
                _exit(child_uses(m, d));
            }
            int status = 0;
            if (!(child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                failures++;
                if (WIFSIGNALED(status)) fprintf(stderr, "forked child %d died by signal %d\n", k, WTERMSIG(status));
            }
        }
        EXPECT(failures == 0);
        if (failures) fprintf(stderr, "fork while %s: %d of 8 children failed\n", train ? "training" : "serving", failures);
        f.stop = 1;
        for (int i = 0; i < n; i++) pthread_join(users[i], NULL);
        mt_model_free(m);
    }
    mt_dataset_free(d);
}

/* The transition prior: attach (fixed or chosen), read the weight, scores change only with w > 0,
 * a checkpoint keeps it, bad arguments are errors. */
static void test_transition_prior(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 3, NULL), MT_OK, "");
    float w = -1;
    EXPECT_STATUS(mt_model_transition_prior_weight(m, &w), MT_OK, "");
    EXPECT(w == 0);
    EXPECT_STATUS(mt_model_transition_prior_weight(m, NULL), MT_ERR_INVALID_ARGUMENT, "weight is NULL");
    EXPECT_STATUS(mt_model_transition_prior_weight(NULL, &w), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    EXPECT_STATUS(mt_model_attach_transition_prior(NULL, d, 1, NULL), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    EXPECT_STATUS(mt_model_attach_transition_prior(m, NULL, 1, NULL), MT_ERR_INVALID_ARGUMENT, "dataset is NULL");
    EXPECT_STATUS(mt_model_attach_transition_prior(m, d, NAN, NULL), MT_ERR_INVALID_ARGUMENT, "NaN");
    EXPECT_STATUS(mt_model_attach_transition_prior(m, d, INFINITY, NULL), MT_ERR_INVALID_ARGUMENT, "weight must be finite");

    int64_t h[3] = {100, 101, 102}, cand[40];
    for (int i = 0; i < 40; i++) cand[i] = 100 + i;
    float r[8], pure[40], zero[40], blended[40];
    EXPECT_STATUS(mt_model_adapt(m, h, 3, r, 8), MT_OK, "");
    EXPECT_STATUS(mt_model_score(m, r, 8, 102, cand, 40, pure), MT_OK, "");
    mt_metrics before = mt_metrics_default(), after = mt_metrics_default();
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &before), MT_OK, "");

    float chosen = -1;
    EXPECT_STATUS(mt_model_attach_transition_prior(m, d, 0, &chosen), MT_OK, "");
    EXPECT(chosen == 0);
    EXPECT_STATUS(mt_model_score(m, r, 8, 102, cand, 40, zero), MT_OK, "");
    EXPECT(memcmp(pure, zero, sizeof pure) == 0);
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &after), MT_OK, "");
    EXPECT(after.mrr == before.mrr && after.hits10 == before.hits10);

    EXPECT_STATUS(mt_model_attach_transition_prior(m, d, 2.5f, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_transition_prior_weight(m, &w), MT_OK, "");
    EXPECT(w == 2.5f);
    EXPECT_STATUS(mt_model_score(m, r, 8, 102, cand, 40, blended), MT_OK, "");
    int higher = 0, lower = 0;
    for (int i = 0; i < 40; i++) { higher += blended[i] > pure[i]; lower += blended[i] < pure[i]; }
    EXPECT(higher > 0 && lower == 0);   /* the prior only ever adds w * log(1 + count) >= 0 */

    /* A checkpoint keeps the prior: the same weight and the same scores. */
    char path[512];
    snprintf(path, sizeof path, "%s/prior.safetensors", tmpdir);
    EXPECT_STATUS(mt_model_save(m, path), MT_OK, "");
    mt_model *loaded = NULL;
    EXPECT_STATUS(mt_model_load(path, &loaded), MT_OK, "");
    float lw = 0, again[40];
    EXPECT_STATUS(mt_model_transition_prior_weight(loaded, &lw), MT_OK, "");
    EXPECT(lw == 2.5f);
    EXPECT_STATUS(mt_model_score(loaded, r, 8, 102, cand, 40, again), MT_OK, "");
    EXPECT(memcmp(blended, again, sizeof again) == 0);
    mt_model_free(loaded);

    /* Chosen on validation: one of the grid's weights. */
    chosen = -1;
    EXPECT_STATUS(mt_model_attach_transition_prior(m, d, -1, &chosen), MT_OK, "");
    const float grid[9] = {0, 0.25f, 0.5f, 1, 2, 4, 8, 16, 32};
    int on_grid = 0;
    for (int i = 0; i < 9; i++) on_grid |= chosen == grid[i];
    EXPECT(on_grid);
    EXPECT_STATUS(mt_model_transition_prior_weight(m, &w), MT_OK, "");
    EXPECT(w == chosen);
    mt_model_free(m);
    mt_dataset_free(d);
}

/* ---- mt_model_fit and progress callbacks ---- */

struct fit_watch {
    mt_model *model;
    const mt_dataset *data;
    int64_t cancel_at_step;        /* cancel in the step callback of this step (-1: never) */
    int64_t cancel_at_validation;  /* cancel in the validation callback of this step (-1: never) */
    int steps_seen, validations_seen, busy_seen, readers_ok;
    int64_t last_done;
    mt_curve_point points[64];
};

static int32_t watch_fit(const mt_progress *p, void *user_data) {
    struct fit_watch *w = user_data;
    if (p->struct_size != sizeof(mt_progress)) return 1;
    if (p->validation == NULL) {
        w->steps_seen++;
        w->last_done = p->done;
        if (p->done != w->steps_seen) return 1;     /* every step, in order */
        /* The model is free: a reader works, a second training call is refused at once. */
        if (w->steps_seen == 2) {
            mt_metrics m = mt_metrics_default();
            w->readers_ok += mt_model_evaluate(w->model, w->data, MT_SPLIT_VALID, MT_PROTOCOL_SAMPLED, &m) == MT_OK;
            w->busy_seen += mt_model_train(w->model, w->data, 1, NULL) == MT_ERR_BUSY;
        }
        return p->step == w->cancel_at_step;
    }
    if (w->validations_seen < 64) w->points[w->validations_seen] = *p->validation;
    w->validations_seen++;
    return p->validation->step == w->cancel_at_validation;
}

static int same_point(const mt_curve_point *a, const mt_curve_point *b) {
    int loss = (a->train_loss == b->train_loss) || (a->train_loss != a->train_loss && b->train_loss != b->train_loss);
    return a->step == b->step && loss && a->elapsed_seconds == b->elapsed_seconds &&
           a->steps_per_second == b->steps_per_second && a->valid_sampled_mrr == b->valid_sampled_mrr &&
           a->valid_sampled_hits10 == b->valid_sampled_hits10 && a->valid_full_mrr == b->valid_full_mrr &&
           a->valid_full_hits10 == b->valid_full_hits10;
}

/* The model's embeddings equal those of a twin trained straight to `steps`. */
static int equals_straight_run(mt_model *m, const mt_dataset *d, const mt_config *c, int64_t steps) {
    mt_model *twin = NULL;
    if (mt_model_create(c, d, &twin) != MT_OK) return 0;
    if (steps > 0 && mt_model_train(twin, d, steps, NULL) != MT_OK) { mt_model_free(twin); return 0; }
    float a[40 * 8], b[40 * 8]; int64_t ids[40];
    int same = mt_model_items(m, ids, 40, a, 320) == MT_OK && mt_model_items(twin, ids, 40, b, 320) == MT_OK &&
               memcmp(a, b, sizeof a) == 0;
    mt_model_free(twin);
    return same;
}

static void check_cancelled_fit(mt_dataset *d, const mt_config *c, int64_t cancel_step, int64_t cancel_validation,
                                int64_t want_steps, int want_points) {
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(c, d, &m), MT_OK, "");
    struct fit_watch w = {.model = m, .data = d, .cancel_at_step = cancel_step, .cancel_at_validation = cancel_validation};
    mt_fit_params params = mt_fit_params_default();
    params.max_steps = 40; params.eval_every = 5; params.patience = 0; params.select_by = MT_SELECT_SAMPLED_MRR;
    params.progress_callback = watch_fit; params.progress_user_data = &w;
    mt_fit_result *r = NULL;
    EXPECT_STATUS(mt_model_fit(m, d, &params, &r), MT_OK, "");
    mt_fit_summary s = {.struct_size = sizeof s};
    EXPECT_STATUS(mt_fit_result_summary(r, &s), MT_OK, "");
    EXPECT(s.cancelled == 1 && s.stopped_early == 0 && s.diverged == 0);
    EXPECT(s.steps_taken == want_steps && w.steps_seen == want_steps && w.last_done == want_steps);
    EXPECT(s.curve_points == want_points && w.validations_seen == want_points);
    EXPECT(w.busy_seen == 1 && w.readers_ok == 1);
    EXPECT(mt_fit_result_divergence(r) == NULL);
    /* The callback saw every validation, as the curve holds them; the kept model is the first best. */
    int64_t best = -1; double best_score = -1;
    for (int i = 0; i < want_points && i < 64; i++) {
        mt_curve_point p = {.struct_size = sizeof p};
        EXPECT_STATUS(mt_fit_result_curve_point(r, (size_t)i, &p), MT_OK, "");
        EXPECT(same_point(&p, &w.points[i]));
        EXPECT(p.step == (i == want_points - 1 ? want_steps : 5 * i));
        EXPECT(i == 0 ? p.train_loss != p.train_loss : p.train_loss > 0);
        if (p.valid_sampled_mrr > best_score) { best_score = p.valid_sampled_mrr; best = p.step; }
    }
    EXPECT(s.best_step == best && s.best_score == best_score);
    int64_t step = -1;
    EXPECT_STATUS(mt_model_info(m, NULL, NULL, &step), MT_OK, "");
    EXPECT(step == s.best_step);
    EXPECT(equals_straight_run(m, d, c, s.best_step));
    mt_curve_point p = {.struct_size = sizeof p};
    EXPECT_STATUS(mt_fit_result_curve_point(r, (size_t)want_points, &p), MT_ERR_INVALID_ARGUMENT, "out of range");
    EXPECT_STATUS(mt_fit_result_curve_point(r, SIZE_MAX, &p), MT_ERR_INVALID_ARGUMENT, "out of range");
    mt_fit_result_free(r);
    mt_model_free(m);
}

static int32_t count_and_stop_at_3(const mt_progress *p, void *user_data) {
    int *calls = user_data;
    (*calls)++;
    return p->validation == NULL && p->total == 10 && p->done == *calls && p->query_loss > 0 ? p->done >= 3 : -1;
}

static void test_fit(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_fit_params dflt = mt_fit_params_default();
    EXPECT(dflt.struct_size == sizeof dflt && dflt.max_steps == 20000 && dflt.eval_every == 250 && dflt.patience == 8 &&
           dflt.select_by == MT_SELECT_FULL_MRR && dflt.progress_callback == NULL && dflt.progress_user_data == NULL);

    /* Cancel at step 17 (its steps since the validation of step 15 are validated and compete),
     * and from the validation of step 10. */
    check_cancelled_fit(d, &c, 17, -1, 17, 5);
    check_cancelled_fit(d, &c, -1, 10, 10, 3);

    /* Patience and the end: without a cancel the fit runs to max_steps or stops early. */
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    mt_fit_params params = mt_fit_params_default();
    params.max_steps = 12; params.eval_every = 4; params.patience = 0;
    mt_fit_result *r = (mt_fit_result *)0x1;
    EXPECT_STATUS(mt_model_fit(m, d, &params, &r), MT_OK, "");
    mt_fit_summary s = {.struct_size = sizeof s};
    EXPECT_STATUS(mt_fit_result_summary(r, &s), MT_OK, "");
    EXPECT(s.steps_taken == 12 && s.curve_points == 4 && s.cancelled == 0 && s.stopped_early == 0);
    mt_fit_result_free(r);

    /* Bad arguments, each named. */
    r = (mt_fit_result *)0x1;
    EXPECT_STATUS(mt_model_fit(NULL, d, &params, &r), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    EXPECT(r == NULL);
    EXPECT_STATUS(mt_model_fit(m, d, &params, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");
    mt_fit_params bad = params; bad.eval_every = 0;
    EXPECT_STATUS(mt_model_fit(m, d, &bad, &r), MT_ERR_INVALID_ARGUMENT, "eval_every");
    bad = params; bad.max_steps = -1;
    EXPECT_STATUS(mt_model_fit(m, d, &bad, &r), MT_ERR_INVALID_ARGUMENT, "max_steps");
    bad = params; bad.patience = -2;
    EXPECT_STATUS(mt_model_fit(m, d, &bad, &r), MT_ERR_INVALID_ARGUMENT, "patience");
    bad = params; bad.select_by = 7;
    EXPECT_STATUS(mt_model_fit(m, d, &bad, &r), MT_ERR_INVALID_ARGUMENT, "select_by");
    bad = params; bad.struct_size = 8;
    EXPECT_STATUS(mt_model_fit(m, d, &bad, &r), MT_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT_STATUS(mt_fit_result_summary(NULL, &s), MT_ERR_INVALID_ARGUMENT, "result is NULL");
    mt_fit_summary small = {.struct_size = 4};
    EXPECT_STATUS(mt_model_fit(m, d, &params, &r), MT_OK, "");
    EXPECT_STATUS(mt_fit_result_summary(r, &small), MT_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT_STATUS(mt_fit_result_summary(r, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");
    mt_fit_result_free(r);
    mt_fit_result_free(NULL);
    EXPECT(mt_fit_result_divergence(NULL) == NULL);

    /* mt_model_train_with_progress: every step reported, cancel keeps the steps taken. */
    int calls = 0;
    int64_t step = -1;
    float loss = -1;
    EXPECT_STATUS(mt_model_info(m, NULL, NULL, &step), MT_OK, "");
    int64_t before = step;
    EXPECT_STATUS(mt_model_train_with_progress(m, d, 10, count_and_stop_at_3, &calls, &loss), MT_OK, "");
    EXPECT_STATUS(mt_model_info(m, NULL, NULL, &step), MT_OK, "");
    EXPECT(calls == 3 && step == before + 3 && loss > 0);
    EXPECT_STATUS(mt_model_train_with_progress(m, d, 2, NULL, NULL, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_train_with_progress(m, d, 0, NULL, NULL, NULL), MT_ERR_INVALID_ARGUMENT, "steps must be in");
    mt_model_free(m);

    /* A diverging fit: MT_OK, diverged, the reason kept, the model before the bad step kept. */
    mt_config wild = c; wild.learning_rate = 1e30f;
    EXPECT_STATUS(mt_model_create(&wild, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_fit(m, d, &params, &r), MT_OK, "");
    EXPECT_STATUS(mt_fit_result_summary(r, &s), MT_OK, "");
    EXPECT(s.diverged == 1 && s.steps_taken == 0 && s.curve_points == 1 && s.best_step == 0);
    EXPECT(mt_fit_result_divergence(r) != NULL && strstr(mt_fit_result_divergence(r), "step 1") != NULL);
    mt_fit_result_free(r);
    mt_model_free(m);
    mt_dataset_free(d);
}

/* ---- checkpoints in memory ---- */
static void test_model_bytes(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_model *m = NULL, *back = (mt_model *)0x1;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 3, NULL), MT_OK, "");
    uint8_t *bytes = (uint8_t *)0x1;
    size_t size = 7;
    EXPECT_STATUS(mt_model_save_bytes(NULL, &bytes, &size), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    EXPECT(bytes == NULL && size == 0);
    EXPECT_STATUS(mt_model_save_bytes(m, NULL, &size), MT_ERR_INVALID_ARGUMENT, "data is NULL");
    EXPECT_STATUS(mt_model_save_bytes(m, &bytes, NULL), MT_ERR_INVALID_ARGUMENT, "size is NULL");
    EXPECT_STATUS(mt_model_save_bytes(m, &bytes, &size), MT_OK, "");
    EXPECT(bytes != NULL && size > 1000);
    /* The bytes are the file mt_model_save writes. */
    char path[512];
    snprintf(path, sizeof path, "%s/bytes.safetensors", tmpdir);
    EXPECT_STATUS(mt_model_save(m, path), MT_OK, "");
    FILE *f = fopen(path, "rb");
    uint8_t *file = malloc(size + 1);
    size_t got = f ? fread(file, 1, size + 1, f) : 0;
    if (f) fclose(f);
    EXPECT(got == size && memcmp(file, bytes, size) == 0);
    free(file);
    /* Back from bytes: the same model, serving the same answers. */
    EXPECT_STATUS(mt_model_load_bytes(bytes, size, &back), MT_OK, "");
    int64_t h[3] = {101, 102, 103}, a[5], b[5];
    float sa[5], sb[5];
    EXPECT_STATUS(mt_model_recommend(m, h, 3, 5, 0, a, sa, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_recommend(back, h, 3, 5, 0, b, sb, NULL), MT_OK, "");
    EXPECT(memcmp(a, b, sizeof a) == 0 && memcmp(sa, sb, sizeof sa) == 0);
    int64_t step = -1;
    EXPECT_STATUS(mt_model_info(back, NULL, NULL, &step), MT_OK, "");
    EXPECT(step == 3);
    int serving = -1;
    EXPECT_STATUS(mt_model_serving_only(back, &serving), MT_OK, "");
    EXPECT(serving == 0);
    mt_model_free(back);
    /* For serving only, from bytes and from the file: the same answers; training and saving are
     * refused and say why. */
    mt_model *lean[2] = {NULL, NULL};
    EXPECT_STATUS(mt_model_load_bytes_for_serving(bytes, size, &lean[0]), MT_OK, "");
    EXPECT_STATUS(mt_model_load_for_serving(path, &lean[1]), MT_OK, "");
    for (int k = 0; k < 2; k++) {
        EXPECT_STATUS(mt_model_recommend(lean[k], h, 3, 5, 0, b, sb, NULL), MT_OK, "");
        EXPECT(memcmp(a, b, sizeof a) == 0 && memcmp(sa, sb, sizeof sa) == 0);
        EXPECT_STATUS(mt_model_serving_only(lean[k], &serving), MT_OK, "");
        EXPECT(serving == 1);
        EXPECT_STATUS(mt_model_train(lean[k], d, 1, NULL), MT_ERR_INVALID_STATE, "loaded for serving only");
        EXPECT_STATUS(mt_model_save(lean[k], path), MT_ERR_INVALID_STATE, "loaded for serving only");
        uint8_t *again = (uint8_t *)0x1;
        size_t again_size = 1;
        EXPECT_STATUS(mt_model_save_bytes(lean[k], &again, &again_size), MT_ERR_INVALID_STATE, "loaded for serving only");
        EXPECT(again == NULL && again_size == 0);
        mt_model_free(lean[k]);
    }
    EXPECT_STATUS(mt_model_serving_only(m, NULL), MT_ERR_INVALID_ARGUMENT, "serving_only is NULL");
    EXPECT_STATUS(mt_model_load_for_serving(NULL, &back), MT_ERR_INVALID_ARGUMENT, "path");
    EXPECT_STATUS(mt_model_load_bytes_for_serving(NULL, 10, &back), MT_ERR_INVALID_ARGUMENT, "data is NULL");
    /* Damage is caught as in a file; nothing is kept of the caller's bytes. */
    bytes[size / 2] ^= 0x40;
    back = (mt_model *)0x1;
    EXPECT_STATUS(mt_model_load_bytes(bytes, size, &back), MT_ERR_BAD_CHECKPOINT, "checkpoint bytes");
    EXPECT(back == NULL);
    EXPECT_STATUS(mt_model_load_bytes(bytes, 0, &back), MT_ERR_BAD_CHECKPOINT, "");
    EXPECT_STATUS(mt_model_load_bytes(NULL, 10, &back), MT_ERR_INVALID_ARGUMENT, "data is NULL");
    EXPECT_STATUS(mt_model_load_bytes(bytes, SIZE_MAX, &back), MT_ERR_INVALID_ARGUMENT, "size");
    EXPECT_STATUS(mt_model_load_bytes(bytes, size, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");
    mt_bytes_free(bytes);
    mt_bytes_free(NULL);
    mt_model_free(m);
    mt_dataset_free(d);
}

/* ---- batch recommendations ---- */
static void test_recommend_batch(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    c.threads = 2;
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 3, NULL), MT_OK, "");
    mt_recommend_options o = mt_recommend_options_default();
    EXPECT(o.struct_size == sizeof o && o.top_n == 10 && o.flags == 0 && o.allowed == NULL && o.blocked == NULL);
    enum { U = 4, N = 5 };
    /* User 0 and 1: known items; user 2: an unknown id among them (skipped); user 3: one known item. */
    int64_t flat[] = {101, 102, 103, 110, 111, 104, 999999, 105, 106, 107};
    size_t offsets[U + 1] = {0, 3, 5, 9, 10};
    int64_t items[U * N];
    float scores[U * N];
    size_t counts[U], unknown[U];
    o.top_n = N;
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, U, &o, items, scores, counts, unknown), MT_OK, "");
    EXPECT(counts[0] == N && counts[1] == N && counts[2] == N && counts[3] == 0);
    EXPECT(unknown[0] == 0 && unknown[2] == 1 && unknown[3] == 0);
    EXPECT(items[3 * N] == -1 && scores[3 * N] != scores[3 * N]);
    /* Each row equals mt_model_recommend for that history (user 2 without its unknown id). */
    int64_t known2[] = {104, 105, 106};
    const int64_t *hist[3] = {flat, flat + 3, known2};
    size_t lens[3] = {3, 2, 3};
    for (int u = 0; u < 3; u++) {
        int64_t one[N]; float sone[N]; size_t n = 0;
        EXPECT_STATUS(mt_model_recommend(m, hist[u], lens[u], N, 0, one, sone, &n), MT_OK, "");
        EXPECT(n == N && memcmp(one, items + u * N, sizeof one) == 0 && memcmp(sone, scores + u * N, sizeof sone) == 0);
    }
    /* Items outside the training data may be asked for. */
    o.flags = MT_RECOMMEND_INCLUDE_UNTRAINED;
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, U, &o, items, scores, counts, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_recommend(m, flat, 3, N, MT_RECOMMEND_INCLUDE_UNTRAINED, items, scores, NULL), MT_OK, "");
    o.flags = 0;
    /* Allowed and blocked: only allowed items, never blocked ones. */
    int64_t allowed[] = {120, 121, 122, 123, 999998}, blocked[] = {121};
    o.allowed = allowed; o.allowed_count = 5; o.blocked = blocked; o.blocked_count = 1;
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, U, &o, items, scores, counts, NULL), MT_OK, "");
    EXPECT(counts[0] == 3);
    for (size_t j = 0; j < counts[0]; j++) EXPECT(items[j] == 120 || items[j] == 122 || items[j] == 123);
    /* Unknown ids as errors, bad arguments named. */
    o = mt_recommend_options_default(); o.top_n = N; o.flags = MT_RECOMMEND_UNKNOWN_IS_ERROR;
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, U, &o, items, scores, counts, NULL), MT_ERR_UNKNOWN_ITEM, "history 2: unknown item id 999999");
    o.flags = 0x80;
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, U, &o, items, scores, counts, NULL), MT_ERR_INVALID_ARGUMENT, "unknown flags");
    o = mt_recommend_options_default(); o.top_n = 0;
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, U, &o, items, scores, counts, NULL), MT_ERR_INVALID_ARGUMENT, "top_n");
    size_t bad[U + 1] = {0, 3, 2, 9, 10};
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, bad, U, NULL, items, scores, counts, NULL), MT_ERR_INVALID_ARGUMENT, "non-decreasing");
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, U, NULL, NULL, scores, counts, NULL), MT_ERR_INVALID_ARGUMENT, "items is NULL");
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, NULL, U, NULL, items, scores, counts, NULL), MT_ERR_INVALID_ARGUMENT, "history_offsets is NULL");
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, 0, NULL, NULL, NULL, NULL, NULL), MT_OK, "");
    mt_recommend_options small = {.struct_size = 4};
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, U, &small, items, scores, counts, NULL), MT_ERR_INVALID_ARGUMENT, "struct_size");
    mt_model_free(m);
    mt_dataset_free(d);
}

/* ---- a new cohort over a trained model's vocabulary ---- */
static void test_cohort(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 3, NULL), MT_OK, "");
    /* The same users as small_dataset, plus interactions with items the model never saw. */
    static char train[65536], test[16384];
    size_t tn = 0, sn = 0;
    for (int u = 0; u < 60; u++)
        for (int t = 0; t < 8; t++)
            tn += (size_t)snprintf(train + tn, sizeof train - tn, "%d\t%d\t%d\n", u, 100 + (u + t * (1 + u % 3)) % 40, t);
    tn += (size_t)snprintf(train + tn, sizeof train - tn, "0\t777777\t9\n");
    for (int u = 0; u < 30; u++) {
        for (int t = 0; t < 5; t++)
            sn += (size_t)snprintf(test + sn, sizeof test - sn, "%d\t%d\t%d\n", 1000 + u, 100 + (3 * u + t * (1 + u % 3)) % 40, t);
        if (u % 10 == 0) sn += (size_t)snprintf(test + sn, sizeof test - sn, "%d\t888888\t9\n", 1000 + u);
    }
    char train_path[512], test_path[512];
    snprintf(train_path, sizeof train_path, "%s", write_file("cohort_train.csv", train));
    snprintf(test_path, sizeof test_path, "%s", write_file("cohort_test.csv", test));
    mt_dataset *cohort = (mt_dataset *)0x1;
    EXPECT_STATUS(mt_dataset_load_for_model(train_path, test_path, NULL, NULL, 0, &cohort), MT_ERR_INVALID_ARGUMENT, "model is NULL");
    EXPECT(cohort == NULL);
    EXPECT_STATUS(mt_dataset_load_for_model(train_path, test_path, NULL, m, 8, &cohort), MT_ERR_INVALID_ARGUMENT, "unknown flags");
    EXPECT_STATUS(mt_dataset_load_for_model(train_path, test_path, NULL, m, MT_DATASET_UNKNOWN_IS_ERROR, &cohort),
                  MT_ERR_UNKNOWN_ITEM, "field 'item': item id 777777");
    mt_dataset_options seven = mt_dataset_options_default();
    seven.seed = 7;   /* small_dataset's split */
    EXPECT_STATUS(mt_dataset_load_for_model(train_path, test_path, &seven, m, 0, &cohort), MT_OK, "");
    int64_t unknown = -1;
    EXPECT_STATUS(mt_dataset_unknown_interactions(cohort, &unknown), MT_OK, "");
    EXPECT(unknown == 4);
    EXPECT_STATUS(mt_dataset_unknown_interactions(d, &unknown), MT_OK, "");
    EXPECT(unknown == 0);
    EXPECT_STATUS(mt_dataset_unknown_interactions(cohort, NULL), MT_ERR_INVALID_ARGUMENT, "count is NULL");
    mt_metrics a = mt_metrics_default(), b = mt_metrics_default();
    EXPECT_STATUS(mt_model_evaluate(m, cohort, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &a), MT_OK, "");
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &b), MT_OK, "");
    /* Without the unknown interactions it is small_dataset again: the same users, the same metrics. */
    EXPECT(a.users == b.users && a.mrr == b.mrr && a.hits10 == b.hits10);
    /* Per-user ranks give mt_model_evaluate's MRR. */
    mt_dataset_info info = mt_dataset_info_default();
    EXPECT_STATUS(mt_dataset_info_get(d, &info), MT_OK, "");
    int64_t users[64], ranks[64];
    size_t n = (size_t)info.test_users;
    EXPECT(n <= 64);
    EXPECT_STATUS(mt_model_evaluate_ranks(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, users, ranks, n), MT_OK, "");
    double mrr = 0;
    for (size_t i = 0; i < n; i++) mrr += ranks[i] > 0 ? 1.0 / (double)ranks[i] : 0;
    EXPECT(fabs(mrr / (double)n - b.mrr) < 1e-12 && users[0] >= 1000);
    /* With the targets' scores: the full protocol's is the serving score of the user's inputs. */
    int64_t tusers[64], tranks[64];
    double tscores[64];
    EXPECT_STATUS(mt_model_evaluate_targets(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, tusers, tranks, tscores, n), MT_OK, "");
    EXPECT(memcmp(tusers, users, n * sizeof *users) == 0 && memcmp(tranks, ranks, n * sizeof *ranks) == 0);
    int served_equal = 1;
    for (size_t i = 0; i < n; i++) {
        int u = (int)(tusers[i] - 1000);   /* small_dataset's new user u: items 100 + (3u + t(1 + u % 3)) % 40 */
        int64_t inputs[3], target = 100 + (3 * u + 3 * (1 + u % 3)) % 40;
        for (int t = 0; t < 3; t++) inputs[t] = 100 + (3 * u + t * (1 + u % 3)) % 40;
        float relation[8], served = 0;
        served_equal &= mt_model_adapt(m, inputs, 3, relation, 8) == MT_OK
            && mt_model_score(m, relation, 8, inputs[2], &target, 1, &served) == MT_OK && (double)served == tscores[i];
    }
    EXPECT(served_equal);
    EXPECT_STATUS(mt_model_evaluate_targets(m, d, MT_SPLIT_TEST, MT_PROTOCOL_SAMPLED, NULL, tranks, NULL, n), MT_OK, "");
    EXPECT_STATUS(mt_baseline_evaluate_targets(d, MT_BASELINE_POPULARITY, MT_SPLIT_TEST, MT_PROTOCOL_FULL, NULL, tranks, tscores, n), MT_OK, "");
    EXPECT(tscores[0] >= 0 && tscores[0] < 1);   /* popularity: count / (the largest count + 1) */
    EXPECT_STATUS(mt_model_evaluate_ranks(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, users, ranks, n - 1), MT_ERR_BUFFER_TOO_SMALL, "users");
    EXPECT_STATUS(mt_model_evaluate_ranks(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, users, NULL, n), MT_ERR_INVALID_ARGUMENT, "ranks is NULL");
    EXPECT_STATUS(mt_model_evaluate_ranks(m, d, 5, MT_PROTOCOL_FULL, users, ranks, n), MT_ERR_INVALID_ARGUMENT, "split");
    /* The baselines, on the same users: metrics and per-user ranks agree. */
    mt_metrics tm = mt_metrics_default();
    EXPECT_STATUS(mt_baseline_evaluate(d, MT_BASELINE_TRANSITION, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &tm), MT_OK, "");
    int64_t busers[64];
    EXPECT_STATUS(mt_baseline_evaluate_ranks(d, MT_BASELINE_TRANSITION, MT_SPLIT_TEST, MT_PROTOCOL_FULL, busers, ranks, n), MT_OK, "");
    mrr = 0;
    for (size_t i = 0; i < n; i++) mrr += ranks[i] > 0 ? 1.0 / (double)ranks[i] : 0;
    EXPECT(tm.users == (int64_t)n && fabs(mrr / (double)n - tm.mrr) < 1e-12 && memcmp(busers, users, n * sizeof *users) == 0);
    EXPECT_STATUS(mt_baseline_evaluate(d, 9, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &tm), MT_ERR_INVALID_ARGUMENT, "baseline must be");
    EXPECT_STATUS(mt_baseline_evaluate(NULL, 0, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &tm), MT_ERR_INVALID_ARGUMENT, "dataset is NULL");
    EXPECT_STATUS(mt_model_train(m, cohort, 2, NULL), MT_OK, "");
    mt_dataset_free(cohort);
    mt_model_free(m);
    mt_dataset_free(d);
}

/* String ids: mt_interactions in (the caller's codes renumbered in sorted order), the strings
 * lent out by the dataset and the model, kept by the checkpoint, translated by mt_model_item_code. */
static void test_string_ids(void) {
    enum { U = 60, L = 8, N = 30, M = 5, ITEMS = 40 };
    static int64_t tu[U * L], ti[U * L], nu[N * M], ni[N * M];
    static double tt[U * L], nt[N * M];
    /* Item strings "i100".."i139" coded in reverse (code 0 is "i139"); users "u0".."u89". */
    static char item_bytes[ITEMS * 4 + 1], user_bytes[(U + N) * 3 + 1];
    static int64_t item_offsets[ITEMS + 1], user_offsets[U + N + 1];
    size_t b = 0;
    for (int c = 0; c < ITEMS; c++) {
        item_offsets[c] = (int64_t)b;
        b += (size_t)snprintf(item_bytes + b, sizeof item_bytes - b, "i%d", 139 - c);
    }
    item_offsets[ITEMS] = (int64_t)b;
    b = 0;
    for (int u = 0; u < U + N; u++) {
        user_offsets[u] = (int64_t)b;
        b += (size_t)snprintf(user_bytes + b, sizeof user_bytes - b, "u%d", u);
    }
    user_offsets[U + N] = (int64_t)b;
    for (int u = 0; u < U; u++)
        for (int t = 0; t < L; t++) {
            tu[u * L + t] = u; ti[u * L + t] = 139 - (100 + (u + t * (1 + u % 3)) % ITEMS); tt[u * L + t] = t;
        }
    for (int u = 0; u < N; u++)
        for (int t = 0; t < M; t++) {
            nu[u * M + t] = U + u; ni[u * M + t] = 139 - (100 + (3 * u + t * (1 + u % 3)) % ITEMS); nt[u * M + t] = t;
        }
    mt_string_ids items = {item_bytes, item_offsets, ITEMS}, users = {user_bytes, user_offsets, U + N};
    mt_interactions train = {sizeof(mt_interactions), tu, ti, tt, U * L, users, items};
    mt_interactions test = {sizeof(mt_interactions), nu, ni, nt, N * M, users, items};
    mt_dataset_options seven = mt_dataset_options_default();
    seven.seed = 7;
    mt_dataset *d = NULL;
    EXPECT_STATUS(mt_dataset_from_interactions(&train, &test, &seven, &d), MT_OK, "");
    mt_string_ids got;
    EXPECT_STATUS(mt_dataset_string_ids(d, MT_COLUMN_ITEMS, &got), MT_OK, "");
    /* Sorted: code 0 is "i100" now. */
    EXPECT(got.count == ITEMS && got.offsets[1] - got.offsets[0] == 4 && memcmp(got.bytes, "i100i101", 8) == 0);
    EXPECT_STATUS(mt_dataset_string_ids(d, MT_COLUMN_USERS, &got), MT_OK, "");
    EXPECT(got.count == U + N && memcmp(got.bytes, "u0u1u10", 7) == 0);
    EXPECT_STATUS(mt_dataset_string_ids(d, 5, &got), MT_ERR_INVALID_ARGUMENT, "column must be");
    EXPECT_STATUS(mt_dataset_string_ids(d, MT_COLUMN_ITEMS, NULL), MT_ERR_INVALID_ARGUMENT, "out is NULL");

    mt_config c = small_config();
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 2, NULL), MT_OK, "");
    mt_string_ids model_items;
    EXPECT_STATUS(mt_model_item_strings(m, &model_items), MT_OK, "");
    EXPECT(model_items.count == ITEMS && memcmp(model_items.bytes, "i100", 4) == 0);
    int64_t code = -1, history[3];
    EXPECT_STATUS(mt_model_item_code(m, "i105", 4, &code), MT_OK, "");
    EXPECT(code == 5);
    EXPECT_STATUS(mt_model_item_code(m, "i105xyz", 4, &code), MT_OK, "");   /* len bytes only */
    EXPECT_STATUS(mt_model_item_code(m, "nope", 4, &code), MT_ERR_UNKNOWN_ITEM, "item id 'nope' is not in the model's vocabulary");
    EXPECT_STATUS(mt_model_item_code(m, "i1\xff", 3, &code), MT_ERR_INVALID_ARGUMENT, "not valid UTF-8");
    EXPECT_STATUS(mt_model_item_code(m, NULL, 3, &code), MT_ERR_INVALID_ARGUMENT, "id is NULL");
    const char *names[3] = {"i101", "i102", "i103"};
    for (int i = 0; i < 3; i++) EXPECT_STATUS(mt_model_item_code(m, names[i], 4, &history[i]), MT_OK, "");
    int64_t top[5], top2[5];
    float sc[5], sc2[5];
    size_t n = 0, n2 = 0;
    EXPECT_STATUS(mt_model_recommend(m, history, 3, 5, 0, top, sc, &n), MT_OK, "");
    EXPECT(n == 5 && top[0] >= 0 && top[0] < ITEMS);
    /* The checkpoint keeps the strings. */
    uint8_t *bytes = NULL;
    size_t size = 0;
    mt_model *loaded = NULL;
    EXPECT_STATUS(mt_model_save_bytes(m, &bytes, &size), MT_OK, "");
    EXPECT_STATUS(mt_model_load_bytes(bytes, size, &loaded), MT_OK, "");
    mt_bytes_free(bytes);
    mt_string_ids loaded_items;
    EXPECT_STATUS(mt_model_item_strings(loaded, &loaded_items), MT_OK, "");
    EXPECT(loaded_items.count == ITEMS && loaded_items.offsets[ITEMS] == model_items.offsets[ITEMS]
           && memcmp(loaded_items.bytes, model_items.bytes, (size_t)model_items.offsets[ITEMS]) == 0);
    EXPECT_STATUS(mt_model_recommend(loaded, history, 3, 5, 0, top2, sc2, &n2), MT_OK, "");
    EXPECT(n2 == n && memcmp(top, top2, sizeof top) == 0 && memcmp(sc, sc2, sizeof sc) == 0);
    mt_model_free(loaded);

    /* Integer datasets and models have no strings. */
    mt_dataset *plain = small_dataset();
    EXPECT_STATUS(mt_dataset_string_ids(plain, MT_COLUMN_ITEMS, &got), MT_OK, "");
    EXPECT(got.count == 0 && got.bytes == NULL);
    mt_model *pm = NULL;
    EXPECT_STATUS(mt_model_create(&c, plain, &pm), MT_OK, "");
    EXPECT_STATUS(mt_model_item_strings(pm, &got), MT_OK, "");
    EXPECT(got.count == 0);
    EXPECT_STATUS(mt_model_item_code(pm, "i105", 4, &code), MT_ERR_INVALID_ARGUMENT, "integers, not strings");
    /* The integer model does not fit the string dataset (the same item count). */
    EXPECT_STATUS(mt_model_train(pm, d, 1, NULL), MT_ERR_INVALID_ARGUMENT, "40 of the dataset's 40 items are not in the model (i100, i101");
    mt_model_free(pm);
    mt_dataset_free(plain);

    /* One log split in memory (mt_dataset_split): the 60 training users, user u first active at
     * 10u; a quarter of them new makes the cut 450. A cut before everyone leaves no training user. */
    mt_split_options so = mt_split_options_default();
    so.new_user_fraction = 0.25;
    so.min_new_interactions = 4;
    mt_split_info si = mt_split_info_default();
    mt_dataset *sd = NULL;
    for (int u = 0; u < U; u++)
        for (int t = 0; t < L; t++) tt[u * L + t] = u * 10 + t;   /* user u first active at 10u */
    EXPECT_STATUS(mt_dataset_split(&train, &so, &seven, &sd, &si), MT_OK, "");
    EXPECT(si.train_users == 45 && si.new_users == 15 && si.train_interactions == 45 * L && si.cut_time == 450);
    mt_dataset_info sinfo = mt_dataset_info_default();
    EXPECT_STATUS(mt_dataset_info_get(sd, &sinfo), MT_OK, "");
    EXPECT(sinfo.train_users == 45 && sinfo.valid_users + sinfo.test_users == 15);
    EXPECT_STATUS(mt_dataset_string_ids(sd, MT_COLUMN_USERS, &got), MT_OK, "");
    EXPECT(got.count == 60);
    mt_dataset_free(sd);
    so.cut_by_time = 1;
    so.cut_time = -1;
    EXPECT_STATUS(mt_dataset_split(&train, &so, NULL, &sd, NULL), MT_ERR_INVALID_DATA, "no training user");
    EXPECT(sd == NULL);
    EXPECT_STATUS(mt_dataset_split(NULL, NULL, NULL, &sd, NULL), MT_ERR_INVALID_ARGUMENT, "log is NULL");
    for (int u = 0; u < U; u++)
        for (int t = 0; t < L; t++) tt[u * L + t] = t;

    /* Bad input: each a clear error, *out NULL. */
    mt_dataset *bad = (mt_dataset *)0x1;
    mt_interactions t2 = train;
    t2.struct_size = 8;
    EXPECT_STATUS(mt_dataset_from_interactions(&t2, &test, &seven, &bad), MT_ERR_INVALID_ARGUMENT, "struct_size is 8");
    EXPECT(bad == NULL);
    EXPECT_STATUS(mt_dataset_from_interactions(NULL, &test, &seven, &bad), MT_ERR_INVALID_ARGUMENT, "train is NULL");
    t2 = train;
    int64_t shifted[ITEMS + 1];
    memcpy(shifted, item_offsets, sizeof shifted);
    shifted[0] = 1;
    t2.item_ids.offsets = shifted;
    EXPECT_STATUS(mt_dataset_from_interactions(&t2, &test, &seven, &bad), MT_ERR_INVALID_ARGUMENT, "must start at 0");
    static char twice[ITEMS * 4 + 1];
    memcpy(twice, item_bytes, sizeof twice);
    memcpy(twice + 4, twice, 4);   /* "i139i139...": the first two strings the same */
    t2 = train;
    t2.item_ids.bytes = twice;
    EXPECT_STATUS(mt_dataset_from_interactions(&t2, &test, &seven, &bad), MT_ERR_INVALID_DATA, "occurs twice");
    t2 = train;
    t2.item_ids.count = 10;   /* codes up to 39 are then out of range */
    int64_t ten[11];
    memcpy(ten, item_offsets, sizeof ten);
    t2.item_ids.offsets = ten;
    t2.item_ids.count = 10;
    EXPECT_STATUS(mt_dataset_from_interactions(&t2, &test, &seven, &bad), MT_ERR_INVALID_DATA, "expected a code of the 10 string ids (0..<10), found 39");
    t2 = train;
    t2.item_ids.bytes = NULL;
    EXPECT_STATUS(mt_dataset_from_interactions(&t2, &test, &seven, &bad), MT_ERR_INVALID_ARGUMENT, "bytes is NULL");
    t2 = train;
    t2.item_ids.count = 0;   /* then the codes are integer ids: fine, another catalogue */
    EXPECT_STATUS(mt_dataset_from_interactions(&t2, &test, &seven, &bad), MT_OK, "");
    mt_dataset_free(bad);
    mt_model_free(m);
    mt_dataset_free(d);
}

/* The sampled protocol's negatives as an option (mt_dataset_options.sampled_negatives; an earlier
 * header's smaller struct gets 100), and NDCG@k / Hits@k at any cutoff from per-user ranks. */
static void test_evaluation_options(void) {
    mt_dataset *d = small_dataset();
    mt_config c = small_config();
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 2, NULL), MT_OK, "");
    mt_dataset_options o = mt_dataset_options_default();
    EXPECT(o.sampled_negatives == 100);
    o.seed = 7;
    o.sampled_negatives = 4;
    mt_dataset *four = NULL;
    char train_path[512], test_path[512];
    static char train[65536], test[16384];
    size_t tn = 0, sn = 0;
    for (int u = 0; u < 60; u++)
        for (int t = 0; t < 8; t++)
            tn += (size_t)snprintf(train + tn, sizeof train - tn, "%d\t%d\t%d\n", u, 100 + (u + t * (1 + u % 3)) % 40, t);
    for (int u = 0; u < 30; u++)
        for (int t = 0; t < 5; t++)
            sn += (size_t)snprintf(test + sn, sizeof test - sn, "%d\t%d\t%d\n", 1000 + u, 100 + (3 * u + t * (1 + u % 3)) % 40, t);
    snprintf(train_path, sizeof train_path, "%s", write_file("neg_train.csv", train));
    snprintf(test_path, sizeof test_path, "%s", write_file("neg_test.csv", test));
    EXPECT_STATUS(mt_dataset_load_for_model(train_path, test_path, &o, m, 0, &four), MT_OK, "");
    mt_dataset_info info = mt_dataset_info_default();
    EXPECT_STATUS(mt_dataset_info_get(four, &info), MT_OK, "");
    int64_t users[64], ranks[64];
    size_t n = (size_t)info.test_users;
    EXPECT(n >= 1 && n <= 64);
    EXPECT_STATUS(mt_model_evaluate_ranks(m, four, MT_SPLIT_TEST, MT_PROTOCOL_SAMPLED, users, ranks, n), MT_OK, "");
    int within = 1;
    for (size_t i = 0; i < n; i++) within &= ranks[i] >= 1 && ranks[i] <= 5;
    EXPECT(within);
    mt_dataset_free(four);
    o.sampled_negatives = 0;
    EXPECT_STATUS(mt_dataset_load(train_path, test_path, &o, &four), MT_ERR_INVALID_ARGUMENT, "sampledNegatives must be in 1...100000");
    /* An earlier header's struct (ending before sampled_negatives) gets the default. */
    struct { uint32_t struct_size; int32_t K; uint64_t seed; uint64_t max_file_bytes; } earlier = {24, 3, 7, MT_DEFAULT_MAX_FILE_BYTES};
    EXPECT(sizeof earlier == 24);
    EXPECT_STATUS(mt_dataset_load(train_path, test_path, (const mt_dataset_options *)(const void *)&earlier, &four), MT_OK, "");
    mt_metrics a = mt_metrics_default(), b = mt_metrics_default();
    EXPECT_STATUS(mt_model_evaluate(m, four, MT_SPLIT_TEST, MT_PROTOCOL_SAMPLED, &a), MT_OK, "");
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_SAMPLED, &b), MT_OK, "");
    EXPECT(a.users == b.users && a.mrr == b.mrr);   /* small_dataset's files and seed, 100 negatives */
    mt_dataset_free(four);
    earlier.struct_size = 16;
    EXPECT_STATUS(mt_dataset_load(train_path, test_path, (const mt_dataset_options *)(const void *)&earlier, &four),
                  MT_ERR_INVALID_ARGUMENT, "options->struct_size is 16");

    /* Cutoffs: ranks 1, 3, 15, 30 and a miss. */
    int64_t r[5] = {1, 3, 15, 30, 0};
    double ndcg = -1, hits = -1;
    EXPECT_STATUS(mt_metrics_at_cutoff(r, 5, 20, &ndcg, &hits), MT_OK, "");
    EXPECT(hits == 3.0 / 5 && fabs(ndcg - (1 + 1 / log2(4.0) + 1 / log2(16.0)) / 5) < 1e-15);
    mt_metrics mm = mt_metrics_default();
    EXPECT_STATUS(mt_model_evaluate(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, &mm), MT_OK, "");
    mt_dataset_info di = mt_dataset_info_default();
    EXPECT_STATUS(mt_dataset_info_get(d, &di), MT_OK, "");
    EXPECT_STATUS(mt_model_evaluate_ranks(m, d, MT_SPLIT_TEST, MT_PROTOCOL_FULL, users, ranks, (size_t)di.test_users), MT_OK, "");
    EXPECT_STATUS(mt_metrics_at_cutoff(ranks, (size_t)di.test_users, 10, &ndcg, &hits), MT_OK, "");
    EXPECT(fabs(ndcg - mm.ndcg10) < 1e-12 && fabs(hits - mm.hits10) < 1e-12);
    EXPECT_STATUS(mt_metrics_at_cutoff(r, 5, 0, &ndcg, &hits), MT_ERR_INVALID_ARGUMENT, "k must be at least 1");
    EXPECT_STATUS(mt_metrics_at_cutoff(NULL, 5, 3, &ndcg, &hits), MT_ERR_INVALID_ARGUMENT, "ranks is NULL");
    EXPECT_STATUS(mt_metrics_at_cutoff(NULL, 0, 3, NULL, NULL), MT_OK, "");
    mt_model_free(m);
    mt_dataset_free(d);
}

/* The approximate index: defaults, attach/info/detach, every list searched is the exact answer,
 * fewer lists give exactly scored items, MT_RECOMMEND_EXACT ranks every item, bad settings fail. */
static void test_index(void) {
    enum { U = 300, L = 8, N = 40, M = 5, ITEMS = 400 };
    static int64_t tu[U * L], ti[U * L], nu[N * M], ni[N * M];
    static double tt[U * L], nt[N * M];
    for (int u = 0, k = 0; u < U; u++)
        for (int t = 0; t < L; t++, k++) { tu[k] = u; ti[k] = 100 + (u * 7 + t * (1 + u % 5)) % ITEMS; tt[k] = t; }
    for (int u = 0, k = 0; u < N; u++)
        for (int t = 0; t < M; t++, k++) { nu[k] = 1000 + u; ni[k] = 100 + (u * 11 + t * (1 + u % 5)) % ITEMS; nt[k] = t; }
    mt_dataset *d = NULL;
    EXPECT_STATUS(mt_dataset_from_arrays(tu, ti, tt, U * L, nu, ni, nt, N * M, 3, 7, &d), MT_OK, "");
    mt_config c = mt_config_default();   /* the recommended preset: softmax scores with an item bias */
    c.dim = 8; c.hidden1 = 16; c.hidden2 = 12; c.batch_size = 64; c.threads = 2;
    mt_model *m = NULL;
    EXPECT_STATUS(mt_model_create(&c, d, &m), MT_OK, "");
    EXPECT_STATUS(mt_model_train(m, d, 20, NULL), MT_OK, "");

    mt_index_settings s = mt_index_settings_default();
    EXPECT(s.struct_size == sizeof s && s.lists == 0 && s.probes == 24);
    int attached = -1;
    mt_index_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    EXPECT_STATUS(mt_model_index_info(m, &attached, &info), MT_OK, "");
    EXPECT(attached == 0);

    enum { H = 6, T = 10 };
    int64_t flat[H * 3];
    size_t offsets[H + 1];
    for (int u = 0; u < H; u++) {
        offsets[u] = (size_t)(u * 3);
        for (int j = 0; j < 3; j++) flat[u * 3 + j] = 100 + (u * 37 + j * 13) % ITEMS;
    }
    offsets[H] = H * 3;
    int64_t exact_items[H * T], items[H * T];
    float exact_scores[H * T], scores[H * T];
    size_t counts[H];
    mt_recommend_options o = mt_recommend_options_default();
    o.top_n = T;
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, H, &o, exact_items, exact_scores, counts, NULL), MT_OK, "");

    /* Every list searched: the exact answer, bit for bit, batch and single. */
    s.lists = 8; s.probes = 8;
    EXPECT_STATUS(mt_model_attach_index(m, &s, &info), MT_OK, "");
    EXPECT(info.lists == 8 && info.probes == 8 && info.items > 300 && info.bytes > 0 && info.build_seconds >= 0 && info.imbalance >= 1);
    EXPECT_STATUS(mt_model_index_info(m, &attached, NULL), MT_OK, "");
    EXPECT(attached == 1);
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, H, &o, items, scores, counts, NULL), MT_OK, "");
    EXPECT(memcmp(items, exact_items, sizeof items) == 0 && memcmp(scores, exact_scores, sizeof scores) == 0);
    int64_t one[T]; float sone[T]; size_t n = 0;
    EXPECT_STATUS(mt_model_recommend(m, flat, 3, T, 0, one, sone, &n), MT_OK, "");
    EXPECT(n == T && memcmp(one, exact_items, sizeof one) == 0 && memcmp(sone, exact_scores, sizeof sone) == 0);

    /* One list of eight: still T items each, every score the exact score of its item. */
    s.probes = 1;
    EXPECT_STATUS(mt_model_attach_index(m, &s, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, H, &o, items, scores, counts, NULL), MT_OK, "");
    for (int u = 0; u < H; u++) {
        EXPECT(counts[u] == T);
        float relation[8], exact_score[T];
        EXPECT_STATUS(mt_model_adapt(m, flat + u * 3, 3, relation, 8), MT_OK, "");
        EXPECT_STATUS(mt_model_score(m, relation, 8, flat[u * 3 + 2], items + u * T, T, exact_score), MT_OK, "");
        EXPECT(memcmp(exact_score, scores + u * T, sizeof exact_score) == 0);
    }
    /* MT_RECOMMEND_EXACT ranks every item with the index attached. */
    o.flags = MT_RECOMMEND_EXACT;
    EXPECT_STATUS(mt_model_recommend_batch(m, flat, offsets, H, &o, items, scores, counts, NULL), MT_OK, "");
    EXPECT(memcmp(items, exact_items, sizeof items) == 0);
    EXPECT_STATUS(mt_model_recommend(m, flat, 3, T, MT_RECOMMEND_EXACT, one, sone, &n), MT_OK, "");
    EXPECT(memcmp(one, exact_items, sizeof one) == 0);
    o.flags = 0;

    /* Bad settings and arguments. */
    mt_index_settings bad = mt_index_settings_default();
    bad.probes = 0;
    EXPECT_STATUS(mt_model_attach_index(m, &bad, NULL), MT_ERR_INVALID_ARGUMENT, "probes");
    bad = mt_index_settings_default();
    bad.lists = 100000;
    EXPECT_STATUS(mt_model_attach_index(m, &bad, NULL), MT_ERR_INVALID_ARGUMENT, "lists");
    bad = mt_index_settings_default();
    bad.struct_size = 0;
    EXPECT_STATUS(mt_model_attach_index(m, &bad, NULL), MT_ERR_INVALID_ARGUMENT, "struct_size");
    mt_index_info small_info;
    small_info.struct_size = 4;
    EXPECT_STATUS(mt_model_index_info(m, &attached, &small_info), MT_ERR_INVALID_ARGUMENT, "struct_size");
    EXPECT_STATUS(mt_model_index_info(m, NULL, NULL), MT_ERR_INVALID_ARGUMENT, "attached");
    EXPECT_STATUS(mt_model_attach_index(NULL, NULL, NULL), MT_ERR_INVALID_ARGUMENT, "");
    EXPECT_STATUS(mt_model_recommend(m, flat, 3, T, 0x100u, one, sone, &n), MT_ERR_INVALID_ARGUMENT, "flags");
    /* Training further: the next call rebuilds, and still answers. */
    EXPECT_STATUS(mt_model_train(m, d, 1, NULL), MT_OK, "");
    EXPECT_STATUS(mt_model_recommend(m, flat, 3, T, 0, one, sone, &n), MT_OK, "");
    EXPECT(n == T);
    EXPECT_STATUS(mt_model_detach_index(m), MT_OK, "");
    EXPECT_STATUS(mt_model_index_info(m, &attached, NULL), MT_OK, "");
    EXPECT(attached == 0);
    EXPECT_STATUS(mt_model_detach_index(m), MT_OK, "");
    mt_model_free(m);
    mt_dataset_free(d);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--limited-loads") == 0) return limited_loads(argv[2]);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/metatl-contract-XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 2; }
    test_version_and_errors();
    test_config();
    test_presets();
    test_datasets();
    test_dataset_load();
    test_models();
    test_transition_prior();
    test_save_paths();
    test_snapshots();
    test_divergence();
    test_fit();
    test_model_bytes();
    test_recommend_batch();
    test_index();
    test_cohort();
    test_string_ids();
    test_evaluation_options();
    test_serving_while_training();
    test_concurrent_serving();
    test_fork_after_training();
    test_fork_while_in_use();
    test_resource_limits(argv[0]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("C ABI contract: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
