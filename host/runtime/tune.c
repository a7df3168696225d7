/* CLBlast GEMM parameter search and storage. CLBlast ships no tuned entry for PoCL's CPU device
 * and its generic defaults are several times slower than what its own kernels can do there, so
 * rn50cl searches Xgemm/XgemmDirect parameters on the exact GEMMs a ResNet50 step issues. */
#include "runtime/tune.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/resnet50.h"
#include "ops/fc.h"
#include "rn50cl/rn50cl.h"
#include "runtime/fsutil.h"

#ifndef RN50CL_CLBLAST_VERSION
#define RN50CL_CLBLAST_VERSION "unknown"
#endif

const char *const rn_tune_xgemm_names[RN_TUNE_XGEMM_N] = {
    "GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB",
    "NDIMC", "NWG",  "SA",  "SB",  "STRM",  "STRN",  "VWM", "VWN"};
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
const char *const rn_tune_direct_names[RN_TUNE_DIRECT_N] = {
    "KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"};
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

static const char *const routine_names[1] = {"XGEMM_MIN_INDIRECT_SIZE"};

/* ---- parameter sets ---------------------------------------------------------------------- */

int rn_tune_params_apply(rn_ctx *ctx, const rn_tune_params *p)
{
    CLBlastStatusCode st;
    cl_device_id d = ctx->info.device;
    if (p->has_xgemm &&
        (st = CLBlastOverrideParameters(d, "Xgemm", CLBlastPrecisionSingle, RN_TUNE_XGEMM_N,
                                        (const char **)rn_tune_xgemm_names, p->xgemm)))
        return st;
    if (p->has_direct &&
        (st = CLBlastOverrideParameters(d, "XgemmDirect", CLBlastPrecisionSingle, RN_TUNE_DIRECT_N,
                                        (const char **)rn_tune_direct_names, p->direct)))
        return st;
    if (p->has_routine &&
        (st = CLBlastOverrideParameters(d, "GemmRoutine", CLBlastPrecisionSingle, 1,
                                        (const char **)routine_names, &p->min_indirect)))
        return st;
    return 0;
}

static size_t append(char *buf, size_t len, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t len, size_t at, const char *fmt, ...)
{
    if (at >= len) return at;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, len - at, fmt, ap);
    va_end(ap);
    return n < 0 ? at : at + (size_t)n;
}

void rn_tune_params_format(const rn_tune_params *p, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = 0;
    if (p->has_xgemm) {
        at = append(buf, len, at, "Xgemm");
        for (int i = 0; i < RN_TUNE_XGEMM_N; i++)
            at = append(buf, len, at, " %s=%zu", rn_tune_xgemm_names[i], p->xgemm[i]);
    }
    if (p->has_direct) {
        at = append(buf, len, at, "%sXgemmDirect", at ? "\n" : "");
        for (int i = 0; i < RN_TUNE_DIRECT_N; i++)
            at = append(buf, len, at, " %s=%zu", rn_tune_direct_names[i], p->direct[i]);
    }
    if (p->has_routine)
        at = append(buf, len, at, "%sGemmRoutine XGEMM_MIN_INDIRECT_SIZE=%zu", at ? "\n" : "",
                    p->min_indirect);
}

/* Parses "NAME=V NAME=V ..." into vals (names in `names` order); every name exactly once. */
static int parse_kv(const char *s, const char *const *names, int n, size_t *vals)
{
    int seen[RN_TUNE_XGEMM_N] = {0}, got = 0;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s || *s == '\n') break;
        const char *eq = strchr(s, '=');
        if (!eq) return -1;
        int idx = -1;
        for (int i = 0; i < n; i++)
            if (strlen(names[i]) == (size_t)(eq - s) && !strncmp(names[i], s, eq - s)) idx = i;
        if (idx < 0 || seen[idx]) return -1;
        char *end;
        unsigned long long v = strtoull(eq + 1, &end, 10);
        if (end == eq + 1 || (*end && *end != ' ' && *end != '\n') || v > 1u << 20) return -1;
        vals[idx] = (size_t)v;
        seen[idx] = 1;
        got++;
        s = end;
    }
    return got == n ? 0 : -1;
}

static int xgemm_valid(const size_t *v, const rn_device_info *d);
static int direct_valid(const size_t *v, const rn_device_info *d);

/* ---- the stored file ------------------------------------------------------------------------ */

void rn_tune_path(const rn_ctx *ctx, char *buf, size_t len)
{
    char dir[3072], name[256];
    rn_cache_dir(dir, sizeof dir);
    size_t i = 0;
    for (const char *c = ctx->info.name; *c && i + 1 < sizeof name; c++)
        name[i++] = (strchr("-_.", *c) || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
                     (*c >= 'A' && *c <= 'Z'))
                        ? *c
                        : '_';
    name[i] = 0;
    snprintf(buf, len, "%s/tuning/%s.txt", dir, i ? name : "device");
}

/* The value of a "key value" header line, or NULL (line must start with key + ' '). */
static const char *header_value(const char *line, const char *key)
{
    size_t n = strlen(key);
    return !strncmp(line, key, n) && line[n] == ' ' ? line + n + 1 : NULL;
}

int rn_tune_load(const rn_ctx *ctx, const char *path, rn_tune_params *p, char *tuned,
                 size_t tuned_len, char *why, size_t why_len)
{
    memset(p, 0, sizeof *p);
    if (tuned_len) tuned[0] = 0;
    size_t size;
    char *text = rn_read_file(path, &size);
    if (!text) {
        snprintf(why, why_len, "cannot be read");
        return -1;
    }
    int line_no = 0, have_end = 0, rc = 0;
    int have[3] = {0, 0, 0}; /* device, driver, clblast */
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !rc;
         line = strtok_r(NULL, "\n", &save), line_no++) {
        const char *v;
        if (have_end) {
            snprintf(why, why_len, "has text after its end line");
            rc = -1;
        } else if (line_no == 0) {
            char want[64];
            snprintf(want, sizeof want, "rn50cl-gemm-tuning %d", RN_TUNE_FORMAT);
            if (strcmp(line, want)) {
                snprintf(why, why_len, "is not an rn50cl tuning file of format %d", RN_TUNE_FORMAT);
                rc = -1;
            }
        } else if (line[0] == '#' || !line[0]) {
            continue;
        } else if ((v = header_value(line, "device"))) {
            have[0] = 1;
            if (strcmp(v, ctx->info.name)) {
                snprintf(why, why_len, "was tuned for device \"%s\"", v);
                rc = -1;
            }
        } else if ((v = header_value(line, "driver"))) {
            have[1] = 1;
            if (strcmp(v, ctx->info.driver_version)) {
                snprintf(why, why_len, "was tuned with driver version %s", v);
                rc = -1;
            }
        } else if ((v = header_value(line, "clblast"))) {
            have[2] = 1;
            if (strcmp(v, RN50CL_CLBLAST_VERSION)) {
                snprintf(why, why_len, "was tuned with CLBlast %s", v);
                rc = -1;
            }
        } else if ((v = header_value(line, "tuned"))) {
            if (tuned_len) snprintf(tuned, tuned_len, "%s", v);
        } else if (header_value(line, "batch") || header_value(line, "gflops_default") ||
                   header_value(line, "gflops_tuned") || header_value(line, "search")) {
            continue; /* informational */
        } else if ((v = header_value(line, "Xgemm"))) {
            rc = parse_kv(v, rn_tune_xgemm_names, RN_TUNE_XGEMM_N, p->xgemm);
            p->has_xgemm = 1;
        } else if ((v = header_value(line, "XgemmDirect"))) {
            rc = parse_kv(v, rn_tune_direct_names, RN_TUNE_DIRECT_N, p->direct);
            p->has_direct = 1;
        } else if ((v = header_value(line, "GemmRoutine"))) {
            rc = parse_kv(v, routine_names, 1, &p->min_indirect);
            p->has_routine = 1;
        } else if (!strcmp(line, "end")) {
            have_end = 1;
        } else {
            rc = -1;
        }
        if (rc && !why[0]) snprintf(why, why_len, "has a malformed line %d", line_no + 1);
    }
    free(text);
    if (!rc && (!have[0] || !have[1] || !have[2] || !have_end)) {
        snprintf(why, why_len, "is incomplete");
        rc = -1;
    }
    /* A file written by an older search, edited or imported may hold a set the search itself
     * would never run (one that corrupts memory inside CLBlast): it is not applied either. */
    if (!rc && ((p->has_xgemm && !xgemm_valid(p->xgemm, &ctx->info)) ||
                (p->has_direct && !direct_valid(p->direct, &ctx->info)))) {
        snprintf(why, why_len, "has GEMM parameters invalid on this device or unsafe with CLBlast");
        rc = -1;
    }
    if (rc) memset(p, 0, sizeof *p);
    return rc;
}

static int env_set(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0");
}

void rn_tune_apply(rn_ctx *ctx)
{
    if (ctx->no_tune || env_set("RN50CL_NO_TUNE")) return;
    char path[4096], tuned[64], why[256] = "";
    rn_tune_path(ctx, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f) return; /* never tuned: CLBlast's own parameters */
    fclose(f);
    rn_tune_params p;
    if (rn_tune_load(ctx, path, &p, tuned, sizeof tuned, why, sizeof why)) {
        fprintf(stderr,
                "rn50cl: warning: GEMM parameters in %s ignored: the file %s (run `rn50cl tune` "
                "to redo them).\n",
                path, why);
        return;
    }
    if (!p.has_xgemm && !p.has_direct && !p.has_routine) return; /* defaults were fastest */
    int st = rn_tune_params_apply(ctx, &p);
    if (st) {
        fprintf(stderr,
                "rn50cl: warning: GEMM parameters in %s ignored: CLBlast refused them (%s).\n",
                path, rn_clblast_error_name(st));
        return;
    }
    if (!ctx->quiet)
        fprintf(stderr, "rn50cl: GEMM parameters from %s applied (tuned %s)\n", path, tuned);
}

static int write_file(const rn_ctx *ctx, const char *path, const rn_tune_params *p, int batch,
                      const rn_tune_result *r)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        if (rn_mkdirs(dir)) return -1;
    }
    char date[64], body[2048];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    rn_tune_params_format(p, body, sizeof body);
    char text[8192];
    int n = snprintf(text, sizeof text,
                     "rn50cl-gemm-tuning %d\n"
                     "# CLBlast GEMM parameters found by `rn50cl tune`; delete to use CLBlast's\n"
                     "device %s\ndriver %s\nclblast %s\ntuned %s\nbatch %d\n"
                     "gflops_default %.1f\ngflops_tuned %.1f\nsearch %d candidates, %.0f s\n"
                     "%s%send\n",
                     RN_TUNE_FORMAT, ctx->info.name, ctx->info.driver_version,
                     RN50CL_CLBLAST_VERSION, date, batch, r->gflops_default, r->gflops_tuned,
                     r->candidates, r->seconds, body, body[0] ? "\n" : "");
    if (n < 0 || n >= (int)sizeof text) return -1;
    return rn_write_file_atomic(path, text, (size_t)n);
}

/* ---- the shapes ------------------------------------------------------------------------------ */

static int same_shape(const rn_gemm_shape *a, const rn_gemm_shape *b)
{
    return a->ta == b->ta && a->tb == b->tb && a->M == b->M && a->N == b->N && a->K == b->K &&
           a->lda == b->lda && a->ldb == b->ldb && a->ldc == b->ldc && a->beta == b->beta;
}

int rn_tune_resnet50_shapes(int batch, rn_gemm_shape **shapes, int **count)
{
    rn_model *m = malloc(sizeof *m);
    if (!m) abort();
    rn_model_init(m, 10);
    enum { CAP = 1024 };
    rn_gemm_shape *all = malloc(CAP * sizeof *all);
    if (!all) abort();
    const size_t ws = (size_t)64 << 20 >> 2; /* train's default --workspace-mb, in floats */
    int n = 0;
    rn_cbr *list[1 + 16 * 4];
    int nl = 0;
    list[nl++] = &m->stem;
    for (int b = 0; b < m->nblocks; b++) {
        rn_block *bl = &m->blocks[b];
        list[nl++] = &bl->c1;
        list[nl++] = &bl->c2;
        list[nl++] = &bl->c3;
        if (bl->has_down) list[nl++] = &bl->down;
    }
    for (int i = 0; i < nl; i++) {
        const rn_cbr *c = list[i];
        rn_conv cv = rn_conv_init(batch, c->cin, c->h, c->w, c->cout, c->k, c->stride, c->pad);
        /* the stem has no input gradient: its input is the image batch */
        n += rn_conv_gemm_shapes(&cv, ws, 1, i > 0, all + n, CAP - n);
    }
    n += rn_fc_gemm_shapes(batch, 2048, m->classes, 1, 1, all + n, CAP - n);
    free(m);
    if (n > CAP) abort();
    rn_gemm_shape *u = malloc(n * sizeof *u);
    int *cnt = malloc(n * sizeof *cnt), nu = 0;
    if (!u || !cnt) abort();
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < nu && !same_shape(&u[j], &all[i])) j++;
        if (j == nu) {
            u[nu] = all[i];
            cnt[nu++] = 0;
        }
        cnt[j]++;
    }
    free(all);
    *shapes = u;
    *count = cnt;
    return nu;
}

static double shape_flop(const rn_gemm_shape *s)
{
    return 2.0 * s->M * s->N * s->K;
}

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
    const rn_gemm_shape *s;
    const int *count;
    int *order; /* shapes by decreasing work, so hopeless candidates are pruned early */
    cl_mem A, B, C;
    float *hA, *hB, *hC;
    size_t na, nb, nc;
} bench;

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

static bench *bench_create(rn_ctx *ctx, const rn_gemm_shape *s, const int *count, int n)
{
    bench *b = calloc(1, sizeof *b);
    if (!b) abort();
    b->ctx = ctx;
    b->s = s;
    b->count = count;
    b->n = n;
    b->order = malloc(n * sizeof *b->order);
    if (!b->order) abort();
    for (int i = 0; i < n; i++) {
        b->order[i] = i;
        if (a_floats(&s[i]) > b->na) b->na = a_floats(&s[i]);
        if (b_floats(&s[i]) > b->nb) b->nb = b_floats(&s[i]);
        if (c_floats(&s[i]) > b->nc) b->nc = c_floats(&s[i]);
    }
    for (int i = 1; i < n; i++) /* insertion sort by count·flop, descending */
        for (int j = i; j > 0; j--) {
            int x = b->order[j - 1], y = b->order[j];
            if (count[x] * shape_flop(&s[x]) >= count[y] * shape_flop(&s[y])) break;
            b->order[j - 1] = y;
            b->order[j] = x;
        }
    b->hA = malloc(b->na * sizeof(float));
    b->hB = malloc(b->nb * sizeof(float));
    b->hC = malloc(b->nc * sizeof(float));
    if (!b->hA || !b->hB || !b->hC) abort();
    for (size_t i = 0; i < b->na; i++) b->hA[i] = (float)(2 * rnd() - 1);
    for (size_t i = 0; i < b->nb; i++) b->hB[i] = (float)(2 * rnd() - 1);
    for (size_t i = 0; i < b->nc; i++) b->hC[i] = (float)(2 * rnd() - 1);
    b->A = rn_buffer(ctx, b->na * sizeof(float));
    b->B = rn_buffer(ctx, b->nb * sizeof(float));
    b->C = rn_buffer(ctx, b->nc * sizeof(float));
    rn_write(ctx, b->A, 0, b->na * sizeof(float), b->hA);
    rn_write(ctx, b->B, 0, b->nb * sizeof(float), b->hB);
    rn_write(ctx, b->C, 0, b->nc * sizeof(float), b->hC);
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
    if (gemm(b, &b->s[smallest]) != CLBlastSuccess) return -1;
    if (clFinish(b->ctx->queue) != CL_SUCCESS) return -1;
    return rn_now() - t0;
}

/* Times every shape `passes` times (each shape's time is its fastest pass: other load on the
 * machine only ever adds). Returns Σ count·time in seconds, INFINITY when the running total
 * passed `limit` or SIGINT arrived, -1 when a call failed. */
static double bench_time(bench *b, int passes, double limit, double *t)
{
    for (int i = 0; i < b->n; i++) t[i] = INFINITY;
    double total = 0;
    for (int p = 0; p < passes; p++) {
        total = 0;
        for (int oi = 0; oi < b->n; oi++) {
            int i = b->order[oi];
            if (g_stop) return INFINITY;
            rn_finish(b->ctx);
            double t0 = rn_now();
            if (gemm(b, &b->s[i]) != CLBlastSuccess) return -1;
            if (clFinish(b->ctx->queue) != CL_SUCCESS) return -1;
            double dt = rn_now() - t0;
            if (dt < t[i]) t[i] = dt;
            total += b->count[i] * (p ? t[i] : dt);
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
        rn_finish(b->ctx);
        double t0 = rn_now();
        if (gemm(b, &b->s[i]) != CLBlastSuccess) return -1;
        if (clFinish(b->ctx->queue) != CL_SUCCESS) return -1;
        t[i] = rn_now() - t0;
        total += b->count[i] * t[i];
        if (t[i] > 1.5 * t_ind[i]) break;
    }
    return total;
}

/* Every shape (or those with finite only[i]) once from known C, 32 sampled outputs each against a
 * double dot product. */
static int bench_check(bench *b, const double *only, char *why, size_t why_len)
{
    float *got = malloc(b->nc * sizeof(float));
    if (!got) abort();
    int ok = 1;
    for (int i = 0; i < b->n && ok; i++) {
        const rn_gemm_shape *s = &b->s[i];
        if (only && !isfinite(only[i])) continue; /* not run by this candidate */
        size_t nc = c_floats(s);
        rn_write(b->ctx, b->C, 0, nc * sizeof(float), b->hC);
        if (gemm(b, s) != CLBlastSuccess) {
            snprintf(why, why_len, "a GEMM call failed");
            ok = 0;
            break;
        }
        rn_read(b->ctx, b->C, 0, nc * sizeof(float), got);
        for (int e = 0; e < 32 && ok; e++) {
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
                ok = 0;
            }
        }
    }
    free(got);
    return ok;
}

/* ---- candidates ------------------------------------------------------------------------------ */

static int mult(size_t x, size_t y)
{
    return y && x % y == 0;
}

static int xgemm_valid(const size_t *v, const rn_device_info *d)
{
    size_t mdimc = v[XG_MDIMC], ndimc = v[XG_NDIMC], mdima = v[XG_MDIMA], ndimb = v[XG_NDIMB];
    if (!mult(v[XG_MWG], mdimc * v[XG_VWM]) || !mult(v[XG_NWG], ndimc * v[XG_VWN]) ||
        !mult(v[XG_MWG], mdima * v[XG_VWM]) || !mult(v[XG_NWG], ndimb * v[XG_VWN]))
        return 0;
    if (mdimc * ndimc > d->max_work_group) return 0;
    /* the per-work-item tile lives in private memory: keep it to what registers can hold */
    if ((v[XG_MWG] / mdimc) * (v[XG_NWG] / ndimc) > 256) return 0;
    if (v[XG_GEMMK] == 0) {
        if (!mult(v[XG_KWG], v[XG_KWI])) return 0;
        if (!mult(mdimc * ndimc, mdima) || !mult(v[XG_KWG], mdimc * ndimc / mdima)) return 0;
        if (!mult(mdimc * ndimc, ndimb) || !mult(v[XG_KWG], mdimc * ndimc / ndimb)) return 0;
        if (v[XG_KREG] != 1) return 0;
    } else {
        if (!mult(v[XG_KREG], v[XG_VWN]) || mdima != mdimc || ndimb != ndimc) return 0;
        if (v[XG_SA] || v[XG_SB] || v[XG_KWG] != 1 || v[XG_KWI] != 1) return 0;
        /* CLBlast's GEMMK=1 kernel mis-indexes its tiles when MWG != NWG (upstream issue #340,
         * fixed only in 2024 by pull request #543, after 1.5.3): it returns wrong results, reads
         * past its buffers and can write past them, which on a CPU device corrupts the host heap
         * and aborts the process later ("double free or corruption"). A result check cannot
         * catch that, so such sets are never run. */
        if (v[XG_MWG] != v[XG_NWG]) return 0;
    }
    if (4 * (v[XG_SA] * v[XG_KWG] * v[XG_MWG] + v[XG_SB] * v[XG_KWG] * v[XG_NWG]) > d->local_mem)
        return 0;
    return 1;
}

static int direct_valid(const size_t *v, const rn_device_info *d)
{
    size_t wgd = v[XD_WGD], mc = v[XD_MDIMCD], nc = v[XD_NDIMCD], ma = v[XD_MDIMAD],
           nb = v[XD_NDIMBD];
    if (!mult(wgd, v[XD_KWID]) || !mult(wgd, mc * v[XD_VWMD]) || !mult(wgd, nc * v[XD_VWND]) ||
        !mult(wgd, ma * v[XD_VWMD]) || !mult(wgd, nb * v[XD_VWND]))
        return 0;
    if (!mult(mc * nc, ma) || !mult(wgd, mc * nc / ma) || !mult(mc * nc, nb) ||
        !mult(wgd, mc * nc / nb))
        return 0;
    if (mc * nc > d->max_work_group) return 0;
    if ((wgd / mc) * (wgd / nc) > 256) return 0;
    if (4 * (wgd * (wgd + v[XD_PADA]) + wgd * (wgd + v[XD_PADB])) > d->local_mem) return 0;
    return 1;
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
        if (!(direct ? direct_valid(out, d) : xgemm_valid(out, d))) continue;
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

static double gflops(const bench *b, const double *t)
{
    double f = 0, tt = 0;
    for (int i = 0; i < b->n; i++) {
        f += b->count[i] * shape_flop(&b->s[i]);
        tt += b->count[i] * t[i];
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
        double mnk = (double)b->s[i].M * b->s[i].N * b->s[i].K;
        size_t T =
            (size_t)ceil(cbrt(mnk)); /* T³ ≥ mnk: this shape indirect, smaller ones may not */
        while ((double)T * T * T < mnk) T++;
        cands[nc++] = T;
    }
    for (int c = 0; c < nc; c++) {
        double T3 = (double)cands[c] * cands[c] * cands[c], tot = 0;
        for (int i = 0; i < b->n; i++) {
            double mnk = (double)b->s[i].M * b->s[i].N * b->s[i].K;
            tot += b->count[i] * (mnk < T3 ? t_dir[i] : t_ind[i]);
        }
        if (tot < *best_total) *best_total = tot, best_T = cands[c];
    }
    return best_T;
}

int rn_tune_run(rn_ctx *ctx, int batch, double budget_s, const char *out_path, int quiet,
                rn_tune_result *res)
{
    memset(res, 0, sizeof *res);
    rn_gemm_shape *shapes;
    int *count;
    int n = rn_tune_resnet50_shapes(batch, &shapes, &count);
    double *t_def = malloc(5 * n * sizeof(double)), *t_ind = t_def + n, *t_dir = t_def + 2 * n,
           *t = t_def + 3 * n, *t2 = t_def + 4 * n;
    if (!t_def) abort();
    search s = {ctx, NULL, quiet, rn_now(), budget_s, 0, 0, res};
    g_stop = 0;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    s.b = bench_create(ctx, shapes, count, n);
    char why[256] = "";
    double total_flop = 0;
    for (int i = 0; i < n; i++) total_flop += count[i] * shape_flop(&shapes[i]);
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

    /* Phase 1: Xgemm (the indirect kernel) for every shape: seeds, then one-step neighbours of
     * the best. Other load on the machine comes and goes, so each candidate is compared with
     * the incumbent measured again right after it (a seen program rebuilds from caches). */
    rn_tune_params p = {0}, best_ind = {0};
    p.has_xgemm = p.has_routine = 1;
    p.min_indirect = 1;      /* M·N·K < 1 never: always the indirect kernel */
    double T_ind = INFINITY; /* the incumbent's latest time */
    seen_list seen = {0};
    int nseeds = (int)(sizeof xgemm_seeds / sizeof xgemm_seeds[0]), ok;
    for (int i = 0; fits(&s, 0.6); i++) {
        if (i < nseeds) {
            memcpy(p.xgemm, xgemm_seeds[i], sizeof p.xgemm);
            if (!xgemm_valid(p.xgemm, &ctx->info) || !seen_add(&seen, p.xgemm, RN_TUNE_XGEMM_N))
                continue;
        } else if (!isfinite(T_ind) ||
                   !next_neighbour(best_ind.xgemm, RN_TUNE_XGEMM_N, xgemm_axes,
                                   (int)(sizeof xgemm_axes / sizeof xgemm_axes[0]), 0, &ctx->info,
                                   &seen, p.xgemm)) {
            break;
        }
        double tot = try_candidate(&s, &p, 1.5 * T_ind, t, "xgemm", &ok, NULL);
        if (!ok) continue;
        if (!isfinite(T_ind)) {
            T_ind = tot, best_ind = p, memcpy(t_ind, t, n * sizeof *t);
            continue;
        }
        double again = measure(&s, &best_ind, 1, INFINITY, t2);
        if (again > 0 && isfinite(again)) T_ind = again, memcpy(t_ind, t2, n * sizeof *t);
        if (tot < 0.97 * T_ind) T_ind = tot, best_ind = p, memcpy(t_ind, t, n * sizeof *t);
    }

    /* Phase 2: XgemmDirect for every shape (the best Xgemm kept). Its worth is per shape: the
     * switch-over size decides which shapes take it, so a candidate is scored by the mix of it
     * and the Xgemm times measured right after it, relative to Xgemm alone. */
    rn_tune_params best_dir = {0};
    double best_ratio = 0.97; /* a direct kernel has to save at least 3% to be used at all */
    if (isfinite(T_ind)) {
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
                if (!direct_valid(p.direct, &ctx->info) ||
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

    /* Phase 3: the combination, measured again as a whole and checked. */
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
    res->interrupted = g_stop;
    /* Keep CLBlast's own parameters unless the winner is clearly faster (noise is a few %). */
    int keep = isfinite(T_fin) && T_fin < 0.97 * T_def;
    if (keep) {
        res->best = final;
        res->gflops_tuned = gflops(s.b, t);
    } else {
        res->gflops_tuned = res->gflops_default;
    }
    res->seconds = elapsed(&s);
    bench_free(s.b);
    sigaction(SIGINT, &old, NULL);

    char path[4096];
    if (out_path) snprintf(path, sizeof path, "%s", out_path);
    else rn_tune_path(ctx, path, sizeof path);
    int rc = RN_OK;
    if (write_file(ctx, path, &res->best, batch, res)) {
        fprintf(stderr, "rn50cl: error: cannot write the tuning file %s.\n", path);
        rc = RN_ERR_INPUT;
    }
    if (!quiet) {
        char desc[1024];
        rn_tune_params_format(&res->best, desc, sizeof desc);
        fprintf(stderr,
                "rn50cl: tune: %s after %d candidates in %.0f s: %.1f GFLOP/s (CLBlast's "
                "defaults: %.1f)%s%s\n%s%s",
                keep ? "done" : "nothing beat CLBlast's defaults", res->candidates, res->seconds,
                res->gflops_tuned, res->gflops_default, rc ? "" : "; stored in ", rc ? "" : path,
                desc, desc[0] ? "\n" : "");
        if (!keep && isfinite(T_fin))
            fprintf(stderr, "rn50cl: tune: (this process keeps the last parameters tried; "
                            "new processes use CLBlast's defaults)\n");
    }
    free(t_def);
    free(shapes);
    free(count);
    return rc;
}

int rn_tune_auto(rn_ctx *ctx, int batch, double planned_images)
{
    if (ctx->no_tune || env_set("RN50CL_NO_TUNE") || !(ctx->info.type & CL_DEVICE_TYPE_CPU) ||
        planned_images < RN_TUNE_AUTO_MIN_IMAGES)
        return RN_OK;
    char path[4096], tuned[64], why[256] = "";
    rn_tune_params p;
    rn_tune_path(ctx, path, sizeof path);
    if (rn_tune_load(ctx, path, &p, tuned, sizeof tuned, why, sizeof why) == 0) return RN_OK;
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
