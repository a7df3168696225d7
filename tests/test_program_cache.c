/* Proves the program-binary cache: a cold start builds and stores every program, a warm start
 * loads every one, a corrupt, truncated or foreign cache file is never trusted (rebuilt from
 * source and replaced), the no_cache option writes nothing, and the embedded sources equal cl/. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fsutil.h"
#include "runtime/program.h"
#include "testutil.h"

static int count_files(const char *dir)
{
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/programs", dir);
    DIR *d = opendir(sub);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".bin") && !strstr(e->d_name, ".tmp")) n++;
    closedir(d);
    return n;
}

/* Every context of this test: quiet, the built-in kernels, a cache folder of its own (the device
 * is set in main). */
static rn_ctx_options g_opts = {.quiet = 1};

static rn_ctx start(void)
{
    rn_ctx ctx;
    if (rn_ctx_create(&ctx, &g_opts) != 0) exit(1);
    return ctx;
}

static void cache_path_of(rn_ctx *ctx, size_t i, char *path, size_t len)
{
    rn_source s = rn_embedded_source(i);
    rn_program_cache_path(ctx, s.name, s.text, s.size, path, len);
}

/* Changes the cache file of program 0 with `mangle`, then checks a fresh start rebuilds exactly
 * that program from source and leaves a valid file that the next start loads. */
static void check_untrusted(const char *what, void (*mangle)(const char *path))
{
    rn_ctx ctx = start();
    char path[4096];
    cache_path_of(&ctx, 0, path, sizeof path);
    rn_ctx_release(&ctx);
    mangle(path);
    ctx = start();
    size_t np = ctx.nprograms;
    TU_CHECK(ctx.cache_misses == 1 && ctx.cache_hits == (int)np - 1,
             "%s cache file is rebuilt from source (misses %d, hits %d)", what, ctx.cache_misses,
             ctx.cache_hits);
    rn_ctx_release(&ctx);
    ctx = start();
    TU_CHECK(ctx.cache_hits == (int)np, "%s cache file was replaced by a valid one", what);
    rn_ctx_release(&ctx);
}

static void flip_payload(const char *path)
{
    size_t n;
    unsigned char *b = rn_read_file(path, &n);
    b[n - 1] ^= 0x5a;
    b[n / 2] ^= 0xff;
    rn_write_file_atomic(path, b, n);
    free(b);
}

static void truncate_half(const char *path)
{
    size_t n;
    unsigned char *b = rn_read_file(path, &n);
    rn_write_file_atomic(path, b, n / 2);
    free(b);
}

static void garbage(const char *path)
{
    rn_write_file_atomic(path, "not a program binary at all", 27);
}

static void wrong_key(const char *path)
{
    size_t n;
    unsigned char *b = rn_read_file(path, &n);
    b[16] ^= 1; /* the stored key: a file from another source/device/driver */
    rn_write_file_atomic(path, b, n);
    free(b);
}

static void test_embedded_equals_files(void)
{
    const char *src = getenv("RN50CL_SOURCE_DIR");
    TU_CHECK(src != NULL, "RN50CL_SOURCE_DIR is set");
    if (!src) return;
    TU_CHECK(rn_embedded_count() >= 1, "at least one embedded program");
    for (size_t i = 0; i < rn_embedded_count(); i++) {
        rn_source s = rn_embedded_source(i);
        char path[4096];
        snprintf(path, sizeof path, "%s/cl/%s", src, s.name);
        size_t n = 0;
        char *text = rn_read_file(path, &n);
        TU_CHECK(text && n == s.size && memcmp(text, s.text, n) == 0,
                 "embedded %s equals cl/%s byte for byte", s.name, s.name);
        free(text);
    }
}

int main(void)
{
    const char *dir = tu_tmpdir("progcache");
    g_opts.cache_dir = dir;
    /* the shared helpers' context uses the same cache, built-in kernels and caching on */
    rn_ctx_options *shared = tu_ctx_options();
    shared->cache_dir = dir;
    shared->kernel_dir = NULL;
    shared->no_cache = 0;
    /* and the same device ($RN50CL_DEVICE), else the two would fill the cache for different ones */
    g_opts.device = shared->device;
    g_opts.device_from = shared->device_from;

    rn_ctx ctx = start();
    int np = (int)ctx.nprograms;
    TU_CHECK(np >= 1 && ctx.cache_misses == np && ctx.cache_hits == 0,
             "cold start builds all %d programs from source", np);
    TU_CHECK(count_files(dir) == np, "cold start stores one cache file per program (%d)",
             count_files(dir));
    rn_ctx_release(&ctx);
    ctx = start();
    TU_CHECK(ctx.cache_hits == np && ctx.cache_misses == 0, "warm start loads all from cache");
    rn_ctx_release(&ctx);

    check_untrusted("corrupt", flip_payload);
    check_untrusted("truncated", truncate_half);
    check_untrusted("garbage", garbage);
    check_untrusted("foreign-key", wrong_key);

    /* A program loaded from the cache must still compute: run the fill kernel from it. */
    rn_ctx *tc = tu_ctx();
    TU_CHECK(tc->cache_hits == np, "shared test context came from the cache");
    cl_mem m = tu_poisoned(77);
    rn_fill(tc, m, 77, 3.0f);
    float got[77];
    double ref[77];
    tu_download(m, got, 77);
    for (int i = 0; i < 77; i++) ref[i] = 3.0;
    tu_compare("kernel from a cached binary runs correctly", got, ref, 77, 0, 0);
    rn_release(&m);

    const char *dir2 = tu_tmpdir("nocache");
    g_opts.cache_dir = dir2;
    g_opts.no_cache = 1;
    ctx = start();
    TU_CHECK(ctx.cache_misses == np && count_files(dir2) == 0,
             "no_cache builds from source and writes nothing");
    rn_ctx_release(&ctx);

    test_embedded_equals_files();
    return tu_finish("test_program_cache");
}
