/* The GEMM parameter search: times candidate CLBlast Xgemm/XgemmDirect parameters on the GEMM
 * shapes a ResNet50 training step issues, checks the winner against a double reference and
 * stores it through runtime/tuning. It sits above the model because it needs the model's shapes. */
#ifndef RN_TUNE_TUNE_H
#define RN_TUNE_TUNE_H

#include "model/cases.h"
#include "runtime/rt.h"
#include "runtime/tuning.h"

typedef struct rn_tune_result {
    double gflops_default; /* time-weighted over all shapes, CLBlast's own parameters */
    double gflops_clblast; /* the same with the CLBlast parameters kept */
    double gflops_tuned;   /* with the own kernels where they won (== default when nothing did) */
    int candidates;        /* candidates timed */
    int rejected;          /* failed to build/run or gave wrong results */
    int interrupted;       /* stopped by SIGINT; what was found so far was still stored */
    double seconds;
    rn_tune_params best;
} rn_tune_result;

/* The search: CLBlast's defaults timed as the baseline; rn50cl's own kernels shape by shape (tile
 * × tile order × K-chunk) until half the budget, then choices borrowed from their winners for the
 * shapes not reached (rn_tune_borrow) until 60 %; then Xgemm candidates (all shapes through the
 * indirect kernel; after the seeds only those rn_tune_contested keeps, and none when it keeps
 * none), XgemmDirect candidates (those shapes through the direct kernel), the switch-over size
 * from the per-shape times, and the combination re-measured and checked against a double
 * reference; last, per shape, the own kernels where they beat that, each checked against the
 * reference too. Stops at budget_s (or SIGINT) with the best so far, stores it atomically at
 * out_path (NULL: rn_tune_path) and applies it. Progress on stderr unless quiet. Returns 0, or
 * RN_ERR_INPUT when the device refuses the shapes' buffers or the file cannot be written. */
int rn_tune_run(rn_ctx *ctx, int batch, double budget_s, const char *out_path, int quiet,
                rn_tune_result *res);

/* Up to max own-kernel choices for shape s borrowed from those won on other shapes (won[0..n), in
 * the order they were searched, by decreasing work), for shapes a short search did not reach:
 * the tile, tile order and K-chunk of the latest winners with s's transpositions first (nearest
 * to s in work), then of the other winners; a winner that took its whole K gives s's whole K,
 * any other K-chunk is cut to s's K. Only choices valid for s, within the tuner's scratch limit,
 * each once. Returns how many went into out. */
int rn_tune_borrow(const rn_gemm_own *won, int n, const rn_gemm_shape *s, rn_gemm_own *out,
                   int max);

/* The candidates of one shape that the search times again in turns (`finalists`), from the
 * times t[j] of their first timing (INFINITY: none): the RN_TUNE_TOP fastest, fastest first,
 * then the fastest of each tile kind not among them. Candidates are timed kind after kind, so a
 * spell of the machine running slow (on a 2-core VM the same product's time swings by 20 % and
 * more) can hold back every candidate of one kind; the per-kind finalists give each kind its
 * turn in the comparison that decides. Each choice once. Returns how many went into out (at most
 * RN_TUNE_FINALISTS). */
#define RN_TUNE_TOP 3
#define RN_TUNE_FINALISTS (RN_TUNE_TOP + RN_TILE_KINDS)
int rn_tune_finalists(const rn_gemm_own *c, const double *t, int n, rn_gemm_own *out);

/* Which shapes CLBlast's search goes on with after the Xgemm seeds: out[i] = 1 unless the own
 * kernels' time for shape i (t_own, INFINITY: none) is under RN_TUNE_CONTEST of CLBlast's fastest
 * so far (t_clb), both per call as a step spends them. From the best seed, the neighbours' search
 * has gained 1.06× (PoCL) and 1.4× (Intel's runtime) over all shapes, so only those shapes can
 * still change hands. *share: their part of the step's GEMM time, each shape at the faster of
 * the two (1 when one of them has no time at all). Returns how many stay, or 0 when their share
 * is under RN_TUNE_CONTEST_SHARE: a better CLBlast could gain a step under 2 % there, while each
 * candidate costs a program build (6–10 s on PoCL). */
#define RN_TUNE_CONTEST 0.5
#define RN_TUNE_CONTEST_SHARE 0.05
int rn_tune_contested(const rn_gemm_use *u, const double *t_own, const double *t_clb, int n,
                      char *out, double *share);

/* The one-off quick search `rn50cl train` runs by itself: only on a CPU device (CLBlast ships
 * tuned parameters for common GPUs), only when no usable file is stored for it, only when the run
 * is long (planned_images ≥ RN_TUNE_AUTO_MIN_IMAGES, hours untuned on PoCL, so the search costs
 * ~1% of it), and never with ctx->no_tune. Budget RN_TUNE_AUTO_BUDGET_S.
 * Returns 0 (also when skipped); the result is stored and applied like `rn50cl tune`'s. */
#define RN_TUNE_AUTO_MIN_IMAGES 20000.0
#define RN_TUNE_AUTO_BUDGET_S 90.0
int rn_tune_auto(rn_ctx *ctx, int batch, double planned_images);

#endif
