/* Shared test helpers: failure counting, seeded random data, poisoned buffers, tolerance checks.
 * Kept free of test-specific logic so that every test reads as a list of claims. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "cli/env.h"

static int g_pass, g_fail;
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static rn_ctx *g_ctx;
static rn_env g_env; /* the shared context's options, read on first use */
static int g_env_read;

void tu_check(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        g_pass++;
        return;
    }
    g_fail++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stdout, "FAIL %s:%d: ", file, line);
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
    fflush(stdout);
    va_end(ap);
}

int tu_finish(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, g_pass, g_fail);
    if (g_ctx) rn_ctx_release(g_ctx);
    return (g_fail == 0 && g_pass > 0) ? 0 : 1;
}

void tu_seed(uint64_t s)
{
    g_rng = s ? s : 1;
}

static uint64_t next64(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 2685821657736338717ull;
}

double tu_uniform(double lo, double hi)
{
    return lo + (hi - lo) * ((next64() >> 11) * (1.0 / 9007199254740992.0));
}

void tu_fill_uniform(float *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)tu_uniform(lo, hi);
}

void tu_fill_away_from_zero(float *x, size_t n, double lo, double hi, double gap)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        do v = tu_uniform(lo, hi);
        while (fabs(v) < gap);
        x[i] = (float)v;
    }
}

static int compare_impl(const char *what, const float *gf, const double *gd, const double *ref,
                        size_t n, double atol, double rtol)
{
    size_t bad = 0, worst = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < n; i++) {
        double g = gf ? gf[i] : gd[i];
        double lim = atol + rtol * fabs(ref[i]);
        double d = fabs(g - ref[i]);
        int ok = isfinite(g) && d <= lim;
        if (!ok) bad++;
        double excess = isfinite(g) ? d - lim : INFINITY;
        if (!ok && excess > worst_excess) {
            worst_excess = excess;
            worst = i;
        }
    }
    if (bad) {
        double g = gf ? gf[worst] : gd[worst];
        tu_check(
            0, __FILE__, __LINE__,
            "%s: %zu of %zu elements out of tolerance (atol %g, rtol %g); worst [%zu] got %.9g "
            "want %.9g",
            what, bad, n, atol, rtol, worst, g, ref[worst]);
    } else {
        tu_check(n > 0, __FILE__, __LINE__, "%s: nothing to compare", what);
    }
    return bad == 0 && n > 0;
}

int tu_compare(const char *what, const float *got, const double *ref, size_t n, double atol,
               double rtol)
{
    return compare_impl(what, got, NULL, ref, n, atol, rtol);
}

int tu_compare_dd(const char *what, const double *got, const double *ref, size_t n, double atol,
                  double rtol)
{
    return compare_impl(what, NULL, got, ref, n, atol, rtol);
}

const char *tu_name(const char *fmt, ...)
{
    static char names[8][256];
    static int next;
    char *p = names[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof names[0], fmt, ap);
    va_end(ap);
    return p;
}

double tu_central_diff(double *v, double h, double (*f)(void *arg), void *arg)
{
    const double keep = *v;
    *v = keep + h;
    double lp = f(arg);
    *v = keep - h;
    double lm = f(arg);
    *v = keep;
    return (lp - lm) / (2 * h);
}

rn_ctx_options *tu_ctx_options(void)
{
    if (!g_env_read) {
        rn_env_read(&g_env);
        g_env.ctx.quiet = 1;
        g_env_read = 1;
    }
    return &g_env.ctx;
}

rn_ctx *tu_ctx(void)
{
    if (!g_ctx) {
        g_ctx = calloc(1, sizeof *g_ctx);
        if (rn_ctx_create(g_ctx, tu_ctx_options()) != 0) {
            fprintf(stderr, "test: cannot create an OpenCL context\n");
            exit(1);
        }
    }
    return g_ctx;
}

cl_mem tu_upload(const float *x, size_t n)
{
    cl_mem m = rn_buffer(tu_ctx(), n * sizeof(float));
    rn_write(tu_ctx(), m, 0, n * sizeof(float), x);
    return m;
}

cl_mem tu_poisoned(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    cl_mem m = tu_upload(p, n);
    free(p);
    return m;
}

void tu_download(cl_mem m, float *x, size_t n)
{
    rn_read(tu_ctx(), m, 0, n * sizeof(float), x);
}

float *tu_download_new(cl_mem m, size_t n)
{
    float *x = malloc(n * sizeof *x);
    tu_download(m, x, n);
    return x;
}

const char *tu_tmpdir(const char *tag)
{
    static char paths[16][1024];
    static int used;
    const char *base = getenv("RN50CL_TEST_TMP");
    char *p = paths[used++ % 16];
    snprintf(p, 1024, "%s/%s-%d", base && *base ? base : "/tmp/rn50cl-test", tag, (int)getpid());
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0 || rn_mkdirs(p) != 0) {
        fprintf(stderr, "test: cannot create %s\n", p);
        exit(1);
    }
    return p;
}

int tu_run(const char *cmd, char **out)
{
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 1024) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(f);
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tu_small(void)
{
    const char *v = getenv("RN50CL_TEST_SMALL");
    return v && *v && strcmp(v, "0") != 0;
}

/* The fields that make a case's shape (its name aside), as text, so two cases compare simply. */
static void shape_key(const rn_opcase *c, char *buf, size_t len)
{
    const rn_conv *v = &c->conv;
    const rn_pool *p = &c->pool;
    snprintf(buf, len,
             "%d|%d %d %d %d %d %d %d %d %d %d|%d %zu %d %d %d %d|%d %d %d %d %d %d %d %d|%zu",
             (int)c->op, v->N, v->Cin, v->H, v->W, v->Cout, v->kh, v->kw, v->stride, v->pad_h,
             v->pad_w, c->C, c->M, c->relu, c->N, c->HW, c->classes, p->C, p->N, p->H, p->W, p->k,
             p->stride, p->pad_h, p->pad_w, c->nparams);
}

int tu_model_cases(enum rn_op op, int batch, rn_opcase **out)
{
    rn_opcase *all;
    int n = rn_model_cases(batch, 10, &all), nu = 0;
    rn_opcase *u = malloc(n * sizeof *u);
    if (!u) abort();
    for (int i = 0; i < n; i++) {
        if (all[i].op != op) continue;
        char a[256], b[256];
        shape_key(&all[i], a, sizeof a);
        int seen = 0;
        for (int j = 0; j < nu && !seen; j++) {
            shape_key(&u[j], b, sizeof b);
            seen = !strcmp(a, b);
        }
        if (!seen) u[nu++] = all[i];
    }
    free(all);
    *out = u;
    return nu;
}
