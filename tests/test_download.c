/* Dataset location and download, offline: a small CIFAR-style tar.gz is served as a file:// URL.
 * Right MD5 -> unpacked into the cache and found; wrong MD5, missing URL, "../" or absolute
 * entries -> refused with one message and nothing left in the cache. Runs in a temp cache and cwd
 * so the real cache is never touched. The options are built as rn50cl builds them: the fields the
 * environment would fill (g_env) overridden by --data / --data-url (rn_env_flag_data). */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/cifar.h"
#include "data/download.h"
#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"
#include "cli/env.h"
#include "testutil.h"

static char root[1024], cache[1200], final_dir[1300];
static rn_data_options g_env; /* what $RN50CL_DATA, _URL, _MD5 and the cache folder would give */
static uint8_t train_bytes[2 * RN_CIFAR_RECORD], test_bytes[RN_CIFAR_RECORD];

static char *path_in(const char *base, const char *name)
{
    static char p[8][1400];
    static int k;
    char *s = p[k++ % 8];
    snprintf(s, 1400, "%s/%s", base, name);
    return s;
}

static void add_entry(struct archive *a, const char *name, const void *data, size_t n, int dir)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, dir ? 0755 : 0644);
    archive_entry_set_size(e, dir ? 0 : (la_int64_t)n);
    archive_write_header(a, e);
    if (!dir && n) archive_write_data(a, data, n);
    archive_entry_free(e);
}

/* A tar.gz with the CIFAR folder (plus a stray file outside it) and, if evil, one hostile entry. */
static void make_tarball(const char *path, const char *evil)
{
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
        fprintf(stderr, "test: cannot create %s\n", path);
        exit(1);
    }
    add_entry(a, "cifar-10-batches-bin/", NULL, 0, 1);
    add_entry(a, "cifar-10-batches-bin/data_batch_1.bin", train_bytes, sizeof train_bytes, 0);
    if (evil) add_entry(a, evil, "pwned", 5, 0);
    add_entry(a, "cifar-10-batches-bin/test_batch.bin", test_bytes, sizeof test_bytes, 0);
    const char *meta = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
    add_entry(a, "cifar-10-batches-bin/batches.meta.txt", meta, strlen(meta), 0);
    add_entry(a, "readme.html", "<p>", 3, 0);
    archive_write_close(a);
    archive_write_free(a);
}

static int dir_is_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 1;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n == 0;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* rn_data_resolve with --data opt and --data-url url over g_env, stderr captured into *msg
 * (malloc'd). */
static int resolve(const char *opt, const char *url, char *out, char **msg)
{
    rn_data_options o = g_env;
    rn_env_flag_data(&o, opt, url);
    const char *cap = path_in(root, "stderr.txt");
    fflush(stderr);
    int saved = dup(2), fd = open(cap, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
    int rc = rn_data_resolve(&o, out, 4096);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t n;
    *msg = rn_read_file(cap, &n);
    return rc;
}

static void check_md5(const char *tarball)
{
    char hex[33];
    rn_md5_hex("", 0, hex);
    TU_CHECK(strcmp(hex, "d41d8cd98f00b204e9800998ecf8427e") == 0, "md5(\"\")");
    rn_md5_hex("abc", 3, hex);
    TU_CHECK(strcmp(hex, "900150983cd24fb0d6963f7d28e17f72") == 0, "md5(\"abc\")");
    const char *fox = "The quick brown fox jumps over the lazy dog";
    rn_md5_hex(fox, strlen(fox), hex);
    TU_CHECK(strcmp(hex, "9e107d9d372bb6826bd81d3542a419d6") == 0, "md5(fox)");
    char *big = malloc(1000000);
    memset(big, 'a', 1000000);
    rn_md5_hex(big, 1000000, hex);
    free(big);
    TU_CHECK(strcmp(hex, "7707d6ae4e027c70eea2a935c2296f21") == 0, "md5 of a million 'a'");
    const char *d64 =
        "12345678901234567890123456789012345678901234567890123456789012345678901234567890";
    rn_md5_hex(d64, 80, hex);
    TU_CHECK(strcmp(hex, "57edf4a22be3c955ac49da2e2107b67a") == 0, "md5 of 80 digits (RFC 1321)");

    char cmd[1600], *out = NULL;
    snprintf(cmd, sizeof cmd, "md5sum '%s' 2>/dev/null", tarball);
    if (tu_run(cmd, &out) == 0 && out && strlen(out) >= 32) {
        TU_CHECK(rn_md5_file(tarball, hex) == 0 && strncmp(hex, out, 32) == 0,
                 "rn_md5_file agrees with md5sum");
    }
    free(out);
}

static void expect_refused(const char *url, const char *word1, const char *word2, const char *what)
{
    char out[4096], *msg = NULL;
    int rc = resolve(NULL, url, out, &msg);
    TU_CHECK(rc == RN_ERR_INPUT, "%s: RN_ERR_INPUT (got %d)", what, rc);
    TU_CHECK(msg && strstr(msg, "rn50cl: error: ") && strstr(msg, word1) && strstr(msg, word2),
             "%s: message says '%s' and '%s' (got: %s)", what, word1, word2, msg);
    TU_CHECK(!exists(final_dir) && dir_is_empty(cache),
             "%s: no data folder and no temporary files left in the cache", what);
    free(msg);
}

static void check_refusals(const char *good_url, const char *good_md5)
{
    g_env.md5 = NULL;
    expect_refused(good_url, "MD5", RN_CIFAR_MD5, "official MD5 on another file");

    char missing[1500];
    snprintf(missing, sizeof missing, "file://%s/nothing-here.tar.gz", root);
    expect_refused(missing, "nothing-here.tar.gz", "--data", "missing file:// URL");

    char *evil = path_in(root, "evil.tar.gz"), url[1500], hex[33];
    make_tarball(evil, "cifar-10-batches-bin/../../escaped.bin");
    rn_md5_file(evil, hex);
    g_env.md5 = hex;
    snprintf(url, sizeof url, "file://%s", evil);
    expect_refused(url, "..", "escaped.bin", "\"..\" entry");
    TU_CHECK(!exists(path_in(root, "escaped.bin")) && !exists(path_in(cache, "escaped.bin")),
             "the \"..\" entry was not written anywhere");

    make_tarball(evil, "/tmp/rn50cl-absolute-entry.bin");
    rn_md5_file(evil, hex);
    expect_refused(url, "absolute", "rn50cl-absolute-entry.bin", "absolute entry");
    g_env.md5 = good_md5;
}

/* A pid that no process has: a child that has exited and been reaped. */
static long dead_pid(void)
{
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return (long)p;
}

/* What a download and an unpacking killed mid-way leave in the cache, and one that is still in
 * progress in a live process (this test's parent). */
static void plant_temporaries(char *live, size_t n)
{
    long dead = dead_pid();
    char p[1600];
    snprintf(p, sizeof p, "%s/cifar-10-binary.tar.gz.tmp.%ld.AbCdEf", cache, dead);
    rn_write_file_atomic(p, "partial", 7);
    snprintf(p, sizeof p, "%s/cifar-10-batches-bin.tmp.%ld.GhIjKl", cache, dead);
    rn_mkdirs(p);
    rn_write_file_atomic(path_in(p, "data_batch_1.bin"), "partial", 7);
    snprintf(live, n, "%s/cifar-10-binary.tar.gz.tmp.%ld.MnOpQr", cache, (long)getppid());
    rn_write_file_atomic(live, "in progress", 11);
}

static void check_download(const char *good_url)
{
    char out[4096], *msg = NULL, live[1600];
    plant_temporaries(live, sizeof live);
    /* The url argument (--data-url) wins over $RN50CL_DATA_URL. */
    g_env.url = "file:///nonexistent/rn50cl.tar.gz";
    int rc = resolve(NULL, good_url, out, &msg);
    TU_CHECK(rc == RN_OK && strcmp(out, final_dir) == 0,
             "right MD5: unpacked into <cache>/cifar-10-batches-bin (got %d, %s; %s)", rc, out,
             msg);
    free(msg);
    size_t n = 0;
    uint8_t *b = rn_read_file(path_in(final_dir, "data_batch_1.bin"), &n);
    TU_CHECK(b && n == sizeof train_bytes && memcmp(b, train_bytes, n) == 0,
             "data_batch_1.bin unpacked byte for byte");
    free(b);
    TU_CHECK(!exists(path_in(final_dir, "readme.html")) && !exists(path_in(cache, "readme.html")),
             "entries outside cifar-10-batches-bin/ are not unpacked");
    rn_cifar d;
    TU_CHECK(rn_cifar_load_train(&d, out) == RN_OK && d.n == 2, "unpacked data loads");
    rn_cifar_free(&d);
    TU_CHECK(exists(live), "a live writer's temporary file is left alone");
    unlink(live);
    DIR *dp = opendir(cache);
    int others = 0;
    for (struct dirent *e; dp && (e = readdir(dp)) != NULL;)
        others += e->d_name[0] != '.' && strcmp(e->d_name, "cifar-10-batches-bin") != 0;
    if (dp) closedir(dp);
    TU_CHECK(others == 0, "no temporary files left beside the data folder, not even those a killed "
                          "download and unpacking left");

    rc = resolve(NULL, "file:///nonexistent/again.tar.gz", out, &msg);
    TU_CHECK(rc == RN_OK && strcmp(out, final_dir) == 0 && !strstr(msg, "download"),
             "second resolve finds the cache without downloading");
    free(msg);
    g_env.url = NULL;
}

static void check_order(void)
{
    char out[4096], *msg = NULL, missing[1400];
    snprintf(missing, sizeof missing, "%s", path_in(root, "no-such-data"));
    int rc = resolve(missing, NULL, out, &msg);
    TU_CHECK(rc == RN_ERR_INPUT && strstr(msg, missing) && strstr(msg, "--data"),
             "--data without test_batch.bin is an error, not a fall-through (got: %s)", msg);
    free(msg);
    g_env.dir = missing;
    g_env.dir_what = "the $RN50CL_DATA folder";
    rc = resolve(NULL, NULL, out, &msg);
    TU_CHECK(rc == RN_ERR_INPUT && strstr(msg, "RN50CL_DATA") && strstr(msg, missing),
             "$RN50CL_DATA without test_batch.bin is an error (got: %s)", msg);
    free(msg);
    rc = resolve(final_dir, NULL, out, &msg);
    TU_CHECK(rc == RN_OK && strcmp(out, final_dir) == 0, "--data wins over $RN50CL_DATA");
    free(msg);
    g_env.dir = final_dir;
    rc = resolve(NULL, NULL, out, &msg);
    TU_CHECK(rc == RN_OK && strcmp(out, final_dir) == 0, "$RN50CL_DATA used when valid");
    free(msg);
    g_env.dir = NULL;

    rn_mkdirs("datasets-cifar10-bin/cifar-10-batches-bin");
    rn_write_file_atomic("datasets-cifar10-bin/cifar-10-batches-bin/test_batch.bin", test_bytes,
                         sizeof test_bytes);
    rc = resolve(NULL, NULL, out, &msg);
    TU_CHECK(rc == RN_OK && strcmp(out, "./datasets-cifar10-bin/cifar-10-batches-bin") == 0,
             "./datasets-cifar10-bin/cifar-10-batches-bin comes before the cache (got %s)", out);
    free(msg);
}

int main(void)
{
    snprintf(root, sizeof root, "%s", tu_tmpdir("download"));
    snprintf(cache, sizeof cache, "%s/cache", root);
    snprintf(final_dir, sizeof final_dir, "%s/cifar-10-batches-bin", cache);
    rn_mkdirs(cache);
    rn_mkdirs(path_in(root, "cwd"));
    g_env.cache_dir = cache;
    if (chdir(path_in(root, "cwd")) != 0) return 1;

    for (size_t i = 0; i < sizeof train_bytes; i++) train_bytes[i] = (uint8_t)(i * 7);
    train_bytes[0] = 3;
    train_bytes[RN_CIFAR_RECORD] = 9;
    memcpy(test_bytes, train_bytes, sizeof test_bytes);

    char *tarball = path_in(root, "cifar.tar.gz"), good_url[1500], good_md5[33];
    make_tarball(tarball, NULL);
    snprintf(good_url, sizeof good_url, "file://%s", tarball);
    rn_md5_file(tarball, good_md5);
    check_md5(tarball);
    check_refusals(good_url, good_md5);
    check_download(good_url);
    check_order();
    return tu_finish("test_download");
}
