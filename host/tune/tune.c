/* The GEMM search. CLBlast ships no tuned entry for PoCL's CPU device and its generic defaults
 * are several times slower than what its own kernels can do there, so rn50cl searches
 * Xgemm/XgemmDirect parameters on the exact GEMMs a ResNet50 step issues (the model's case list),
 * then lets its own CPU-shaped kernels take each shape where they are measurably faster. */
#include "tune/tune.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/cases.h"
#include "rn50cl/rn50cl.h"

/* ---- timing and checking --------------------------------------------------------------------- */

static volatile sig_atomic_t g_stop;
static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef struct bench {
    rn_ctx *ctx;
    int n;
    const rn_gemm_use *u; /* the shapes and how often a step issues each */
    int *order;           /* shapes by decreasing work, so hopeless candidates are pruned early */
    cl_mem A, B, C;
    float *hA, *hB, *hC;
    size_t na, nb, nc;
    double *t_col;      /* per shape: im2col's seconds where the conv could skip it, else 0 */
    const char *active; /* the shapes CLBlast's candidates are timed and checked on (NULL: all) */
} bench;

static int active(const bench *b, int i)
{
    return !b->active || b->active[i];
}

static size_t a_floats(const rn_gemm_shape *s)
{
    return s->ta ? (s->K - 1) * s->lda + s->M : (s->M - 1) * s->lda + s->K;
}
static size_t b_floats(const rn_gemm_shape *s)
{
    return s->tb ? (s->N - 1) * s->ldb + s->K : (s->K - 1) * s->ldb + s->N;
}
static size_t c_floats(const rn_gemm_shape *s)
{
    return (s->M - 1) * s->ldc + s->N;
}

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static void bench_free(bench *b);
static double im2col_seconds(bench *b, int i);

/* The shapes' buffers with random contents, or NULL after rn_buffer's sentence. */
static bench *bench_create(rn_ctx *ctx, const rn_gemm_use *u, int n)
{
    bench *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->ctx = ctx;
    b->u = u;
    b->n = n;
    b->order = malloc(n * sizeof *b->order);
    b->t_col = calloc(n, sizeof *b->t_col);
    if (!b->order || !b->t_col) abort();
    for (int i = 0; i < n; i++) {
        b->order[i] = i;
        if (a_floats(&u[i].s) > b->na) b->na = a_floats(&u[i].s);
        if (b_floats(&u[i].s) > b->nb) b->nb = b_floats(&u[i].s);
        if (c_floats(&u[i].s) > b->nc) b->nc = c_floats(&u[i].s);
    }
    /* a forward product that input gradients may run as weighs their calls too; those that
     * may run so weigh the rest */
    double *w = calloc(n, sizeof *w);
    if (!w) abort();
    for (int i = 0; i < n; i++) {
        const int j = u[i].runs_as, moved = j >= 0 && j != i ? u[i].gathered : 0;
        w[i] += (u[i].count - moved) * rn_gemm_flops(&u[i].s);
        if (moved) w[j] += moved * rn_gemm_flops(&u[i].s);
    }
    for (int i = 1; i < n; i++) /* insertion sort by weight, descending */
        for (int j = i; j > 0; j--) {
            int x = b->order[j - 1], y = b->order[j];
            if (w[x] >= w[y]) break;
            b->order[j - 1] = y;
            b->order[j] = x;
        }
    free(w);
    b->hA = malloc(b->na * sizeof(float));
    b->hB = malloc(b->nb * sizeof(float));
    b->hC = malloc(b->nc * sizeof(float));
    if (!b->hA || !b->hB || !b->hC) abort();
    for (size_t i = 0; i < b->na; i++) b->hA[i] = (float)(2 * rnd() - 1);
    for (size_t i = 0; i < b->nb; i++) b->hB[i] = (float)(2 * rnd() - 1);
    for (size_t i = 0; i < b->nc; i++) b->hC[i] = (float)(2 * rnd() - 1);
    b->A = rn_buffer(ctx, b->na * sizeof(float));
    b->B = b->A ? rn_buffer(ctx, b->nb * sizeof(float)) : NULL;
    b->C = b->B ? rn_buffer(ctx, b->nc * sizeof(float)) : NULL;
    if (!b->C) {
        bench_free(b);
        return NULL;
    }
    rn_write(ctx, b->A, 0, b->na * sizeof(float), b->hA);
    rn_write(ctx, b->B, 0, b->nb * sizeof(float), b->hB);
    rn_write(ctx, b->C, 0, b->nc * sizeof(float), b->hC);
    for (int i = 0; i < n; i++) b->t_col[i] = im2col_seconds(b, i);
    return b;
}

static void bench_free(bench *b)
{
    if (!b) return;
    rn_release(&b->A);
    rn_release(&b->B);
    rn_release(&b->C);
    free(b->hA);
    free(b->hB);
    free(b->hC);
    free(b->order);
    free(b->t_col);
    free(b);
}

static CLBlastStatusCode gemm(bench *b, const rn_gemm_shape *s)
{
    cl_event ev = NULL;
    CLBlastStatusCode st =
        CLBlastSgemm(CLBlastLayoutRowMajor, s->ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                     s->tb ? CLBlastTransposeYes : CLBlastTransposeNo, s->M, s->N, s->K, 1.0f, b->A,
                     0, s->lda, b->B, 0, s->ldb, s->beta, b->C, 0, s->ldc, &b->ctx->queue, &ev);
    if (ev) clReleaseEvent(ev);
    return st;
}

/* Runs one GEMM so CLBlast builds its program for the parameters now applied; returns seconds, or
 * -1 when it failed (a candidate the device cannot build or run). */
static double bench_compile(bench *b)
{
    int smallest = b->order[b->n - 1];
    rn_finish(b->ctx);
    double t0 = rn_now();
    if (gemm(b, &b->u[smallest].s) != CLBlastSuccess) return -1;
    if (clFinish(b->ctx->queue) != CL_SUCCESS) return -1;
    return rn_now() - t0;
}

/* Times every shape `passes` times (each shape's time is its fastest pass: other load on the
 * machine only ever adds). Returns Σ count·time in seconds, INFINITY when the running total
 * passed `limit` or SIGINT arrived, -1 when a call failed. */
/* Seconds for shape i alone (queue drained before and after), or -1 when it fails to run. */
static double time_one(bench *b, int i)
{
    rn_finish(b->ctx);
    double t0 = rn_now();
    if (gemm(b, &b->u[i].s) != CLBlastSuccess) return -1;
    if (clFinish(b->ctx->queue) != CL_SUCCESS) return -1;
    return rn_now() - t0;
}

static double bench_time(bench *b, int passes, double limit, double *t)
{
    for (int i = 0; i < b->n; i++) t[i] = INFINITY;
    double total = 0;
    for (int p = 0; p < passes; p++) {
        total = 0;
        for (int oi = 0; oi < b->n; oi++) {
            int i = b->order[oi];
            if (g_stop) return INFINITY;
            if (!active(b, i)) continue;
            double dt = time_one(b, i);
            if (dt < 0) return -1;
            if (dt < t[i]) t[i] = dt;
            total += b->u[i].count * (p ? t[i] : dt);
            if (p == 0 && total > limit) return INFINITY;
        }
    }
    return total;
}

/* The direct kernel's pass: shapes by increasing M·N·K, stopping at the first one where it takes
 * over 1.5× the Xgemm time (larger ones then keep Xgemm; on PoCL a direct kernel can be 100×
 * slower on big shapes, which would eat the whole budget). Remaining shapes get INFINITY. */
static double bench_time_direct(bench *b, const double *t_ind, double *t)
{
    double total = 0;
    for (int i = 0; i < b->n; i++) t[i] = INFINITY;
    for (int oi = b->n - 1; oi >= 0; oi--) {
        int i = b->order[oi];
        if (g_stop) return INFINITY;
        if (!active(b, i)) continue;
        if ((t[i] = time_one(b, i)) < 0) return -1;
        total += b->u[i].count * t[i];
        if (t[i] > 1.5 * t_ind[i]) break;
    }
    return total;
}

/* Shape i once from known C (through CLBlast, or o's own kernels), 32 sampled outputs against a
 * double dot product. */
static int check_shape(bench *b, int i, const rn_gemm_own *o, float *got, char *why, size_t why_len)
{
    const rn_gemm_shape *s = &b->u[i].s;
    size_t nc = c_floats(s);
    rn_write(b->ctx, b->C, 0, nc * sizeof(float), b->hC);
    if (o) {
        rn_sgemm_own(b->ctx, o, 1.0f, b->A, 0, b->B, 0, b->C, 0);
    } else if (gemm(b, s) != CLBlastSuccess) {
        snprintf(why, why_len, "a GEMM call failed");
        return 0;
    }
    rn_read(b->ctx, b->C, 0, nc * sizeof(float), got);
    for (int e = 0; e < 32; e++) {
        size_t r = e == 0 ? 0 : e == 1 ? s->M - 1 : (size_t)(rnd() * s->M) % s->M;
        size_t c = e == 0 ? 0 : e == 1 ? s->N - 1 : (size_t)(rnd() * s->N) % s->N;
        double ref = s->beta * (double)b->hC[r * s->ldc + c], mag = fabs(ref);
        for (size_t k = 0; k < s->K; k++) {
            double a = s->ta ? b->hA[k * s->lda + r] : b->hA[r * s->lda + k];
            double v = s->tb ? b->hB[c * s->ldb + k] : b->hB[k * s->ldb + c];
            ref += a * v;
            mag += fabs(a * v);
        }
        double g = got[r * s->ldc + c];
        if (!(fabs(g - ref) <= 1e-4 * mag + 1e-5)) {
            snprintf(why, why_len, "wrong result for %zux%zux%zu at (%zu,%zu): %g vs %g", s->M,
                     s->N, s->K, r, c, g, ref);
            return 0;
        }
    }
    return 1;
}

/* Every active shape (or those with finite only[i]) through CLBlast, checked as check_shape
 * does. */
static int bench_check(bench *b, const double *only, char *why, size_t why_len)
{
    float *got = malloc(b->nc * sizeof(float));
    if (!got) abort();
    int ok = 1;
    for (int i = 0; i < b->n && ok; i++)
        if (active(b, i) && (!only || isfinite(only[i])))
            ok = check_shape(b, i, NULL, got, why, why_len);
    free(got);
    return ok;
}

/* Starting points, best first: register-blocked tiles without local memory suit CPUs (PoCL's
 * "local" memory is ordinary memory, so staging through it only adds copies); the last ones are
 * the GPU-style shapes CLBlast's tuner favours, in case the device is one. Order as the names. */
#define XG(gk, kreg, kwg, kwi, mwg, mdimc, nwg, ndimc, sa, sb, strm, strn, vwm, vwn)               \
    {                                                                                              \
        gk, kreg, kwg, kwi, mdimc, mdimc, mwg, ndimc, ndimc, nwg, sa, sb, strm, strn, vwm, vwn     \
    }
static const size_t xgemm_seeds[][RN_TUNE_XGEMM_N] = {
    XG(0, 1, 16, 2, 64, 8, 64, 8, 0, 0, 0, 0, 4, 4),
    XG(0, 1, 32, 2, 64, 16, 64, 8, 0, 0, 0, 0, 4, 8),
    XG(0, 1, 16, 1, 32, 4, 128, 16, 0, 0, 0, 0, 8, 8),
    XG(0, 1, 32, 8, 128, 16, 32, 4, 0, 0, 0, 0, 8, 8),
    XG(0, 1, 16, 4, 64, 16, 32, 8, 0, 0, 1, 1, 4, 4),
    XG(1, 4, 1, 1, 32, 8, 32, 8, 0, 0, 0, 0, 4, 4),
    XG(0, 1, 32, 2, 64, 16, 64, 16, 1, 1, 0, 0, 2, 2),
    XG(0, 1, 32, 2, 128, 16, 128, 16, 1, 1, 1, 1, 4, 4),
};
#define XDS(kwid, mdimcd, ndimcd, pada, padb, vwmd, vwnd, wgd)                                     \
    {                                                                                              \
        kwid, mdimcd, mdimcd, ndimcd, ndimcd, pada, padb, vwmd, vwnd, wgd                          \
    }
static const size_t direct_seeds[][RN_TUNE_DIRECT_N] = {
    XDS(2, 8, 8, 0, 0, 4, 4, 32),   XDS(2, 4, 4, 0, 0, 4, 4, 16), XDS(2, 8, 8, 1, 1, 2, 2, 32),
    XDS(8, 16, 16, 0, 0, 2, 2, 32), XDS(2, 8, 8, 0, 0, 4, 4, 64), XDS(8, 4, 8, 0, 0, 8, 4, 64),
};

/* One-step neighbours: a parameter moved to the next value up or down its list. */
typedef struct axis {
    int idx, tie; /* tie: index kept equal (MDIMA follows MDIMC), or -1 */
    int nv;
    size_t v[6];
} axis;
static const axis xgemm_axes[] = {
    {XG_MWG, -1, 4, {16, 32, 64, 128}},
    {XG_NWG, -1, 4, {16, 32, 64, 128}},
    {XG_KWG, -1, 4, {8, 16, 32, 64}},
    {XG_KWI, -1, 4, {1, 2, 4, 8}},
    {XG_MDIMC, XG_MDIMA, 5, {2, 4, 8, 16, 32}},
    {XG_NDIMC, XG_NDIMB, 5, {2, 4, 8, 16, 32}},
    {XG_VWM, -1, 4, {1, 2, 4, 8}},
    {XG_VWN, -1, 4, {1, 2, 4, 8}},
    {XG_STRM, -1, 2, {0, 1}},
    {XG_STRN, -1, 2, {0, 1}},
    {XG_SA, -1, 2, {0, 1}},
    {XG_SB, -1, 2, {0, 1}},
};
static const axis direct_axes[] = {
    {XD_WGD, -1, 4, {8, 16, 32, 64}},
    {XD_KWID, -1, 5, {1, 2, 4, 8, 16}},
    {XD_MDIMCD, XD_MDIMAD, 4, {4, 8, 16, 32}},
    {XD_NDIMCD, XD_NDIMBD, 4, {4, 8, 16, 32}},
    {XD_VWMD, -1, 4, {1, 2, 4, 8}},
    {XD_VWND, -1, 4, {1, 2, 4, 8}},
    {XD_PADA, -1, 2, {0, 1}},
    {XD_PADB, -1, 2, {0, 1}},
};

typedef struct seen_list {
    size_t (*v)[RN_TUNE_XGEMM_N];
    int n, cap;
} seen_list;

static int seen_add(seen_list *s, const size_t *v, int nv)
{
    for (int i = 0; i < s->n; i++)
        if (!memcmp(s->v[i], v, nv * sizeof(size_t))) return 0;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    memset(s->v[s->n], 0, sizeof s->v[0]);
    memcpy(s->v[s->n++], v, nv * sizeof(size_t));
    return 1;
}

/* Next untried neighbour of `from` (random order), or 0 when all were tried. */
static int next_neighbour(const size_t *from, int nv, const axis *axes, int naxes, int direct,
                          const rn_device_info *d, seen_list *seen, size_t *out)
{
    int moves[64][2], nm = 0;
    for (int a = 0; a < naxes; a++)
        for (int dir = -1; dir <= 1; dir += 2) moves[nm][0] = a, moves[nm++][1] = dir;
    for (int i = nm - 1; i > 0; i--) { /* shuffle */
        int j = (int)(rnd() * (i + 1)) % (i + 1), t0 = moves[i][0], t1 = moves[i][1];
        moves[i][0] = moves[j][0], moves[i][1] = moves[j][1];
        moves[j][0] = t0, moves[j][1] = t1;
    }
    for (int m = 0; m < nm; m++) {
        const axis *ax = &axes[moves[m][0]];
        int pos = -1;
        for (int k = 0; k < ax->nv; k++)
            if (ax->v[k] == from[ax->idx]) pos = k;
        int np = pos + moves[m][1];
        if (pos < 0 || np < 0 || np >= ax->nv) continue;
        memcpy(out, from, nv * sizeof(size_t));
        out[ax->idx] = ax->v[np];
        if (ax->tie >= 0) out[ax->tie] = ax->v[np];
        if (!(direct ? rn_tune_direct_valid(out, d) : rn_tune_xgemm_valid(out, d))) continue;
        if (seen_add(seen, out, nv)) return 1;
    }
    return 0;
}

/* ---- the search ------------------------------------------------------------------------------ */

typedef struct search {
    rn_ctx *ctx;
    bench *b;
    int quiet;
    double t_start, budget;
    double compile_s, pass_s; /* last seen: to decide whether another candidate fits */
    rn_tune_result *res;
} search;

static double elapsed(const search *s)
{
    return rn_now() - s->t_start;
}

static int count_finite(const double *t, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++) c += isfinite(t[i]) != 0;
    return c;
}

/* Time-weighted over the shapes with a time. */
static double gflops(const bench *b, const double *t)
{
    double f = 0, tt = 0;
    for (int i = 0; i < b->n; i++) {
        if (!isfinite(t[i])) continue;
        f += b->u[i].count * rn_gemm_flops(&b->u[i].s);
        tt += b->u[i].count * t[i];
    }
    return tt > 0 ? f / tt * 1e-9 : 0;
}

/* Applies p, builds it and times one pass (pruned at `limit`). Returns the total, INFINITY
 * (pruned or interrupted) or -1 (CLBlast refused it, or it failed to build or run). */
static double measure(search *s, const rn_tune_params *p, int passes, double limit, double *t)
{
    double comp;
    if (rn_tune_params_apply(s->ctx, p) != 0 || (comp = bench_compile(s->b)) < 0) return -1;
    s->compile_s = comp;
    double t0 = rn_now(), total = bench_time(s->b, passes, limit, t);
    if (total > 0 && isfinite(total)) s->pass_s = (rn_now() - t0) / passes;
    return total;
}

/* One candidate: measured, and checked against the double reference when it ran to the end. */
static double try_candidate(search *s, const rn_tune_params *p, double limit, double *t,
                            const char *label, int *correct, const double *t_ind)
{
    char desc[1024], why[256] = "";
    rn_tune_params_format(p, desc, sizeof desc);
    for (char *c = desc; *c; c++)
        if (*c == '\n') *c = ';';
    s->res->candidates++;
    double t0 = rn_now(), total = -1, comp;
    if (!t_ind) {
        total = measure(s, p, 1, limit, t);
    } else if (rn_tune_params_apply(s->ctx, p) == 0 && (comp = bench_compile(s->b)) >= 0) {
        s->compile_s = comp;
        total = bench_time_direct(s->b, t_ind, t);
    }
    *correct = total > 0 && isfinite(total) && bench_check(s->b, t_ind ? t : NULL, why, sizeof why);
    if (total < 0 || (total > 0 && isfinite(total) && !*correct)) s->res->rejected++;
    if (!s->quiet) {
        if (total < 0)
            fprintf(stderr, "rn50cl: tune [%4.0f s] %-6s rejected (did not build or run): %s\n",
                    elapsed(s), label, desc);
        else if (!isfinite(total))
            fprintf(stderr, "rn50cl: tune [%4.0f s] %-6s %s: %s\n", elapsed(s), label,
                    g_stop ? "interrupted" : "slower, stopped early", desc);
        else if (!*correct)
            fprintf(stderr, "rn50cl: tune [%4.0f s] %-6s rejected (%s): %s\n", elapsed(s), label,
                    why, desc);
        else if (t_ind)
            fprintf(stderr, "rn50cl: tune [%4.0f s] %-6s timed (%.0f s): %s\n", elapsed(s), label,
                    rn_now() - t0, desc);
        else
            fprintf(stderr, "rn50cl: tune [%4.0f s] %-6s %6.1f GFLOP/s (%.0f s): %s\n", elapsed(s),
                    label, gflops(s->b, t), rn_now() - t0, desc);
    }
    return total;
}

static int fits(const search *s, double share)
{
    return !g_stop && elapsed(s) + s->compile_s + 2 * s->pass_s < share * s->budget;
}

/* Shapes with M·N·K below T³ take XgemmDirect; picks T minimising Σ count·time. */
static size_t pick_threshold(const bench *b, const double *t_ind, const double *t_dir,
                             double *best_total)
{
    size_t best_T = 1;
    *best_total = INFINITY;
    size_t cands[2 + 256];
    int nc = 0;
    cands[nc++] = 1;               /* all indirect */
    cands[nc++] = (size_t)1 << 20; /* all direct */
    for (int i = 0; i < b->n && nc < (int)(sizeof cands / sizeof cands[0]); i++) {
        double mnk = (double)b->u[i].s.M * b->u[i].s.N * b->u[i].s.K;
        size_t T =
            (size_t)ceil(cbrt(mnk)); /* T³ ≥ mnk: this shape indirect, smaller ones may not */
        while ((double)T * T * T < mnk) T++;
        cands[nc++] = T;
    }
    for (int c = 0; c < nc; c++) {
        double T3 = (double)cands[c] * cands[c] * cands[c], tot = 0;
        for (int i = 0; i < b->n; i++) {
            if (!isfinite(t_ind[i])) continue; /* not searched: the own kernels win it */
            double mnk = (double)b->u[i].s.M * b->u[i].s.N * b->u[i].s.K;
            tot += b->u[i].count * (mnk < T3 ? t_dir[i] : t_ind[i]);
        }
        if (tot < *best_total) *best_total = tot, best_T = cands[c];
    }
    return best_T;
}

/* ---- rn50cl's own kernels -------------------------------------------------------------------- */

/* The own kernels' scratch (a transposed or packed K-chunk) stays below this. */
#define OWN_SCRATCH_MAX ((size_t)16 << 20)

/* Candidates for one shape: every tile that fits × both tile orders × K-chunks (the whole K,
 * then cache-sized ones). */
static const size_t own_kcs[] = {0, 64, 128, 256, 512, 1024, 2048}; /* 0: the whole K */
#define OWN_NKC (sizeof own_kcs / sizeof own_kcs[0])
#define OWN_MAX_CANDIDATES (RN_TILE_KINDS * 2 * OWN_NKC)
static int own_candidates(const rn_gemm_shape *s, rn_gemm_own *out)
{
    int n = 0;
    for (int w = 0; w < RN_TILE_KINDS; w++)
        for (int m = 0; m < 2; m++)
            for (size_t j = 0; j < OWN_NKC; j++) {
                rn_gemm_own o = {*s, w, m, own_kcs[j] ? own_kcs[j] : s->K};
                if ((j && o.kc >= s->K) || !rn_gemm_own_valid(&o)) continue;
                if (rn_gemm_own_scratch_bytes(&o) > OWN_SCRATCH_MAX) continue;
                out[n++] = o;
            }
    return n;
}

/* Seconds for one own-kernel product of shape i, or -1 when its scratch is refused. */
static double time_own(bench *b, const rn_gemm_own *o)
{
    cl_int err;
    if (rn_gemm_own_reserve(b->ctx, o, &err)) return -1;
    rn_finish(b->ctx);
    double t0 = rn_now();
    rn_sgemm_own(b->ctx, o, 1.0f, b->A, 0, b->B, 0, b->C, 0);
    rn_finish(b->ctx);
    return rn_now() - t0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Sorts t[0..n) and returns its middle value. */
static double median(double *t, int n)
{
    qsort(t, n, sizeof t[0], cmp_double);
    return t[n / 2];
}

/* Where shape i is the forward or weight-gradient product of convs whose columns this device can
 * gather inside the product (rn_gemm_use: runs_as is i itself; the product's choice decides), the
 * seconds of the im2col passes that those calls run before a product on other tiles, per call of
 * the shape: the median of three profiled forwards of the conv without an own choice (im2col,
 * then CLBlast; the backward's im2col is the same pass), times the share of its calls. 0 for
 * every other shape. */
static double im2col_seconds(bench *b, int i)
{
    rn_ctx *ctx = b->ctx;
    const rn_gemm_use *u = &b->u[i];
    const rn_conv *c = &u->gconv;
    if (u->runs_as != i) return 0;
    rn_workspace ws;
    if (rn_workspace_create(ctx, &ws, rn_conv_workspace_floats(c, c->N))) return 0;
    const rn_gemm_own_swap w = rn_gemm_own_only(ctx, NULL);
    const int profile = ctx->profile;
    ctx->profile = 1;
    double t[3];
    for (int r = 0; r < 3; r++) {
        rn_profile_reset(ctx);
        conv2d_forward(ctx, b->C, b->B, b->A, c, &ws);
        t[r] = (rn_profile_ms(ctx, "") - rn_profile_ms(ctx, RN_PROF_GEMM)) * 1e-3;
    }
    ctx->profile = profile;
    rn_gemm_own_restore(ctx, w);
    rn_workspace_release(&ws);
    return median(t, 3) * u->gathered / u->count;
}

/* Whether shape i's gathered calls (rn_gemm_use) run gathering when the product they run as
 * runs on o. */
static int rows_fit(bench *b, int i, const rn_gemm_own *o)
{
    if (b->u[i].runs_as < 0) return 0;
    const rn_gemm_own_swap w = rn_gemm_own_only(b->ctx, o);
    const int fits = rn_gemm_use_gathered(b->ctx, b->u, i) > 0;
    rn_gemm_own_restore(b->ctx, w);
    return fits;
}

/* Whether forward shape i on o runs its gathered calls with the conv's columns gathered inside
 * the product. */
static int gathers(bench *b, int i, const rn_gemm_own *o)
{
    return b->t_col[i] > 0 && rows_fit(b, i, o);
}

/* Whether own_search or own_borrow can pass over shape i: input gradients that all run as a
 * forward product whose candidate so far gathers. */
static int passed_over(bench *b, int i, const rn_gemm_own *best, const double *t_own)
{
    const int j = b->u[i].runs_as;
    return j >= 0 && j != i && b->u[i].gathered == b->u[i].count && isfinite(t_own[j]) &&
           rows_fit(b, i, &best[j]);
}

/* Seconds of shape i's product on o gathering the conv's columns (rn_sgemm_rows), -1: not
 * runnable. */
static double time_rows(bench *b, int i, const rn_gemm_own *o)
{
    cl_int err;
    if (rn_gemm_own_reserve(b->ctx, o, &err)) return -1;
    const rn_conv *c = &b->u[i].gconv;
    const rn_gemm_own_swap w = rn_gemm_own_only(b->ctx, o);
    rn_finish(b->ctx);
    const double t0 = rn_now();
    rn_sgemm_rows(b->ctx, &b->u[i].s, b->A, 0, b->B, c->Cin, c->N, c->H, c->W, 0, b->C, 0);
    rn_finish(b->ctx);
    const double t = rn_now() - t0;
    rn_gemm_own_restore(b->ctx, w);
    return t;
}

/* What a step spends per call of shape i with candidate o, in seconds (-1: not runnable): the
 * product as the step runs it, its gathered calls gathering the conv's columns themselves where
 * they can (rn_sgemm_rows), plus the im2col passes in front (b->t_col[i]) where the step runs
 * those that the other form skips. */
static double time_use(bench *b, int i, const rn_gemm_own *o)
{
    const rn_gemm_use *u = &b->u[i];
    if (!gathers(b, i, o)) {
        const double t = time_own(b, o);
        return t < 0 ? t : t + b->t_col[i];
    }
    const double tg = time_rows(b, i, o),
                 te = u->gathered < u->count && tg >= 0 ? time_own(b, o) : 0;
    if (tg < 0 || te < 0) return -1;
    return (u->gathered * tg + (u->count - u->gathered) * te) / u->count;
}

static int same_choice(const rn_gemm_own *a, const rn_gemm_own *b)
{
    return a->tile == b->tile && a->m_fast == b->m_fast && a->kc == b->kc;
}

/* The fastest candidate by t among those not yet in out[0..k) (of tile kind `tile`, or any
 * with -1), or -1 when none has a time. */
static int fastest_left(const rn_gemm_own *c, const double *t, int n, const rn_gemm_own *out, int k,
                        int tile)
{
    int best = -1;
    for (int j = 0; j < n; j++) {
        if (!(t[j] < INFINITY) || (tile >= 0 && c[j].tile != tile)) continue;
        int seen = 0;
        for (int i = 0; i < k; i++) seen |= same_choice(&out[i], &c[j]);
        if (!seen && (best < 0 || t[j] < t[best])) best = j;
    }
    return best;
}

int rn_tune_finalists(const rn_gemm_own *c, const double *t, int n, rn_gemm_own *out)
{
    int k = 0, j;
    while (k < RN_TUNE_TOP && (j = fastest_left(c, t, n, out, k, -1)) >= 0) out[k++] = c[j];
    for (int w = 0; w < RN_TILE_KINDS; w++) {
        int have = 0;
        for (int i = 0; i < k; i++) have |= out[i].tile == w;
        if (!have && (j = fastest_left(c, t, n, out, k, w)) >= 0) out[k++] = c[j];
    }
    return k;
}

/* Which of the finalists is fastest by the median of runs that take turns: one lucky run
 * while the machine was quiet does not decide (on a 2-core VM the same product's time swings by
 * 20 % and more between runs). Sets *t_med to the winner's median. */
#define OWN_CONFIRM_RUNS 5
static int own_confirm(bench *b, int i, const rn_gemm_own *top, int n, double *t_med)
{
    double t[RN_TUNE_FINALISTS][OWN_CONFIRM_RUNS];
    for (int r = 0; r < OWN_CONFIRM_RUNS; r++)
        for (int j = 0; j < n; j++) {
            t[j][r] = time_use(b, i, &top[j]);
            if (t[j][r] < 0) t[j][r] = INFINITY;
        }
    int best = 0;
    double med[RN_TUNE_FINALISTS] = {0}; /* n >= 1: the caller has finalists */
    for (int j = 0; j < n; j++) {
        med[j] = median(t[j], OWN_CONFIRM_RUNS);
        if (med[j] < med[best]) best = j;
    }
    *t_med = med[best];
    return best;
}

/* Per shape by decreasing work, until `share` of the budget is spent: every own candidate
 * (best of two runs), then the finalists (rn_tune_finalists) again in turns; the winner in
 * best[i] and its median time as the step spends it (time_use) in t_own[i] (INFINITY for shapes
 * not reached or not runnable). Returns how many shapes, in b->order, it reached. */
static int own_search(search *s, double share, rn_gemm_own *best, double *t_own)
{
    bench *b = s->b;
    for (int i = 0; i < b->n; i++) t_own[i] = INFINITY;
    double said = elapsed(s);
    int oi = 0;
    for (; oi < b->n && !g_stop && elapsed(s) < share * s->budget; oi++) {
        int i = b->order[oi];
        if (passed_over(b, i, best, t_own)) continue;
        if (!s->quiet && elapsed(s) - said >= 15) {
            said = elapsed(s);
            fprintf(stderr, "rn50cl: tune [%4.0f s] own kernels: %d of %d shapes timed\n", said, oi,
                    b->n);
        }
        rn_gemm_own c[OWN_MAX_CANDIDATES], top[RN_TUNE_FINALISTS];
        double tc[OWN_MAX_CANDIDATES], fastest = INFINITY;
        int nc = own_candidates(&b->u[i].s, c);
        for (int j = 0; j < nc; j++) {
            double t = g_stop ? -1 : time_use(b, i, &c[j]);
            tc[j] = INFINITY;
            if (t < 0) continue;
            if (t < 2 * fastest) {
                double t2 = time_use(b, i, &c[j]);
                if (t2 >= 0 && t2 < t) t = t2;
            }
            s->res->candidates++;
            tc[j] = t;
            if (t < fastest) fastest = t;
        }
        const int ntop = rn_tune_finalists(c, tc, nc, top);
        if (ntop == 0) continue;
        if (g_stop) /* Ctrl-C: the fastest so far, unconfirmed */
            best[i] = top[0], t_own[i] = fastest;
        else best[i] = top[own_confirm(b, i, top, ntop, &t_own[i])];
    }
    return oi;
}

int rn_tune_borrow(const rn_gemm_own *won, int n, const rn_gemm_shape *s, rn_gemm_own *out, int max)
{
    int k = 0;
    for (int same = 1; same >= 0; same--)
        for (int j = n - 1; j >= 0 && k < max; j--) {
            const rn_gemm_own *w = &won[j];
            if ((w->s.ta == s->ta && w->s.tb == s->tb) != same) continue;
            const rn_gemm_own o = {*s, w->tile, w->m_fast,
                                   w->kc >= w->s.K || w->kc >= s->K ? s->K : w->kc};
            if (!rn_gemm_own_valid(&o) || rn_gemm_own_scratch_bytes(&o) > OWN_SCRATCH_MAX) continue;
            int seen = 0;
            for (int i = 0; i < k; i++) seen |= same_choice(&out[i], &o);
            if (!seen) out[k++] = o;
        }
    return k;
}

/* The shapes own_search did not reach (b->order from `searched` on: the smaller ones), until
 * `stop` of the budget: choices borrowed from its winners (rn_tune_borrow), best of two runs
 * each; first one per shape, then, while time is left, a second. Results as own_search's. A
 * short search otherwise leaves most shapes on CLBlast (train's 90 s one searched 8 of 62 shapes
 * on a fresh PoCL). Returns how many shapes got a time. */
#define OWN_BORROW 2
static int own_borrow(search *s, int searched, double stop, rn_gemm_own *best, double *t_own)
{
    bench *b = s->b;
    rn_gemm_own *won = malloc((size_t)b->n * sizeof *won);
    if (!won) abort();
    int nwon = 0, got = 0;
    for (int oi = 0; oi < searched; oi++)
        if (isfinite(t_own[b->order[oi]])) won[nwon++] = best[b->order[oi]];
    for (int j = 0; j < OWN_BORROW; j++)
        for (int oi = searched; oi < b->n && !g_stop && elapsed(s) < stop * s->budget; oi++) {
            const int i = b->order[oi];
            rn_gemm_own c[OWN_BORROW];
            if (passed_over(b, i, best, t_own)) continue;
            if (rn_tune_borrow(won, nwon, &b->u[i].s, c, OWN_BORROW) <= j) continue;
            /* two runs: PoCL builds the kernel for each new launch size on the first */
            const double t1 = time_use(b, i, &c[j]), t2 = t1 < 0 ? t1 : time_use(b, i, &c[j]);
            if (t1 < 0) continue;
            s->res->candidates++;
            got += !isfinite(t_own[i]);
            const double t = t2 >= 0 && t2 < t1 ? t2 : t1;
            if (t < t_own[i]) t_own[i] = t, best[i] = c[j];
        }
    free(won);
    return got;
}

/* Shapes whose own kernels beat CLBlast (t_clb, with the parameters being stored) by ≥ 3 % and
 * pass the reference check go into p->own; t_best gets each shape's product time as chosen. */
/* Shape i on its own choice o and on CLBlast as now applied, OWN_CONFIRM_RUNS runs each in
 * turns, both as the step spends them (time_use; CLBlast's product plus im2col's pass): the
 * medians into *t_o and *t_c, which stay as they are when a run fails. */
static void own_against_clblast(bench *b, int i, const rn_gemm_own *o, double *t_o, double *t_c)
{
    double to[OWN_CONFIRM_RUNS], tc[OWN_CONFIRM_RUNS];
    for (int r = 0; r < OWN_CONFIRM_RUNS; r++) {
        to[r] = time_use(b, i, o);
        tc[r] = time_one(b, i);
        if (to[r] < 0 || tc[r] < 0) return;
        tc[r] += b->t_col[i];
    }
    *t_o = median(to, OWN_CONFIRM_RUNS);
    *t_c = median(tc, OWN_CONFIRM_RUNS);
}

static void own_choose(search *s, const rn_gemm_own *best, const double *t_own, const double *t_clb,
                       int retime, rn_tune_params *p, double *t_best)
{
    bench *b = s->b;
    float *got = malloc(b->nc * sizeof(float));
    char *chosen = calloc(b->n, 1);
    if (!got || !chosen) abort();
    p->nown = 0;
    for (int i = 0; i < b->n; i++) {
        /* both as the step spends them: CLBlast's product, too, needs im2col's pass */
        double to = t_own[i], tc = t_clb[i] + b->t_col[i];
        /* The two times were taken minutes apart: a shape going to CLBlast, or the own kernels'
         * by less than 2×, is timed again, both in turns (a slow spell during the own search
         * once gave layer1.1.conv1's forward to CLBlast at 2.5× the own kernels' time, PoCL). */
        if (retime && isfinite(to) && !(to < 0.5 * tc))
            own_against_clblast(b, i, &best[i], &to, &tc);
        t_best[i] = tc - b->t_col[i];
        if (!(to < 0.97 * tc) || p->nown == RN_GEMM_MAX_OWN) continue;
        char why[256] = "";
        if (!check_shape(b, i, &best[i], got, why, sizeof why)) {
            s->res->rejected++;
            if (!s->quiet) fprintf(stderr, "rn50cl: tune: own kernels rejected (%s)\n", why);
            continue;
        }
        p->own[p->nown++] = best[i];
        chosen[i] = 1;
        t_best[i] = to - (gathers(b, i, &best[i]) ? 0 : b->t_col[i]); /* the product */
    }
    /* input gradients that run as a chosen forward product: its time per call as chosen, for
     * their share */
    for (int i = 0; i < b->n; i++) {
        const rn_gemm_use *u = &b->u[i];
        const int j = u->runs_as;
        if (j >= 0 && j != i && chosen[j] && rows_fit(b, i, &best[j]))
            t_best[i] = ((u->count - u->gathered) * t_best[i] + u->gathered * t_best[j]) / u->count;
    }
    free(chosen);
    free(got);
}

int rn_tune_contested(const rn_gemm_use *u, const double *t_own, const double *t_clb, int n,
                      char *out, double *share)
{
    int k = 0;
    double in = 0, all = 0;
    for (int i = 0; i < n; i++) {
        const double t = u[i].count * fmin(t_own[i], t_clb[i]);
        k += out[i] = !(t_own[i] < RN_TUNE_CONTEST * t_clb[i]);
        in += out[i] ? t : 0;
        all += t; /* infinite only where in is too */
    }
    *share = isfinite(in) && all > 0 ? in / all : 1;
    return *share < RN_TUNE_CONTEST_SHARE ? 0 : k;
}

/* Lowers each t_best[i] to t[i] where that is lower. */
static void keep_fastest(double *t_best, const double *t, int n)
{
    for (int i = 0; i < n; i++)
        if (t[i] < t_best[i]) t_best[i] = t[i];
}

/* Narrows CLBlast's search to the shapes it could still win (rn_tune_contested) and returns how
 * many: the own kernels' time per call as the step spends it against CLBlast's fastest so far
 * (t_clb) plus the im2col pass it needs; input gradients that run as their forward's own product
 * (passed_over) never reach CLBlast. */
static int narrow(search *s, const rn_gemm_own *own, const double *t_own, const double *t_clb,
                  char *contested)
{
    bench *b = s->b;
    double *o = malloc(2 * b->n * sizeof *o), *c = o + b->n;
    if (!o) abort();
    for (int i = 0; i < b->n; i++) {
        o[i] = passed_over(b, i, own, t_own) ? 0 : t_own[i];
        c[i] = t_clb[i] + b->t_col[i];
    }
    double share;
    const int k = rn_tune_contested(b->u, o, c, b->n, contested, &share);
    int left = 0;
    for (int i = 0; i < b->n; i++) left += contested[i];
    free(o);
    b->active = contested;
    if (s->quiet) return k;
    fprintf(stderr,
            "rn50cl: tune [%4.0f s] xgemm  the own kernels take under %.0f %% of CLBlast's best "
            "time on %d of %d shapes",
            elapsed(s), 100 * RN_TUNE_CONTEST, b->n - left, b->n);
    if (left) {
        fprintf(stderr, "; the other %d take %.1f %% of the step's GEMM time:", left, 100 * share);
        for (int i = 0, named = 0; i < b->n; i++)
            if (contested[i] && named++ < 8)
                fprintf(stderr, " %s %s %zux%zux%zu%s", b->u[i].layer, b->u[i].form, b->u[i].s.M,
                        b->u[i].s.N, b->u[i].s.K, named < left && named < 8 ? "," : "");
        if (left > 8) fprintf(stderr, " ...");
    }
    fprintf(stderr, "; CLBlast's search %s\n", k ? "goes on with them" : "ends here");
    return k;
}

int rn_tune_run(rn_ctx *ctx, int batch, double budget_s, const char *out_path, int quiet,
                rn_tune_result *res)
{
    memset(res, 0, sizeof *res);
    /* the distinct GEMM shapes of a 10-class training step at the default workspace */
    rn_gemm_use *uses;
    int n = rn_model_gemm_uses(batch, 10, 1, (size_t)RN_WORKSPACE_MB << 20, &uses);
    bench *b = bench_create(ctx, uses, n);
    if (!b) {
        free(uses);
        return RN_ERR_INPUT;
    }
    double *t_def = malloc(7 * n * sizeof(double)), *t_ind = t_def + n, *t_dir = t_def + 2 * n,
           *t = t_def + 3 * n, *t2 = t_def + 4 * n, *t_own = t_def + 5 * n, *t_clb = t_def + 6 * n;
    rn_gemm_own *own = calloc(n, sizeof *own);
    char *contested = calloc(n, 1);
    if (!t_def || !own || !contested) abort();
    for (int i = 0; i < n; i++) t_clb[i] = INFINITY;
    for (int i = 0; i < n && !quiet; i++)
        if (b->t_col[i] > 0)
            fprintf(stderr,
                    "rn50cl: tune: %s's %s (%zux%zux%zu, %d of the shape's %d calls) can "
                    "gather its columns inside the product; its im2col takes %.2f ms, counted "
                    "against what does not gather\n",
                    uses[i].glayer, uses[i].s.tb ? "weight gradient" : "forward", uses[i].s.M,
                    uses[i].s.N, uses[i].s.K, uses[i].gathered, uses[i].count,
                    b->t_col[i] * uses[i].count / uses[i].gathered * 1e3);
    search s = {ctx, b, quiet, rn_now(), budget_s, 0, 0, res};
    g_stop = 0;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    char why[256] = "";
    double total_flop = 0;
    for (int i = 0; i < n; i++) total_flop += uses[i].count * rn_gemm_flops(&uses[i].s);
    if (!quiet)
        fprintf(stderr,
                "rn50cl: tune: %d distinct GEMM shapes, %.1f GFLOP per training step at batch "
                "%d; budget %.0f s (Ctrl-C stops and keeps the best so far)\n",
                n, total_flop * 1e-9, batch, budget_s);

    /* CLBlast's own parameters: the baseline every candidate has to beat. Nothing has been
     * overridden yet in this process when the caller created ctx with no_tune. */
    double comp = bench_compile(s.b);
    double T_def = bench_time(s.b, 2, INFINITY, t_def);
    if (comp < 0 || T_def < 0 || !isfinite(T_def)) {
        T_def = INFINITY;
        for (int i = 0; i < n; i++) t_def[i] = INFINITY;
    }
    s.compile_s = comp > 0 ? comp : 0;
    s.pass_s = isfinite(T_def) ? T_def : 0;
    res->gflops_default = isfinite(T_def) ? gflops(s.b, t_def) : 0;
    if (!quiet)
        fprintf(stderr, "rn50cl: tune [%4.0f s] default  %6.1f GFLOP/s\n", elapsed(&s),
                res->gflops_default);

    /* Phase 1: rn50cl's own kernels, shape by shape (on CPUs they usually win outright, so they
     * come first): a full search per shape (600 s reached 46 of the 62 shapes in 300 s on a
     * 2-core Zen 3 machine, all in 210 s on Zen 4), then choices borrowed from its winners for
     * the rest, for which it stops early enough: a minute, at most 35 % of the budget. Both end
     * at 60 %. */
    const double borrow_s = fmin(0.35 * budget_s, 60);
    const int searched = own_search(&s, 0.6 - borrow_s / budget_s, own, t_own);
    const int borrowed = own_borrow(&s, searched, 0.6, own, t_own);
    int passed = 0; /* input gradients that run as their forward's products, not searched */
    for (int i = 0; i < n; i++) passed += passed_over(s.b, i, own, t_own);
    if (!quiet)
        fprintf(stderr,
                "rn50cl: tune [%4.0f s] own kernels searched on %d of %d shapes, borrowed "
                "choices timed on %d more; the input gradients of %d run as their forward's "
                "product\n",
                elapsed(&s), count_finite(t_own, n) - borrowed, n, borrowed, passed);

    /* Phase 2: Xgemm (the indirect kernel) for every shape: seeds, then one-step neighbours of
     * the best. Other load on the machine comes and goes, so each candidate is compared with
     * the incumbent measured again right after it (a seen program rebuilds from caches). After
     * the seeds, only the shapes CLBlast could still win stay in this search and the next
     * (narrow): on CPUs the own kernels win most shapes by far (in stop 29's searches they won
     * every shape on both runtimes, and the neighbours of the best seed came to 1.06× its speed
     * on PoCL, 1.4× on Intel's runtime). */
    rn_tune_params p = {0}, best_ind = {0};
    p.has_xgemm = p.has_routine = 1;
    p.min_indirect = 1;      /* M·N·K < 1 never: always the indirect kernel */
    double T_ind = INFINITY; /* the incumbent's latest time */
    seen_list seen = {0};
    int nseeds = (int)(sizeof xgemm_seeds / sizeof xgemm_seeds[0]), ok, ncontested = -1;
    for (int i = 0; fits(&s, 0.75); i++) {
        if (i == nseeds && isfinite(T_ind)) {
            if ((ncontested = narrow(&s, own, t_own, t_clb, contested)) == 0) break;
            double again = measure(&s, &best_ind, 1, INFINITY, t2);
            if (!(again > 0 && isfinite(again))) break;
            T_ind = again, memcpy(t_ind, t2, n * sizeof *t);
        }
        if (i < nseeds) {
            memcpy(p.xgemm, xgemm_seeds[i], sizeof p.xgemm);
            if (!rn_tune_xgemm_valid(p.xgemm, &ctx->info) ||
                !seen_add(&seen, p.xgemm, RN_TUNE_XGEMM_N))
                continue;
        } else if (!isfinite(T_ind) ||
                   !next_neighbour(best_ind.xgemm, RN_TUNE_XGEMM_N, xgemm_axes,
                                   (int)(sizeof xgemm_axes / sizeof xgemm_axes[0]), 0, &ctx->info,
                                   &seen, p.xgemm)) {
            break;
        }
        double tot = try_candidate(&s, &p, 1.5 * T_ind, t, "xgemm", &ok, NULL);
        if (!ok) continue;
        keep_fastest(t_clb, t, n);
        if (!isfinite(T_ind)) {
            T_ind = tot, best_ind = p, memcpy(t_ind, t, n * sizeof *t);
            continue;
        }
        double again = measure(&s, &best_ind, 1, INFINITY, t2);
        if (again > 0 && isfinite(again))
            T_ind = again, memcpy(t_ind, t2, n * sizeof *t), keep_fastest(t_clb, t2, n);
        if (tot < 0.97 * T_ind) T_ind = tot, best_ind = p, memcpy(t_ind, t, n * sizeof *t);
    }

    /* Phase 3: XgemmDirect for every shape (the best Xgemm kept). Its worth is per shape: the
     * switch-over size decides which shapes take it, so a candidate is scored by the mix of it
     * and the Xgemm times measured right after it, relative to Xgemm alone. */
    rn_tune_params best_dir = {0};
    double best_ratio = 0.97; /* a direct kernel has to save at least 3% to be used at all */
    if (isfinite(T_ind) && ncontested != 0) {
        p = best_ind;
        p.has_direct = 1;
        p.min_indirect = (size_t)1 << 20; /* (2²⁰)³ exceeds every M·N·K: always direct */
        seen_list dseen = {0};
        int nd = (int)(sizeof direct_seeds / sizeof direct_seeds[0]);
        /* PoCL takes up to ~2 minutes to build the direct kernel with large tiles, and at batch
         * 128 it can only win the classifier's tiny GEMMs: short searches skip it */
        for (int i = 0; fits(&s, 0.9) && budget_s - elapsed(&s) > 120; i++) {
            if (i < nd) {
                memcpy(p.direct, direct_seeds[i], sizeof p.direct);
                if (!rn_tune_direct_valid(p.direct, &ctx->info) ||
                    !seen_add(&dseen, p.direct, RN_TUNE_DIRECT_N))
                    continue;
            } else if (!best_dir.has_direct ||
                       !next_neighbour(best_dir.direct, RN_TUNE_DIRECT_N, direct_axes,
                                       (int)(sizeof direct_axes / sizeof direct_axes[0]), 1,
                                       &ctx->info, &dseen, p.direct)) {
                break;
            }
            double tot = try_candidate(&s, &p, INFINITY, t, "direct", &ok, t_ind), mix;
            if (!ok) continue;
            double again = measure(&s, &best_ind, 1, INFINITY, t2);
            if (!(again > 0 && isfinite(again))) continue;
            T_ind = again;
            memcpy(t_ind, t2, n * sizeof *t);
            pick_threshold(s.b, t_ind, t, &mix);
            (void)tot;
            if (mix / T_ind < best_ratio)
                best_ratio = mix / T_ind, best_dir = p, memcpy(t_dir, t, n * sizeof *t);
        }
        free(dseen.v);
    }
    free(seen.v);

    /* Phase 4: the combination, measured again as a whole and checked, on every shape. */
    s.b->active = NULL;
    rn_tune_params final = {0};
    double T_fin = INFINITY;
    if (isfinite(T_ind)) {
        final = best_ind;
        if (best_dir.has_direct) {
            double mix;
            final.has_direct = 1;
            memcpy(final.direct, best_dir.direct, sizeof final.direct);
            final.min_indirect = pick_threshold(s.b, t_ind, t_dir, &mix);
        }
        int was_stopped = g_stop;
        g_stop = 0; /* the final measurement runs even after Ctrl-C: it is short */
        if (rn_tune_params_apply(ctx, &final) == 0 && bench_compile(s.b) >= 0) {
            T_fin = bench_time(s.b, 3, INFINITY, t);
            if (T_fin > 0 && !bench_check(s.b, NULL, why, sizeof why)) T_fin = INFINITY;
        }
        g_stop = was_stopped;
        if (!(T_fin > 0)) T_fin = INFINITY;
    }
    /* Keep CLBlast's own parameters unless the winner is clearly faster (noise is a few %). */
    int keep = isfinite(T_fin) && T_fin < 0.97 * T_def;
    if (keep) res->best = final;
    res->gflops_clblast = keep ? gflops(s.b, t) : res->gflops_default;

    /* Phase 5: per shape, the own kernels where they beat CLBlast as it will be run. */
    /* CLBlast as applied in this process is what the file stores only when kept */
    own_choose(&s, own, t_own, keep ? t : t_def, keep, &res->best, t2);
    res->gflops_tuned = gflops(s.b, t2);
    if (!quiet)
        fprintf(stderr,
                "rn50cl: tune [%4.0f s] own    %d of %d shapes on rn50cl's own kernels: "
                "%.1f GFLOP/s (CLBlast alone %.1f)\n",
                elapsed(&s), res->best.nown, n, res->gflops_tuned, res->gflops_clblast);
    res->interrupted = g_stop;
    res->seconds = elapsed(&s);
    bench_free(s.b);
    sigaction(SIGINT, &old, NULL);

    char path[4096];
    if (out_path) snprintf(path, sizeof path, "%s", out_path);
    else rn_tune_path(ctx, path, sizeof path);
    int rc = RN_OK;
    rn_tune_summary sum = {batch, res->gflops_default, res->gflops_tuned, res->candidates,
                           res->seconds};
    if (rn_tune_save(ctx, path, &res->best, &sum)) {
        fprintf(stderr, "rn50cl: error: cannot write the tuning file %s.\n", path);
        rc = RN_ERR_INPUT;
    }
    if (!quiet) {
        char desc[1024];
        rn_tune_params clb = res->best; /* the own shapes are summed up, not listed */
        clb.nown = 0;
        rn_tune_params_format(&clb, desc, sizeof desc);
        fprintf(stderr,
                "rn50cl: tune: %s after %d candidates in %.0f s: %.1f GFLOP/s with %d of %d "
                "shapes on rn50cl's own kernels (CLBlast's defaults: %.1f)%s%s\n%s%s",
                keep || res->best.nown ? "done" : "nothing beat CLBlast's defaults",
                res->candidates, res->seconds, res->gflops_tuned, res->best.nown, n,
                res->gflops_default, rc ? "" : "; stored in ", rc ? "" : path, desc,
                desc[0] ? "\n" : "");
        if (!keep && isfinite(T_fin))
            fprintf(stderr, "rn50cl: tune: (this process keeps the last parameters tried; "
                            "new processes use CLBlast's defaults)\n");
    }
    free(t_def);
    free(own);
    free(contested);
    free(uses);
    return rc;
}

int rn_tune_auto(rn_ctx *ctx, int batch, double planned_images)
{
    if (ctx->no_tune || !(ctx->info.type & CL_DEVICE_TYPE_CPU) ||
        planned_images < RN_TUNE_AUTO_MIN_IMAGES)
        return RN_OK;
    char path[4096], tuned[64], why[256] = "";
    rn_tune_params p;
    rn_tune_path(ctx, path, sizeof path);
    /* with no cache folder to keep the result in, every run would search again */
    if (!path[0] || rn_tune_load(ctx, path, &p, tuned, sizeof tuned, why, sizeof why) == 0)
        return RN_OK;
    if (!ctx->quiet)
        fprintf(stderr,
                "rn50cl: no tuned GEMM parameters for %s yet: a %.0f s search runs once now "
                "(`rn50cl tune` searches longer; --no-tune skips this)\n",
                ctx->info.name, RN_TUNE_AUTO_BUDGET_S);
    rn_tune_result r;
    int rc = rn_tune_run(ctx, batch, RN_TUNE_AUTO_BUDGET_S, NULL, ctx->quiet, &r);
    if (r.interrupted) return RN_ERR_INTERRUPTED;
    return rc == RN_ERR_INPUT ? RN_OK : rc; /* an unwritable cache only costs the next search */
}
