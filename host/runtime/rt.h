/* The runtime every op uses: one context/queue on the selected device, all kernel programs built
 * once at start-up (embedded sources, on-disk binary cache), kernels looked up by name, buffer and
 * launch helpers, and the CLBlast SGEMM wrapper. Single host thread drives the queue. */
#ifndef RN_RT_H
#define RN_RT_H

#include <CL/cl.h>
#include <stddef.h>
#include <stdio.h>

#include "runtime/clcheck.h"
#include "runtime/device.h"

#define RN_MAX_PROGRAMS 32
#define RN_MAX_KERNELS 256
#define RN_MAX_PROF 64

/* Time per kernel name, when profiling is on. A whole GEMM (its helper kernels included) is one
 * entry per back-end, both named with the prefix RN_PROF_GEMM. */
#define RN_PROF_GEMM "sgemm"
#define RN_PROF_GEMM_CLBLAST "sgemm/clblast"
#define RN_PROF_GEMM_OWN "sgemm/rn50cl"
typedef struct rn_prof_entry {
    char name[64];
    double ms;
    long calls;
} rn_prof_entry;

/* Everything a caller decides about a context. The runtime reads no environment: the rn50cl and
 * cl_bench executables fill this from theirs and their flags (host/cli/env.c), tests set fields.
 * A zeroed struct (or NULL) means: default device, banner printed, stored GEMM parameters
 * applied, no profiling, embedded kernels, and no on-disk cache. */
typedef struct rn_ctx_options {
    const char *device;      /* selection (see rn_device_select); NULL or "": the default */
    const char *device_from; /* how errors name the selection's origin; NULL: "--device" */
    const char *kernel_dir;  /* .cl sources from this folder, not the built-in ones */
    const char *cache_dir;   /* program binaries and stored GEMM parameters; NULL: none */
    int quiet;               /* no device banner and no "GEMM parameters applied" line */
    int no_tune;             /* do not apply (or search) stored GEMM parameters */
    int no_cache;            /* never read or write compiled program binaries */
    int profile;             /* time every launch (serialises the queue) */
} rn_ctx_options;

/* One rn_sgemm call's shape, as an op issues it (offsets aside). */
typedef struct rn_gemm_shape {
    int ta, tb;
    size_t M, N, K, lda, ldb, ldc;
    float beta;
} rn_gemm_shape;

/* rn50cl's own GEMM kernels (cl/gemm.cl) for one shape, with the parameters the tuner chose:
 * the tile (RN_TILE_*), the order tiles are handed out in (m_fast: down M first, so a column
 * panel of B is reused from cache by every row tile) and the K-chunk per launch (cache
 * blocking; later chunks accumulate into C). */
enum {
    RN_TILE_8X16,  /* outer products, 8 rows × 16 columns; Bᵀ is transposed chunk by chunk */
    RN_TILE_8X32,  /* the same, 32 columns: fewer loads per multiply-add, more registers */
    RN_TILE_DOT,   /* Aᵀ·B only: 4×4 dot products along k, neither operand copied */
    RN_TILE_PACK,  /* 8×32 over both operands copied into contiguous panels, chunk by chunk */
    RN_TILE_P4X16, /* the same copies, 4×16 tiles held as float8 pairs: fits 16 AVX2 registers */
    RN_TILE_P6X16, /* the same, 6×16: more multiply-adds per load, 12 of the 16 registers */
    RN_TILE_KINDS
};
#define RN_GEMM_MAX_OWN 128
typedef struct rn_gemm_own {
    rn_gemm_shape s;
    int tile, m_fast;
    size_t kc;
} rn_gemm_own;

typedef struct rn_ctx {
    rn_device_info info;
    cl_context context;
    cl_command_queue queue;
    size_t nprograms;
    cl_program programs[RN_MAX_PROGRAMS];
    char program_names[RN_MAX_PROGRAMS][64];
    size_t nkernels;
    cl_kernel kernels[RN_MAX_KERNELS];
    char kernel_names[RN_MAX_KERNELS][64];
    size_t sub_align;                      /* bytes: sub-buffer origins are multiples of this */
    int cache_hits;                        /* programs loaded from the on-disk binary cache */
    int cache_misses;                      /* programs built from source */
    double startup_seconds;                /* process-visible time to "all programs ready" */
    char cache_dir[4096];                  /* from the options; "" = no on-disk cache */
    int quiet, no_tune, no_cache, profile; /* from the options (see rn_ctx_options) */
    char tuned_on[64]; /* date of the stored GEMM parameters applied at start-up; "" = none */
    int nprof;
    rn_prof_entry prof[RN_MAX_PROF];
    int nown;                         /* shapes that run on rn50cl's own GEMM kernels */
    rn_gemm_own own[RN_GEMM_MAX_OWN]; /* from the stored tuning; every other shape: CLBlast */
    cl_mem gemm_tmp; /* GEMM scratch (CLBlast's padding/transposes, own NT chunks), kept */
    size_t gemm_tmp_bytes;
    int bn_per_channel;     /* batch-norm: one work-item per channel (CPUs; same bits as split) */
    int dense_per_co;       /* dense conv weights: one work-item per output channel (CPUs; same
                             * bits as the pair forms) */
    int layout_per_channel; /* layout kernels (im2col/col2im on whole rows and the projections',
                             * the dense form's rows, the flipped weights): one work-item per
                             * channel (CPUs; same bits as one per image or output channel) */
    int disjoint_grads;     /* every layer's gradients at their own place, as with keep_gradients
                             * (GPUs: NVIDIA's OpenCL crashes releasing overlapping sub-buffers;
                             * CPUs share one layer's place, 81 MiB less; same bits) */
    int implicit_rows4;     /* 3×3/1 convs on 4×4 images gather their columns in the product
                             * (rn_sgemm_rows) on the float16 tiles too, as those on rows of 8 do;
                             * same bits either way */
    int tile_groups;        /* work-groups per compute unit the own GEMM kernels ask for (0: the
                             * runtime's local size; see rn_tile_local) */
} rn_ctx;

/* A CPU whose compiler vectorises across work-items, as its preferred float width of 1 says
 * (Intel's runtime; PoCL prefers vectors and runs work-items one after another). Kernel forms
 * that suit only such a compiler read this. */
int rn_vectorises_work_items(const rn_ctx *ctx);

/* Selects a device (see rn_device_select), creates context + profiling queue and builds every
 * program as opts says (NULL: all defaults). Returns 0, or after a message: RN_ERR_INPUT (bad
 * selection, no OpenCL, an unreadable kernel source) or RN_ERR_INTERNAL (a program that fails to
 * build, with its build log). On failure nothing needs releasing. */
int rn_ctx_create(rn_ctx *ctx, const rn_ctx_options *opts);
void rn_ctx_release(rn_ctx *ctx);

/* The kernel with this name from whichever program defines it; created once, then reused. */
cl_kernel rn_kernel(rn_ctx *ctx, const char *name);

/* Kernel arguments set one by one with an incrementing index. */
typedef struct {
    cl_kernel k;
    cl_uint i;
} rn_args;
rn_args rn_args_begin(cl_kernel k);
void rn_arg_mem(rn_args *a, cl_mem m);
void rn_arg_int(rn_args *a, int v);
void rn_arg_float(rn_args *a, float v);
void rn_arg_local(rn_args *a, size_t bytes);

/* 1-D launch of n work-items (global rounded up to `local`; kernels guard i >= n). local 0 = 64. */
void rn_launch1d(rn_ctx *ctx, cl_kernel k, size_t n, size_t local);
/* 2-D launch, global {n0, n1} rounded up to {l0, l1}. */
void rn_launch2d(rn_ctx *ctx, cl_kernel k, size_t n0, size_t n1, size_t l0, size_t l1);

/* Buffers, sizes in bytes. rn_buffer returns NULL after one sentence naming the size and the
 * device (the caller returns RN_ERR_INPUT); rn_buffer_try returns NULL silently so callers can
 * turn a failed allocation into advice ("lower --batch-size"). */
cl_mem rn_buffer(rn_ctx *ctx, size_t bytes);
cl_mem rn_buffer_try(rn_ctx *ctx, size_t bytes, cl_int *err);
cl_mem rn_subbuffer(rn_ctx *ctx, cl_mem parent, size_t offset_bytes, size_t bytes);
void rn_write(rn_ctx *ctx, cl_mem m, size_t offset_bytes, size_t bytes, const void *src);
void rn_read(rn_ctx *ctx, cl_mem m, size_t offset_bytes, size_t bytes, void *dst);
void rn_release(cl_mem *m); /* releases and NULLs; NULL is fine */
void rn_finish(rn_ctx *ctx);

/* out[0..n) = value, on the device (kernel rn_fill_fwd). */
void rn_fill(rn_ctx *ctx, cl_mem out, size_t n, float value);

/* Row-major C[M×N] = alpha·op(A)·op(B) + beta·C (runtime/gemm.c); offsets and leading dimensions
 * in elements. ta/tb: 0 = as stored, 1 = transposed. Runs on rn50cl's own kernels when ctx->own
 * names this shape, else through CLBlastSgemm. The scratch grows as needed; a growth the device
 * refuses mid-step is fatal, so setup reserves it (rn_gemm_reserve). */
void rn_sgemm(rn_ctx *ctx, int ta, int tb, size_t M, size_t N, size_t K, float alpha, cl_mem A,
              size_t a_off, size_t lda, cl_mem B, size_t b_off, size_t ldb, float beta, cl_mem C,
              size_t c_off, size_t ldc);

/* The product s of a 3×3 conv at stride 1, padding 1, on images of H rows of `width` (8 with H
 * a multiple of 4, or 4 with H = 4), or of a 7×7 conv at stride 2, padding 3, on 32×32 images
 * (width 32, the stem), with the conv's im2col columns of images n0 .. n0 + (its columns)/(output
 * positions of an image) − 1 of x[Cin][Nimg][H][width] gathered as the product loads them
 * (rn_gemm_row8_fwd and kin, cl/gemm.cl) instead of written out: the forward (NN) C[M × N] at
 * c_off = A[M × K] · columns, or the weight gradient (NT) C[M × N] = A[M × K] at a_off ·
 * columnsᵀ (rn_gemm_nt_row8_fwd and kin). Only when the stored choice for s names the
 * own kernels (forward on 4×4 images: the 4×16 or 6×16 tile, or any where ctx->implicit_rows4;
 * weight gradient: the dot tile, K-chunks of whole 16s); the bits are then those of im2col
 * followed by that product. Returns 1, or 0 having done nothing (no such choice; the caller runs
 * im2col + rn_sgemm). */
int rn_sgemm_rows(rn_ctx *ctx, const rn_gemm_shape *s, cl_mem A, size_t a_off, cl_mem x, int Cin,
                  int Nimg, int H, int width, int n0, cl_mem C, size_t c_off);
/* Whether rn_sgemm_rows would run s (with these Cin, width and offsets) rather than return 0. */
int rn_sgemm_rows_fits(rn_ctx *ctx, const rn_gemm_shape *s, int Cin, int width, size_t a_off,
                       size_t c_off);

/* The local size of an own GEMM kernel k's 2-D grid `global` (the tiles, and the packs and
 * transposes before them): NULL (the runtime's choice) unless ctx->tile_groups asks for that many
 * work-groups per compute unit, which the runtime can hand out to whichever core is free. Then
 * local = (global[0] / d, 1), d the least divisor of global[0] that makes enough groups within
 * k's largest group, so a group walks dim 0 as the runtime's own groups did; NULL where no d
 * does, or where that d makes more than 64 times the groups asked for. The tiles are
 * independent: the bits do not depend on it. */
const size_t *rn_tile_local(const rn_ctx *ctx, cl_kernel k, const size_t *global, size_t *local);

int rn_gemm_shape_equal(const rn_gemm_shape *a, const rn_gemm_shape *b);
double rn_gemm_flops(const rn_gemm_shape *s); /* 2·M·N·K */

/* Grows the GEMM scratch to what s needs on the back-end chosen for it, so that the steps after
 * it never allocate. RN_OK, or RN_ERR_INPUT with the device's refusal in *err and nothing printed
 * (the caller knows what advice to give). */
int rn_gemm_reserve(rn_ctx *ctx, const rn_gemm_shape *s, cl_int *err);

/* Whether the own kernels can run o: not both operands transposed (the dot tile: only B), the
 * tile fits (M ≥ 8 and N ≥ its width; 4 × 4 for the dot tile), kc ≥ 1,
 * consistent leading dimensions, every index within int. */
int rn_gemm_own_valid(const rn_gemm_own *o);
/* The GEMM scratch o's product needs (copies of operands, one K-chunk at a time). */
size_t rn_gemm_own_scratch_bytes(const rn_gemm_own *o);
/* The choice for this shape (any beta) among own[0..n), or NULL (CLBlast). */
const rn_gemm_own *rn_gemm_own_lookup(const rn_gemm_own *own, int n, const rn_gemm_shape *s);
/* The stored choice for this shape (rn_gemm_own_lookup on ctx->own). */
const rn_gemm_own *rn_gemm_own_find(const rn_ctx *ctx, const rn_gemm_shape *s);
/* What rn_gemm_own_only replaced: ctx's first stored own choice and their count. */
typedef struct rn_gemm_own_swap {
    rn_gemm_own own0;
    int nown;
} rn_gemm_own_swap;
/* Replaces ctx's stored own choices by o alone (o NULL: none) until rn_gemm_own_restore, so that
 * every call (rn_sgemm_rows too) runs as a step would with o stored. */
rn_gemm_own_swap rn_gemm_own_only(rn_ctx *ctx, const rn_gemm_own *o);
void rn_gemm_own_restore(rn_ctx *ctx, rn_gemm_own_swap w);
/* o's product on the own kernels whatever ctx->own says (the tuner times candidates with it);
 * its shape's leading dimensions and beta apply. o must be valid. */
void rn_sgemm_own(rn_ctx *ctx, const rn_gemm_own *o, float alpha, cl_mem A, size_t a_off, cl_mem B,
                  size_t b_off, cl_mem C, size_t c_off);
int rn_gemm_own_reserve(rn_ctx *ctx, const rn_gemm_own *o, cl_int *err);

/* Profiling: clears the table; prints it sorted by time with shares of the total. Kernel times
 * come from OpenCL events; a GEMM's time is the wall time of the whole CLBlast routine (its
 * helper kernels included) between two clFinish calls. */
void rn_profile_reset(rn_ctx *ctx);
void rn_profile_print(const rn_ctx *ctx, FILE *f);
void rn_profile_add(rn_ctx *ctx, const char *name, double ms);
/* Sum of the profiled time of entries whose name starts with prefix ("" for all), in ms. */
double rn_profile_ms(const rn_ctx *ctx, const char *prefix);

/* Seconds on a monotonic clock. */
double rn_now(void);

#endif
