/* ReLU and add+ReLU, forward and backward, against the double reference in ref_b.c (odd sizes
 * and the residual join's shape 256×8×8×8 at batch 8), the reference backward against central
 * finite differences, NaN behaviour (forward propagates NaN, backward's mask drops it). Every
 * device output is NaN-poisoned before the run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/eltwise.h"
#include "ref_b.h"
#include "testutil.h"

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* Inputs a, b with |a + b| ≥ 0.05 (and |a| ≥ 0.05): every element off ReLU's kink. */
static void fill_inputs(float *a, float *b, size_t n)
{
    tu_fill_away_from_zero(a, n, -2, 2, 0.05);
    for (size_t i = 0; i < n; i++) {
        do b[i] = (float)tu_uniform(-2, 2);
        while (fabs((double)a[i] + b[i]) < 0.05);
    }
}

static void check_device(size_t n, uint64_t seed)
{
    printf("  device vs reference, n = %zu\n", n);
    tu_seed(seed);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *dy = malloc(n * sizeof *dy);
    fill_inputs(a, b, n);
    tu_fill_uniform(dy, n, -1, 1);
    double *ad = to_double(a, n), *bd = to_double(b, n), *dyd = to_double(dy, n);
    double *yr = malloc(n * sizeof *yr), *dr = malloc(n * sizeof *dr);
    float *got = malloc(n * sizeof *got);
    rn_ctx *ctx = tu_ctx();
    cl_mem dA = tu_upload(a, n), dB = tu_upload(b, n), dDY = tu_upload(dy, n);
    cl_mem dY = tu_poisoned(n), dD = tu_poisoned(n);

    /* ReLU is exact in float: any difference is a bug. */
    relu_forward(ctx, dY, dA, n);
    refb_relu_forward(yr, ad, (long)n);
    tu_download(dY, got, n);
    tu_compare(tu_name("relu fwd n=%zu (exact)", n), got, yr, n, 0, 0);
    relu_backward(ctx, dD, dDY, dY, n);
    refb_relu_backward(dr, dyd, yr, (long)n);
    tu_download(dD, got, n);
    tu_compare(tu_name("relu bwd n=%zu (exact)", n), got, dr, n, 0, 0);

    /* a + b rounds once in float: within half an ulp of the double sum. */
    rn_release(&dY);
    rn_release(&dD);
    dY = tu_poisoned(n);
    dD = tu_poisoned(n);
    add_relu_forward(ctx, dY, dA, dB, n);
    refb_add_relu_forward(yr, ad, bd, (long)n);
    tu_download(dY, got, n);
    tu_compare(tu_name("add_relu fwd n=%zu (rtol 6e-8)", n), got, yr, n, 0, 6e-8);
    add_relu_backward(ctx, dD, dDY, dY, n);
    refb_add_relu_backward(dr, dyd, yr, (long)n);
    tu_download(dD, got, n);
    tu_compare(tu_name("add_relu bwd n=%zu (exact)", n), got, dr, n, 0, 0);
    /* in place (d = dy), as the model's identity blocks run it */
    add_relu_backward(ctx, dDY, dDY, dY, n);
    tu_download(dDY, got, n);
    tu_compare(tu_name("add_relu bwd in place n=%zu (exact)", n), got, dr, n, 0, 0);

    cl_mem bufs[] = {dA, dB, dDY, dY, dD};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
    free(a), free(b), free(dy), free(ad), free(bd), free(dyd), free(yr), free(dr), free(got);
}

/* Reference backward vs central differences of Σ r·y for relu (x) and add+relu (a and b). */
static void check_fd(size_t n, uint64_t seed)
{
    printf("  reference backward vs central finite differences, n = %zu\n", n);
    tu_seed(seed);
    float *af = malloc(n * sizeof *af), *bf = malloc(n * sizeof *bf);
    fill_inputs(af, bf, n);
    double *a = to_double(af, n), *b = to_double(bf, n), *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++) r[i] = tu_uniform(-1, 1);
    double *y = malloc(n * sizeof *y), *g = malloc(n * sizeof *g), *fd = malloc(n * sizeof *fd);
    const double h = 1e-6;
    /* Each output depends on its own input only, so one perturbed element changes one term. */
    refb_relu_forward(y, a, (long)n);
    refb_relu_backward(g, r, y, (long)n);
    for (size_t i = 0; i < n; i++) {
        double yp, ym, s = a[i];
        a[i] = s + h;
        refb_relu_forward(&yp, a + i, 1);
        a[i] = s - h;
        refb_relu_forward(&ym, a + i, 1);
        a[i] = s;
        fd[i] = r[i] * (yp - ym) / (2 * h);
    }
    tu_compare_dd("fd relu dx", g, fd, n, 1e-8, 1e-7);
    refb_add_relu_forward(y, a, b, (long)n);
    refb_add_relu_backward(g, r, y, (long)n);
    for (int which = 0; which < 2; which++) {
        double *v = which ? b : a;
        for (size_t i = 0; i < n; i++) {
            double yp, ym, s = v[i];
            v[i] = s + h;
            refb_add_relu_forward(&yp, a + i, b + i, 1);
            v[i] = s - h;
            refb_add_relu_forward(&ym, a + i, b + i, 1);
            v[i] = s;
            fd[i] = r[i] * (yp - ym) / (2 * h);
        }
        tu_compare_dd(which ? "fd add_relu db" : "fd add_relu da", g, fd, n, 1e-8, 1e-7);
    }
    size_t active = 0;
    for (size_t i = 0; i < n; i++) active += y[i] > 0;
    TU_CHECK(active > n / 4 && active < 3 * n / 4, "fd: only %zu of %zu active", active, n);
    free(af), free(bf), free(a), free(b), free(r), free(y), free(g), free(fd);
}

/* NaN in forward must come out as NaN (a diverging run is seen); a NaN gradient where the
 * forward output was 0 is dropped by the mask, as PyTorch's threshold_backward does. */
static void check_nan(void)
{
    printf("  NaN: forward propagates it, backward's mask drops it\n");
    float x[4] = {NAN, -1.0f, 2.0f, 0.0f}, b[4] = {0, 0, 0, 0};
    float dy[4] = {1.0f, NAN, 3.0f, NAN};
    rn_ctx *ctx = tu_ctx();
    cl_mem dX = tu_upload(x, 4), dB = tu_upload(b, 4), dDY = tu_upload(dy, 4);
    cl_mem dY = tu_poisoned(4), dD = tu_poisoned(4);
    float y[4], d[4];
    relu_forward(ctx, dY, dX, 4);
    tu_download(dY, y, 4);
    TU_CHECK(isnan(y[0]) && y[1] == 0 && y[2] == 2 && y[3] == 0,
             "relu fwd NaN/neg/pos/zero gave %g %g %g %g", y[0], y[1], y[2], y[3]);
    relu_backward(ctx, dD, dDY, dY, 4);
    tu_download(dD, d, 4);
    TU_CHECK(d[0] == 0 && d[1] == 0 && d[2] == 3 && d[3] == 0,
             "relu bwd mask gave %g %g %g %g (want 0 0 3 0)", d[0], d[1], d[2], d[3]);
    rn_release(&dY);
    dY = tu_poisoned(4);
    add_relu_forward(ctx, dY, dX, dB, 4);
    tu_download(dY, y, 4);
    TU_CHECK(isnan(y[0]) && y[1] == 0 && y[2] == 2 && y[3] == 0,
             "add_relu fwd NaN/neg/pos/zero gave %g %g %g %g", y[0], y[1], y[2], y[3]);
    rn_release(&dD);
    dD = tu_poisoned(4);
    add_relu_backward(ctx, dD, dDY, dY, 4);
    tu_download(dD, d, 4);
    TU_CHECK(d[0] == 0 && d[1] == 0 && d[2] == 3 && d[3] == 0,
             "add_relu bwd mask gave %g %g %g %g (want 0 0 3 0)", d[0], d[1], d[2], d[3]);
    cl_mem bufs[] = {dX, dB, dDY, dY, dD};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rn_release(&bufs[i]);
}

int main(void)
{
    printf("relu / add+relu:\n");
    check_device(1, 1);
    check_device(7 * 3 * 5 * 5, 2);
    check_device(12345, 3);
    if (!tu_small()) {
        rn_opcase *joins; /* every residual join shape of the model at batch 8 */
        int nj = tu_model_cases(RN_OP_ADD_RELU, 8, &joins);
        TU_CHECK(nj == 4, "the model has 4 distinct residual join shapes (%d)", nj);
        for (int i = 0; i < nj; i++) check_device((size_t)joins[i].C * joins[i].M, 4 + i);
        free(joins);
    }
    check_fd(1001, 5);
    check_nan();
    return tu_finish("test_eltwise");
}
