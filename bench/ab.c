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
                               "[--repeats N]\n";

static int ab_bad(const char *what, const char *arg)
{
    fprintf(stderr, "cl_bench: error: %s '%s'.\n%s", what, arg ? arg : "", ab_usage);
    return RN_ERR_INPUT;
}

static double once_ms(rn_ctx *ctx, const rn_gemm_own *o, const clb_gemm_bufs *g)
{
    rn_finish(ctx);
    double t0 = rn_now();
    rn_sgemm_own(ctx, o, 1.0f, g->a, 0, g->b, 0, g->c, 0);
    rn_finish(ctx);
    return (rn_now() - t0) * 1e3;
}

/* Median ms of A (t[0]) and B (t[1]) on shape s, in turns, A first in even rounds. */
static void time_pair(rn_ctx *ctx, const rn_gemm_own *o[2], int repeats, const clb_gemm_bufs *g,
                      double med[2])
{
    double t[2][64];
    for (int v = 0; v < 2; v++) once_ms(ctx, o[v], g); /* warm-up */
    for (int r = 0; r < repeats; r++)
        for (int k = 0; k < 2; k++) {
            int v = r % 2 ? 1 - k : k;
            t[v][r] = once_ms(ctx, o[v], g);
        }
    for (int v = 0; v < 2; v++) med[v] = clb_stats_of(t[v], repeats).med;
}

static int load(rn_ctx *ctx, const char *path, rn_tune_params *p)
{
    char tuned[64], why[512];
    if (rn_tune_load(ctx, path, p, tuned, sizeof tuned, why, sizeof why) == 0) return RN_OK;
    fprintf(stderr, "cl_bench: error: %s cannot be used on %s: %s.\n", path, ctx->info.name, why);
    return RN_ERR_INPUT;
}

static void choice(char *buf, size_t len, const rn_gemm_own *o)
{
    snprintf(buf, len, "t%d m%d kc%zu", o->tile, o->m_fast, o->kc);
}

static int run_ab(rn_ctx *ctx, const char *files[2], int batch, int repeats)
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
    printf("A: %s\nB: %s\n%s, batch %d, median of %d runs each in turns\n", files[0], files[1],
           ctx->info.name, batch, repeats);
    printf("%-24s %-5s %2s %5s %5s %5s %5s  %-16s %7s  %-16s %7s  %5s\n", "GEMM", "form", "op", "M",
           "N", "K", "calls", "A choice", "GFLOP/s", "B choice", "GFLOP/s", "B/A");
    double flop = 0, ms[2] = {0, 0};
    int skipped = 0;
    for (int i = 0; i < n; i++) {
        const rn_gemm_shape *s = &u[i].s;
        const rn_gemm_own *o[2] = {rn_gemm_own_lookup(p[0].own, p[0].nown, s),
                                   rn_gemm_own_lookup(p[1].own, p[1].nown, s)};
        cl_int err;
        if (!o[0] || !o[1] || rn_gemm_own_reserve(ctx, o[0], &err) ||
            rn_gemm_own_reserve(ctx, o[1], &err)) {
            skipped++;
            continue;
        }
        double med[2];
        time_pair(ctx, o, repeats, &g, med);
        const double f = rn_gemm_flops(s);
        char ca[32], cb[32];
        choice(ca, sizeof ca, o[0]);
        choice(cb, sizeof cb, o[1]);
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

int clb_ab(int argc, char **argv)
{
    const char *files[2] = {NULL, NULL}, *sel = NULL;
    int nfiles = 0, batch = 128, repeats = 11;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (!strcmp(a, "--device") || !strcmp(a, "--batch-size") || !strcmp(a, "--repeats")) {
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
    rc = run_ab(&ctx, files, batch, repeats);
    rn_ctx_release(&ctx);
    return rc;
}
