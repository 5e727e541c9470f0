/*
 * The MetaTL C API end to end: load data, train a little, evaluate, save, reload, and
 * recommend for a new user who was not in training.
 *
 *   cc -std=c11 -I include examples/c/example.c -L .build/release -lmetatl \
 *      -Wl,-rpath,$PWD/.build/release -o metatl-example
 *   ./metatl-example [TRAIN.csv TEST.csv]
 *
 * Without files it builds a small synthetic dataset in memory: every user walks through the
 * items with a fixed stride of their own (1, 2 or 3).
 */
#include <metatl.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                      \
    do {                                                                                 \
        mt_status s_ = (call);                                                           \
        if (s_ != MT_OK) {                                                               \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, mt_last_error_message(),      \
                    mt_status_name(s_));                                                 \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

enum { ITEMS = 120, TRAIN_USERS = 400, NEW_USERS = 120, TRAIN_LEN = 10, NEW_LEN = 5 };

static mt_dataset *synthetic_dataset(void) {
    size_t n_train = TRAIN_USERS * TRAIN_LEN, n_test = NEW_USERS * NEW_LEN;
    int64_t *tu = malloc(n_train * sizeof *tu), *ti = malloc(n_train * sizeof *ti);
    double *tt = malloc(n_train * sizeof *tt);
    int64_t *nu = malloc(n_test * sizeof *nu), *ni = malloc(n_test * sizeof *ni);
    double *nt = malloc(n_test * sizeof *nt);
    size_t k = 0;
    for (int u = 0; u < TRAIN_USERS; u++)
        for (int t = 0; t < TRAIN_LEN; t++, k++) {
            tu[k] = u; ti[k] = 1 + (u * 7 + t * (1 + u % 3)) % ITEMS; tt[k] = t;
        }
    k = 0;
    for (int u = 0; u < NEW_USERS; u++)
        for (int t = 0; t < NEW_LEN; t++, k++) {
            nu[k] = 10000 + u; ni[k] = 1 + (u * 11 + t * (1 + u % 3)) % ITEMS; nt[k] = t;
        }
    mt_dataset *data = NULL;
    CHECK(mt_dataset_from_arrays(tu, ti, tt, n_train, nu, ni, nt, n_test, 3, 1, &data));
    free(tu); free(ti); free(tt); free(nu); free(ni); free(nt);
    return data;
}

int main(int argc, char **argv) {
    if (mt_version_number() != MT_VERSION_NUMBER) {
        fprintf(stderr, "header %s but library %s\n", MT_VERSION_STRING, mt_version());
        return 1;
    }
    printf("libmetatl %s\n", mt_version());

    mt_dataset *data = NULL;
    if (argc == 3) CHECK(mt_dataset_from_files(argv[1], argv[2], 3, 1, &data));
    else data = synthetic_dataset();
    mt_dataset_info info = mt_dataset_info_default();
    CHECK(mt_dataset_info_get(data, &info));
    printf("%lld items, %lld training users, %lld validation / %lld test users\n", (long long)info.items,
           (long long)info.train_users, (long long)info.valid_users, (long long)info.test_users);

    /* The reference notebook's settings, scaled down (mt_config_default() is the recommended preset). */
    mt_config config = mt_config_default();
    CHECK(mt_config_preset("reference", &config));
    config.dim = 32; config.hidden1 = 64; config.hidden2 = 48; config.batch_size = 256;
    config.learning_rate = 0.005f; config.sampler = MT_SAMPLER_CONTIGUOUS; config.threads = 2;
    mt_model *model = NULL;
    CHECK(mt_model_create(&config, data, &model));

    float loss = 0;
    CHECK(mt_model_train(model, data, 150, &loss));
    mt_metrics test = mt_metrics_default();
    CHECK(mt_model_evaluate(model, data, MT_SPLIT_TEST, MT_PROTOCOL_SAMPLED, &test));
    printf("after 150 steps: loss %.4f, test MRR %.4f, Hits@10 %.4f over %lld users\n", loss, test.mrr,
           test.hits10, (long long)test.users);

    const char *path = "metatl-example.safetensors";
    CHECK(mt_model_save(model, path));
    mt_model_free(model);
    model = NULL;
    CHECK(mt_model_load(path, &model));

    /* A new user: three interactions, oldest first (ids as in the data). */
    int64_t history[3] = {5, 7, 9};
    int64_t items[5];
    float scores[5];
    size_t count = 0;
    CHECK(mt_model_recommend(model, history, 3, 5, 0, items, scores, &count));
    printf("next for history 5, 7, 9:");
    for (size_t i = 0; i < count; i++) printf(" %lld (%.3f)", (long long)items[i], scores[i]);
    printf("\n");

    mt_model_free(model);
    mt_dataset_free(data);
    remove(path);
    return 0;
}
