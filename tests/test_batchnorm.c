/* Batch-norm (training with batch statistics and running-stat update, inference, fused ReLU)
 * against the double reference in ref_b.c; the reference backward against central finite
 * differences; the device backward against the reference backward. Shapes: awkward ones (odd C,
 * batch 1 and 3, 7×7 and 5×5, M = 1 and 2, large offset) and every BN shape of ResNet50-CIFAR at
 * batch 8. Every device output is NaN-poisoned before the run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/batchnorm.h"
#include "ops/eltwise.h"
#include "ref_b.h"
#include "testutil.h"

#define MOMENTUM 0.1
#define EPS 1e-5

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static double max_abs_err(const float *got, const double *ref, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - ref[i]) <= m)) m = fabs(got[i] - ref[i]);
    return m;
}

/* tu_compare plus a note of the worst error, so tolerances can be judged from the log. */
static void cmp(const char *what, const float *got, const double *ref, size_t n, double atol,
                double rtol)
{
    tu_compare(what, got, ref, n, atol, rtol);
    printf("    %-34s max|err| %.2e  (atol %.0e, rtol %.0e)\n", what, max_abs_err(got, ref, n),
           atol, rtol);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Picks β for each channel in the widest gap of {−γ·x̂} within [−0.5, 0.5], so every normalised
 * pre-activation γ·x̂ + β is as far from ReLU's kink as possible. Returns the smallest margin. */
static double choose_beta(float *beta, const float *x, const float *gamma, int C, int M)
{
    double *xd = to_double(x, (size_t)C * M), *t = malloc(((size_t)M + 2) * sizeof *t);
    double worst = INFINITY;
    for (int c = 0; c < C; c++) {
        const double *xc = xd + (size_t)c * M;
        double mean = 0, var = 0;
        for (int i = 0; i < M; i++) mean += xc[i];
        mean /= M;
        for (int i = 0; i < M; i++) var += (xc[i] - mean) * (xc[i] - mean);
        double invstd = 1 / sqrt(var / M + EPS);
        int n = 0;
        t[n++] = -0.5;
        t[n++] = 0.5;
        for (int i = 0; i < M; i++) {
            double v = -gamma[c] * (xc[i] - mean) * invstd;
            if (v > -0.5 && v < 0.5) t[n++] = v;
        }
        qsort(t, (size_t)n, sizeof *t, cmp_double);
        double best = -1, at = 0;
        for (int i = 1; i < n; i++)
            if (t[i] - t[i - 1] > best) {
                best = t[i] - t[i - 1];
                at = 0.5 * (t[i] + t[i - 1]);
            }
        beta[c] = (float)at;
        double margin = INFINITY; /* recompute with the float β actually used */
        for (int i = 0; i < M; i++) {
            double d = fabs(gamma[c] * (xc[i] - mean) * invstd + beta[c]);
            if (d < margin) margin = d;
        }
        if (margin < worst) worst = margin;
    }
    free(xd);
    free(t);
    return worst;
}

typedef struct {
    const char *label;
    int C, M;
    double offset; /* x_i = offset + trend·i/M + uniform(−1, 1)·scale_c */
    int relu;
    double trend; /* parts of a long row get different means: tests how they are combined */
} bn_case;

/* Values per part of the device's split reductions: the longest row that needs one part. */
static int part_len(void)
{
    int M = 1;
    while (batchnorm_part_floats(1, M + 1) == batchnorm_part_floats(1, 1)) M++;
    return M;
}

/* Fills x (and x2, another step's input) as bn_case says. */
static void fill_x(float *x, float *x2, const bn_case *k)
{
    for (int c = 0; c < k->C; c++) {
        double scale = tu_uniform(0.2, 3.0);
        for (int i = 0; i < k->M; i++) {
            double base = k->offset + k->trend * i / k->M;
            x[(size_t)c * k->M + i] = (float)(base + scale * tu_uniform(-1, 1));
            x2[(size_t)c * k->M + i] = (float)(base + 0.5 + scale * tu_uniform(-1, 1));
        }
    }
}

/* The backward's dmask (the residual join's gradient) after a run with relu: exactly dy where the
 * output y is positive, else 0, as add_relu_backward forms it; and the same again, with the same
 * dx, when dmask is dy itself (how a block without projection runs it). */
static void check_mask_out(const bn_case *k, cl_mem dDM, cl_mem dDX, cl_mem dDG, cl_mem dDB,
                           cl_mem dX, cl_mem dY, cl_mem dG, cl_mem dSM, cl_mem dSI, cl_mem dP,
                           const float *dy)
{
    const int C = k->C, M = k->M;
    const size_t n = (size_t)C * M;
    rn_ctx *ctx = tu_ctx();
    float *y = tu_download_new(dY, n), *mask = tu_download_new(dDM, n);
    float *dx = tu_download_new(dDX, n), *want = malloc(n * sizeof *want);
    for (size_t i = 0; i < n; i++) want[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    TU_CHECK(!memcmp(mask, want, n * sizeof *mask), "%s bwd dmask is dy masked by y > 0", k->label);
    cl_mem dD = tu_upload(dy, n), dDX2 = tu_poisoned(n);
    batchnorm_backward(ctx, dDX2, dDG, dDB, dD, dX, dY, dG, NULL, dSM, dSI, dP, C, M, 1, dD);
    float *mask2 = tu_download_new(dD, n), *dx2 = tu_download_new(dDX2, n);
    TU_CHECK(!memcmp(mask2, want, n * sizeof *mask2) && !memcmp(dx2, dx, n * sizeof *dx2),
             "%s bwd with dmask = dy (in place): the same mask and dx", k->label);
    rn_release(&dD), rn_release(&dDX2);
    free(y), free(mask), free(dx), free(want), free(mask2), free(dx2);
}

/* The backward writing dx over a buffer it reads, in both forms (per channel and split), as the
 * model runs it: over dy; and with relu, over y (the mask's source) with dmask over dy, as a
 * block's c3 without projection. The same dx (and mask) as into a buffer of their own. */
static void check_in_place(const bn_case *k, cl_mem dDX, cl_mem dDG, cl_mem dDB, cl_mem dX,
                           cl_mem dY, cl_mem dG, cl_mem dSM, cl_mem dSI, cl_mem dP, const float *dy)
{
    const int C = k->C, M = k->M;
    const size_t n = (size_t)C * M;
    rn_ctx *ctx = tu_ctx();
    const int saved = ctx->bn_per_channel;
    float *base = tu_download_new(dDX, n), *y = k->relu ? tu_download_new(dY, n) : NULL;
    for (int f = 0; f < 2; f++) {
        ctx->bn_per_channel = f;
        /* This form's dx into a buffer of its own: the in-place runs must give its bits, and it
         * must give the device's own form's (kept apart, so a failure says which property broke).
         */
        cl_mem dD = tu_upload(dy, n), dOwn = tu_poisoned(n);
        batchnorm_backward(ctx, dOwn, dDG, dDB, dD, dX, k->relu ? dY : NULL, dG, NULL, dSM, dSI, dP,
                           C, M, k->relu, NULL);
        float *dx = tu_download_new(dOwn, n);
        TU_CHECK(!memcmp(dx, base, n * sizeof *dx),
                 "%s bwd, bn_per_channel %d: dx equals the device's own form's", k->label, f);
        rn_release(&dOwn);
        batchnorm_backward(ctx, dD, dDG, dDB, dD, dX, k->relu ? dY : NULL, dG, NULL, dSM, dSI, dP,
                           C, M, k->relu, NULL);
        float *got = tu_download_new(dD, n);
        TU_CHECK(!memcmp(got, dx, n * sizeof *got), "%s bwd, bn_per_channel %d: dx over dy is dx",
                 k->label, f);
        rn_release(&dD), free(got);
        if (k->relu) {
            cl_mem dD2 = tu_upload(dy, n), dYc = tu_upload(y, n);
            batchnorm_backward(ctx, dYc, dDG, dDB, dD2, dX, dYc, dG, NULL, dSM, dSI, dP, C, M, 1,
                               dD2);
            float *gx = tu_download_new(dYc, n), *gm = tu_download_new(dD2, n);
            size_t bad = 0;
            for (size_t i = 0; i < n; i++) bad += gm[i] != (y[i] > 0.0f ? dy[i] : 0.0f);
            TU_CHECK(!memcmp(gx, dx, n * sizeof *gx) && bad == 0,
                     "%s bwd, bn_per_channel %d: dx over y and dmask over dy are dx and the mask "
                     "(%zu wrong)",
                     k->label, f, bad);
            rn_release(&dD2), rn_release(&dYc), free(gx), free(gm);
        }
        free(dx);
    }
    ctx->bn_per_channel = saved;
    free(base), free(y);
}

/* Training forward (twice, for the running statistics) and backward on one shape. */
static void check_train(const bn_case *k, uint64_t seed, double y_atol)
{
    const int C = k->C, M = k->M;
    const size_t n = (size_t)C * M;
    printf("  train %s: C=%d M=%d relu=%d offset=%g\n", k->label, C, M, k->relu, k->offset);
    tu_seed(seed);
    float *x = malloc(n * sizeof *x), *x2 = malloc(n * sizeof *x2), *dy = malloc(n * sizeof *dy);
    float gamma[4096], beta[4096], rm[4096], rv[4096];
    fill_x(x, x2, k);
    tu_fill_away_from_zero(gamma, C, -1.5, 1.5, 0.3);
    tu_fill_uniform(beta, C, -0.5, 0.5);
    tu_fill_uniform(rm, C, -1, 1);
    tu_fill_uniform(rv, C, 0.5, 2);
    tu_fill_uniform(dy, n, -1, 1);
    if (k->relu) {
        double margin = choose_beta(beta, x, gamma, C, M);
        TU_CHECK(margin > 1e-4, "%s: setup: pre-activations within %g of the ReLU kink", k->label,
                 margin);
    }

    cl_mem dX = tu_upload(x, n), dG = tu_upload(gamma, C), dB = tu_upload(beta, C);
    cl_mem dRM = tu_upload(rm, C), dRV = tu_upload(rv, C);
    cl_mem dY = tu_poisoned(n), dSM = tu_poisoned(C), dSI = tu_poisoned(C);
    cl_mem dP = tu_poisoned(batchnorm_part_floats(C, M));
    rn_ctx *ctx = tu_ctx();
    batchnorm_forward_train(ctx, dY, dX, dG, dB, dRM, dRV, dSM, dSI, dP, C, M, (float)MOMENTUM,
                            (float)EPS, k->relu, NULL);

    double *xd = to_double(x, n), *gd = to_double(gamma, C), *bd = to_double(beta, C);
    double *rmd = to_double(rm, C), *rvd = to_double(rv, C);
    double *yr = malloc(n * sizeof *yr), smr[4096], sir[4096];
    refb_bn_forward_train(yr, smr, sir, rmd, rvd, xd, gd, bd, C, M, MOMENTUM, EPS, k->relu);

    float *got = malloc(n * sizeof *got);
    tu_download(dY, got, n);
    cmp(tu_name("%s fwd y", k->label), got, yr, n, y_atol, 1e-5);
    tu_download(dSM, got, C);
    cmp(tu_name("%s save_mean", k->label), got, smr, C, 1e-6, 1e-6);
    tu_download(dSI, got, C);
    cmp(tu_name("%s save_invstd", k->label), got, sir, C, 0, k->offset ? 2e-4 : 1e-5);
    /* Running stats are in/out (cannot be poisoned); an element nobody updated keeps its
     * initial value, which differs from the reference's 0.9·old + 0.1·stat. */
    tu_download(dRM, got, C);
    cmp(tu_name("%s running_mean (1 step)", k->label), got, rmd, C, 1e-6, 1e-6);
    tu_download(dRV, got, C);
    cmp(tu_name("%s running_var (1 step, unbiased)", k->label), got, rvd, C, 1e-6,
        k->offset ? 2e-4 : 1e-5);

    /* Backward: device vs reference (reference mask from its own forward; β keeps every
     * pre-activation off the kink, so both masks agree). */
    cl_mem dDY = tu_upload(dy, n), dDX = tu_poisoned(n), dDG = tu_poisoned(C), dDB = tu_poisoned(C);
    cl_mem dDM = k->relu ? tu_poisoned(n) : NULL;
    batchnorm_backward(ctx, dDX, dDG, dDB, dDY, dX, k->relu ? dY : NULL, dG, NULL, dSM, dSI, dP, C,
                       M, k->relu, dDM);
    if (k->relu) check_mask_out(k, dDM, dDX, dDG, dDB, dX, dY, dG, dSM, dSI, dP, dy);
    check_in_place(k, dDX, dDG, dDB, dX, dY, dG, dSM, dSI, dP, dy);
    double *dyd = to_double(dy, n), *dxr = malloc(n * sizeof *dxr), dgr[4096], dbr[4096];
    refb_bn_backward(dxr, dgr, dbr, dyd, xd, NULL, gd, bd, C, M, EPS, k->relu);
    /* dβ and dγ are sums of M terms of size ~1: their float error grows like √M·1e-7. With a
     * 1000 offset, save_mean itself is a float (rounding up to 3e-5), which biases every x̂ by up
     * to 3e-5·invstd and dγ by that times Σdy' ~ √M: still far below what a wrong variance
     * (invstd off by ~20%, see check_offset_has_teeth) would give. */
    double sum_atol = k->offset ? 5e-4 * sqrt((double)M) : 2e-6 * sqrt((double)M);
    tu_download(dDB, got, C);
    cmp(tu_name("%s bwd dbeta", k->label), got, dbr, C, sum_atol, 1e-5);
    tu_download(dDG, got, C);
    cmp(tu_name("%s bwd dgamma", k->label), got, dgr, C, sum_atol, 1e-5);
    tu_download(dDX, got, n);
    cmp(tu_name("%s bwd dx", k->label), got, dxr, n, k->offset ? 1e-3 : 2e-5, 1e-4);

    /* A second training step on new data: running stats must compound correctly. */
    rn_write(ctx, dX, 0, n * sizeof(float), x2);
    batchnorm_forward_train(ctx, dY, dX, dG, dB, dRM, dRV, dSM, dSI, dP, C, M, (float)MOMENTUM,
                            (float)EPS, k->relu, NULL);
    double *x2d = to_double(x2, n);
    refb_bn_forward_train(yr, smr, sir, rmd, rvd, x2d, gd, bd, C, M, MOMENTUM, EPS, k->relu);
    tu_download(dRM, got, C);
    cmp(tu_name("%s running_mean (2 steps)", k->label), got, rmd, C, 1e-6, 1e-6);
    tu_download(dRV, got, C);
    cmp(tu_name("%s running_var (2 steps)", k->label), got, rvd, C, 1e-6, k->offset ? 2e-4 : 1e-5);

    cl_mem bufs[] = {dX, dG, dB, dRM, dRV, dY, dSM, dSI, dP, dDY, dDX, dDG, dDB, dDM};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(x), free(x2), free(dy), free(got), free(xd), free(gd), free(bd), free(rmd), free(rvd);
    free(yr), free(dyd), free(dxr), free(x2d);
}

/* The inference forward over its own input (y = x), as the model runs it, in both forms (per
 * channel and split): bit for bit the y it wrote into a buffer of its own (want). */
static void check_eval_in_place(const char *what, const float *x, const float *want, cl_mem dG,
                                cl_mem dB, cl_mem dRM, cl_mem dRV, cl_mem dR, int C, int M,
                                int relu)
{
    const size_t n = (size_t)C * M;
    rn_ctx *ctx = tu_ctx();
    const int saved = ctx->bn_per_channel;
    for (int f = 0; f < 2; f++) {
        ctx->bn_per_channel = f;
        cl_mem dXY = tu_upload(x, n);
        batchnorm_forward_eval(ctx, dXY, dXY, dG, dB, dRM, dRV, C, M, (float)EPS, relu, dR);
        float *got = tu_download_new(dXY, n);
        TU_CHECK(!memcmp(got, want, n * sizeof *got), "%s, bn_per_channel %d: y over x is y", what,
                 f);
        rn_release(&dXY), free(got);
    }
    ctx->bn_per_channel = saved;
}

static void check_eval(int C, int M, int relu, uint64_t seed)
{
    const size_t n = (size_t)C * M;
    printf("  eval: C=%d M=%d relu=%d\n", C, M, relu);
    tu_seed(seed);
    float *x = malloc(n * sizeof *x), gamma[4096], beta[4096], rm[4096], rv[4096];
    tu_fill_uniform(x, n, -3, 3);
    tu_fill_away_from_zero(gamma, C, -1.5, 1.5, 0.3);
    tu_fill_uniform(beta, C, -0.5, 0.5);
    tu_fill_uniform(rm, C, -1, 1);
    tu_fill_uniform(rv, C, 0.01, 4);
    cl_mem dX = tu_upload(x, n), dG = tu_upload(gamma, C), dB = tu_upload(beta, C);
    cl_mem dRM = tu_upload(rm, C), dRV = tu_upload(rv, C), dY = tu_poisoned(n);
    batchnorm_forward_eval(tu_ctx(), dY, dX, dG, dB, dRM, dRV, C, M, (float)EPS, relu, NULL);
    double *xd = to_double(x, n), *gd = to_double(gamma, C), *bd = to_double(beta, C);
    double *rmd = to_double(rm, C), *rvd = to_double(rv, C), *yr = malloc(n * sizeof *yr);
    refb_bn_forward_eval(yr, xd, gd, bd, rmd, rvd, C, M, EPS, relu);
    float *got = tu_download_new(dY, n);
    cmp(tu_name("eval C=%d M=%d relu=%d y", C, M, relu), got, yr, n, 1e-5, 1e-5);
    check_eval_in_place(tu_name("eval C=%d M=%d relu=%d", C, M, relu), x, got, dG, dB, dRM, dRV,
                        NULL, C, M, relu);
    /* Running stats are inputs here: the device must not have changed them. */
    float back[4096];
    tu_download(dRM, back, C);
    int same = !memcmp(back, rm, C * sizeof(float));
    tu_download(dRV, back, C);
    same = same && !memcmp(back, rv, C * sizeof(float));
    TU_CHECK(same, "eval C=%d M=%d: running stats were modified", C, M);
    cl_mem bufs[] = {dX, dG, dB, dRM, dRV, dY};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(x), free(xd), free(gd), free(bd), free(rmd), free(rvd), free(yr), free(got);
}

/* The residual join fused into the forward: y = max(0, BN(x) + r) against the reference, and
 * bit for bit against BN without ReLU followed by add_relu_forward (the unfused join). */
static void check_residual(int C, int M, int train, uint64_t seed)
{
    const size_t n = (size_t)C * M;
    printf("  residual join, %s: C=%d M=%d\n", train ? "train" : "eval", C, M);
    tu_seed(seed);
    float *x = malloc(n * sizeof *x), *r = malloc(n * sizeof *r);
    float gamma[4096], beta[4096], rm[4096], rv[4096];
    tu_fill_uniform(x, n, -3, 3);
    tu_fill_uniform(r, n, -2, 2);
    tu_fill_away_from_zero(gamma, C, -1.5, 1.5, 0.3);
    tu_fill_uniform(beta, C, -0.5, 0.5);
    tu_fill_uniform(rm, C, -1, 1);
    tu_fill_uniform(rv, C, 0.01, 4);
    rn_ctx *ctx = tu_ctx();
    cl_mem dX = tu_upload(x, n), dR = tu_upload(r, n), dG = tu_upload(gamma, C);
    cl_mem dB = tu_upload(beta, C), dRM = tu_upload(rm, C), dRV = tu_upload(rv, C);
    cl_mem dY = tu_poisoned(n), dT = tu_poisoned(n), dY2 = tu_poisoned(n);
    cl_mem dSM = tu_poisoned(C), dSI = tu_poisoned(C),
           dP = tu_poisoned(batchnorm_part_floats(C, M));
    for (int fused = 1; fused >= 0; fused--) {
        rn_write(ctx, dRM, 0, C * sizeof(float), rm); /* the same running stats for both */
        rn_write(ctx, dRV, 0, C * sizeof(float), rv);
        cl_mem out = fused ? dY : dT, res = fused ? dR : NULL;
        if (train)
            batchnorm_forward_train(ctx, out, dX, dG, dB, dRM, dRV, dSM, dSI, dP, C, M,
                                    (float)MOMENTUM, (float)EPS, fused, res);
        else batchnorm_forward_eval(ctx, out, dX, dG, dB, dRM, dRV, C, M, (float)EPS, fused, res);
    }
    add_relu_forward(ctx, dY2, dT, dR, n);
    double *xd = to_double(x, n), *gd = to_double(gamma, C), *bd = to_double(beta, C);
    double *rmd = to_double(rm, C), *rvd = to_double(rv, C), *yr = malloc(n * sizeof *yr);
    double smr[4096], sir[4096];
    if (train) refb_bn_forward_train(yr, smr, sir, rmd, rvd, xd, gd, bd, C, M, MOMENTUM, EPS, 0);
    else refb_bn_forward_eval(yr, xd, gd, bd, rmd, rvd, C, M, EPS, 0);
    for (size_t i = 0; i < n; i++) yr[i] = yr[i] + r[i] < 0 ? 0 : yr[i] + r[i];
    float *got = tu_download_new(dY, n), *unfused = tu_download_new(dY2, n);
    cmp(tu_name("residual %s C=%d M=%d y", train ? "train" : "eval", C, M), got, yr, n, 2e-5, 1e-5);
    TU_CHECK(!memcmp(got, unfused, n * sizeof *got),
             "residual %s C=%d M=%d: fused join equals BN then add_relu_forward bit for bit",
             train ? "train" : "eval", C, M);
    if (!train)
        check_eval_in_place(tu_name("residual eval C=%d M=%d", C, M), x, got, dG, dB, dRM, dRV, dR,
                            C, M, 1);
    cl_mem bufs[] = {dX, dR, dG, dB, dRM, dRV, dY, dT, dY2, dSM, dSI, dP};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(x), free(r), free(xd), free(gd), free(bd), free(rmd), free(rvd), free(yr), free(got);
    free(unfused);
}

/* The inputs of the loss Σ r·y of the reference training forward; y is scratch. */
typedef struct {
    const double *x, *g, *b, *r;
    int C, M, relu;
    double *y;
} bn_loss_in;

static double loss(void *arg)
{
    const bn_loss_in *a = arg;
    refb_bn_forward_train(a->y, NULL, NULL, NULL, NULL, a->x, a->g, a->b, a->C, a->M, MOMENTUM, EPS,
                          a->relu);
    double s = 0;
    for (size_t i = 0; i < (size_t)a->C * a->M; i++) s += a->r[i] * a->y[i];
    return s;
}

/* The reference backward against central finite differences of Σ r·y, for x, γ and β. */
static void check_ref_fd(int C, int M, int relu, uint64_t seed)
{
    const size_t n = (size_t)C * M;
    printf("  reference backward vs finite differences: C=%d M=%d relu=%d\n", C, M, relu);
    tu_seed(seed);
    float *xf = malloc(n * sizeof *xf), gf[64], bf[64];
    for (int c = 0; c < C; c++) {
        double scale = tu_uniform(0.3, 2);
        for (int i = 0; i < M; i++) xf[(size_t)c * M + i] = (float)(scale * tu_uniform(-1, 1));
    }
    tu_fill_away_from_zero(gf, C, -1.5, 1.5, 0.3);
    tu_fill_uniform(bf, C, -0.5, 0.5);
    if (relu) {
        double margin = choose_beta(bf, xf, gf, C, M);
        TU_CHECK(margin > 1e-3, "fd setup: pre-activations within %g of the kink", margin);
    }
    double *x = to_double(xf, n), *g = to_double(gf, C), *b = to_double(bf, C);
    double *r = malloc(n * sizeof *r), *y = malloc(n * sizeof *y);
    for (size_t i = 0; i < n; i++) r[i] = tu_uniform(-1, 1);
    double *dx = malloc(n * sizeof *dx), dg[64], db[64];
    refb_bn_backward(dx, dg, db, r, x, NULL, g, b, C, M, EPS, relu);

    const double h = 1e-6;
    double *fx = malloc(n * sizeof *fx), fg[64], fb[64];
    bn_loss_in in = {x, g, b, r, C, M, relu, y};
    for (size_t i = 0; i < n; i++) fx[i] = tu_central_diff(&x[i], h, loss, &in);
    for (int c = 0; c < C; c++) {
        fg[c] = tu_central_diff(&g[c], h, loss, &in);
        fb[c] = tu_central_diff(&b[c], h, loss, &in);
    }
    tu_compare_dd(tu_name("fd C=%d M=%d relu=%d dx", C, M, relu), dx, fx, n, 1e-6, 1e-5);
    tu_compare_dd(tu_name("fd C=%d M=%d relu=%d dgamma", C, M, relu), dg, fg, C, 1e-6, 1e-5);
    tu_compare_dd(tu_name("fd C=%d M=%d relu=%d dbeta", C, M, relu), db, fb, C, 1e-6, 1e-5);
    /* The check has teeth: the gradient is not trivially zero. */
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(fx[i]));
    /* (With M ≤ 2, x̂ = ±1 whatever x is, so dx really is ~0 there.) */
    TU_CHECK(M <= 2 || mx > 1e-2, "fd C=%d M=%d: finite-difference dx is ~0 (%g)", C, M, mx);
    free(xf), free(x), free(g), free(b), free(r), free(y), free(dx), free(fx);
}

/* The split reductions at the part boundaries (P values per part): a row one value longer than a
 * part, rows of several parts whose last is short and not a multiple of 8, exactly two parts, and
 * long rows with a 1000 offset. The trend gives the parts different means, so the variance is
 * wrong unless their combine accounts for it (a row shorter than a part is one part: the
 * awkward shapes above cover M < P, M = 1 and M = 2). */
static void check_split(void)
{
    const int P = part_len();
    printf("batchnorm split reductions (parts of %d values):\n", P);
    const bn_case k[] = {
        {"C2 M=P+1", 2, P + 1, 0, 0, 4},
        {"C3 M=2P+13 relu", 3, 2 * P + 13, 0, 1, 4},
        {"C2 M=2P", 2, 2 * P, 0, 0, 4},
        {"C3 M=3P+1001 offset", 3, 3 * P + 1001, 1000, 0, 2},
        {"C2 M=2P+7 offset relu", 2, 2 * P + 7, 1000, 1, 2},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        check_train(&k[i], 500 + i, k[i].offset ? 5e-4 : 1e-5);
}

/* Every output of a training forward and backward (relu; res: the residual join, or NULL) from
 * fresh running statistics, concatenated: y, dx, save_mean, save_invstd, running_mean,
 * running_var, dγ, dβ. */
static float *train_outputs(cl_mem dX, cl_mem dDY, cl_mem dG, cl_mem dB, cl_mem part, int C, int M,
                            int relu, cl_mem res)
{
    const size_t n = (size_t)C * M;
    rn_ctx *ctx = tu_ctx();
    cl_mem dY = tu_poisoned(n), dDX = tu_poisoned(n), s[6];
    for (int i = 0; i < 6; i++) s[i] = tu_poisoned(C);
    rn_fill(ctx, s[2], C, 0.0f);
    rn_fill(ctx, s[3], C, 1.0f);
    batchnorm_forward_train(ctx, dY, dX, dG, dB, s[2], s[3], s[0], s[1], part, C, M,
                            (float)MOMENTUM, (float)EPS, relu, res);
    batchnorm_backward(ctx, dDX, s[4], s[5], dDY, dX, dY, dG, NULL, s[0], s[1], part, C, M, relu,
                       NULL);
    float *out = malloc((2 * n + 6 * (size_t)C) * sizeof *out);
    tu_download(dY, out, n);
    tu_download(dDX, out + n, n);
    for (int i = 0; i < 6; i++) tu_download(s[i], out + 2 * n + (size_t)i * C, C);
    rn_release(&dY);
    rn_release(&dDX);
    for (int i = 0; i < 6; i++) rn_release(&s[i]);
    return out;
}

/* Two runs on the same inputs give the same bits, the second with the first's leftovers in the
 * scratch (no atomics, fixed combine order, nothing read that a run did not write). */
static void check_deterministic(void)
{
    const int C = 5, M = 2 * part_len() + 77;
    const size_t n = (size_t)C * M;
    printf("  determinism: C=%d M=%d relu, two runs\n", C, M);
    tu_seed(601);
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), gamma[5], beta[5];
    tu_fill_uniform(x, n, -2, 3);
    tu_fill_uniform(dy, n, -1, 1);
    tu_fill_away_from_zero(gamma, C, -1.5, 1.5, 0.3);
    tu_fill_uniform(beta, C, -0.5, 0.5);
    cl_mem dX = tu_upload(x, n), dDY = tu_upload(dy, n), dG = tu_upload(gamma, C);
    cl_mem dB = tu_upload(beta, C), dP = tu_poisoned(batchnorm_part_floats(C, M));
    float *a = train_outputs(dX, dDY, dG, dB, dP, C, M, 1, NULL);
    float *b = train_outputs(dX, dDY, dG, dB, dP, C, M, 1, NULL);
    TU_CHECK(!memcmp(a, b, (2 * n + 6 * (size_t)C) * sizeof *a),
             "two identical batch-norm runs differ in some bit");
    cl_mem bufs[] = {dX, dDY, dG, dB, dP};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(x), free(dy), free(a), free(b);
}

/* The per-channel form (one work-group per channel, what CPUs run) and the split form (what GPUs
 * run) give the same bits for every output, with and without ReLU and the residual join: each
 * form is thus proven by the reference comparisons the other passes. */
static void check_forms_agree(int C, int M)
{
    const size_t n = (size_t)C * M;
    rn_ctx *ctx = tu_ctx();
    const int saved = ctx->bn_per_channel;
    tu_seed(900 + (uint64_t)M);
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy), *r = malloc(n * sizeof *r);
    float *gamma = malloc(C * sizeof *gamma), *beta = malloc(C * sizeof *beta);
    tu_fill_uniform(x, n, -2, 3);
    tu_fill_uniform(dy, n, -1, 1);
    tu_fill_uniform(r, n, -1, 1);
    tu_fill_away_from_zero(gamma, C, -1.5, 1.5, 0.3);
    tu_fill_uniform(beta, C, -0.5, 0.5);
    cl_mem dX = tu_upload(x, n), dDY = tu_upload(dy, n), dR = tu_upload(r, n);
    cl_mem dG = tu_upload(gamma, C), dB = tu_upload(beta, C);
    cl_mem dP = tu_poisoned(batchnorm_part_floats(C, M));
    for (int c = 0; c < C; c++) beta[c] = fabsf(gamma[c]); /* a running variance */
    cl_mem dV = tu_upload(beta, C);
    for (int v = 0; v < 3; v++) {
        const int relu = v > 0;
        cl_mem res = v == 2 ? dR : NULL;
        float *out[2];
        for (int f = 0; f < 2; f++) {
            ctx->bn_per_channel = f;
            out[f] = train_outputs(dX, dDY, dG, dB, dP, C, M, relu, res);
        }
        TU_CHECK(!memcmp(out[0], out[1], (2 * n + 6 * (size_t)C) * sizeof(float)),
                 "C=%d M=%d%s%s: per-channel and split batch-norm give the same bits", C, M,
                 relu ? " relu" : "", res ? " residual" : "");
        free(out[0]), free(out[1]);
        for (int f = 0; f < 2; f++) { /* inference, with β and |γ| as the running statistics */
            ctx->bn_per_channel = f;
            cl_mem y = tu_poisoned(n);
            batchnorm_forward_eval(ctx, y, dX, dG, dB, dB, dV, C, M, (float)EPS, relu, res);
            out[f] = tu_download_new(y, n);
            rn_release(&y);
        }
        TU_CHECK(!memcmp(out[0], out[1], n * sizeof(float)),
                 "C=%d M=%d%s%s: per-channel and split inference give the same bits", C, M,
                 relu ? " relu" : "", res ? " residual" : "");
        free(out[0]), free(out[1]);
    }
    ctx->bn_per_channel = saved;
    cl_mem bufs[] = {dX, dDY, dR, dG, dB, dP, dV};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(x), free(dy), free(r), free(gamma), free(beta);
}

static void check_forms(void)
{
    const int P = part_len();
    printf("  per-channel form = split form, bit for bit (this device runs the %s form)\n",
           tu_ctx()->bn_per_channel ? "per-channel" : "split");
    const int shapes[][2] = {{5, 1},    {4, 2},     {3, 49},         {7, 75},
                             {3, 1000}, {2, P + 1}, {3, 2 * P + 13}, {2, 3 * P + 1001}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_forms_agree(shapes[i][0], shapes[i][1]);
    if (!tu_small()) {
        check_forms_agree(64, 128 * 16 * 16); /* the stem at batch 128 */
        check_forms_agree(2048, 128);         /* layer4 */
    }
}

/* dx, dγ, dβ of a backward with relu. y given: the mask from y; y NULL: recomputed from x and β. */
static float *relu_backward_outputs(cl_mem dX, cl_mem dDY, cl_mem dG, cl_mem dB, cl_mem dSM,
                                    cl_mem dSI, cl_mem part, int C, int M, cl_mem y)
{
    const size_t n = (size_t)C * M;
    cl_mem dDX = tu_poisoned(n), dDG = tu_poisoned(C), dDB = tu_poisoned(C);
    batchnorm_backward(tu_ctx(), dDX, dDG, dDB, dDY, dX, y, dG, dB, dSM, dSI, part, C, M, 1, NULL);
    float *out = malloc((n + 2 * (size_t)C) * sizeof *out);
    tu_download(dDX, out, n);
    tu_download(dDG, out + n, C);
    tu_download(dDB, out + n + C, C);
    rn_release(&dDX), rn_release(&dDG), rn_release(&dDB);
    return out;
}

/* The backward's recomputed ReLU mask (y NULL, β given) equals the mask from the forward's y, bit
 * for bit, in both forms, on inputs that sit on the kink: each channel's β is minus the rounded
 * product (x_i − mean)·invstd·γ of one of its values, so that value's pre-activation is the
 * product's rounding error (zero, or a few ulps either side) where an expression that rounds
 * differently from the forward's, say unfused where the forward fuses, flips the mask. */
static void check_mask_recomputed(int C, int M)
{
    const size_t n = (size_t)C * M;
    rn_ctx *ctx = tu_ctx();
    const int saved = ctx->bn_per_channel;
    tu_seed(950 + (uint64_t)M);
    float *x = malloc(n * sizeof *x), *dy = malloc(n * sizeof *dy);
    float *gamma = malloc(C * sizeof *gamma), *beta = calloc(C, sizeof *beta);
    float *sm = malloc(C * sizeof *sm), *si = malloc(C * sizeof *si), *y = malloc(n * sizeof *y);
    tu_fill_uniform(x, n, -2, 3);
    tu_fill_uniform(dy, n, -1, 1);
    tu_fill_away_from_zero(gamma, C, -1.5, 1.5, 0.3);
    cl_mem dX = tu_upload(x, n), dDY = tu_upload(dy, n), dG = tu_upload(gamma, C);
    cl_mem dB = tu_upload(beta, C), dY = tu_poisoned(n),
           dP = tu_poisoned(batchnorm_part_floats(C, M));
    cl_mem s[4];
    for (int f = 0; f < 2; f++) {
        ctx->bn_per_channel = f;
        for (int i = 0; i < 4; i++) s[i] = tu_poisoned(C);
        batchnorm_forward_train(ctx, dY, dX, dG, dB, s[2], s[3], s[0], s[1], dP, C, M,
                                (float)MOMENTUM, (float)EPS, 1, NULL);
        tu_download(s[0], sm, C);
        tu_download(s[1], si, C);
        for (int c = 0; c < C; c++) {
            const float t = (x[(size_t)c * M + (size_t)c * 7 % M] - sm[c]) * si[c];
            beta[c] = -(t * gamma[c]);
        }
        rn_write(ctx, dB, 0, C * sizeof(float), beta);
        batchnorm_forward_train(ctx, dY, dX, dG, dB, s[2], s[3], s[0], s[1], dP, C, M,
                                (float)MOMENTUM, (float)EPS, 1, NULL);
        tu_download(dY, y, n);
        int above = 0;
        for (int c = 0; c < C; c++) above += y[(size_t)c * M + (size_t)c * 7 % M] > 0.0f;
        float *want = relu_backward_outputs(dX, dDY, dG, dB, s[0], s[1], dP, C, M, dY);
        float *got = relu_backward_outputs(dX, dDY, dG, dB, s[0], s[1], dP, C, M, NULL);
        TU_CHECK(!memcmp(got, want, (n + 2 * (size_t)C) * sizeof *got),
                 "C=%d M=%d %s form: the recomputed ReLU mask gives the bits of y's (%d of %d "
                 "kink values above 0)",
                 C, M, f ? "per-channel" : "split", above, C);
        free(want), free(got);
        for (int i = 0; i < 4; i++) rn_release(&s[i]);
    }
    ctx->bn_per_channel = saved;
    cl_mem bufs[] = {dX, dDY, dG, dB, dY, dP};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(x), free(dy), free(gamma), free(beta), free(sm), free(si), free(y);
}

/* Shows the large-offset case can fail: the float formula E[x²]−E[x]² misses the variance of
 * values 1000 ± 1 by far more than the tolerance the device result must meet. */
static void check_offset_has_teeth(void)
{
    tu_seed(77);
    const int M = 75;
    float x[75];
    for (int i = 0; i < M; i++) x[i] = (float)(1000 + tu_uniform(-1, 1));
    float s = 0, q = 0;
    for (int i = 0; i < M; i++) s += x[i], q += x[i] * x[i];
    float naive_var = q / M - (s / M) * (s / M);
    double m = 0, v = 0;
    for (int i = 0; i < M; i++) m += x[i];
    m /= M;
    for (int i = 0; i < M; i++) v += (x[i] - m) * (x[i] - m);
    v /= M;
    double rel = fabs(1 / sqrt(naive_var + EPS) - 1 / sqrt(v + EPS)) * sqrt(v + EPS);
    printf("  offset 1000±1: float E[x²]−E[x]² gives var %.6g vs %.6g (invstd off by %.1e "
           "relative; tolerance 2e-4)\n",
           naive_var, v, rel);
    TU_CHECK(!(rel <= 2e-4), "offset case would not catch E[x²]−E[x]² (rel err %g)", rel);
}

/* The stem's batch-norm at the trainer's batch and every batch-norm shape of the model. */
static void check_model_shapes(void)
{
    /* the stem's batch-norm at the trainer's default batch 128: a channel spans several parts */
    const bn_case stem[] = {{"bn1 C64 N128", 64, 128 * 16 * 16, 0, 0, 0},
                            {"bn1 C64 N128 relu", 64, 128 * 16 * 16, 0, 1, 0}};
    for (int i = 0; i < 2; i++) check_train(&stem[i], 700 + i, 1e-5);

    /* every batch-norm shape of the model (its case list) at batch 8, with and without ReLU */
    rn_opcase *cases;
    int nc = tu_model_cases(RN_OP_BN, 8, &cases);
    TU_CHECK(nc >= 9, "the model has at least 9 distinct batch-norm shapes (%d)", nc);
    printf("batchnorm, ResNet50-CIFAR shapes at batch 8:\n");
    for (int i = 0; i < nc; i++)
        for (int relu = 0; relu < 2; relu++) {
            char label[96];
            snprintf(label, sizeof label, "%s C%d M%zu%s", cases[i].name, cases[i].C, cases[i].M,
                     relu ? " relu" : "");
            bn_case k = {label, cases[i].C, (int)cases[i].M, 0, relu, 0};
            check_train(&k, 200 + 2 * i + relu, 1e-5);
        }
    free(cases);
}

int main(void)
{
    /* Awkward shapes: odd channel counts, batch 1 and 3, 7×7 and 5×5, M not a multiple of the
     * work-group size, M < group size, M = 1 and 2. */
    const bn_case awkward[] = {
        {"C3 N1 7x7", 3, 1 * 7 * 7, 0, 0, 0},    {"C3 N1 7x7 relu", 3, 1 * 7 * 7, 0, 1, 0},
        {"C7 N3 5x5", 7, 3 * 5 * 5, 0, 0, 0},    {"C7 N3 5x5 relu", 7, 3 * 5 * 5, 0, 1, 0},
        {"C13 N3 7x7", 13, 3 * 7 * 7, 0, 0, 0},  {"C13 N3 7x7 relu", 13, 3 * 7 * 7, 0, 1, 0},
        {"C3 M1000", 3, 1000, 0, 1, 0},          {"C5 M1", 5, 1, 0, 0, 0},
        {"C5 M1 relu", 5, 1, 0, 1, 0},           {"C4 M2", 4, 2, 0, 0, 0},
        {"C7 N3 5x5 offset", 7, 75, 1000, 0, 0}, {"C3 M3000 offset", 3, 3000, 1000, 1, 0},
    };
    printf("batchnorm training forward/backward, awkward shapes:\n");
    for (size_t i = 0; i < sizeof awkward / sizeof awkward[0]; i++)
        check_train(&awkward[i], 100 + i, awkward[i].offset ? 5e-4 : 1e-5);
    check_offset_has_teeth();
    check_split();
    check_deterministic();
    check_forms();
    printf("  backward's recomputed ReLU mask = y's, values on the kink:\n");
    check_mask_recomputed(5, 1000);
    check_mask_recomputed(3, 2 * part_len() + 13);
    if (!tu_small()) {
        check_mask_recomputed(64, 128 * 16 * 16); /* the stem at batch 128 */
        check_mask_recomputed(2048, 128);         /* layer4 */
    }
    if (!tu_small()) check_model_shapes();

    printf("batchnorm inference forward:\n");
    check_eval(7, 75, 0, 301);
    check_eval(13, 49, 1, 302);
    if (!tu_small()) {
        check_eval(2048, 8, 1, 303);
        check_eval(64, 2048, 0, 304);
    }

    printf("batchnorm forward with the residual join:\n");
    check_residual(7, 75, 1, 311);
    check_residual(13, 49, 0, 312);
    check_residual(3, 5, 1, 313);
    if (!tu_small()) {
        check_residual(256, 8192, 1, 314);
        check_residual(2048, 128, 0, 315);
    }

    printf("reference backward vs central finite differences (h = 1e-6, double):\n");
    check_ref_fd(3, 10, 0, 401);
    check_ref_fd(3, 10, 1, 402);
    check_ref_fd(2, 2, 0, 403);
    check_ref_fd(2, 1, 1, 404);
    check_ref_fd(5, 7, 1, 405);
    return tu_finish("test_batchnorm");
}
