/* Kernel programs: the embedded cl/ sources (or a folder of them, the kernel_dir option), the one
 * set of build options, and the on-disk program-binary cache keyed by source, options, device,
 * driver and platform. */
#ifndef RN_PROGRAM_H
#define RN_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "runtime/rt.h"

#define RN_CACHE_FORMAT_VERSION 1

typedef struct rn_source {
    const char *name; /* file name, e.g. "im2col.cl" */
    const char *text;
    size_t size;
} rn_source;

size_t rn_embedded_count(void);
rn_source rn_embedded_source(size_t i);

/* Reads the source of `name` from kernel_dir if given (not NULL or ""), else the embedded copy.
 * Returns malloc'd text (caller frees) and its size, or NULL with a message. */
char *rn_source_load(const char *kernel_dir, const char *name, size_t *size);

/* The build options every program gets (no fast-math flags). */
const char *rn_build_options(void);

/* 64-bit FNV-1a, chained: h = rn_hash64(h, data, n) starting from RN_HASH_SEED. */
#define RN_HASH_SEED 0xcbf29ce484222325ull
uint64_t rn_hash64(uint64_t h, const void *data, size_t n);

/* Builds (or loads from the cache in ctx->cache_dir) every program into ctx, sources from
 * kernel_dir or the embedded ones. Returns RN_OK; RN_ERR_INPUT after a message when a source
 * cannot be read; RN_ERR_INTERNAL after the file name and full build log when one fails to build.
 * The programs built before a failure stay in ctx for rn_ctx_release. */
int rn_programs_build_all(rn_ctx *ctx, const char *kernel_dir);

/* One program from source text named `name` (in messages and the cache file name): loaded from
 * the cache when a binary for this source, device and driver is there, else built and stored.
 * NULL after the build log when it fails to build. */
cl_program rn_program_build(rn_ctx *ctx, const char *name, const char *text, size_t size);

/* Cache file path for a program source on ctx's device (for tests and diagnostics). */
void rn_program_cache_path(const rn_ctx *ctx, const char *name, const char *text, size_t size,
                           char *path, size_t len);

#endif
