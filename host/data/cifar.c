/* CIFAR-10 reader. Every check that can fail on user data lives here, so a truncated download or a
 * wrong file ends with one sentence naming the file instead of garbage labels or a crash later. */
#include "data/cifar.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"

static const char *const standard_names[RN_CIFAR_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

/* Checks one file's bytes; returns its record count, or 0 after printing why it is unusable. */
static size_t validate_file(const char *path, const uint8_t *buf, size_t size)
{
    if (size == 0) {
        fprintf(stderr,
                "rn50cl: error: %s is empty; download the CIFAR-10 binary version again "
                "(or delete the folder so rn50cl fetches it).\n",
                path);
        return 0;
    }
    if (size % RN_CIFAR_RECORD != 0) {
        fprintf(stderr,
                "rn50cl: error: %s has %zu bytes, which is not a whole number of %d-byte "
                "CIFAR-10 records, so it looks truncated; download it again.\n",
                path, size, RN_CIFAR_RECORD);
        return 0;
    }
    size_t n = size / RN_CIFAR_RECORD;
    for (size_t i = 0; i < n; i++) {
        uint8_t label = buf[i * RN_CIFAR_RECORD];
        if (label >= RN_CIFAR_CLASSES) {
            fprintf(stderr,
                    "rn50cl: error: record %zu of %s has label %u, outside 0-9, so it is not a "
                    "CIFAR-10 binary file; check the --data folder.\n",
                    i, path, (unsigned)label);
            return 0;
        }
    }
    return n;
}

/* Appends the records of buf to *d (whose arrays were sized for the final total). */
static void append_records(rn_cifar *d, const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const uint8_t *rec = buf + i * RN_CIFAR_RECORD;
        d->labels[d->n] = rec[0];
        memcpy(d->pixels + d->n * RN_CIFAR_IMAGE, rec + 1, RN_CIFAR_IMAGE);
        d->n++;
    }
}

static int grow(rn_cifar *d, size_t extra)
{
    size_t total = d->n + extra;
    uint8_t *l = realloc(d->labels, total);
    if (l) d->labels = l;
    uint8_t *p = l ? realloc(d->pixels, total * RN_CIFAR_IMAGE) : NULL;
    if (p) d->pixels = p;
    return l && p ? 0 : -1;
}

int rn_cifar_load_files(rn_cifar *d, const char *const *paths, size_t count)
{
    memset(d, 0, sizeof *d);
    for (size_t f = 0; f < count; f++) {
        size_t size = 0;
        uint8_t *buf = rn_read_file(paths[f], &size);
        if (!buf) {
            fprintf(stderr,
                    "rn50cl: error: cannot read %s (%s); check the path or pass --data with the "
                    "folder that holds the CIFAR-10 .bin files.\n",
                    paths[f], strerror(errno));
            rn_cifar_free(d);
            return RN_ERR_INPUT;
        }
        size_t n = validate_file(paths[f], buf, size);
        if (n == 0 || grow(d, n) != 0) {
            if (n) fprintf(stderr, "rn50cl: error: out of memory reading %s.\n", paths[f]);
            free(buf);
            rn_cifar_free(d);
            return RN_ERR_INPUT;
        }
        append_records(d, buf, n);
        free(buf);
    }
    return RN_OK;
}

static int is_train_batch(const char *name)
{
    size_t len = strlen(name);
    return strncmp(name, "data_batch_", 11) == 0 && len > 15 && strcmp(name + len - 4, ".bin") == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* Full paths of dir's data_batch_*.bin, sorted; -1 after an error message. */
static int list_train_files(const char *dir, char ***out, size_t *count)
{
    DIR *dp = opendir(dir);
    if (!dp) {
        fprintf(stderr,
                "rn50cl: error: cannot open the data folder %s (%s); pass --data with the folder "
                "that holds the CIFAR-10 .bin files.\n",
                dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (!is_train_batch(e->d_name)) continue;
        char **nn = realloc(names, (n + 1) * sizeof *names);
        size_t plen = strlen(dir) + strlen(e->d_name) + 2;
        char *p = nn ? malloc(plen) : NULL;
        if (nn) names = nn;
        if (!p) {
            fprintf(stderr, "rn50cl: error: out of memory listing %s.\n", dir);
            closedir(dp);
            free_strings(names, n);
            return -1;
        }
        snprintf(p, plen, "%s/%s", dir, e->d_name);
        names[n++] = p;
    }
    closedir(dp);
    if (n == 0) {
        fprintf(stderr,
                "rn50cl: error: %s has no data_batch_*.bin files; point --data at the "
                "cifar-10-batches-bin folder of the CIFAR-10 binary version.\n",
                dir);
        free(names);
        return -1;
    }
    qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *count = n;
    return 0;
}

int rn_cifar_load_train(rn_cifar *d, const char *dir)
{
    memset(d, 0, sizeof *d);
    char **files = NULL;
    size_t n = 0;
    if (list_train_files(dir, &files, &n) != 0) return RN_ERR_INPUT;
    int rc = rn_cifar_load_files(d, (const char *const *)files, n);
    free_strings(files, n);
    return rc;
}

int rn_cifar_load_test(rn_cifar *d, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/test_batch.bin", dir);
    const char *paths[1] = {path};
    return rn_cifar_load_files(d, paths, 1);
}

/* Reads up to ten non-empty lines of the meta file; returns how many were usable. */
static int read_meta_names(FILE *f, char names[RN_CIFAR_CLASSES][32])
{
    char line[256];
    int got = 0;
    while (got < RN_CIFAR_CLASSES && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = 0;
        if (len == 0) continue;
        if (len >= 32) return got;
        memcpy(names[got++], line, len + 1);
    }
    return got;
}

void rn_cifar_class_names(const char *dir, char names[RN_CIFAR_CLASSES][32])
{
    char path[4096];
    snprintf(path, sizeof path, "%s/batches.meta.txt", dir);
    FILE *f = fopen(path, "r");
    int got = f ? read_meta_names(f, names) : 0;
    const char *why = f ? "it does not list ten class names" : strerror(errno);
    if (f) fclose(f);
    if (got == RN_CIFAR_CLASSES) return;
    fprintf(stderr, "rn50cl: warning: cannot use %s (%s); using the standard CIFAR-10 names.\n",
            path, why);
    for (int i = 0; i < RN_CIFAR_CLASSES; i++) snprintf(names[i], 32, "%s", standard_names[i]);
}

void rn_cifar_limit(rn_cifar *d, size_t n)
{
    if (n < d->n) d->n = n;
}

void rn_cifar_free(rn_cifar *d)
{
    free(d->labels);
    free(d->pixels);
    memset(d, 0, sizeof *d);
}
