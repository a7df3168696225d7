/* Stored GEMM choices for devices CLBlast has no tuned entry for (CPUs above all): a small
 * versioned text file per device in the cache folder holding CLBlast parameters (applied at
 * start-up with CLBlastOverrideParameters) and the shapes that run on rn50cl's own kernels with
 * theirs. host/tune/ searches for both and writes the file. */
#ifndef RN_RUNTIME_TUNING_H
#define RN_RUNTIME_TUNING_H

#include <stddef.h>

#include "runtime/rt.h"

#define RN_TUNE_XGEMM_N 16
#define RN_TUNE_DIRECT_N 10
#define RN_TUNE_FORMAT 2

/* Parameter names in CLBlast 1.5's order; values in rn_tune_params use the same order. */
extern const char *const rn_tune_xgemm_names[RN_TUNE_XGEMM_N];
extern const char *const rn_tune_direct_names[RN_TUNE_DIRECT_N];
enum {
    XG_GEMMK,
    XG_KREG,
    XG_KWG,
    XG_KWI,
    XG_MDIMA,
    XG_MDIMC,
    XG_MWG,
    XG_NDIMB,
    XG_NDIMC,
    XG_NWG,
    XG_SA,
    XG_SB,
    XG_STRM,
    XG_STRN,
    XG_VWM,
    XG_VWN
};
enum {
    XD_KWID,
    XD_MDIMAD,
    XD_MDIMCD,
    XD_NDIMBD,
    XD_NDIMCD,
    XD_PADA,
    XD_PADB,
    XD_VWMD,
    XD_VWND,
    XD_WGD
};

/* One candidate: which of CLBlast's three GEMM "kernels" it overrides, and the values; and the
 * shapes that leave CLBlast for rn50cl's own kernels. */
typedef struct rn_tune_params {
    int has_xgemm, has_direct, has_routine;
    size_t xgemm[RN_TUNE_XGEMM_N];
    size_t direct[RN_TUNE_DIRECT_N];
    size_t min_indirect; /* GemmRoutine XGEMM_MIN_INDIRECT_SIZE: M·N·K < this³ uses XgemmDirect */
    int nown;
    rn_gemm_own own[RN_GEMM_MAX_OWN];
} rn_tune_params;

/* CLBlastOverrideParameters for each CLBlast part present (the own-kernel choices are not
 * CLBlast's: rn_tune_apply hands them to the context), and XgemmDirect's idle set when
 * rn_tune_direct_idle gives one. Returns 0 or the first CLBlast status. */
int rn_tune_params_apply(rn_ctx *ctx, const rn_tune_params *p);

/* The XgemmDirect parameters to build when p sends every product to the indirect kernel
 * (XGEMM_MIN_INDIRECT_SIZE=1, no direct part): CLBlast builds the direct kernel into the same
 * program all the same, with the parameters last set in the process, and caches programs under
 * every part's values. Its smallest tile builds fastest (PoCL: the whole program in 5.7 s
 * instead of 6.6–8.3 with CLBlast's own), and a search measuring Xgemm after a large direct
 * candidate no longer builds that candidate's kernel again (139 s on PoCL). NULL when the direct
 * kernel may run, or the set is not valid on the device. */
const size_t *rn_tune_direct_idle(const rn_tune_params *p, const rn_device_info *d);

/* "Xgemm MWG=64 NWG=64 ..." etc.: one line per part present, then one "Own ta=.. tb=.. M=.. ..
 * tile=.. m_fast=.. kc=.." line per own-kernel shape (no newline at the end). */
void rn_tune_params_format(const rn_tune_params *p, char *buf, size_t len);

/* The stored file for this device: <ctx->cache_dir>/tuning/<sanitised device name>.txt, or ""
 * when the context has no cache folder. */
void rn_tune_path(const rn_ctx *ctx, char *buf, size_t len);

/* Reads and validates a tuning file for ctx's device (format, device name, driver, CLBlast
 * version, own-kernel choices the kernels can run). Returns 0 and fills *p (and the "tuned" date),
 * or -1 with a reason in why. A file whose search found nothing better than CLBlast's defaults is
 * valid with no part present. */
int rn_tune_load(const rn_ctx *ctx, const char *path, rn_tune_params *p, char *tuned,
                 size_t tuned_len, char *why, size_t why_len);

/* Called at the end of rn_ctx_create: applies the stored file unless ctx->no_tune. A corrupt or
 * mismatched file costs one warning line and is ignored. */
void rn_tune_apply(rn_ctx *ctx);

/* Whether a parameter set may run on this device: CLBlast's divisibility rules, the device's
 * work-group and local-memory limits, and sets known to corrupt memory inside CLBlast 1.5. */
int rn_tune_xgemm_valid(const size_t *v, const rn_device_info *d);
int rn_tune_direct_valid(const size_t *v, const rn_device_info *d);

/* What the search that produced a file measured (informational lines of the file). */
typedef struct rn_tune_summary {
    int batch;
    double gflops_default, gflops_tuned;
    int candidates;
    double seconds;
} rn_tune_summary;

/* Writes the file for ctx's device atomically (creating its folder). Returns 0 or -1. */
int rn_tune_save(const rn_ctx *ctx, const char *path, const rn_tune_params *p,
                 const rn_tune_summary *r);

#endif
