/* Section 4, the whole model: one training step as the trainer runs it (rn_train_step: upload,
 * forward, softmax-CE, backward with the SGD steps, read back loss and correctness) and one
 * inference pass, in images/s and achieved GFLOP/s from the layer list's FLOP count; then one
 * profiled steps split the time between GEMMs and everything else (profiling serialises, so
 * they are separate); then where the resident memory went, planned against measured; last, the
 * inference-only model eval and predict allocate, its passes and its memory. */
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl_bench.h"
#include "model/resnet50.h"
#include "ops/loss.h"
#include "train/train.h"

typedef struct mrun {
    rn_model m;
    rn_batch b;
    rn_step_hparams hp;
    int N;
    size_t workspace_bytes;
} mrun;

static int setup(rn_ctx *ctx, mrun *r, int N, int inference_only)
{
    memset(r, 0, sizeof *r);
    r->N = N;
    /* train's defaults, but lr 0.01 rather than the peak default: many repeated steps on random
     * data stay finite (NaNs could change the timings) */
    rn_train_cfg c;
    rn_train_defaults(&c);
    r->hp = rn_step_hparams_of(&c, 0.01);
    r->workspace_bytes = c.workspace_mb << 20;
    rn_model_init(&r->m, 10);
    r->m.inference_only = inference_only;
    int rc = rn_model_alloc(&r->m, ctx, N, r->workspace_bytes);
    if (rc) return rc;
    rn_model_init_params(&r->m, 1, NULL);
    if ((rc = rn_batch_alloc(&r->b, ctx, (size_t)N))) {
        rn_model_free(&r->m);
        return rc;
    }
    size_t nx = (size_t)3 * N * RN_IMG * RN_IMG;
    unsigned s = 7;
    for (size_t i = 0; i < nx; i++) { /* normalised-image-like values */
        s = s * 1664525u + 1013904223u;
        r->b.x[i] = (float)(s >> 8) / 4194304.0f - 2.0f;
    }
    for (int i = 0; i < N; i++) r->b.lab[i] = i % 10;
    return 0;
}

static void teardown(mrun *r)
{
    rn_batch_free(&r->b);
    rn_model_free(&r->m);
}

/* train.c's step itself (rn_train_step), in ms; its blocking reads at the end wait for the whole
 * step. */
static double train_step(rn_ctx *ctx, mrun *r)
{
    (void)ctx;
    double t0 = rn_now();
    rn_train_step(&r->m, &r->b, (size_t)r->N, &r->hp);
    return (rn_now() - t0) * 1e3;
}

/* Evaluation's pass: upload, forward with running statistics, loss and correctness, read back. */
static double infer_pass(rn_ctx *ctx, mrun *r)
{
    double t0 = rn_now();
    int n = r->N;
    rn_batch *b = &r->b;
    rn_write(ctx, b->input, 0, (size_t)3 * n * RN_IMG * RN_IMG * sizeof(float), b->x);
    rn_write(ctx, b->labels, 0, (size_t)n * sizeof(int32_t), b->lab);
    rn_model_forward(&r->m, b->input, n, 0);
    softmax_ce_forward(ctx, b->loss, b->correct, NULL, r->m.logits, b->labels, n, r->m.classes,
                       0.0f);
    rn_read(ctx, b->loss, 0, (size_t)n * sizeof(float), b->loss_h);
    rn_read(ctx, b->correct, 0, (size_t)n * sizeof(int32_t), b->correct_h);
    return (rn_now() - t0) * 1e3;
}

static clb_stats time_passes(rn_ctx *ctx, mrun *r, double (*pass)(rn_ctx *, mrun *), int n)
{
    double t[64];
    if (n > 64) n = 64;
    for (int i = 0; i < CLB_WARMUP; i++) pass(ctx, r);
    for (int i = 0; i < n; i++) t[i] = pass(ctx, r);
    return clb_stats_of(t, n);
}

static void report(rn_jw *j, const char *key, const char *what, clb_stats t, int N,
                   double flops_per_image, const clb_peak *pk)
{
    char pct[16];
    double ips = N / (t.med * 1e-3), gf = flops_per_image * ips * 1e-9;
    printf("%-22s %9.1f %9.1f %9.1f %10.1f %9.1f %6s\n", what, t.med, t.min, t.max, ips, gf,
           clb_pct(pct, sizeof pct, gf, pk->gflops));
    rn_jw_obj(j, key);
    clb_json_stats(j, "ms", t);
    rn_jw_num(j, "images_per_s", ips, CLB_DIGITS);
    rn_jw_num(j, "gflops", gf, CLB_DIGITS);
    if (pk->gflops > 0) rn_jw_num(j, "pct_peak", 100 * gf / pk->gflops, CLB_DIGITS);
    rn_jw_end(j);
}

static int by_ms_desc(const void *a, const void *b)
{
    double x = ((const rn_prof_entry *)a)->ms, y = ((const rn_prof_entry *)b)->ms;
    return (x < y) - (x > y);
}

/* One profiled training step: its wall time, and every kernel's and GEMM's time. */
typedef struct prof_step {
    double wall, total, gemm;
    int n;
    rn_prof_entry e[RN_MAX_PROF];
} prof_step;

static double other_share(const prof_step *p)
{
    return p->total > 0 ? (p->total - p->gemm) / p->total : 0;
}

static int by_other_share(const void *a, const void *b)
{
    double x = other_share(a), y = other_share(b);
    return (x > y) - (x < y);
}

/* The n steps' median by the share outside the GEMMs (the lower middle for an even n) printed
 * and stored: GEMM (wall time of whole rn_sgemm calls) versus the rest. */
static void report_profiled(rn_jw *j, prof_step *p, int n)
{
    qsort(p, (size_t)n, sizeof *p, by_other_share);
    const prof_step *m = &p[(n - 1) / 2];
    const double other = m->total - m->gemm;
    printf("profiled training step (every launch waited for, so slower; the median of %d by the "
           "share outside the GEMMs, %.1f-%.1f %%): %.1f ms wall, %.1f ms in kernels\n",
           n, 100 * other_share(&p[0]), 100 * other_share(&p[n - 1]), m->wall, m->total);
    double own = 0;
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].name, RN_PROF_GEMM_OWN)) own = m->e[i].ms;
    printf("  GEMM            %9.1f ms  %5.1f %% (%.1f ms on rn50cl's own kernels, %.1f ms in "
           "CLBlast)\n",
           m->gemm, 100 * m->gemm / m->total, own, m->gemm - own);
    printf("  everything else %9.1f ms  %5.1f %%, largest:", other, 100 * other / m->total);
    /* the three largest non-GEMM kernels, for where to look next */
    rn_prof_entry e[RN_MAX_PROF];
    int ne = 0;
    for (int i = 0; i < m->n; i++)
        if (strncmp(m->e[i].name, RN_PROF_GEMM, strlen(RN_PROF_GEMM))) e[ne++] = m->e[i];
    qsort(e, (size_t)ne, sizeof e[0], by_ms_desc);
    for (int k = 0; k < ne && k < 3; k++) printf("%s %s %.1f ms", k ? "," : "", e[k].name, e[k].ms);
    printf("\n");
    rn_jw_obj(j, "profiled_step");
    rn_jw_num(j, "steps", n, CLB_DIGITS);
    rn_jw_num(j, "wall_ms", m->wall, CLB_DIGITS);
    rn_jw_num(j, "kernel_ms", m->total, CLB_DIGITS);
    rn_jw_num(j, "gemm_ms", m->gemm, CLB_DIGITS);
    rn_jw_num(j, "other_ms", other, CLB_DIGITS);
    rn_jw_num(j, "gemm_share_pct", 100 * m->gemm / m->total, CLB_DIGITS);
    rn_jw_num(j, "other_share_min_pct", 100 * other_share(&p[0]), CLB_DIGITS);
    rn_jw_num(j, "other_share_max_pct", 100 * other_share(&p[n - 1]), CLB_DIGITS);
    rn_jw_obj(j, "by_kernel_ms");
    for (int i = 0; i < m->n; i++)
        if (m->e[i].ms > 0) rn_jw_num(j, m->e[i].name, m->e[i].ms, CLB_DIGITS);
    rn_jw_end(j);
    rn_jw_end(j);
}

/* n training steps (at least 1) with every launch timed, reported by report_profiled: one step's
 * split moves with the machine's phases (14.7 to 19.4 % outside the GEMMs in three runs of one
 * build on Intel's runtime, 2 cores of a VM), so one step alone says little. */
static void profiled_steps(rn_ctx *ctx, mrun *r, rn_jw *j, int n)
{
    if (n < 1) n = 1;
    prof_step *p = calloc((size_t)n, sizeof *p);
    if (!p) abort();
    int saved = ctx->profile;
    ctx->profile = 1;
    for (int i = 0; i < n; i++) {
        rn_profile_reset(ctx);
        p[i].wall = train_step(ctx, r);
        p[i].total = rn_profile_ms(ctx, "");
        p[i].gemm = rn_profile_ms(ctx, RN_PROF_GEMM);
        p[i].n = ctx->nprof;
        memcpy(p[i].e, ctx->prof, sizeof p[i].e[0] * (size_t)ctx->nprof);
    }
    ctx->profile = saved;
    report_profiled(j, p, n);
    free(p);
}

static double mib(size_t bytes)
{
    return (double)bytes / (1 << 20);
}

/* A row that is 0 (no GEMM scratch when every shape runs on rn50cl's dot tile or needs no copy)
 * is printed but left out of the JSON, whose figures are all positive for `compare`'s ratios. */
static void mem_row(rn_jw *j, const char *key, const char *what, double v)
{
    printf("  %-58s %8.1f\n", what, v);
    if (v > 0) rn_jw_num(j, key, v, CLB_DIGITS);
}

/* VmRSS and VmHWM readings around set-up and the steps; a peak is the process's own when
 * clb_rss_reset_peak was refused. */
typedef struct mem_seen {
    double start, setup_peak, after_setup, steps_peak;
    int reset_ok;
} mem_seen;

/* Where the resident memory goes: the model's own allocation plan (rn_model_mem_plan), CLBlast's
 * GEMM scratch and the batch's buffers on top of the runtime's baseline, against what
 * /proc/self/status measured. On a CPU device every device buffer is host memory, so the plan
 * and the measured figures describe the same bytes. */
static void memory_report(rn_jw *j, mrun *r, rn_ctx *ctx, const clb_peak *pk, const mem_seen *s)
{
    rn_model_mem p = rn_model_mem_plan(&r->m, r->N, r->workspace_bytes);
    /* rn_batch: images, labels, loss and correctness, once on the device and once on the host */
    double batch = 2 * mib((size_t)r->N * (3 * RN_IMG * RN_IMG + 3) * sizeof(float));
    double planned = mib(rn_model_mem_total(&p)) + mib(ctx->gemm_tmp_bytes) + batch;
    printf("memory at batch %d, MiB (planned: the model's allocation plan; measured: "
           "/proc/self/status)\n",
           r->N);
    rn_jw_obj(j, "memory");
    rn_jw_obj(j, "planned");
    mem_row(j, "weights_mib", "weights and running statistics", mib(p.weights));
    mem_row(j, "gradients_mib", "parameter gradients", mib(p.gradients));
    mem_row(j, "momentum_mib", "momentum", mib(p.momentum));
    mem_row(j, "activations_mib", "saved activations and batch statistics", mib(p.activations));
    mem_row(j, "scratch_mib", "activation gradients (backward scratch)", mib(p.scratch));
    mem_row(j, "workspace_mib", "im2col workspace", mib(p.workspace));
    mem_row(j, "gemm_scratch_mib", "GEMM scratch (ctx->gemm_tmp, either back-end)",
            mib(ctx->gemm_tmp_bytes));
    mem_row(j, "batch_mib", "batch buffers, device and host", batch);
    mem_row(j, "total_mib", "planned total", planned);
    rn_jw_end(j);
    rn_jw_obj(j, "measured");
    if (pk->rss_ctx > 0)
        mem_row(j, "baseline_mib", "runtime baseline: VmRSS right after rn_ctx_create",
                pk->rss_ctx);
    if (s->start > 0) mem_row(j, "section_start_mib", "VmRSS when this section began", s->start);
    const char *since = s->reset_ok ? "" : " (peak since the process began)";
    char what[96];
    if (s->setup_peak > 0) {
        snprintf(what, sizeof what, "peak VmRSS while setting up the model and batch%s", since);
        mem_row(j, "setup_peak_mib", what, s->setup_peak);
    }
    if (s->after_setup > 0)
        mem_row(j, "after_setup_mib", "VmRSS after the model and batch were set up",
                s->after_setup);
    if (s->steps_peak > 0) {
        snprintf(what, sizeof what, "peak VmRSS over the steps (VmHWM)%s", since);
        mem_row(j, "peak_mib", what, s->steps_peak);
    }
    rn_jw_end(j);
    if (pk->rss_ctx > 0 && s->steps_peak > 0)
        printf("  steps' peak %.1f = baseline %.1f + planned %.1f %+.1f not in the plan\n",
               s->steps_peak, pk->rss_ctx, planned, s->steps_peak - pk->rss_ctx - planned);
    rn_jw_str(j, "peaks_since", s->reset_ok ? "phase" : "process");
    rn_jw_end(j);
}

/* The model eval and predict allocate (inference_only): its inference passes and the resident
 * memory's peak over its set-up and passes. It runs after the training model is freed and the C
 * heap trimmed (without malloc_trim PoCL's freed buffers stayed resident: 510 MiB), so its peak
 * may hold what the runtime kept (6-15 MiB more than in a process of its own): an upper bound.
 * Run first, it left the training figure 9-10 MiB higher on Intel's runtime. */
typedef struct inf_only {
    int ok, reset_ok;
    clb_stats t;
    double planned, peak;
} inf_only;

static inf_only inference_only_run(rn_ctx *ctx, int N, int n)
{
    inf_only o = {0};
    mrun r;
    o.reset_ok = clb_rss_reset_peak() == 0;
    if (setup(ctx, &r, N, 1)) return o;
    o.t = time_passes(ctx, &r, infer_pass, n);
    o.peak = clb_rss_peak_mib();
    rn_model_mem p = rn_model_mem_plan(&r.m, N, r.workspace_bytes);
    o.planned = mib(rn_model_mem_total(&p));
    o.ok = 1;
    teardown(&r);
    return o;
}

static void inference_only_report(rn_jw *j, const inf_only *o, int N, double flops,
                                  const clb_peak *pk)
{
    if (!o->ok) return;
    double ips = N / (o->t.med * 1e-3);
    printf("inference-only model (eval, predict; after the training model): pass %.1f ms "
           "(%.1f images/s, %.1f GFLOP/s), planned %.1f MiB, peak VmRSS over its set-up and "
           "passes %.1f%s\n",
           o->t.med, ips, flops * ips * 1e-9, o->planned, o->peak,
           o->reset_ok ? "" : " (peak since the process began)");
    rn_jw_obj(j, "inference_only");
    clb_json_stats(j, "ms", o->t);
    rn_jw_num(j, "images_per_s", ips, CLB_DIGITS);
    if (pk->gflops > 0) rn_jw_num(j, "pct_peak", 100 * flops * ips * 1e-9 / pk->gflops, CLB_DIGITS);
    rn_jw_num(j, "planned_mib", o->planned, CLB_DIGITS);
    if (o->peak > 0) rn_jw_num(j, "peak_mib", o->peak, CLB_DIGITS);
    rn_jw_str(j, "peak_since", o->reset_ok ? "phase" : "process");
    rn_jw_end(j);
}

void clb_section_model(rn_ctx *ctx, const clb_cfg *cfg, rn_jw *j, const clb_peak *pk)
{
    clb_title("4. whole model (ResNet50, 32x32, 10 classes)");
    clb_model_flops f = clb_flops_per_image(cfg->batch);
    printf("model FLOPs per image (GEMMs of the layer list): training step %.3f GFLOP, inference "
           "%.3f GFLOP (ratio %.2f)\n",
           f.train * 1e-9, f.inference * 1e-9, f.inference / f.train);
    mrun r;
    mem_seen seen = {.start = clb_rss_mib()};
    seen.reset_ok = clb_rss_reset_peak() == 0;
    if (setup(ctx, &r, cfg->batch, 0)) {
        printf("(skipped: the model does not fit at batch %d)\n", cfg->batch);
        return;
    }
    seen.setup_peak = clb_rss_peak_mib();
    seen.after_setup = clb_rss_mib();
    seen.reset_ok = seen.reset_ok && clb_rss_reset_peak() == 0;
    int n = cfg->repeats;
    rn_jw_obj(j, "model");
    rn_jw_num(j, "train_gflop_per_image", f.train * 1e-9, CLB_DIGITS);
    rn_jw_num(j, "inference_gflop_per_image", f.inference * 1e-9, CLB_DIGITS);
    char head[32];
    snprintf(head, sizeof head, "batch %d", r.N);
    printf("%-22s %9s %9s %9s %10s %9s %6s\n", head, "ms", "min", "max", "images/s", "GFLOP/s",
           "%peak");
    report(j, "train_step", "training step", time_passes(ctx, &r, train_step, n), r.N, f.train, pk);
    if (!isfinite(r.b.loss_h[0]))
        fprintf(stderr,
                "cl_bench: warning: the loss became %g on random data; timings of "
                "non-finite values may differ.\n",
                r.b.loss_h[0]);
    report(j, "inference", "inference pass", time_passes(ctx, &r, infer_pass, n), r.N, f.inference,
           pk);
    profiled_steps(ctx, &r, j, n);
    seen.steps_peak = clb_rss_peak_mib();
    memory_report(j, &r, ctx, pk, &seen);
    teardown(&r);
    malloc_trim(0);
    const inf_only io = inference_only_run(ctx, cfg->batch, cfg->repeats);
    inference_only_report(j, &io, cfg->batch, f.inference, pk);
    rn_jw_num(j, "process_peak_mib", clb_rss_process_peak_mib(), CLB_DIGITS);
    rn_jw_end(j);
}
