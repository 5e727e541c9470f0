/*
 * The two halves of the kill-during-save test (kill_during_save.sh):
 *
 *   save_loop save PATH     saves model A at PATH, prints "ready", then saves B, A, B, ... over it
 *                           forever, printing the number of each finished save (to be SIGKILLed)
 *   save_loop kill-in-save DIR PID DELAY_US
 *                           waits (inotify) until a save creates its temporary file in DIR, then
 *                           SIGKILLs PID after DELAY_US microseconds: a kill inside the save
 *   save_loop check PATH... each PATH must hold exactly A's or B's checkpoint (byte for byte) and
 *                           load, with A's or B's embeddings and adapted relation; then a save
 *                           next to the temporary files the kills left behind must still work
 *
 * A and B are two models of the same catalogue from different seeds, rebuilt identically by
 * every process (creation is deterministic), so the checker knows both versions.
 */
#include <metatl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

enum { ITEMS = 2000, DIM = 32, L = 4, USERS = ITEMS / L };

static mt_dataset *dataset(void) {
    static int64_t users[USERS * L], items[USERS * L];
    static double ts[USERS * L];
    for (int u = 0, k = 0; u < USERS; u++)
        for (int t = 0; t < L; t++, k++) { users[k] = u; items[k] = u * L + t;   /* every item once */ ts[k] = t; }
    mt_dataset *d = NULL;
    if (mt_dataset_from_arrays(users, items, ts, USERS * L, users, items, ts, USERS * L, 3, 1, &d) != MT_OK) {
        fprintf(stderr, "dataset: %s\n", mt_last_error_message());
        exit(2);
    }
    return d;
}

static mt_model *model(mt_dataset *d, uint64_t seed) {
    mt_config c = mt_config_default();
    c.dim = DIM; c.hidden1 = 16; c.hidden2 = 16; c.batch_size = 16; c.seed = seed;
    mt_model *m = NULL;
    if (mt_model_create(&c, d, &m) != MT_OK) {
        fprintf(stderr, "model: %s\n", mt_last_error_message());
        exit(2);
    }
    return m;
}

static void save(mt_model *m, const char *path) {
    if (mt_model_save(m, path) != MT_OK) {
        fprintf(stderr, "save: %s\n", mt_last_error_message());
        exit(2);
    }
}

static unsigned char *read_file(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)*size + 1);
    if (buf && fread(buf, 1, (size_t)*size, f) != (size_t)*size) { free(buf); buf = NULL; }
    fclose(f);
    return buf;
}

/* A model's identity: its embeddings and the relation it adapts for a fixed history (which
 * goes through every relation-learner weight and running statistic). */
struct identity { float emb[ITEMS * DIM]; float relation[DIM]; };

static int identify(mt_model *m, struct identity *out) {
    static int64_t ids[ITEMS];
    int64_t history[3] = {5, 17, 29};
    return mt_model_items(m, ids, ITEMS, out->emb, ITEMS * DIM) == MT_OK &&
           mt_model_adapt(m, history, 3, out->relation, DIM) == MT_OK;
}

static int check(int argc, char **argv) {
    mt_dataset *d = dataset();
    mt_model *a = model(d, 1), *b = model(d, 2);
    static struct identity ia, ib, got;
    if (!identify(a, &ia) || !identify(b, &ib)) { fprintf(stderr, "identify: %s\n", mt_last_error_message()); return 2; }
    /* The two versions' exact bytes, as this library writes them. */
    char ref[4096];
    snprintf(ref, sizeof ref, "%s.reference", argv[0]);
    long size_a = 0, size_b = 0, size = 0;
    save(a, ref);
    unsigned char *bytes_a = read_file(ref, &size_a);
    save(b, ref);
    unsigned char *bytes_b = read_file(ref, &size_b);
    remove(ref);
    if (!bytes_a || !bytes_b) { fprintf(stderr, "cannot read the reference checkpoints\n"); return 2; }

    int as_a = 0, as_b = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        unsigned char *bytes = read_file(argv[i], &size);
        int is_a = bytes && size == size_a && memcmp(bytes, bytes_a, (size_t)size) == 0;
        int is_b = bytes && size == size_b && memcmp(bytes, bytes_b, (size_t)size) == 0;
        free(bytes);
        mt_model *m = NULL;
        mt_status st = mt_model_load(argv[i], &m);
        int loads = st == MT_OK && identify(m, &got);
        int same = loads && memcmp(&got, is_a ? &ia : &ib, sizeof got) == 0;
        if ((is_a || is_b) && same) {
            as_a += is_a;
            as_b += is_b;
        } else {
            bad++;
            fprintf(stderr, "BROKEN: %s (%ld bytes, equals A: %d, B: %d, load: %s %s)\n", argv[i], size, is_a, is_b,
                    mt_status_name(st), st == MT_OK ? "" : mt_last_error_message());
        }
        mt_model_free(m);
    }
    printf("%d checkpoints checked: %d hold version A, %d version B, %d broken\n", argc - 1, as_a, as_b, bad);

    /* Saving next to the temporary files a kill left behind works, and loads. */
    if (argc > 1) {
        save(b, argv[1]);
        mt_model *m = NULL;
        if (mt_model_load(argv[1], &m) != MT_OK || !identify(m, &got) || memcmp(&got, &ib, sizeof got) != 0) {
            fprintf(stderr, "BROKEN: saving over %s next to stray temporary files\n", argv[1]);
            bad++;
        }
        mt_model_free(m);
    }
    free(bytes_a);
    free(bytes_b);
    mt_model_free(a);
    mt_model_free(b);
    mt_dataset_free(d);
    return bad == 0 ? 0 : 1;
}

/* Kills `pid` `delay_us` after a temporary checkpoint file appears in `dir` (5 s at most). */
static int kill_in_save(const char *dir, pid_t pid, long delay_us) {
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, dir, IN_CREATE) < 0) { perror("inotify"); return 2; }
    int seen = 0;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (!seen) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t n = read(fd, buf, sizeof buf);
        for (char *e = buf; n > 0 && e < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)e;
            if (ev->len > 0 && strncmp(ev->name, ".model.safetensors.tmp-", 23) == 0) seen = 1;
            e += sizeof *ev + ev->len;
        }
    }
    if (seen && delay_us > 0) usleep((useconds_t)delay_us);
    kill(pid, SIGKILL);
    close(fd);
    if (!seen) fprintf(stderr, "kill-in-save: no temporary file appeared in %s within 5 s\n", dir);
    return seen ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "check") == 0) return check(argc - 1, argv + 1);
    if (argc == 5 && strcmp(argv[1], "kill-in-save") == 0) return kill_in_save(argv[2], (pid_t)atol(argv[3]), atol(argv[4]));
    if (argc != 3 || strcmp(argv[1], "save") != 0) {
        fprintf(stderr, "usage: %s save PATH | kill-in-save DIR PID DELAY_US | check PATH...\n", argv[0]);
        return 2;
    }
    mt_dataset *d = dataset();
    mt_model *a = model(d, 1), *b = model(d, 2);
    save(a, argv[2]);
    printf("ready\n");
    fflush(stdout);
    for (unsigned long n = 1;; n++) {
        save(n % 2 ? b : a, argv[2]);
        printf("%lu\n", n);
        fflush(stdout);
    }
}
