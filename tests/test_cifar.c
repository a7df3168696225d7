/* CIFAR-10 reader: good files load in order with exact bytes; truncated, empty, missing and
 * bad-label files are refused with RN_ERR_INPUT and one message naming the file; the real test
 * batch (when present) has 10000 images with labels in range. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/cifar.h"
#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "testutil.h"

static const char *dir;

/* stderr goes to a file between capture_begin and capture_end, which returns what was written. */
static int capture_begin(void)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static char *capture_end(int saved)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/stderr.txt", dir);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n;
    char *s = rn_read_file(p, &n);
    return s ? s : strdup("");
}

/* n records; record i has label (first + i) % 10 and pixel bytes (first*7 + i*3 + k) & 255. */
static void make_records(uint8_t *buf, size_t n, int first)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t *r = buf + i * RN_CIFAR_RECORD;
        r[0] = (uint8_t)((first + (int)i) % 10);
        for (int k = 0; k < RN_CIFAR_IMAGE; k++) r[1 + k] = (uint8_t)(first * 7 + i * 3 + k);
    }
}

static void write_records(const char *name, size_t n, int first, size_t extra_bytes)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    size_t bytes = n * RN_CIFAR_RECORD + extra_bytes;
    uint8_t *buf = calloc(1, bytes + 1);
    make_records(buf, n, first);
    if (rn_write_file_atomic(p, buf, bytes) != 0) {
        fprintf(stderr, "test: cannot write %s\n", p);
        exit(1);
    }
    free(buf);
}

static void check_good(void)
{
    write_records("data_batch_1.bin", 3, 0, 0);
    write_records("data_batch_2.bin", 2, 3, 0);
    write_records("test_batch.bin", 4, 5, 0);
    rn_cifar d;
    TU_CHECK(rn_cifar_load_train(&d, dir) == RN_OK, "train files load");
    TU_CHECK(d.n == 5, "train has 3+2 images (got %zu)", d.n);
    uint8_t expect[5 * RN_CIFAR_RECORD];
    make_records(expect, 3, 0);
    make_records(expect + 3 * RN_CIFAR_RECORD, 2, 3);
    int same = d.n == 5;
    for (size_t i = 0; same && i < 5; i++)
        same = d.labels[i] == expect[i * RN_CIFAR_RECORD] &&
               memcmp(d.pixels + i * RN_CIFAR_IMAGE, expect + i * RN_CIFAR_RECORD + 1,
                      RN_CIFAR_IMAGE) == 0;
    TU_CHECK(same, "train labels and pixels equal the files' bytes, batch 1 before batch 2");
    rn_cifar_limit(&d, 2);
    TU_CHECK(d.n == 2 && d.labels[1] == 1, "limit keeps the first 2 images");
    rn_cifar_limit(&d, 100);
    TU_CHECK(d.n == 2, "limit above n changes nothing");
    rn_cifar_free(&d);
    TU_CHECK(d.n == 0 && d.pixels == NULL, "free empties the struct");

    TU_CHECK(rn_cifar_load_test(&d, dir) == RN_OK && d.n == 4 && d.labels[0] == 5 &&
                 d.labels[3] == 8,
             "test_batch.bin loads 4 images with labels 5..8");
    rn_cifar_free(&d);
}

/* Loads one file expecting RN_ERR_INPUT and a message naming it and containing `word`. */
static void check_refused(const char *name, const char *word, const char *what)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    const char *paths[1] = {p};
    rn_cifar d;
    int saved = capture_begin();
    int rc = rn_cifar_load_files(&d, paths, 1);
    char *msg = capture_end(saved);
    TU_CHECK(rc == RN_ERR_INPUT, "%s: refused with RN_ERR_INPUT (got %d)", what, rc);
    TU_CHECK(d.n == 0 && d.labels == NULL, "%s: nothing left loaded", what);
    TU_CHECK(strstr(msg, "rn50cl: error: ") == msg && strstr(msg, p) && strstr(msg, word),
             "%s: message names the file and says '%s' (got: %s)", what, word, msg);
    TU_CHECK(strchr(msg, '\n') == msg + strlen(msg) - 1, "%s: message is one line", what);
    free(msg);
}

static void check_bad_files(void)
{
    write_records("trunc.bin", 2, 0, 100);
    check_refused("trunc.bin", "truncated", "truncated file");
    check_refused("missing.bin", "cannot read", "missing file");
    write_records("empty.bin", 0, 0, 0);
    check_refused("empty.bin", "empty", "empty file");

    char p[1200];
    snprintf(p, sizeof p, "%s/badlabel.bin", dir);
    uint8_t *buf = calloc(3, RN_CIFAR_RECORD);
    make_records(buf, 3, 0);
    buf[2 * RN_CIFAR_RECORD] = 10;
    rn_write_file_atomic(p, buf, 3 * RN_CIFAR_RECORD);
    free(buf);
    check_refused("badlabel.bin", "record 2", "label 10 in record 2");
    check_refused("badlabel.bin", "label 10", "label value named");

    /* A good file after a bad one must not hide the error. */
    char good[1200];
    snprintf(good, sizeof good, "%s/data_batch_1.bin", dir);
    const char *paths[2] = {good, p};
    rn_cifar d;
    int saved = capture_begin();
    int rc = rn_cifar_load_files(&d, paths, 2);
    free(capture_end(saved));
    TU_CHECK(rc == RN_ERR_INPUT && d.n == 0, "a bad second file fails the whole load");

    const char *empty_dir = tu_tmpdir("cifar-empty");
    saved = capture_begin();
    rc = rn_cifar_load_train(&d, empty_dir);
    char *msg = capture_end(saved);
    TU_CHECK(rc == RN_ERR_INPUT && strstr(msg, empty_dir) && strstr(msg, "data_batch"),
             "folder without data_batch_*.bin refused, naming it (got: %s)", msg);
    free(msg);
}

static void check_class_names(void)
{
    char names[10][32];
    int saved = capture_begin();
    rn_cifar_class_names(dir, names);
    char *msg = capture_end(saved);
    TU_CHECK(strcmp(names[0], "airplane") == 0 && strcmp(names[9], "truck") == 0,
             "missing meta file falls back to the standard names");
    TU_CHECK(strstr(msg, "warning") && strstr(msg, "batches.meta.txt"),
             "fallback prints a warning naming batches.meta.txt (got: %s)", msg);
    free(msg);

    char p[1200];
    snprintf(p, sizeof p, "%s/batches.meta.txt", dir);
    const char *meta = "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nlast one\n\n";
    rn_write_file_atomic(p, meta, strlen(meta));
    saved = capture_begin();
    rn_cifar_class_names(dir, names);
    msg = capture_end(saved);
    TU_CHECK(strcmp(names[0], "c0") == 0 && strcmp(names[9], "last one") == 0 && !*msg,
             "names come from batches.meta.txt, silently");
    free(msg);
}

static void check_real_data(void)
{
    const char *real = getenv("RN50CL_REAL_DATA");
    char p[4096];
    snprintf(p, sizeof p, "%s/test_batch.bin", real ? real : "");
    if (!real || access(p, R_OK) != 0) {
        printf("note: real CIFAR-10 not found at %s; real-data checks not run\n", p);
        return;
    }
    FILE *f = fopen(p, "rb");
    int first = f ? fgetc(f) : -1;
    if (f) fclose(f);
    rn_cifar d;
    TU_CHECK(rn_cifar_load_test(&d, real) == RN_OK, "real test_batch.bin loads");
    TU_CHECK(d.n == 10000, "real test batch has 10000 images (got %zu)", d.n);
    int in_range = 1;
    for (size_t i = 0; i < d.n; i++) in_range &= d.labels[i] < 10;
    TU_CHECK(in_range, "real labels are 0..9");
    TU_CHECK(d.n && d.labels[0] == first, "first label equals the file's first byte");
    rn_cifar_free(&d);
    char names[10][32];
    rn_cifar_class_names(real, names);
    TU_CHECK(strcmp(names[0], "airplane") == 0 && strcmp(names[9], "truck") == 0,
             "real batches.meta.txt gives airplane..truck");
}

int main(void)
{
    dir = tu_tmpdir("cifar");
    check_good();
    check_bad_files();
    check_class_names();
    check_real_data();
    return tu_finish("test_cifar");
}
