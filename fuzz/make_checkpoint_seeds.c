/*
 * Writes the checkpoint fuzzer's seed corpus with the engine itself: two tiny trained models
 * (K = 3 and K = 2) saved with mt_model_save, and the K = 3 one again with a transition prior
 * attached (weight 2), all of the reference preset; and a K = 3 model of the recommended preset
 * (a tail table, an item bias, the softmax's scale). fuzz/make_seeds.sh derives the reference
 * state_dict seed from the first. Usage: make_checkpoint_seeds OUT_DIR
 */
#include <metatl.h>
#include <stdio.h>
#include <stdlib.h>

static int save(const char *dir, const char *name, const char *preset, int32_t K, int32_t dim, float prior) {
    enum { U = 6, L = 5 };
    int64_t users[U * L], items[U * L];
    double ts[U * L];
    for (int u = 0, k = 0; u < U; u++)
        for (int t = 0; t < L; t++, k++) { users[k] = u; items[k] = 3 + (u + 2 * t) % 7; ts[k] = t; }
    mt_dataset *d = NULL;
    mt_model *m = NULL;
    mt_config c = mt_config_default();
    if (mt_config_preset(preset, &c) != MT_OK) { fprintf(stderr, "%s: %s\n", name, mt_last_error_message()); return 1; }
    c.K = K; c.dim = dim; c.hidden1 = 3; c.hidden2 = 2; c.batch_size = 4; c.seed = 5;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (mt_dataset_from_arrays(users, items, ts, U * L, users, items, ts, U * L, K, 1, &d) != MT_OK ||
        mt_model_create(&c, d, &m) != MT_OK || mt_model_train(m, d, 2, NULL) != MT_OK ||
        (prior >= 0 && mt_model_attach_transition_prior(m, d, prior, NULL) != MT_OK) || mt_model_save(m, path) != MT_OK) {
        fprintf(stderr, "%s: %s\n", name, mt_last_error_message());
        return 1;
    }
    mt_model_free(m);
    mt_dataset_free(d);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]); return 2; }
    return save(argv[1], "metatl_k3.safetensors", "reference", 3, 2, -1)
           | save(argv[1], "metatl_k2.safetensors", "reference", 2, 1, -1)
           | save(argv[1], "metatl_k3_prior.safetensors", "reference", 3, 2, 2)
           | save(argv[1], "metatl_k3_recommended.safetensors", "recommended", 3, 2, -1);
}
