/*
 * metatl.h — the C interface of the MetaTL engine (libmetatl).
 *
 * MetaTL recommends the next item for cold-start users from two or three interactions
 * (Wang, Ding & Caverlee, SIGIR 2021). This header is the whole, stable ABI.
 *
 * Conventions
 *   - Functions are mt_<object>_<verb>; types mt_*; macros and enum values MT_*.
 *   - Objects are opaque handles created and freed in pairs; every *_free accepts NULL.
 *   - Fallible calls return mt_status: MT_OK (0) or a negative code. On failure,
 *     mt_last_error_message() describes it, and any handle out-parameter is set to NULL.
 *     The status, not the message, says whether a call failed.
 *   - The caller owns every buffer it passes, and passes its length. Ids are int64_t
 *     external item ids as they appear in the data.
 *   - Strings (paths) are NUL-terminated UTF-8; other bytes are MT_ERR_INVALID_ARGUMENT (never
 *     silently repaired into another file's name).
 *   - Messages show size_t arguments as the unsigned values passed, and bytes from files that
 *     are not printable ASCII (a NUL, a byte-order mark, a non-ASCII letter) as \xNN.
 *   - Structs with a struct_size field are versioned: obtain them from their *_default()
 *     function (or set struct_size = sizeof(T)); they only ever grow at the end.
 *   - No call aborts the process on bad input: NULL pointers, bad counts, unknown ids and
 *     too-small buffers are reported as status codes.
 *
 * Thread safety
 *   - mt_last_error_message() is per thread.
 *   - mt_dataset: immutable after creation; may be shared by any number of threads.
 *   - mt_model may be served while it trains. Readers (mt_model_adapt, mt_model_score,
 *     mt_model_recommend, mt_model_evaluate, mt_model_save, mt_model_items, mt_model_info,
 *     mt_model_transition_prior_weight, mt_model_index_info) run concurrently from many threads. The training calls
 *     (mt_model_train, mt_model_train_with_progress, mt_model_fit) hold the model exclusively one
 *     step at a time (a fit's validations are readers): before each step they wait for the
 *     readers in flight, and readers that arrive during a step wait for it to end (a step
 *     takes milliseconds). Neither side fails with
 *     MT_ERR_BUSY because of the other, and neither starves: once a step is waiting, newly
 *     arriving readers wait behind it, and the readers waiting when a step ends get in before
 *     the next step.
 *   - Readers see the model as it is after some whole step, never part-way through one, and
 *     what training computes does not depend on whether anybody read meanwhile.
 *   - mt_model_snapshot, mt_model_restore, mt_model_attach_transition_prior,
 *     mt_model_attach_index (once built) and mt_model_detach_index also wait and hold the model
 *     exclusively for a moment; during training (from another thread) they act
 *     between two steps, and training goes on from whatever model is then there.
 *   - One training call at a time: a training call while another one runs on the same model
 *     (from another thread, or from its own progress callback) returns MT_ERR_BUSY at once (it
 *     neither waits nor interleaves).
 *   - There are no timeouts: a call waits as long as the calls ahead of it take.
 *   - fork(): a child forked while other threads use a model gets it whole, as after a step
 *     (fork waits for a step, snapshot or restore in flight) and may serve and train it; the
 *     other threads do not exist in the child.
 *   - Freeing a handle while another thread uses it is the caller's error.
 *
 * The process: everything the library does to the program that loads it
 *   - Threads. A call on a model whose config has threads = T > 1 runs its parallel loops
 *     (training and evaluation have them) on the calling thread and T - 1 worker threads of one
 *     process-wide pool, started by the first loop that needs them and kept for later loops
 *     (a later call with a larger T starts more, up to 255). An idle worker polls for the next
 *     loop for at most 200 microseconds after its last one, then sleeps on a condition variable
 *     (no CPU) until the next loop. mt_threads_release() ends them. When two calls run parallel
 *     loops at the same moment, the second one's loop runs on libdispatch's global concurrent
 *     queue instead (threads that libdispatch starts and retires itself); results are the same.
 *     With threads = 1 every loop runs on the calling thread. No other threads are started.
 *   - OpenBLAS. The engine splits each matrix product over its own threads and calls OpenBLAS
 *     single-threaded, and OpenBLAS's thread count is process-wide: while any library call runs,
 *     the process's OpenBLAS is set to one thread; when the last one returns, the count the
 *     caller had (openblas_get_num_threads() when the first began) is set back. A host's own
 *     OpenBLAS work meanwhile, on other threads or in code a call calls back, runs
 *     single-threaded. Loading libmetatl loads
 *     OpenBLAS, which starts its own threads by its own rules (OPENBLAS_NUM_THREADS); the
 *     library never runs products on them.
 *   - Environment. The C library sets no environment variable. It reads METATL_SIMD
 *     (avx512|avx2|generic: which element-wise kernels to use; by default the best the CPU
 *     runs). OpenBLAS reads OPENBLAS_CORETYPE once, when it loads: Debian's 0.3.21 falls back to
 *     slow generic kernels on CPUs it does not know, so the Python package, on import, sets
 *     OPENBLAS_CORETYPE in its process's environment (SkylakeX or Haswell, what the CPU
 *     supports) unless it or METATL_KEEP_BLAS_KERNEL is already set, and the `metatl` command,
 *     when OpenBLAS chose a generic kernel, restarts itself once with it set
 *     (METATL_KEEP_BLAS_KERNEL set: neither does). C programs may set it themselves before
 *     loading the library.
 *   - fork(). The library installs pthread_atfork handlers: fork() waits for OpenBLAS calls and
 *     exclusive model work (a training step, a snapshot, a restore) in flight on other threads,
 *     and the child forgets the parent's workers (it starts its own when it needs them), the
 *     library's lock state and the calls running in the parent (its OpenBLAS count, if one was
 *     running, is set back at the end of its next call).
 *   - Signals. The library installs no signal handlers and blocks no signals, and neither does
 *     the Python package: Ctrl-C reaches its fit and train as Python's own KeyboardInterrupt,
 *     raised in the progress callback, which cancels the call.
 *   - Memory. Large buffers are offered to the kernel for transparent huge pages
 *     (madvise MADV_HUGEPAGE, on the library's own allocations only).
 */
#ifndef METATL_H
#define METATL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version ------------------------------------------------------------------------ */

#define MT_VERSION_MAJOR 0
#define MT_VERSION_MINOR 1
#define MT_VERSION_PATCH 0
#define MT_VERSION_STRING "0.1.0"
/* major * 10000 + minor * 100 + patch, as returned by mt_version_number(). */
#define MT_VERSION_NUMBER (MT_VERSION_MAJOR * 10000 + MT_VERSION_MINOR * 100 + MT_VERSION_PATCH)

/* The library's version string ("0.1.0"), static. */
const char *mt_version(void);
/* The library's version number; compare with MT_VERSION_NUMBER to detect a mismatch. */
int32_t mt_version_number(void);

/* ---- Status and errors ---------------------------------------------------------------- */

typedef int32_t mt_status;
#define MT_OK                     0
#define MT_ERR_INVALID_ARGUMENT  -1  /* NULL pointer, bad count or setting */
#define MT_ERR_INVALID_DATA      -2  /* a data file or array is malformed */
#define MT_ERR_NOT_FOUND         -3  /* a file does not exist */
#define MT_ERR_IO                -4  /* reading or writing a file failed */
#define MT_ERR_BUFFER_TOO_SMALL  -5  /* an output buffer is shorter than needed */
#define MT_ERR_UNKNOWN_ITEM      -6  /* an item id is not in the model's vocabulary */
#define MT_ERR_BUSY              -7  /* another training call is running on the model */
#define MT_ERR_BAD_CHECKPOINT    -8  /* a checkpoint is damaged, truncated or incompatible */
#define MT_ERR_INVALID_STATE     -9  /* the call is not possible in the object's state */
#define MT_ERR_DIVERGED         -10  /* training produced a non-finite or out-of-bound value; the
                                      * model is left as it was before the failing step */
#define MT_ERR_INTERNAL        -100  /* a bug: please report it with the message */

/* A message for the last failed call on this thread ("" if none). Library-owned; valid
 * until the next mt_* call on this thread. */
const char *mt_last_error_message(void);
/* The name of a status code ("MT_ERR_BUSY"), static. */
const char *mt_status_name(mt_status status);

/* ---- Configuration --------------------------------------------------------------------- */
/* Two presets: "recommended" (mt_config_default(), the default of every surface) and "reference"
 * (the reference notebook's settings, which reproduce it bit for bit). Each field's comment gives
 * its value in both as (recommended: X, reference: Y), or one value where they agree. */

#define MT_SAMPLER_REFERENCE   0  /* the reference notebook's mixed sampler, slips included */
#define MT_SAMPLER_CONTIGUOUS  1  /* window mode without the skipped item */
#define MT_SAMPLER_WINDOW      2  /* window mode only: every task is K consecutive items and the next */
#define MT_SAMPLER_EVERY_WINDOW 3 /* window mode, every window of every training user equally likely */
#define MT_INNER_STEP_REFERENCE 0 /* inner step scaled by the batch mean, as the reference */
#define MT_INNER_STEP_PER_TASK  1 /* inner step scaled per task, as at evaluation */
#define MT_LOSS_MARGIN   0  /* margin ranking loss, one negative per pair; score -||E[h] + r - T[t]||
                             * (T is E without tail_embeddings) */
#define MT_LOSS_SOFTMAX  1  /* sampled softmax over negatives shared by each step's queries;
                             * score -a * ||E[h] + r - T[t]||^2 + b[t], the scale a learned */
#define MT_NEGATIVES_UNIFORM    0  /* training negatives uniform over the catalogue */
#define MT_NEGATIVES_POPULARITY 1  /* in proportion to the items' training frequency */
#define MT_NEGATIVES_MIXED      2  /* half each: the shared ones alternate, a pair's by a coin */
#define MT_OPTIMIZER_ADAM        0  /* exact lazy Adam: an item row no pair of a step touches still takes
                                     * that step's zero-gradient update (replayed when the row is next
                                     * read), so every value is dense Adam's bit for bit */
#define MT_OPTIMIZER_SPARSE_ADAM 1  /* PyTorch SparseAdam / TF LazyAdam for the item rows: a row's moments
                                     * and value change only at steps whose batch reads it; bias
                                     * correction by the global step t: p -= lr*sqrt(1-b2^t)/(1-b1^t) *
                                     * m / (sqrt(v) + eps). The learner, item bias and log alpha stay on
                                     * dense Adam. No catch-up: faster on large catalogues */

/* Size-versioned: struct_size says which fields the caller has. The fields from eval_mode_after
 * on were added later, at the end; a caller built against an earlier header (whose struct_size,
 * 64, ends before eval_mode_after) gets the reference preset's values for them, as that header's
 * mt_config_default() was the reference. Other struct_size values below sizeof(mt_config) are
 * MT_ERR_INVALID_ARGUMENT. */
typedef struct mt_config {
    uint32_t struct_size;   /* sizeof(mt_config) */
    int32_t  K;             /* initial interactions per new user (3) */
    int32_t  dim;           /* item embedding size (100) */
    int32_t  hidden1;       /* relation learner widths (500, 200) */
    int32_t  hidden2;
    int32_t  batch_size;    /* tasks per training step (1024) */
    float    learning_rate; /* Adam (recommended: 0.0005, reference: 0.001) */
    float    beta;          /* inner step size (5) */
    float    margin;        /* ranking margin of the margin loss and of the inner step's support loss (1) */
    float    dropout;       /* dropout probability (recommended: 0, reference: 0.5) */
    uint64_t seed;          /* every random choice (1) */
    int32_t  sampler;       /* MT_SAMPLER_* (recommended: EVERY_WINDOW, reference: REFERENCE) */
    int32_t  inner_step;    /* MT_INNER_STEP_* (REFERENCE) */
    int32_t  threads;       /* worker threads (1); results reproducible per count */
    /* Added later (an earlier header's struct ends here, at 64 bytes). */
    int64_t  eval_mode_after;       /* train in evaluation mode (BatchNorm frozen at its running
                                     * statistics, no dropout) from this step on; -1: never (-1) */
    int32_t  loss;                  /* MT_LOSS_* (recommended: SOFTMAX, reference: MARGIN) */
    int32_t  shared_negatives;      /* softmax: negatives drawn once per step (with replacement)
                                     * and shared by its queries; 0: every item (1024) */
    int32_t  tail_embeddings;       /* 1: a second item table T for the tail of a transition, 0: T is
                                     * E (recommended: 1, reference: 0) */
    int32_t  item_bias;             /* 1: a learned item bias b[t] in the score, softmax loss only
                                     * (recommended: 1, reference: 0) */
    int32_t  zero_initial_relation; /* 1: the relation starts at 0 (last BatchNorm weight 0)
                                     * (recommended: 1, reference: 0) */
    float    relation_penalty;      /* lambda >= 0 of lambda * mean ||r||^2 added to the query loss (0) */
    int32_t  negatives;             /* MT_NEGATIVES_* training negatives: the margin pairs' and the
                                     * softmax's shared ones, popularity draws log-Q corrected
                                     * (recommended: POPULARITY, reference: UNIFORM) */
    float    table_decay;           /* lambda >= 0 of an L2 penalty on the item rows each query uses,
                                     * lambda * mean (||E[h]||^2 + ||T[t]||^2) (0) */
    int32_t  query_margin;          /* 1: with the softmax loss, also the margin loss on each query
                                     * pair against its uniform negative (0) */
    int32_t  optimizer;             /* MT_OPTIMIZER_* of the item tables (ADAM). Added in the struct's
                                     * tail padding, so sizeof(mt_config) (112) did not change: a caller
                                     * built against the header before it passes its padding bytes
                                     * here, 0 (ADAM) when the struct was zeroed; values other than
                                     * 0 and 1 are MT_ERR_INVALID_ARGUMENT */
} mt_config;

/* The recommended preset (struct_size = sizeof(mt_config)). */
mt_config mt_config_default(void);

/* A preset by name, "recommended" or "reference", into *out. out->struct_size must be set as for
 * mt_model_config (mt_config_default(), or sizeof(mt_config)); only the fields within it are
 * written and it is left as set. Another name is MT_ERR_INVALID_ARGUMENT (out unchanged). */
mt_status mt_config_preset(const char *name, mt_config *out);

/* ---- Datasets ---------------------------------------------------------------------------- */

typedef struct mt_dataset mt_dataset;

typedef struct mt_dataset_info {
    uint32_t struct_size;         /* sizeof(mt_dataset_info) */
    int64_t  items;               /* catalogue size */
    int64_t  items_not_in_training;
    int64_t  train_users;
    int64_t  train_interactions;
    int64_t  valid_users;
    int64_t  test_users;
    int32_t  K;
} mt_dataset_info;

/* How mt_dataset_load reads its files. */
typedef struct mt_dataset_options {
    uint32_t struct_size;     /* sizeof(mt_dataset_options) */
    int32_t  K;               /* initial interactions per new user (3) */
    uint64_t seed;            /* the validation/test split and the evaluation candidates (1) */
    uint64_t max_file_bytes;  /* the most bytes each file may hold (MT_DEFAULT_MAX_FILE_BYTES, 4 GiB);
                               * >= 1, UINT64_MAX for no limit. A larger regular file is refused
                               * before it is read; a pipe is read until it ends or gives more
                               * (one that never ends stops there): MT_ERR_INVALID_DATA, the
                               * message naming the file and the limit. */
    int32_t  sampled_negatives; /* negatives per new user in the sampled protocol, 1...100000 (100, the
                                 * reference's); a user's first n draws are the same for any count.
                                 * Added to the struct later: a caller compiled against the earlier
                                 * 24-byte struct (without it; struct_size 24) gets 100. */
} mt_dataset_options;

/* The default of mt_dataset_options.max_file_bytes: far above real data (the reference's files
 * are a few MB), low enough that loading two files this large fits a 24 GB machine. */
#define MT_DEFAULT_MAX_FILE_BYTES ((uint64_t)4 << 30)

/* K 3, seed 1, max_file_bytes MT_DEFAULT_MAX_FILE_BYTES, sampled_negatives 100. */
mt_dataset_options mt_dataset_options_default(void);

/* Reads the reference's two files (`user<TAB>item<TAB>timestamp`; the delimiter, TAB, comma or
 * `::`, is taken from the first line; a header line's columns are found by name, extra columns
 * ignored, times are numbers or ISO 8601 dates; a leading UTF-8 byte-order mark is skipped):
 * training users and new users (mt_split_files makes them from one log). Either
 * may be a regular file or a pipe (FIFO, `<(zcat f.gz)`). New users with more than K
 * interactions are split 0.3/0.7 into validation/test with `seed`. `options` may be NULL for
 * the defaults. */
mt_status mt_dataset_load(const char *train_path, const char *test_path, const mt_dataset_options *options,
                          mt_dataset **out);

/* mt_dataset_load with K and seed, and the default max_file_bytes. */
mt_status mt_dataset_from_files(const char *train_path, const char *test_path, int32_t K, uint64_t seed,
                                mt_dataset **out);

/* The same from arrays: `train_count` rows of (user, item, timestamp) for training users and
 * `test_count` rows for new users. Arrays are copied. */
mt_status mt_dataset_from_arrays(const int64_t *train_users, const int64_t *train_items,
                                 const double *train_timestamps, size_t train_count,
                                 const int64_t *test_users, const int64_t *test_items,
                                 const double *test_timestamps, size_t test_count,
                                 int32_t K, uint64_t seed, mt_dataset **out);

/* The built-in synthetic cold-start data (what `metatl demo` trains on): items are the cells of a
 * side x side grid, each user follows one of eight planted directions (10% random jumps).
 * side in 3...1000, users >= 1; K = 3. */
mt_status mt_dataset_synthetic(int32_t side, int32_t train_users, int32_t new_users, uint64_t seed,
                               mt_dataset **out);

/* Counts; `out->struct_size` must be set (mt_dataset_info_default). */
mt_dataset_info mt_dataset_info_default(void);
mt_status mt_dataset_info_get(const mt_dataset *dataset, mt_dataset_info *out);

void mt_dataset_free(mt_dataset *dataset);

/* ---- String ids ----------------------------------------------------------------------------
 * Ids may be strings (Amazon's ASINs and reviewer ids, RecBole's token fields): a file column
 * holding one id that is not a non-negative integer is read as strings. The engine's every id is
 * an int64, so a column of string ids is carried as codes 0..count-1 plus its strings, and every
 * integer entry point (recommend, score, ranks, mt_model_items) takes and returns the codes. A
 * dataset numbers its strings in sorted order (UTF-8 bytes), so the codes depend on the ids
 * alone; a model keeps its dataset's item strings and saves them in its checkpoint. */
typedef struct mt_string_ids {
    const char    *bytes;    /* the strings' UTF-8 bytes one after another (no NUL between them) */
    const int64_t *offsets;  /* count + 1 offsets: string i is bytes[offsets[i] .. offsets[i + 1]),
                              * offsets[0] = 0; each string non-empty, all distinct */
    size_t         count;    /* 0: the ids are integers (bytes and offsets may then be NULL) */
} mt_string_ids;

/* Interaction rows for mt_dataset_from_interactions. */
typedef struct mt_interactions {
    uint32_t       struct_size;  /* sizeof(mt_interactions) */
    const int64_t *users;        /* count user ids: integers >= 0, or codes into user_ids */
    const int64_t *items;        /* count item ids: integers >= 0, or codes into item_ids */
    const double  *timestamps;   /* count finite numbers */
    size_t         count;
    mt_string_ids  user_ids;     /* the users' strings when users holds codes; count 0 otherwise */
    mt_string_ids  item_ids;     /* the items' strings when items holds codes; count 0 otherwise */
} mt_interactions;

/* mt_dataset_from_arrays for rows whose ids may be strings, with options (K, seed,
 * sampled_negatives; max_file_bytes is not used; NULL for the defaults). A column of strings in
 * one and integers in the other is read as strings, the integers in decimal. Everything is
 * copied; the dataset's own codes (sorted order) may differ from the caller's:
 * mt_dataset_string_ids. */
mt_status mt_dataset_from_interactions(const mt_interactions *train, const mt_interactions *test,
                                       const mt_dataset_options *options, mt_dataset **out);

#define MT_COLUMN_USERS 0
#define MT_COLUMN_ITEMS 1

/* The dataset's string ids of its users (MT_COLUMN_USERS) or items (MT_COLUMN_ITEMS): code i is
 * string i; count 0 for integer ids. The memory is the dataset's: valid until it is freed. */
mt_status mt_dataset_string_ids(const mt_dataset *dataset, int32_t column, mt_string_ids *out);

/* ---- Models ------------------------------------------------------------------------------- */

typedef struct mt_model mt_model;

/* A fresh model for the dataset's item catalogue, initialised from config->seed. */
mt_status mt_model_create(const mt_config *config, const mt_dataset *dataset, mt_model **out);
void mt_model_free(mt_model *model);

/* A new cohort for a trained model: mt_dataset_load with the model's item vocabulary (rows in the
 * model's order), so that the model evaluates, serves and trains on it as on its own data.
 * Interactions whose item the model does not know are left out of the sequences (as serving
 * skips unknown ids) and counted (mt_dataset_unknown_interactions); with
 * MT_DATASET_UNKNOWN_IS_ERROR in `flags` the first is MT_ERR_UNKNOWN_ITEM naming the file, row and
 * id. K is the model's unless options says otherwise. `options` may be NULL. */
#define MT_DATASET_UNKNOWN_IS_ERROR 1u
mt_status mt_dataset_load_for_model(const char *train_path, const char *test_path, const mt_dataset_options *options,
                                    const mt_model *model, uint32_t flags, mt_dataset **out);

/* How many interactions mt_dataset_load_for_model left out (0 for other datasets) into *count. */
mt_status mt_dataset_unknown_interactions(const mt_dataset *dataset, int64_t *count);

/* The model's settings and sizes. out->struct_size must be set (mt_config_default(), or
 * sizeof(mt_config); an earlier header's size is accepted too); it is left as the caller set it,
 * and only the fields of this library's mt_config that lie within it are written: an earlier
 * caller's smaller struct gets its own fields, a newer caller's larger struct keeps its later
 * fields. Every setting of the model is reported, also for a loaded checkpoint. `step` (may be
 * NULL, as may the others) is a reader: during training it waits for the current step and gives
 * its number. */
mt_status mt_model_config(const mt_model *model, mt_config *out);
mt_status mt_model_info(const mt_model *model, int64_t *items, int32_t *dim, int64_t *step);

/* The catalogue: `ids` receives the items' external ids (room for `items`, see mt_model_info),
 * `embeddings` (may be NULL) their embedding rows, items x dim floats, in the same order. */
mt_status mt_model_items(const mt_model *model, int64_t *ids, size_t ids_len, float *embeddings,
                         size_t embeddings_len);

/* The model's item string ids (count 0 for integer ids): code i is string i, the id mt_model_items
 * and recommend give. The memory is the model's: valid until it is freed. */
mt_status mt_model_item_strings(const mt_model *model, mt_string_ids *out);

/* The code of the string item id `id` (`len` bytes, UTF-8, need not be NUL-terminated) into
 * *code: MT_ERR_UNKNOWN_ITEM if the model has no such item, MT_ERR_INVALID_ARGUMENT for a model of
 * integer ids. */
mt_status mt_model_item_code(const mt_model *model, const char *id, size_t len, int64_t *code);

/* Trains `steps` (>= 1) meta steps on tasks from the dataset's training users. The dataset
 * must have the model's vocabulary (else MT_ERR_INVALID_ARGUMENT, the message saying how many
 * items each lacks and the first few ids; mt_model_evaluate checks the same). `mean_loss` (may
 * be NULL) receives the mean query loss.
 *
 * Finite or failed: each step is checked before it is applied (every score and loss finite,
 * BatchNorm running statistics and every gradient within their limits, and the learning rate
 * unable to carry a parameter past |x| <= 1e15 in one step). A step that fails the check is not
 * applied: the call returns MT_ERR_DIVERGED, the message names the step and the reason, and the
 * model is exactly as it was after the last step taken (mt_model_info's step counts those). So
 * a model never holds a NaN, an infinity or a value beyond the limits a checkpoint accepts.
 * Other threads may serve the model meanwhile (see Thread safety); MT_ERR_BUSY if another
 * mt_model_train is running on it. */
mt_status mt_model_train(mt_model *model, const mt_dataset *dataset, int64_t steps, float *mean_loss);

/* ---- Progress and validation-driven training (fit) ------------------------------------------- */

/* One validation of a fit: the model after `step` steps on the dataset's validation users. The
 * names are those of the learning curve everywhere (the command's --curve-csv and JSON
 * learning_curve, Python's fit history). */
typedef struct mt_curve_point {
    uint32_t struct_size;          /* sizeof(mt_curve_point) */
    int64_t  step;                 /* the model's step count when evaluated */
    double   elapsed_seconds;      /* since the fit began, evaluations included */
    double   steps_per_second;     /* training speed since the previous point (0 for the first) */
    double   train_loss;           /* mean query loss of the steps since the previous point; NaN
                                    * for the point taken before training */
    double   valid_sampled_mrr;    /* MT_PROTOCOL_SAMPLED */
    double   valid_sampled_hits10;
    double   valid_full_mrr;       /* MT_PROTOCOL_FULL */
    double   valid_full_hits10;
} mt_curve_point;

/* What a progress callback is told: after every training step (validation NULL), and after every
 * validation of mt_model_fit (validation points to it; the step fields then describe the last
 * step taken, or are 0 before the first). Valid only during the call. */
typedef struct mt_progress {
    uint32_t struct_size;          /* sizeof(mt_progress) of the library */
    int64_t  done;                 /* steps taken in this call */
    int64_t  total;                /* steps asked for (mt_fit_params.max_steps) */
    int64_t  step;                 /* the model's step count */
    float    query_loss;           /* of the last step (the reference's reported loss) */
    float    support_loss;
    double   elapsed_seconds;      /* since the call began */
    const mt_curve_point *validation;
} mt_progress;

/* Called in the thread that trains, with the model free: it may serve the model (readers,
 * mt_model_snapshot), not train it (MT_ERR_BUSY). Returning non-zero cancels: mt_model_train stops
 * after the current step; mt_model_fit validates the steps taken since its last validation (that
 * point competes), restores the best model and returns MT_OK with cancelled = 1. */
typedef int32_t (*mt_progress_callback)(const mt_progress *progress, void *user_data);

/* mt_model_train with a progress callback (may be NULL): the same steps, and the same model. A
 * cancel is MT_OK; mt_model_info's step says how many were taken. */
mt_status mt_model_train_with_progress(mt_model *model, const mt_dataset *dataset, int64_t steps,
                                       mt_progress_callback callback, void *user_data, float *mean_loss);

#define MT_SELECT_SAMPLED_MRR 0    /* validation MRR against 100 sampled negatives (the reference's) */
#define MT_SELECT_FULL_MRR    1    /* validation MRR over the whole catalogue (the default) */

/* How mt_model_fit trains and chooses. The same settings, defaults and rules as Swift's
 * FitOptions, `metatl train` (--steps, --eval-every, --patience, --select-by) and Python's
 * Model.fit. */
typedef struct mt_fit_params {
    uint32_t struct_size;          /* sizeof(mt_fit_params) */
    int64_t  max_steps;            /* at most this many steps (20000), >= 0 */
    int64_t  eval_every;           /* validate every this many steps and after the last (250), >= 1 */
    int64_t  patience;             /* stop after this many validations in a row without a new best;
                                    * 0: never early (8) */
    int32_t  select_by;            /* MT_SELECT_* (MT_SELECT_FULL_MRR) */
    mt_progress_callback progress_callback;   /* may be NULL (NULL) */
    void    *progress_user_data;   /* passed to it (NULL) */
} mt_fit_params;

mt_fit_params mt_fit_params_default(void);

/* What a fit did and chose; free it with mt_fit_result_free. */
typedef struct mt_fit_result mt_fit_result;

typedef struct mt_fit_summary {
    uint32_t struct_size;          /* sizeof(mt_fit_summary) */
    int64_t  best_step;            /* the step whose model was kept */
    double   best_score;           /* its validation score by select_by */
    int64_t  steps_taken;          /* training steps taken in this fit */
    int32_t  stopped_early;        /* 1: patience ran out before max_steps */
    int32_t  cancelled;            /* 1: the callback returned non-zero */
    int32_t  diverged;             /* 1: a step diverged and ended the fit (mt_fit_result_divergence) */
    int64_t  curve_points;         /* validations, in order (the first is before training) */
} mt_fit_summary;

/* Trains with validation-driven model selection. Validates the model first (step 0 of the fit
 * competes), then every eval_every steps and after the last: both protocols on the dataset's
 * validation users (MT_ERR_INVALID_ARGUMENT when it has none). The best by select_by (the first
 * on ties) is remembered; training stops at max_steps, after `patience` validations without a new
 * best, on a cancel, or at a step that diverges (that step is not applied, the model after the
 * last good step competes, and the fit still returns MT_OK with diverged = 1). The model is then
 * put back exactly as it was at the best validation (parameters, Adam state, BatchNorm statistics,
 * step). The callback sees every step and every validation. Threads as mt_model_train: readers
 * may serve the model meanwhile; MT_ERR_BUSY if another training call runs on it. `params` may be
 * NULL for mt_fit_params_default(); `*out` receives the result (NULL on failure). */
mt_status mt_model_fit(mt_model *model, const mt_dataset *dataset, const mt_fit_params *params,
                       mt_fit_result **out);

/* The summary; out->struct_size must be set (sizeof(mt_fit_summary)). */
mt_status mt_fit_result_summary(const mt_fit_result *result, mt_fit_summary *out);

/* Validation `index` (0 ... curve_points - 1) of the learning curve; out->struct_size must be set
 * (sizeof(mt_curve_point)). An index out of range is MT_ERR_INVALID_ARGUMENT. */
mt_status mt_fit_result_curve_point(const mt_fit_result *result, size_t index, mt_curve_point *out);

/* Why the fit's last step diverged (the message MT_ERR_DIVERGED would carry), or NULL when none
 * did (or result is NULL). Lives as long as `result`. */
const char *mt_fit_result_divergence(const mt_fit_result *result);

void mt_fit_result_free(mt_fit_result *result);

/* A copy of everything training changes in a model (parameters, Adam state, BatchNorm
 * statistics, step count), to go back to with mt_model_restore: model selection keeps the best
 * model seen this way. Independent of the model afterwards; free it with mt_snapshot_free.
 * Taken during training (from another thread), it is the model after a whole step. */
typedef struct mt_snapshot mt_snapshot;

mt_status mt_model_snapshot(const mt_model *model, mt_snapshot **out);

/* Puts the model back exactly as it was when the snapshot was taken (training then continues
 * as it would have from there). The snapshot must come from a model of the same shape. */
mt_status mt_model_restore(mt_model *model, const mt_snapshot *snapshot);

/* The snapshot's step count (-1 for NULL). */
int64_t mt_snapshot_step(const mt_snapshot *snapshot);

void mt_snapshot_free(mt_snapshot *snapshot);

/* ---- Evaluation ------------------------------------------------------------------------------ */

#define MT_SPLIT_VALID 0
#define MT_SPLIT_TEST  1
#define MT_PROTOCOL_SAMPLED 0  /* target vs 100 sampled negatives (the reference's) */
#define MT_PROTOCOL_FULL    1  /* target vs the whole catalogue except the user's inputs */
/* A target whose score is not finite counts as a miss (reciprocal rank 0), and a candidate whose
 * score is not finite never ranks above the target: every metric is in [0, 1]. */

typedef struct mt_metrics {
    uint32_t struct_size;   /* sizeof(mt_metrics) */
    double mrr, ndcg1, ndcg5, ndcg10, hits1, hits5, hits10;
    int64_t users;
} mt_metrics;

mt_metrics mt_metrics_default(void);
mt_status mt_model_evaluate(const mt_model *model, const mt_dataset *dataset, int32_t split, int32_t protocol,
                            mt_metrics *out);

/* Each user's rank of their target (1 is best; 0 for a target that could not be ranked, a miss),
 * what mt_model_evaluate summarises: for per-user analyses and paired tests against other systems
 * on the same users. `len` must be the split's user count (mt_dataset_info_get's valid_users or
 * test_users): fewer is MT_ERR_BUFFER_TOO_SMALL. `user_ids` (may be NULL) receives the users' ids
 * in the same order. With a transition prior attached, it is blended in (as mt_model_evaluate). */
mt_status mt_model_evaluate_ranks(const mt_model *model, const mt_dataset *dataset, int32_t split, int32_t protocol,
                                  int64_t *user_ids, int64_t *ranks, size_t len);

/* mt_model_evaluate_ranks with each target's score (`scores`, may be NULL: the model's score of the
 * target, higher is better, as mt_model_score gives it; NaN where the target could not be ranked). */
mt_status mt_model_evaluate_targets(const mt_model *model, const mt_dataset *dataset, int32_t split, int32_t protocol,
                                    int64_t *user_ids, int64_t *ranks, double *scores, size_t len);

/* NDCG@k and Hits@k of `n` per-user ranks as mt_model_evaluate_ranks gives them (0 a miss), at any
 * cutoff k >= 1: the gain of a hit at rank r is 1 / log2(r + 1), averaged over the n users. Either
 * output may be NULL. */
mt_status mt_metrics_at_cutoff(const int64_t *ranks, size_t n, int32_t k, double *ndcg, double *hits);

/* The baselines MetaTL is reported against, fitted on the dataset's training sequences and
 * evaluated on the same users and candidates: MT_BASELINE_POPULARITY (most popular item),
 * MT_BASELINE_TRANSITION (count(last input -> candidate), popularity breaking ties) and
 * MT_BASELINE_TRANSITION2 (count(second-last, last -> candidate), backing off to first order).
 * mt_baseline_evaluate gives their metrics, mt_baseline_evaluate_ranks the per-user ranks, as
 * mt_model_evaluate and mt_model_evaluate_ranks do for a model. */
#define MT_BASELINE_POPULARITY  0
#define MT_BASELINE_TRANSITION  1
#define MT_BASELINE_TRANSITION2 2
mt_status mt_baseline_evaluate(const mt_dataset *dataset, int32_t baseline, int32_t split, int32_t protocol,
                               mt_metrics *out);
mt_status mt_baseline_evaluate_ranks(const mt_dataset *dataset, int32_t baseline, int32_t split, int32_t protocol,
                                     int64_t *user_ids, int64_t *ranks, size_t len);
/* With the baseline's score of each target (popularity plus the transition counts it ranks by). */
mt_status mt_baseline_evaluate_targets(const mt_dataset *dataset, int32_t baseline, int32_t split, int32_t protocol,
                                       int64_t *user_ids, int64_t *ranks, double *scores, size_t len);

/* ---- Transition prior ------------------------------------------------------------------------- */
/* A transition prior blends first-order transition counts into every score:
 *   score(t) = s(last -> t) + w * log(1 + count(last -> t))
 * where s is the model's own score (see mt_model_score) and count(last -> t) is how often t directly follows `last` in the dataset's training
 * sequences. Once attached, mt_model_evaluate (both protocols), mt_model_score and
 * mt_model_recommend use it; w = 0 scores exactly as no prior. mt_model_save stores it (tensors
 * transition_prior.offsets, .tails, .counts and metadata transition_prior_weight) and
 * mt_model_load restores it; files without it load without a prior.
 *
 * Counts `dataset`'s training transitions (the dataset must have the model's vocabulary and K)
 * and attaches them, replacing any prior. `weight` >= 0 (finite, at most 1e15) is used as given;
 * a negative weight chooses it on the dataset's validation users: the best full-ranking MRR over
 * {0, 0.25, 0.5, 1, 2, 4, 8, 16, 32}, the first on ties (MT_ERR_INVALID_ARGUMENT when the dataset
 * has no validation users). NaN or +inf is MT_ERR_INVALID_ARGUMENT.
 * `chosen` (may be NULL) receives the weight attached. Holds the model exclusively like
 * mt_model_restore (choosing evaluates the validation users nine times meanwhile). */
mt_status mt_model_attach_transition_prior(mt_model *model, const mt_dataset *dataset, float weight, float *chosen);

/* The attached prior's weight into `*weight` (not NULL): 0 when the model has none. A reader. */
mt_status mt_model_transition_prior_weight(const mt_model *model, float *weight);

/* ---- Serving a new user ------------------------------------------------------------------------ */
/* A history is the user's item ids, oldest first. The most recent K are used; fewer than 2 is
 * MT_ERR_INVALID_ARGUMENT; with 2..K-1 the support is front-padded as training pads short users.
 * An id outside the vocabulary is MT_ERR_UNKNOWN_ITEM, and the message names it. The same
 * history always gives the same result. */

/* The adapted relation r' into `relation`: a dim-vector, so `relation_len` must be dim (see
 * mt_model_info), the length mt_model_score takes; fewer is MT_ERR_BUFFER_TOO_SMALL, more
 * MT_ERR_INVALID_ARGUMENT. */
mt_status mt_model_adapt(const mt_model *model, const int64_t *history, size_t history_len,
                         float *relation, size_t relation_len);

/* scores[i], higher is better, by the model's loss (config.loss), with u = E[last_item] + relation
 * - T[candidates[i]] (T is E without tail_embeddings): MT_LOSS_MARGIN -||u||; MT_LOSS_SOFTMAX
 * -a * ||u||^2 + b[candidates[i]] (b 0 without item_bias). Plus
 * w * log(1 + count(last_item -> candidates[i])) with a transition prior attached. `relation`
 * holds dim floats (relation_len == dim, else MT_ERR_INVALID_ARGUMENT); `scores` has room for
 * candidate_count. */
mt_status mt_model_score(const mt_model *model, const float *relation, size_t relation_len, int64_t last_item,
                         const int64_t *candidates, size_t candidate_count, float *scores);

#define MT_RECOMMEND_INCLUDE_HISTORY 1u  /* let the history's items be recommended */
#define MT_RECOMMEND_EXACT 8u             /* rank every item even when an index is attached (see
                                           * mt_model_attach_index) */
#define MT_RECOMMEND_INCLUDE_UNTRAINED 4u /* let items outside the model's training data be recommended (their
                                           * embeddings were never learned; left out by default, as the full
                                           * protocol of mt_model_evaluate leaves them out). A checkpoint from
                                           * before this was recorded recommends every item. */

/* An adapted relation that is not finite or exceeds the parameter limit (1e15), where scores could
 * overflow, is MT_ERR_INVALID_STATE, never an empty or NaN answer. */

/* The best `top_n` items over the whole catalogue, best first: ids into `items`, scores into
 * `scores` (may be NULL), both with room for `top_n`. `*count` (may be NULL) receives how many
 * were written (fewer when the catalogue is smaller). History items are excluded unless
 * MT_RECOMMEND_INCLUDE_HISTORY is set in `flags`, items outside the training data unless
 * MT_RECOMMEND_INCLUDE_UNTRAINED. With an index attached (mt_model_attach_index) only the items it
 * searches are scored, unless MT_RECOMMEND_EXACT. */
mt_status mt_model_recommend(const mt_model *model, const int64_t *history, size_t history_len, size_t top_n,
                             uint32_t flags, int64_t *items, float *scores, size_t *count);

/* Recommendations for many users in one call, the users split over the model's threads: the
 * same items and scores as mt_model_recommend for each history. */
#define MT_RECOMMEND_UNKNOWN_IS_ERROR 2u  /* an id outside the vocabulary fails the call (default: skipped, counted) */

typedef struct mt_recommend_options {
    uint32_t struct_size;       /* sizeof(mt_recommend_options) */
    uint32_t flags;             /* MT_RECOMMEND_INCLUDE_HISTORY, MT_RECOMMEND_INCLUDE_UNTRAINED,
                                 * MT_RECOMMEND_UNKNOWN_IS_ERROR, MT_RECOMMEND_EXACT (0) */
    size_t   top_n;             /* items per user, >= 1 (10) */
    const int64_t *allowed;     /* only these items may be recommended; NULL: every item (NULL) */
    size_t   allowed_count;
    const int64_t *blocked;     /* never these items (NULL) */
    size_t   blocked_count;     /* ids outside the vocabulary in either list are ignored */
} mt_recommend_options;

mt_recommend_options mt_recommend_options_default(void);

/* User u's history is history_items[history_offsets[u] .. history_offsets[u + 1]) (offsets has
 * users + 1 non-decreasing entries, at most 2^30 ids in all, users at most 2^24). Ids outside the
 * vocabulary are skipped and counted into unknown[u] (may be NULL), unless
 * MT_RECOMMEND_UNKNOWN_IS_ERROR: then MT_ERR_UNKNOWN_ITEM naming the history and the id.
 * `items` and `scores` (may be NULL) have room for users x top_n: row u holds counts[u] results
 * best first, then -1 (items) and NaN (scores). A user whose history keeps fewer than 2 known items,
 * or whose adapted relation is beyond the limits, gets counts[u] = 0; the others are served.
 * `options` may be NULL for mt_recommend_options_default(). */
mt_status mt_model_recommend_batch(const mt_model *model, const int64_t *history_items, const size_t *history_offsets,
                                   size_t users, const mt_recommend_options *options, int64_t *items, float *scores,
                                   size_t *counts, size_t *unknown);

/* ---- Approximate index -------------------------------------------------------------------------- */
/* An inverted file over the model's own item table, for recommend at catalogue scale: k-means
 * (faiss) splits the trained items into `lists` cells, in a space where the model's score is a
 * nearest-neighbour query (the item bias becomes one more coordinate). With an index attached,
 * mt_model_recommend and mt_model_recommend_batch score only the items of the `probes` cells
 * nearest to each user's query, plus the transition prior's successors of the last item, with the
 * model's exact scores; an item outside them is missed. Searching every list gives the exact
 * answer. Calls with MT_RECOMMEND_EXACT, MT_RECOMMEND_INCLUDE_UNTRAINED (untrained items are not
 * indexed) or an `allowed` list rank every item, and so does a user whose searched items hold fewer
 * than top_n recommendable ones. mt_model_evaluate always ranks exactly. When the model changes
 * (training, restore, set tensor) the next recommend rebuilds the index. Not saved in checkpoints. */
typedef struct mt_index_settings {
    uint32_t struct_size;   /* sizeof(mt_index_settings) */
    uint32_t lists;         /* k-means cells; 0: sqrt(items), at most items / 39 (0) */
    uint32_t probes;        /* cells searched per user, >= 1 (24) */
} mt_index_settings;

mt_index_settings mt_index_settings_default(void);

/* What an attached index holds. */
typedef struct mt_index_info {
    uint32_t struct_size;   /* sizeof(mt_index_info) */
    uint32_t lists;         /* cells built (the setting resolved) */
    uint32_t probes;
    size_t   items;         /* items indexed (the trained ones) */
    size_t   bytes;         /* memory of the centroids and lists */
    double   build_seconds;
    double   imbalance;     /* lists * sum(size^2) / items^2: 1 when all lists are equal; a user's
                             * cost grows with it (queries tend to search the large lists) */
} mt_index_info;

/* Builds the index with `settings` (NULL: mt_index_settings_default()) and attaches it, replacing
 * any; `info` (may be NULL; struct_size set) receives what was built. Fewer than 39 trained items,
 * or scores that cannot be written as distances, is MT_ERR_INVALID_STATE; `lists` above
 * items / 39 is MT_ERR_INVALID_ARGUMENT. Builds as a reader (serving goes on meanwhile; seconds at
 * 10^6 items, or a moment when only `probes` changed on an unchanged model), then holds the model
 * exclusively for a moment to attach it. */
mt_status mt_model_attach_index(mt_model *model, const mt_index_settings *settings, mt_index_info *info);

/* Removes the attached index (none attached is not an error). */
mt_status mt_model_detach_index(mt_model *model);

/* Whether an index is attached into `*attached` (not NULL) and, when one is, what it holds into
 * `info` (may be NULL; struct_size set). A reader. */
mt_status mt_model_index_info(const mt_model *model, int *attached, mt_index_info *info);

/* ---- Checkpoints --------------------------------------------------------------------------------- */
/* One safetensors file: config, vocabulary, parameters (the reference's state_dict names),
 * BatchNorm running statistics, Adam state, step, and an XXH3-64 checksum of every tensor and of
 * the metadata. Saving is atomic (temporary file + rename); loading validates everything and
 * fails with MT_ERR_BAD_CHECKPOINT on damage: structure, checksums (files without them, older
 * ones or the reference's own state_dict, load without that check), and every value by meaning:
 * finite; parameters |x| <= 1e15; Adam's second moments in [0, 1e30] and first moments within
 * 8 sqrt(second); running means |x| <= 1e30 and variances in [0, 1e30]. What mt_model_save
 * writes, mt_model_load reads. */

/* Saving writes `.NAME.tmp-PID-RANDOM` in the target's folder (NAME cut so that it fits the file
 * system's name limit: any legal file name, up to NAME_MAX bytes, can be saved to), flushes it to
 * disk and renames it over `path`: after a crash `path` holds the old or the new checkpoint.
 * Before anything is created, a path that cannot name a file fails: empty, ending in '/', or
 * whose last component is "." or ".." (MT_ERR_INVALID_ARGUMENT), an existing directory
 * (MT_ERR_IO), or a name longer than the file system allows (MT_ERR_INVALID_ARGUMENT). */
mt_status mt_model_save(const mt_model *model, const char *path);
mt_status mt_model_load(const char *path, mt_model **out);

/* The same checkpoint in memory, to ship a model to another process (pickling, a distributed
 * engine's workers) or keep it in a database. mt_model_save_bytes allocates *data (malloc) and
 * writes its length into *size: the bytes mt_model_save would write to a file; free them with
 * mt_bytes_free. mt_model_load_bytes validates `size` bytes at `data` exactly as mt_model_load
 * validates a file (MT_ERR_BAD_CHECKPOINT on damage) and does not keep them. */
mt_status mt_model_save_bytes(const mt_model *model, uint8_t **data, size_t *size);
mt_status mt_model_load_bytes(const uint8_t *data, size_t size, mt_model **out);
void mt_bytes_free(uint8_t *data);

/* Loading for serving only: the same checks, but Adam's moments are not read (their pages are
 * never touched), so the model takes about a third of the memory (the moments are two thirds of
 * its floats: ~0.8 instead of ~2.4 KB per item at dim 100 with tail embeddings). It recommends,
 * scores and evaluates exactly as the fully loaded model, bit for bit; training (mt_model_train,
 * mt_model_train_with_progress, mt_model_fit) and saving (mt_model_save, mt_model_save_bytes) are
 * MT_ERR_INVALID_STATE. mt_model_serving_only tells which kind a model is (`*serving_only`, not
 * NULL, 1 or 0). */
mt_status mt_model_load_for_serving(const char *path, mt_model **out);
mt_status mt_model_load_bytes_for_serving(const uint8_t *data, size_t size, mt_model **out);
mt_status mt_model_serving_only(const mt_model *model, int *serving_only);

/* ---- Cold-start split ---------------------------------------------------------------------- */

/* How mt_split_files splits one interaction log into training users and new users. */
typedef struct mt_split_options {
    uint32_t    struct_size;             /* sizeof(mt_split_options) */
    int32_t     cut_by_time;             /* nonzero: the cut is cut_time; 0: new_user_fraction (0) */
    double      cut_time;                /* users first active at or after it are new (0) */
    double      new_user_fraction;       /* in (0, 1): the fraction of users that are new (0.2) */
    int32_t     min_train_interactions;  /* training users with fewer are dropped (2) */
    int32_t     min_new_interactions;    /* new users with fewer are dropped (4: K + 1 for K = 3) */
    const char *columns;                 /* "user,item,timestamp" by header name or 0-based
                                          * position, e.g. "userId,movieId,timestamp" or "0,1,3";
                                          * NULL: found from the header (NULL) */
    uint64_t    max_file_bytes;          /* as mt_dataset_options (MT_DEFAULT_MAX_FILE_BYTES) */
} mt_split_options;

/* What mt_split_files wrote. */
typedef struct mt_split_info {
    uint32_t struct_size;                /* sizeof(mt_split_info) */
    double   cut_time;                   /* the cut used (given or found from the fraction) */
    int64_t  train_users;
    int64_t  train_interactions;
    int64_t  new_users;
    int64_t  new_interactions;
    int64_t  dropped_train_users;        /* too short a history */
    int64_t  dropped_new_users;
    int64_t  new_items_not_in_training;  /* distinct items of new users no training user has */
} mt_split_info;

/* The defaults above. */
mt_split_options mt_split_options_default(void);
/* Zero counts with struct_size set. */
mt_split_info mt_split_info_default(void);

/* The paper's cold-start split of one interaction log (`input`: CSV or TSV, the delimiter found
 * from the first line; a header naming the columns (user/user_id/userId/reviewerID,
 * item/item_id/movieId/asin, timestamp/time/ts/unixReviewTime, RecBole's typed name:type headers), other columns
 * ignored; ids integers or strings; times numbers or ISO 8601 dates, as seconds since 1970).
 * Users whose first interaction is before the cut are training users (all their interactions
 * kept), the others new users; users with too short a history are dropped. Writes `train_out`
 * and `test_out` (user<TAB>item<TAB>timestamp, sorted by user then time; each written to a
 * temporary file and renamed), the files mt_dataset_load reads. `options` may be NULL for the
 * defaults; `info` may be NULL, else its struct_size must be set (mt_split_info_default). */
mt_status mt_split_files(const char *input, const char *train_out, const char *test_out,
                         const mt_split_options *options, mt_split_info *info);

/* The same split of rows in memory (`log`; ids integers or strings, see mt_interactions; the
 * options' columns and max_file_bytes are not used), made straight into a dataset with
 * `dataset_options` (NULL for the defaults): what mt_split_files then mt_dataset_load give.
 * `options` and `info` may be NULL. */
mt_status mt_dataset_split(const mt_interactions *log, const mt_split_options *options,
                           const mt_dataset_options *dataset_options, mt_dataset **out, mt_split_info *info);

/* ---- Threads ------------------------------------------------------------------------------- */

/* Ends the worker threads of the pool (see "The process"): stops them, joins them and frees
 * their stacks. The next parallel loop starts them again; results do not change. Safe from any
 * thread at any time: it waits for a parallel loop running on another thread (one loop, usually
 * milliseconds), and a training call running meanwhile goes on, starting new workers at its next
 * loop. */
void mt_threads_release(void);

#ifdef __cplusplus
}
#endif

#endif /* METATL_H */
