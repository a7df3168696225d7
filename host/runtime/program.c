/* Builds every kernel program once at start-up. Sources are embedded at build time (or read from
 * the kernel_dir option, for kernel work without a rebuild); compiled binaries are cached on disk
 * under a key that covers everything that can change the binary, and any cache problem silently
 * falls back to a source build. */
#include "runtime/program.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rn50cl/rn50cl.h"
#include "base/fsutil.h"

struct rn_embedded_cl {
    const char *name;
    const char *text;
    size_t size;
};
extern const struct rn_embedded_cl rn_embedded_cl_files[];
extern const size_t rn_embedded_cl_count;

/* Cache file = header + binary. The header repeats the key and checksums the payload so that a
 * truncated, corrupt or foreign file is detected before OpenCL ever sees it. */
#define CACHE_MAGIC "RN50CLPB"
typedef struct {
    char magic[8];
    uint32_t format;
    uint32_t reserved;
    uint64_t key;
    uint64_t payload_size;
    uint64_t payload_hash;
} cache_header;

size_t rn_embedded_count(void)
{
    return rn_embedded_cl_count;
}

rn_source rn_embedded_source(size_t i)
{
    rn_source s = {rn_embedded_cl_files[i].name, rn_embedded_cl_files[i].text,
                   rn_embedded_cl_files[i].size};
    return s;
}

char *rn_source_load(const char *dir, const char *name, size_t *size)
{
    if (dir && *dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        char *text = rn_read_file(path, size);
        if (!text)
            fprintf(stderr,
                    "rn50cl: error: cannot read kernel source %s (%s); fix "
                    "RN50CL_KERNEL_DIR or unset it to use the built-in kernels.\n",
                    path, strerror(errno));
        return text;
    }
    for (size_t i = 0; i < rn_embedded_cl_count; i++)
        if (!strcmp(rn_embedded_cl_files[i].name, name)) {
            char *text = malloc(rn_embedded_cl_files[i].size + 1);
            memcpy(text, rn_embedded_cl_files[i].text, rn_embedded_cl_files[i].size);
            text[rn_embedded_cl_files[i].size] = 0;
            *size = rn_embedded_cl_files[i].size;
            return text;
        }
    fprintf(stderr, "rn50cl: error: no built-in kernel source named %s.\n", name);
    return NULL;
}

const char *rn_build_options(void)
{
    /* Deliberately no -cl-fast-relaxed-math / -cl-finite-math-only: loss and batch-norm must see
     * NaN and inf as IEEE says, or a diverging run is not detected. */
    return "-cl-std=CL1.2";
}

uint64_t rn_hash64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    return rn_hash64(h, s, strlen(s) + 1); /* the NUL separates fields */
}

static uint64_t cache_key(const rn_ctx *ctx, const char *text, size_t size)
{
    uint32_t fmt = RN_CACHE_FORMAT_VERSION;
    uint64_t h = rn_hash64(RN_HASH_SEED, &fmt, sizeof fmt);
    h = rn_hash64(h, text, size);
    h = hash_str(h, rn_build_options());
    h = hash_str(h, ctx->info.name);
    h = hash_str(h, ctx->info.driver_version);
    h = hash_str(h, ctx->info.platform_version);
    return h;
}

void rn_program_cache_path(const rn_ctx *ctx, const char *name, const char *text, size_t size,
                           char *path, size_t len)
{
    snprintf(path, len, "%s/programs/%s-%016llx.bin", ctx->cache_dir, name,
             (unsigned long long)cache_key(ctx, text, size));
}

static int cache_disabled(const rn_ctx *ctx)
{
    return ctx->no_cache || !ctx->cache_dir[0];
}

/* Returns a built program from the cache file, or NULL if it is absent or not to be trusted. */
static cl_program cache_load(rn_ctx *ctx, const char *path, uint64_t key)
{
    size_t size;
    unsigned char *buf = rn_read_file(path, &size);
    if (!buf) return NULL;
    cl_program prog = NULL;
    cache_header h;
    if (size < sizeof h) goto out;
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, CACHE_MAGIC, 8) || h.format != RN_CACHE_FORMAT_VERSION || h.key != key ||
        h.payload_size != size - sizeof h || h.payload_size == 0 ||
        h.payload_hash != rn_hash64(RN_HASH_SEED, buf + sizeof h, h.payload_size))
        goto out;
    const unsigned char *bin = buf + sizeof h;
    size_t bin_size = h.payload_size;
    cl_int err, status;
    prog = clCreateProgramWithBinary(ctx->context, 1, &ctx->info.device, &bin_size, &bin, &status,
                                     &err);
    if (err != CL_SUCCESS || status != CL_SUCCESS) {
        if (prog) clReleaseProgram(prog);
        prog = NULL;
        goto out;
    }
    if (clBuildProgram(prog, 1, &ctx->info.device, rn_build_options(), NULL, NULL) != CL_SUCCESS) {
        clReleaseProgram(prog);
        prog = NULL;
    }
out:
    free(buf);
    return prog;
}

static void cache_store(rn_ctx *ctx, cl_program prog, const char *path, uint64_t key)
{
    size_t bin_size = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof bin_size, &bin_size, NULL) !=
            CL_SUCCESS ||
        bin_size == 0)
        return; /* a driver that gives no binary simply is not cached */
    unsigned char *buf = malloc(sizeof(cache_header) + bin_size);
    unsigned char *bin = buf + sizeof(cache_header);
    CL_CHECK(clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL));
    cache_header h = {.format = RN_CACHE_FORMAT_VERSION, .key = key, .payload_size = bin_size};
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.payload_hash = rn_hash64(RN_HASH_SEED, bin, bin_size);
    memcpy(buf, &h, sizeof h);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    if (rn_mkdirs(dir) != 0 || rn_write_file_atomic(path, buf, sizeof h + bin_size) != 0)
        fprintf(stderr,
                "rn50cl: warning: cannot write program cache %s (%s); continuing "
                "without it.\n",
                path, strerror(errno));
    free(buf);
    (void)ctx;
}

/* The program built from source, or NULL after the file name and build log. */
static cl_program build_from_source(rn_ctx *ctx, const char *name, const char *text, size_t size)
{
    cl_int err;
    cl_program prog;
    CL_CHECK((prog = clCreateProgramWithSource(ctx->context, 1, &text, &size, &err), err));
    err = clBuildProgram(prog, 1, &ctx->info.device, rn_build_options(), NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_size = 0;
        clGetProgramBuildInfo(prog, ctx->info.device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
        char *log = calloc(1, log_size + 1);
        clGetProgramBuildInfo(prog, ctx->info.device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL);
        fprintf(stderr,
                "rn50cl: error: kernel program %s failed to build (%s) on %s. Build log:\n%s\n",
                name, rn_cl_error_name(err), ctx->info.name, log);
        free(log);
        clReleaseProgram(prog);
        return NULL;
    }
    return prog;
}

cl_program rn_program_build(rn_ctx *ctx, const char *name, const char *text, size_t size)
{
    char path[4096];
    rn_program_cache_path(ctx, name, text, size, path, sizeof path);
    uint64_t key = cache_key(ctx, text, size);
    if (!cache_disabled(ctx)) {
        cl_program p = cache_load(ctx, path, key);
        if (p) {
            ctx->cache_hits++;
            return p;
        }
    }
    cl_program p = build_from_source(ctx, name, text, size);
    if (!p) return NULL;
    ctx->cache_misses++;
    if (!cache_disabled(ctx)) cache_store(ctx, p, path, key);
    return p;
}

int rn_programs_build_all(rn_ctx *ctx, const char *kernel_dir)
{
    if (rn_embedded_cl_count > RN_MAX_PROGRAMS)
        rn_fatal("more than %d kernel programs", RN_MAX_PROGRAMS);
    for (size_t i = 0; i < rn_embedded_cl_count; i++) {
        const char *name = rn_embedded_cl_files[i].name;
        size_t size;
        char *text = rn_source_load(kernel_dir, name, &size);
        if (!text) return RN_ERR_INPUT;
        cl_program p = rn_program_build(ctx, name, text, size);
        free(text);
        if (!p) return RN_ERR_INTERNAL;
        ctx->programs[ctx->nprograms] = p;
        snprintf(ctx->program_names[ctx->nprograms], sizeof ctx->program_names[0], "%s", name);
        ctx->nprograms++;
    }
    return RN_OK;
}
