/*
 * Contract test of mt_split_files: a hand-made log with known answers (cut by time and by
 * fraction, minimum lengths), the files it writes loading with mt_dataset_load, and misuse
 * (NULL paths, bad options, bad data) returning its status with a message, never crashing.
 */
#include <metatl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int passed, failed;

#define EXPECT(cond)                                                                  \
    do {                                                                              \
        if (cond) passed++;                                                           \
        else { failed++; fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

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

static const char *path_of(const char *name) {
    static char paths[4][512];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static const char *write_file(const char *name, const char *text) {
    const char *path = path_of(name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static char *read_text(const char *path) {
    static char buffer[8192];
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t n = fread(buffer, 1, sizeof buffer - 1, f);
    buffer[n] = 0;
    fclose(f);
    return buffer;
}

/* MovieLens-style: a header, four columns; users 1-3 start before 100, users 4-5 at/after it.
 * User 3 has one interaction; user 5 three. */
static const char *log_text =
    "userId,movieId,rating,timestamp\n"
    "1,10,5,1\n1,11,4,2\n1,12,3,3\n"
    "2,11,5,5\n2,13,1,4\n"
    "3,10,2,50\n"
    "4,10,5,100\n4,14,5,101\n4,11,5,102\n4,12,5,103\n"
    "5,10,1,200\n5,11,1,201\n5,12,1,202\n";

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/metatl-split-test-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", tmpdir);
    if (system(cmd) != 0) return 1;
    const char *input = write_file("ratings.csv", log_text);
    char train[512], test[512];
    snprintf(train, sizeof train, "%s", path_of("x_train.csv"));
    snprintf(test, sizeof test, "%s", path_of("x_test_new_user.csv"));

    /* Defaults. */
    mt_split_options o = mt_split_options_default();
    EXPECT(o.struct_size == sizeof(mt_split_options));
    EXPECT(o.cut_by_time == 0 && o.new_user_fraction == 0.2);
    EXPECT(o.min_train_interactions == 2 && o.min_new_interactions == 4);
    EXPECT(o.columns == NULL && o.max_file_bytes == MT_DEFAULT_MAX_FILE_BYTES);

    /* By time: users 1, 2 train (3 too short), user 4 new (5 too short). */
    o.cut_by_time = 1;
    o.cut_time = 100;
    mt_split_info info = mt_split_info_default();
    EXPECT(info.struct_size == sizeof(mt_split_info));
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_OK, "");
    EXPECT(info.cut_time == 100);
    EXPECT(info.train_users == 2 && info.train_interactions == 5);
    EXPECT(info.new_users == 1 && info.new_interactions == 4);
    EXPECT(info.dropped_train_users == 1 && info.dropped_new_users == 1);
    EXPECT(info.new_items_not_in_training == 1);   /* item 14 */
    const char *t = read_text(train);
    EXPECT(t && strcmp(t, "1\t10\t1\n1\t11\t2\n1\t12\t3\n2\t13\t4\n2\t11\t5\n") == 0);
    t = read_text(test);
    EXPECT(t && strcmp(t, "4\t10\t100\n4\t14\t101\n4\t11\t102\n4\t12\t103\n") == 0);

    /* The files load as a dataset. */
    mt_dataset *d = NULL;
    EXPECT_STATUS(mt_dataset_load(train, test, NULL, &d), MT_OK, "");
    mt_dataset_info di = mt_dataset_info_default();
    if (d) {
        EXPECT(mt_dataset_info_get(d, &di) == MT_OK);
        EXPECT(di.train_users == 2 && di.valid_users + di.test_users == 1 && di.items == 5);
    }
    mt_dataset_free(d);

    /* By fraction (NULL options, NULL info): 0.2 of 5 users is 1, the last to start (user 5),
     * who has 3 < 4 interactions: nobody new to evaluate. */
    EXPECT_STATUS(mt_split_files(input, train, test, NULL, NULL), MT_ERR_INVALID_DATA, "no new user");
    o = mt_split_options_default();
    o.new_user_fraction = 0.4;   /* users 4 and 5 */
    o.min_new_interactions = 3;
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_OK, "");
    EXPECT(info.cut_time == 100 && info.new_users == 2 && info.new_interactions == 7);

    /* Columns by name and by position. */
    o.columns = "userId,movieId,timestamp";
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_OK, "");
    EXPECT(info.new_users == 2);
    o.columns = "0,1,3";
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_OK, "");
    o.columns = "0,1,2";   /* the rating as the time: users first at 3, 1, 2, 5, 1; 0.4 new: 1 and 4 */
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_OK, "");
    EXPECT(info.cut_time == 3 && info.new_users == 2);
    o.columns = "user,item";
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_ERR_INVALID_ARGUMENT, "expected three comma-separated columns");
    o.columns = "userId,film,timestamp";
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_ERR_INVALID_DATA, "ratings.csv:1: the header has no column named 'film'");
    o.columns = "0,1,9";
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_ERR_INVALID_DATA, "column 9 chosen for the timestamp");

    /* Misuse. */
    o = mt_split_options_default();
    EXPECT_STATUS(mt_split_files(NULL, train, test, &o, &info), MT_ERR_INVALID_ARGUMENT, "input is NULL");
    EXPECT_STATUS(mt_split_files(input, NULL, test, &o, &info), MT_ERR_INVALID_ARGUMENT, "train_out is NULL");
    EXPECT_STATUS(mt_split_files(input, train, NULL, &o, &info), MT_ERR_INVALID_ARGUMENT, "test_out is NULL");
    o.new_user_fraction = 1.5;
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_ERR_INVALID_ARGUMENT, "new-user fraction");
    o = mt_split_options_default();
    o.min_new_interactions = 0;
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_ERR_INVALID_ARGUMENT, "minNewInteractions");
    o = mt_split_options_default();
    o.struct_size = 4;
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_ERR_INVALID_ARGUMENT, "options->struct_size is 4");
    mt_split_info small = {0};
    EXPECT_STATUS(mt_split_files(input, train, test, NULL, &small), MT_ERR_INVALID_ARGUMENT, "info->struct_size is 0");
    o = mt_split_options_default();
    o.max_file_bytes = 0;
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_ERR_INVALID_ARGUMENT, "max_file_bytes");
    o.max_file_bytes = 10;
    EXPECT_STATUS(mt_split_files(input, train, test, &o, &info), MT_ERR_INVALID_DATA, "limit");
    EXPECT_STATUS(mt_split_files(path_of("missing.csv"), train, test, NULL, &info), MT_ERR_NOT_FOUND, "no such file");
    const char *bad = write_file("bad.csv", "userId,movieId,rating,timestamp\n1,10,5,1\n1,,4,2\n");
    EXPECT_STATUS(mt_split_files(bad, train, test, NULL, &info), MT_ERR_INVALID_DATA,
                  "bad.csv:3: field 'item' (column movieId): expected an id, found an empty field");
    const char *dates = write_file("dates.tsv", "user_id:token\titem_id:token\ttimestamp:float\n"
                                   "1\t10\t2014-03-01\n1\t11\t2014-03-02T00:00:00Z\n2\t10\t2014-03-01\n2\t11\t2014-03-03\n"
                                   "3\t10\t2014-04-01\n3\t11\t2014-04-02\n3\t12\t2014-04-03\n3\t13\t2014-04-04\n");
    o = mt_split_options_default();
    o.cut_by_time = 1;
    o.cut_time = 1396310400;   /* 2014-04-01T00:00:00Z */
    EXPECT_STATUS(mt_split_files(dates, train, test, &o, &info), MT_OK, "");
    EXPECT(info.train_users == 2 && info.new_users == 1);
    t = read_text(train);
    EXPECT(t && strncmp(t, "1\t10\t1393632000\n1\t11\t1393718400\n", 32) == 0);

    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("split_test: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
