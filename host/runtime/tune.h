/* CLBlast GEMM parameters for devices CLBlast has no tuned entry for (PoCL on CPUs above all): a
 * budgeted search timed on ResNet50's own GEMM shapes, a small versioned text file per device in
 * the cache folder, and applying that file at start-up with CLBlastOverrideParameters. */
#ifndef RN_TUNE_H
#define RN_TUNE_H

#include <stddef.h>

#include "runtime/rt.h"

#define RN_TUNE_XGEMM_N 16
#define RN_TUNE_DIRECT_N 10
#define RN_TUNE_FORMAT 1

/* Parameter names in CLBlast 1.5's order; values in rn_tune_params use the same order. */
extern const char *const rn_tune_xgemm_names[RN_TUNE_XGEMM_N];
extern const char *const rn_tune_direct_names[RN_TUNE_DIRECT_N];

/* One candidate: which of CLBlast's three GEMM "kernels" it overrides, and the values. */
typedef struct rn_tune_params {
    int has_xgemm, has_direct, has_routine;
    size_t xgemm[RN_TUNE_XGEMM_N];
    size_t direct[RN_TUNE_DIRECT_N];
    size_t min_indirect; /* GemmRoutine XGEMM_MIN_INDIRECT_SIZE: M·N·K < this³ uses XgemmDirect */
} rn_tune_params;

/* CLBlastOverrideParameters for each part present. Returns 0 or the first CLBlast status. */
int rn_tune_params_apply(rn_ctx *ctx, const rn_tune_params *p);

/* "Xgemm MWG=64 NWG=64 ..." etc.; fmt writes one line per part present (no newline at end). */
void rn_tune_params_format(const rn_tune_params *p, char *buf, size_t len);

/* The stored file for this device: <rn_cache_dir()>/tuning/<sanitised device name>.txt */
void rn_tune_path(const rn_ctx *ctx, char *buf, size_t len);

/* Reads and validates a tuning file for ctx's device (format, device name, driver, CLBlast
 * version). Returns 0 and fills *p (and the "tuned" date), or -1 with a reason in why. A file
 * whose search found nothing better than CLBlast's defaults is valid with no part present. */
int rn_tune_load(const rn_ctx *ctx, const char *path, rn_tune_params *p, char *tuned,
                 size_t tuned_len, char *why, size_t why_len);

/* Called at the end of rn_ctx_create: applies the stored file unless ctx->no_tune or
 * $RN50CL_NO_TUNE=1. A corrupt or mismatched file costs one warning line and is ignored. */
void rn_tune_apply(rn_ctx *ctx);

/* Every rn_sgemm shape one ResNet50 training step (forward + backward, 10 classes, the default
 * 64 MiB workspace) issues at this batch, deduplicated; count[i] says how often shape i occurs.
 * Returns the number of distinct shapes; *shapes and *count are malloc'd. */
int rn_tune_resnet50_shapes(int batch, rn_gemm_shape **shapes, int **count);

typedef struct rn_tune_result {
    double gflops_default; /* time-weighted over all shapes, CLBlast's own parameters */
    double gflops_tuned;   /* the same with the winner (== default when nothing beat it) */
    int candidates;        /* candidates timed */
    int rejected;          /* failed to build/run or gave wrong results */
    int interrupted;       /* stopped by SIGINT; what was found so far was still stored */
    double seconds;
    rn_tune_params best;
} rn_tune_result;

/* The search: times CLBlast's defaults, then Xgemm candidates (all shapes through the indirect
 * kernel), XgemmDirect candidates (all through the direct kernel), then picks the switch-over
 * size from the per-shape times, re-measures the combination and checks it against a double
 * reference. Stops at budget_s (or SIGINT) with the best so far, stores it atomically at
 * out_path (NULL: rn_tune_path) and applies it. Progress on stderr unless quiet. Returns 0, or
 * RN_ERR_INPUT when the file cannot be written. */
int rn_tune_run(rn_ctx *ctx, int batch, double budget_s, const char *out_path, int quiet,
                rn_tune_result *res);

/* The one-off quick search `rn50cl train` runs by itself: only on a CPU device (CLBlast ships
 * tuned parameters for common GPUs), only when no usable file is stored for it, only when the run
 * is long (planned_images ≥ RN_TUNE_AUTO_MIN_IMAGES, hours untuned on PoCL, so the search costs
 * ~1% of it), and never with ctx->no_tune or $RN50CL_NO_TUNE=1. Budget RN_TUNE_AUTO_BUDGET_S.
 * Returns 0 (also when skipped); the result is stored and applied like `rn50cl tune`'s. */
#define RN_TUNE_AUTO_MIN_IMAGES 20000.0
#define RN_TUNE_AUTO_BUDGET_S 90.0
int rn_tune_auto(rn_ctx *ctx, int batch, double planned_images);

#endif
