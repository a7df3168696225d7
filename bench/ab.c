/* `cl_bench ab A.txt B.txt`: two stored GEMM choices for one device (files as `rn50cl tune`
 * writes them, say before and after a change) timed in one process on every GEMM shape of a
 * training step, A and B taking turns run by run. On a shared machine the absolute figures drift
 * by 10-20 % between processes; within one process A and B see the same drift. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_bench.h"
#include "cli/env.h"
#include "model/cases.h"
#include "rn50cl/rn50cl.h"
#include "runtime/tuning.h"

static const char ab_usage[] = "usage: cl_bench ab A.txt B.txt [--device SEL] [--batch-size N] "
                               "[--repeats N] [--groups GA,GB]\n";

static int ab_bad(const char *what, const char *arg)
{
    fprintf(stderr, "cl_bench: error: %s '%s'.\n%s", what, arg ? arg : "", ab_usage);
    return RN_ERR_INPUT;
}

/* One file's choices for a use (rn_gemm_use) as a step runs them: `own` for the use's shape,
 * and for the calls that gather from a conv's input (`gathered` of them) `as`, the choice of the
 * product they run as (rn_sgemm_rows). */
typedef struct ab_side {
    const rn_gemm_own *own, *as;
    int gathered;
    int groups; /* ctx->tile_groups while this side runs */
} ab_side;

static ab_side side_of(rn_ctx *ctx, const rn_tune_params *p, const rn_gemm_use *u, int i,
                       int groups)
{
    ab_side d = {rn_gemm_own_lookup(p->own, p->nown, &u[i].s), NULL, 0, groups};
    if (u[i].runs_as >= 0) d.as = rn_gemm_own_lookup(p->own, p->nown, &u[u[i].runs_as].s);
    if (d.as) {
        const rn_gemm_own_swap w = rn_gemm_own_only(ctx, d.as);
        d.gathered = rn_gemm_use_gathered(ctx, u, i);
        rn_gemm_own_restore(ctx, w);
    }
    if (!d.gathered) d.as = NULL;
    return d;
}

/* ms of one call, explicit (gather 0: on d->own) or gathering (on d->as, as the step runs it). */
static double once_ms(rn_ctx *ctx, const ab_side *d, const rn_gemm_use *u, int i, int gather,
                      const clb_gemm_bufs *g)
{
    const rn_conv *c = &u[i].gconv;
    const rn_gemm_own_swap w = rn_gemm_own_only(ctx, gather ? d->as : NULL);
    ctx->tile_groups = d->groups;
    rn_finish(ctx);
    double t0 = rn_now();
    if (gather)
        rn_sgemm_rows(ctx, &u[u[i].runs_as].s, g->a, 0, g->b, c->Cin, c->N, c->H, c->W, 0, g->c, 0);
    else rn_sgemm_own(ctx, d->own, 1.0f, g->a, 0, g->b, 0, g->c, 0);
    rn_finish(ctx);
    const double t = (rn_now() - t0) * 1e3;
    rn_gemm_own_restore(ctx, w);
    return t;
}

/* Whether side d runs any of use i's calls explicitly (gather 0) or gathering (gather 1). */
static int runs(const ab_side *d, const rn_gemm_use *u, int i, int gather)
{
    return gather ? d->gathered > 0 : d->gathered < u[i].count;
}

/* Median ms per call of use i for A (med[0]) and B (med[1]): each side's explicit and gathered
 * calls timed in turns, A first in even rounds, weighed by how many of the use's calls each
 * form runs. */
static void time_pair(rn_ctx *ctx, const ab_side d[2], const rn_gemm_use *u, int i, int repeats,
                      const clb_gemm_bufs *g, double med[2])
{
    double t[2][2][64] = {{{0}}};
    for (int v = 0; v < 2; v++) /* warm-up */
        for (int f = 0; f < 2; f++)
            if (runs(&d[v], u, i, f)) once_ms(ctx, &d[v], u, i, f, g);
    for (int r = 0; r < repeats; r++)
        for (int k = 0; k < 2; k++) {
            const int v = r % 2 ? 1 - k : k;
            for (int f = 0; f < 2; f++)
                if (runs(&d[v], u, i, f)) t[v][f][r] = once_ms(ctx, &d[v], u, i, f, g);
        }
    for (int v = 0; v < 2; v++)
        med[v] = ((u[i].count - d[v].gathered) * clb_stats_of(t[v][0], repeats).med +
                  d[v].gathered * clb_stats_of(t[v][1], repeats).med) /
                 u[i].count;
}

static int load(rn_ctx *ctx, const char *path, rn_tune_params *p)
{
    char tuned[64], why[512];
    if (rn_tune_load(ctx, path, p, tuned, sizeof tuned, why, sizeof why) == 0) return RN_OK;
    fprintf(stderr, "cl_bench: error: %s cannot be used on %s: %s.\n", path, ctx->info.name, why);
    return RN_ERR_INPUT;
}

/* The choice the side's calls run (the gathering one where any gather), `g` and how many gather. */
static void choice(char *buf, size_t len, const ab_side *d)
{
    const rn_gemm_own *o = d->gathered ? d->as : d->own;
    int n = snprintf(buf, len, "t%d m%d kc%zu", o->tile, o->m_fast, o->kc);
    if (d->gathered && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " g%d", d->gathered);
}

static int run_ab(rn_ctx *ctx, const char *files[2], int batch, int repeats, const int groups[2])
{
    rn_tune_params p[2];
    for (int v = 0; v < 2; v++)
        if (load(ctx, files[v], &p[v])) return RN_ERR_INPUT;
    rn_gemm_use *u;
    int n = rn_model_gemm_uses(batch, 10, 1, (size_t)RN_WORKSPACE_MB << 20, &u);
    rn_gemm_shape *shapes = malloc((size_t)n * sizeof *shapes);
    if (!shapes || n < 1) abort();
    for (int i = 0; i < n; i++) shapes[i] = u[i].s;
    clb_gemm_bufs g = clb_gemm_bufs_alloc(ctx, shapes, n);
    for (int v = 0; v < 2; v++) {
        printf("%c: %s, own kernels in ", "AB"[v], files[v]);
        if (groups[v]) printf("%d work-groups per compute unit\n", groups[v]);
        else printf("work-groups the runtime chooses\n");
    }
    printf("%s, batch %d, median of %d runs each in turns\n", ctx->info.name, batch, repeats);
    printf("%-24s %-5s %2s %5s %5s %5s %5s  %-16s %7s  %-16s %7s  %5s\n", "GEMM", "form", "op", "M",
           "N", "K", "calls", "A choice", "GFLOP/s", "B choice", "GFLOP/s", "B/A");
    double flop = 0, ms[2] = {0, 0};
    int skipped = 0;
    for (int i = 0; i < n; i++) {
        const rn_gemm_shape *s = &u[i].s;
        const ab_side d[2] = {side_of(ctx, &p[0], u, i, groups[0]),
                              side_of(ctx, &p[1], u, i, groups[1])};
        int runnable = 1;
        for (int v = 0; v < 2; v++) {
            cl_int err;
            /* a shape all of whose calls run as another may have no choice of its own */
            runnable &= (d[v].own || d[v].gathered == u[i].count) &&
                        !(d[v].own && rn_gemm_own_reserve(ctx, d[v].own, &err)) &&
                        !(d[v].as && rn_gemm_own_reserve(ctx, d[v].as, &err));
        }
        if (!runnable) {
            skipped++;
            continue;
        }
        double med[2];
        time_pair(ctx, d, u, i, repeats, &g, med);
        const double f = rn_gemm_flops(s);
        char ca[32], cb[32];
        choice(ca, sizeof ca, &d[0]);
        choice(cb, sizeof cb, &d[1]);
        printf("%-24s %-5s %c%c %5zu %5zu %5zu %5d  %-16s %7.1f  %-16s %7.1f  %5.2f\n", u[i].layer,
               u[i].form, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, u[i].count, ca,
               f / med[0] * 1e-6, cb, f / med[1] * 1e-6, med[0] / med[1]);
        flop += u[i].count * f;
        for (int v = 0; v < 2; v++) ms[v] += u[i].count * med[v];
    }
    if (skipped)
        printf("%d of %d shapes skipped: on CLBlast in A or B (files are tuned at one batch: is "
               "it %d?), or their scratch was refused\n",
               skipped, n, batch);
    if (flop > 0)
        printf("time-weighted over the step's calls: A %.1f GFLOP/s (%.1f ms), B %.1f GFLOP/s "
               "(%.1f ms), B/A %.3f\n",
               flop / ms[0] * 1e-6, ms[0], flop / ms[1] * 1e-6, ms[1], ms[0] / ms[1]);
    clb_gemm_bufs_free(&g);
    free(shapes);
    free(u);
    return RN_OK;
}

/* "GA,GB" into g[0], g[1], each 0..1024 (0: the runtime's work-groups). 0, or -1 if malformed. */
static int parse_groups(const char *v, int g[2])
{
    char *end;
    for (int k = 0; k < 2; k++) {
        long x = strtol(v, &end, 10);
        if (end == v || x < 0 || x > 1024 || *end != (k ? '\0' : ',')) return -1;
        g[k] = (int)x;
        v = end + 1;
    }
    return 0;
}

int clb_ab(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *sel = NULL;
    int nfiles = 0, batch = 128, repeats = 11, groups[2] = {-1, -1};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!strcmp(a, "--groups")) {
            if (!v) return ab_bad("missing value after", a);
            if (parse_groups(v, groups))
                return ab_bad("--groups needs two integers from 0 to 1024 as GA,GB, not", v);
            i++;
        } else if (!strcmp(a, "--device") || !strcmp(a, "--batch-size") ||
                   !strcmp(a, "--repeats")) {
            if (!v) return ab_bad("missing value after", a);
            long x = strtol(v, &end, 10);
            if (!strcmp(a, "--device")) sel = v;
            else if (!*v || *end || x < 1 || x > (!strcmp(a, "--repeats") ? 64 : 1 << 16))
                return ab_bad(!strcmp(a, "--repeats")
                                  ? "--repeats needs an integer from 1 to 64, not"
                                  : "--batch-size needs a positive integer, not",
                              v);
            else if (!strcmp(a, "--repeats")) repeats = (int)x;
            else batch = (int)x;
            i++;
        } else if (a[0] == '-' || nfiles == 2) {
            return ab_bad("unexpected argument", a);
        } else {
            files[nfiles++] = a;
        }
    }
    if (nfiles != 2) return ab_bad("needs two tuning files, got", nfiles ? files[0] : "");
    rn_env env;
    rn_env_read(&env);
    rn_ctx_options o = env.ctx;
    rn_env_flag_device(&o, sel);
    o.quiet = 1;
    o.no_tune = 1; /* neither file is applied: each product runs the choice named */
    rn_ctx ctx;
    int rc = rn_ctx_create(&ctx, &o);
    if (rc) return rc;
    for (int v = 0; v < 2; v++)
        if (groups[v] < 0) groups[v] = ctx.tile_groups; /* the device's rule */
    rc = run_ab(&ctx, files, batch, repeats, groups);
    rn_ctx_release(&ctx);
    return rc;
}
