/* Section 2, CLBlast SGEMM through rn_sgemm: square sizes, then every distinct GEMM shape one
 * ResNet50 training step issues at the batch (forward, input-gradient and weight-gradient forms,
 * from the model's case list), each as the step runs it, and the step's time-weighted total. */
#include <stdlib.h>

#include "cl_bench.h"
#include "model/cases.h"
#include "ops/conv.h"

clb_model_flops clb_flops_per_image(int batch)
{
    clb_model_flops f = {0, 0};
    rn_opcase *c;
    int n = rn_model_cases(batch, 10, &c);
    for (int i = 0; i < n; i++) {
        f.inference += rn_opcase_flops(&c[i], 0);
        f.train += rn_opcase_flops(&c[i], 0) + rn_opcase_flops(&c[i], 1);
    }
    free(c);
    f.train /= batch;
    f.inference /= batch;
    return f;
}

static size_t need_a(const rn_gemm_shape *s)
{
    return (s->ta ? s->K : s->M) * s->lda;
}

static size_t need_b(const rn_gemm_shape *s)
{
    return (s->tb ? s->N : s->K) * s->ldb;
}

static size_t need_c(const rn_gemm_shape *s)
{
    return s->M * s->ldc;
}

clb_gemm_bufs clb_gemm_bufs_alloc(rn_ctx *ctx, const rn_gemm_shape *s, int n)
{
    size_t na = 1, nb = 1, nc = 1;
    for (int i = 0; i < n; i++) {
        if (need_a(&s[i]) > na) na = need_a(&s[i]);
        if (need_b(&s[i]) > nb) nb = need_b(&s[i]);
        if (need_c(&s[i]) > nc) nc = need_c(&s[i]);
    }
    clb_gemm_bufs g = {clb_buffer(ctx, na * 4), clb_buffer(ctx, nb * 4), clb_buffer(ctx, nc * 4)};
    /* moderate values: no overflow and no denormals, whose cost would not be the GEMM's */
    rn_fill(ctx, g.a, na, 0.5f);
    rn_fill(ctx, g.b, nb, 0.25f);
    rn_fill(ctx, g.c, nc, 0.0f);
    return g;
}

void clb_gemm_bufs_free(clb_gemm_bufs *g)
{
    rn_release(&g->a);
    rn_release(&g->b);
    rn_release(&g->c);
}

/* Wall time of one product between two clFinish calls, in ms (either back-end may run helper
 * kernels for padding or transposition; they belong to the GEMM's cost). With `gather`, the
 * product reads its B from the conv's input as the step runs it, the gather in its time: the
 * explicit product on the same choice can be several times slower, and the step never runs it. */
static double gemm_once(rn_ctx *ctx, const rn_gemm_shape *s, const rn_conv *gather,
                        const clb_gemm_bufs *g)
{
    rn_finish(ctx);
    double t0 = rn_now();
    if (!gather || !rn_sgemm_rows(ctx, s, g->a, 0, g->b, gather->Cin, gather->N, gather->H,
                                  gather->W, 0, g->c, 0))
        rn_sgemm(ctx, s->ta, s->tb, s->M, s->N, s->K, 1.0f, g->a, 0, s->lda, g->b, 0, s->ldb,
                 s->beta, g->c, 0, s->ldc);
    rn_finish(ctx);
    return (rn_now() - t0) * 1e3;
}

static clb_stats time_gemm(rn_ctx *ctx, const rn_gemm_shape *s, const rn_conv *gather,
                           const clb_gemm_bufs *g, int repeats)
{
    double t[64];
    if (repeats > 64) repeats = 64;
    for (int i = 0; i < CLB_WARMUP; i++) gemm_once(ctx, s, gather, g); /* compiles on first use */
    for (int i = 0; i < repeats; i++) t[i] = gemm_once(ctx, s, gather, g);
    return clb_stats_of(t, repeats);
}

static void gemm_row(rn_ctx *ctx, rn_jw *j, const char *key, const char *label,
                     const rn_gemm_shape *s, int gathered, clb_stats t, int count,
                     const clb_peak *pk)
{
    const rn_gemm_own *o = rn_gemm_own_find(ctx, s);
    char pct[16];
    double gf = rn_gemm_flops(s) / (t.med * 1e-3) * 1e-9;
    char cnt[16] = "-";
    if (count) snprintf(cnt, sizeof cnt, "%d", count);
    printf("%-34s %c%c %6zu %6zu %6zu %4s %9.3f %9.3f %9.3f %8.1f %6s %s\n", label,
           s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K, cnt, t.med, t.min, t.max, gf,
           clb_pct(pct, sizeof pct, gf, pk->gflops),
           gathered ? "rn50cl, gathered"
           : o      ? "rn50cl"
                    : "clblast");
    rn_jw_obj(j, key);
    rn_jw_bool(j, "ta", s->ta);
    rn_jw_bool(j, "tb", s->tb);
    rn_jw_int(j, "M", (long)s->M);
    rn_jw_int(j, "N", (long)s->N);
    rn_jw_int(j, "K", (long)s->K);
    if (count) rn_jw_int(j, "count_per_step", count);
    clb_json_stats(j, "ms", t);
    rn_jw_num(j, "gflops", gf, CLB_DIGITS);
    if (pk->gflops > 0) rn_jw_num(j, "pct_peak", 100 * gf / pk->gflops, CLB_DIGITS);
    rn_jw_str(j, "backend", o ? "rn50cl" : "clblast");
    rn_jw_bool(j, "gathered", gathered);
    if (o) {
        rn_jw_int(j, "tile", o->tile);
        rn_jw_int(j, "m_fast", o->m_fast);
        rn_jw_int(j, "kc", (long)o->kc);
    }
    rn_jw_end(j);
}

static void header(void)
{
    printf("%-34s %2s %6s %6s %6s %4s %9s %9s %9s %8s %6s %s\n", "GEMM", "op", "M", "N", "K",
           "n/st", "ms", "min", "max", "GFLOP/s", "%peak", "back-end");
}

static void square(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk)
{
    const size_t sizes[3] = {256, 512, 1024};
    int ns = cfg->quick ? 2 : 3;
    rn_gemm_shape s[3];
    for (int i = 0; i < ns; i++)
        s[i] =
            (rn_gemm_shape){0, 0, sizes[i], sizes[i], sizes[i], sizes[i], sizes[i], sizes[i], 0.0f};
    clb_gemm_bufs g = clb_gemm_bufs_alloc(ctx, s, ns);
    rn_jw_obj(j, "square");
    for (int i = 0; i < ns; i++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", sizes[i]);
        gemm_row(ctx, j, key, key, &s[i], 0, time_gemm(ctx, &s[i], NULL, &g, cfg->repeats), 0, pk);
    }
    rn_jw_end(j);
    clb_gemm_bufs_free(&g);
}

/* Every distinct training-step shape, then Σ count·flops / Σ count·time over them. */
static void training(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk)
{
    rn_gemm_use *u;
    int n = rn_model_gemm_uses(cfg->batch, 10, 1, (size_t)RN_WORKSPACE_MB << 20, &u);
    rn_gemm_shape *s = malloc((size_t)n * sizeof *s);
    if (!s || n < 1) abort();
    for (int i = 0; i < n; i++) s[i] = u[i].s;
    clb_gemm_bufs g = clb_gemm_bufs_alloc(ctx, s, n);
    double flops = 0, ms = 0;
    int calls = 0, distinct = n;
    rn_jw_obj(j, "training_shapes");
    for (int i = 0; i < n; i++) {
        char label[80], key[96];
        /* calls that run as a product gathering from a conv's input (rn_gemm_use: a conv's
         * forward, or its input gradient as the forward's product) are timed so, on a row of
         * their own when other calls of the shape do not */
        const int a = u[i].runs_as, gathered = rn_gemm_use_gathered(ctx, u, i);
        for (int part = gathered == u[i].count; part < 1 + (gathered > 0); part++) {
            const int count = part ? gathered : u[i].count - gathered;
            const rn_gemm_shape *run = part ? &s[a] : &s[i];
            snprintf(label, sizeof label, "%s %s", part ? u[i].glayer : u[i].layer, u[i].form);
            snprintf(key, sizeof key, "%02d%s %s", i, part && gathered < u[i].count ? "g" : "",
                     label);
            clb_stats t = time_gemm(ctx, run, part ? &u[i].gconv : NULL, &g, cfg->repeats);
            gemm_row(ctx, j, key, label, run, part, t, count, pk);
            flops += rn_gemm_flops(run) * count;
            ms += t.med * count;
            calls += count;
        }
        distinct -= rn_gemm_use_only_as_other(ctx, u, i);
    }
    rn_jw_end(j);
    char pct[16];
    double gf = flops / (ms * 1e-3) * 1e-9;
    printf("one training step's GEMMs: %d calls of %d distinct shapes, %.2f GFLOP in %.1f ms = "
           "%.1f GFLOP/s (%s %% of peak, time-weighted)\n",
           calls, distinct, flops * 1e-9, ms, gf, clb_pct(pct, sizeof pct, gf, pk->gflops));
    rn_jw_obj(j, "step_total");
    rn_jw_int(j, "calls", calls);
    rn_jw_int(j, "distinct_shapes", distinct);
    rn_jw_num(j, "gflop", flops * 1e-9, CLB_DIGITS);
    rn_jw_num(j, "ms", ms, CLB_DIGITS);
    rn_jw_num(j, "gflops", gf, CLB_DIGITS);
    if (pk->gflops > 0) rn_jw_num(j, "pct_peak", 100 * gf / pk->gflops, CLB_DIGITS);
    rn_jw_end(j);
    clb_gemm_bufs_free(&g);
    free(s);
    free(u);
}

void clb_section_gemm(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk)
{
    clb_title("2. GEMM (rn_sgemm: CLBlast, or rn50cl's own kernels where tuned; wall time between "
              "clFinish calls; gathered: a conv's forward reading its columns from its input, as "
              "the step runs it)");
    rn_jw_obj(j, "gemm");
    header();
    square(ctx, cfg, j, pk);
    printf("ResNet50 training GEMMs at batch %d (n/st: calls per training step):\n", cfg->batch);
    training(ctx, cfg, j, pk);
    rn_jw_end(j);
}
