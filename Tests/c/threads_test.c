/*
 * What the library does to its host process (include/metatl.h, "The process"): the caller's
 * OpenBLAS thread count is the same after each call; the worker pool, idle, uses no CPU; and
 * mt_threads_release() ends the workers without changing what training computes afterwards.
 */
#include <metatl.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* OpenBLAS, which libmetatl uses and a host program may use too (linked with -lopenblas). */
extern void openblas_set_num_threads(int threads);
extern int openblas_get_num_threads(void);

static int passed, failed;

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (cond) passed++;                                                           \
        else { failed++; fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#define STEPS 20

static mt_config small_config(void) {
    mt_config c = mt_config_default();
    c.dim = 16;
    c.hidden1 = 32;
    c.hidden2 = 16;
    c.batch_size = 64;
    c.threads = 2;
    c.seed = 7;
    return c;
}

/* A fresh model trained STEPS steps from the same seed; its mean loss, or NAN on failure. */
static float train_fresh(const mt_dataset *data) {
    mt_config c = small_config();
    mt_model *model = NULL;
    float loss = NAN;
    if (mt_model_create(&c, data, &model) != MT_OK) return NAN;
    if (mt_model_train(model, data, STEPS, &loss) != MT_OK) loss = NAN;
    mt_model_free(model);
    return loss;
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static int thread_count(void) {
    DIR *dir = opendir("/proc/self/task");
    if (!dir) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));)
        if (e->d_name[0] != '.') n++;
    closedir(dir);
    return n;
}

static double seconds(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {}
}

/* A progress callback runs inside the call: OpenBLAS is single-threaded there. */
static int32_t count_single_threaded(const mt_progress *progress, void *user_data) {
    (void)progress;
    if (openblas_get_num_threads() == 1) (*(int *)user_data)++;
    return 0;
}

/* Every call that runs the engine gives the caller's OpenBLAS thread count back. */
static void test_openblas_thread_count(const mt_dataset *data) {
    openblas_set_num_threads(2);
    const int callers = openblas_get_num_threads();
    EXPECT(callers == 2);

    mt_config c = small_config();
    mt_model *model = NULL;
    EXPECT(mt_model_create(&c, data, &model) == MT_OK);
    EXPECT(openblas_get_num_threads() == callers);
    float loss = NAN;
    EXPECT(mt_model_train(model, data, 5, &loss) == MT_OK);
    EXPECT(openblas_get_num_threads() == callers);

    int single = 0;
    EXPECT(mt_model_train_with_progress(model, data, 3, count_single_threaded, &single, &loss) == MT_OK);
    EXPECT(single == 3);
    EXPECT(openblas_get_num_threads() == callers);
    mt_fit_params params = mt_fit_params_default();
    params.max_steps = 4;
    params.eval_every = 2;
    params.progress_callback = count_single_threaded;
    params.progress_user_data = &single;
    mt_fit_result *fit = NULL;
    single = 0;
    EXPECT(mt_model_fit(model, data, &params, &fit) == MT_OK);
    EXPECT(single >= 4);
    EXPECT(openblas_get_num_threads() == callers);
    mt_fit_result_free(fit);

    mt_metrics m = mt_metrics_default();
    EXPECT(mt_model_evaluate(model, data, MT_SPLIT_VALID, MT_PROTOCOL_FULL, &m) == MT_OK);
    EXPECT(openblas_get_num_threads() == callers);
    EXPECT(mt_model_evaluate(model, data, MT_SPLIT_TEST, MT_PROTOCOL_SAMPLED, &m) == MT_OK);
    EXPECT(openblas_get_num_threads() == callers);

    int64_t items = 0;
    EXPECT(mt_model_info(model, &items, NULL, NULL) == MT_OK && items >= 3);
    int64_t *ids = calloc((size_t)items, sizeof *ids);
    EXPECT(ids && mt_model_items(model, ids, (size_t)items, NULL, 0) == MT_OK);
    if (!ids) return;
    int64_t top[5];
    size_t count = 0;
    EXPECT(mt_model_recommend(model, ids, 3, 5, 0, top, NULL, &count) == MT_OK && count == 5);
    EXPECT(openblas_get_num_threads() == callers);

    /* A failing call too (an unknown item id). */
    int64_t unknown[3] = {ids[0], ids[1], -12345};
    EXPECT(mt_model_recommend(model, unknown, 3, 5, 0, top, NULL, &count) != MT_OK);
    EXPECT(openblas_get_num_threads() == callers);

    /* Another count set between calls is the one given back after the next. */
    openblas_set_num_threads(1);
    EXPECT(mt_model_train(model, data, 2, &loss) == MT_OK);
    EXPECT(openblas_get_num_threads() == 1);
    openblas_set_num_threads(callers);
    free(ids);
    mt_model_free(model);
}

/* After training, the workers park: the process uses (almost) no CPU while it sleeps. */
static void test_idle_pool_uses_no_cpu(const mt_dataset *data) {
    EXPECT(!isnan(train_fresh(data)));
    sleep_ms(20);   /* the workers' bounded spin (200 µs) is over */
    const double cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID), wall0 = seconds(CLOCK_MONOTONIC);
    sleep_ms(300);
    const double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0, wall = seconds(CLOCK_MONOTONIC) - wall0;
    /* A spinning worker would use about as much CPU as the wall time. */
    EXPECT(cpu < 0.03);
    if (cpu >= 0.03) fprintf(stderr, "  idle process used %.3f s of CPU in %.3f s\n", cpu, wall);
}

struct trainer { const mt_dataset *data; float loss; atomic_int done; };

static void *train_in_thread(void *arg) {
    struct trainer *t = arg;
    t->loss = train_fresh(t->data);
    atomic_store(&t->done, 1);
    return NULL;
}

/* mt_threads_release ends the workers; training afterwards (or meanwhile) computes the same. */
static void test_release(const mt_dataset *data) {
    mt_threads_release();   /* whatever state the pool is in, even never started */
    const float before = train_fresh(data);
    EXPECT(!isnan(before));
    const int with_workers = thread_count();

    mt_threads_release();
    int after = thread_count();
    /* pthread_join returns as a thread ends; the kernel may list it a moment longer. */
    for (int i = 0; i < 100 && after >= with_workers; i++) {
        sleep_ms(10);
        after = thread_count();
    }
    EXPECT(with_workers > 0 && after > 0 && after < with_workers);
    if (!(after < with_workers)) fprintf(stderr, "  threads: %d with workers, %d after release\n", with_workers, after);
    mt_threads_release();   /* twice is fine */

    const float again = train_fresh(data);
    EXPECT(same_bits(before, again));
    EXPECT(thread_count() >= with_workers);   /* the next parallel call started them again */

    /* Released while another thread trains: that training still computes the same. */
    struct trainer t = {data, NAN, 0};
    pthread_t thread;
    EXPECT(pthread_create(&thread, NULL, train_in_thread, &t) == 0);
    while (!atomic_load(&t.done)) {
        mt_threads_release();
        sleep_ms(1);
    }
    pthread_join(thread, NULL);
    EXPECT(same_bits(before, t.loss));
}

int main(void) {
    mt_dataset *data = NULL;
    if (mt_dataset_synthetic(8, 300, 80, 1, &data) != MT_OK) {
        fprintf(stderr, "synthetic data: %s\n", mt_last_error_message());
        return 1;
    }
    test_openblas_thread_count(data);
    test_idle_pool_uses_no_cpu(data);
    test_release(data);
    mt_dataset_free(data);
    printf("threads: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
