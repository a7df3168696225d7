/* Fully connected head (host/ops/fc.c, cl/fc.cl) against the double reference in ref_a.c: the
 * reference backward against central finite differences, then device forward/backward against the
 * reference at awkward sizes and at the model's 2048 -> 10, batch 8. Outputs start NaN-poisoned. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/fc.h"
#include "ref_a.h"
#include "testutil.h"

static double *rand_d(size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = tu_uniform(-1, 1);
    return d;
}

typedef struct {
    const double *x, *w, *b, *g;
    int N, C, O;
} fc_loss_in;

/* L = Σ y·g with y = fc(x, w, b) */
static double fd_loss(void *arg)
{
    const fc_loss_in *a = arg;
    double *y = malloc((size_t)a->N * a->O * sizeof *y), L = 0;
    ref_fc_forward(y, a->x, a->w, a->b, a->N, a->C, a->O);
    for (size_t i = 0; i < (size_t)a->N * a->O; i++) L += y[i] * a->g[i];
    free(y);
    return L;
}

/* Claim: ref_fc_backward (dx, dw, db) equals central finite differences of ref_fc_forward. */
static void check_ref_fd(int N, int C, int O)
{
    size_t nx = (size_t)C * N, nw = (size_t)O * C, ny = (size_t)N * O;
    double *x = rand_d(nx), *w = rand_d(nw), *b = rand_d(O), *g = rand_d(ny);
    double *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw),
           *db = malloc(O * sizeof *db);
    ref_fc_backward(dx, dw, db, g, x, w, N, C, O);
    double *fx = malloc(nx * sizeof *fx), *fw = malloc(nw * sizeof *fw),
           *fb = malloc(O * sizeof *fb);
    const double h = 1e-3;
    fc_loss_in in = {x, w, b, g, N, C, O};
    for (size_t i = 0; i < nx; i++) fx[i] = tu_central_diff(&x[i], h, fd_loss, &in);
    for (size_t i = 0; i < nw; i++) fw[i] = tu_central_diff(&w[i], h, fd_loss, &in);
    for (int i = 0; i < O; i++) fb[i] = tu_central_diff(&b[i], h, fd_loss, &in);
    tu_compare_dd(tu_name("ref fc backward dx == finite differences (N%d C%d O%d)", N, C, O), dx,
                  fx, nx, 1e-8, 1e-8);
    tu_compare_dd(tu_name("ref fc backward dw == finite differences (N%d C%d O%d)", N, C, O), dw,
                  fw, nw, 1e-8, 1e-8);
    tu_compare_dd(tu_name("ref fc backward db == finite differences (N%d C%d O%d)", N, C, O), db,
                  fb, O, 1e-8, 1e-8);
    free(x), free(w), free(b), free(g), free(dx), free(dw), free(db), free(fx), free(fw), free(fb);
}

static float *to_f(const double *d, size_t n)
{
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)d[i];
    return f;
}

/* Claim: fc_forward / fc_backward on the device equal the reference; tolerance grows with the
 * length of the float32 reduction (C forward and for dw over N, O for dx). */
static void check_device(int N, int C, int O, int no_dx)
{
    rn_ctx *ctx = tu_ctx();
    size_t nx = (size_t)C * N, nw = (size_t)O * C, ny = (size_t)N * O;
    double *x = rand_d(nx), *w = rand_d(nw), *b = rand_d(O), *g = rand_d(ny);
    /* round the inputs to float so the reference sees exactly what the device sees */
    float *xf = to_f(x, nx), *wf = to_f(w, nw), *bf = to_f(b, O), *gf = to_f(g, ny);
    for (size_t i = 0; i < nx; i++) x[i] = xf[i];
    for (size_t i = 0; i < nw; i++) w[i] = wf[i];
    for (int i = 0; i < O; i++) b[i] = bf[i];
    for (size_t i = 0; i < ny; i++) g[i] = gf[i];
    double *yr = malloc(ny * sizeof *yr), *dxr = malloc(nx * sizeof *dxr),
           *dwr = malloc(nw * sizeof *dwr), *dbr = malloc(O * sizeof *dbr);
    ref_fc_forward(yr, x, w, b, N, C, O);
    ref_fc_backward(dxr, dwr, dbr, g, x, w, N, C, O);
    cl_mem bx = tu_upload(xf, nx), bw = tu_upload(wf, nw), bb = tu_upload(bf, O),
           bg = tu_upload(gf, ny);
    cl_mem by = tu_poisoned(ny), bdw = tu_poisoned(nw), bdb = tu_poisoned(O);
    cl_mem bdx = no_dx ? NULL : tu_poisoned(nx);
    fc_forward(ctx, by, bx, bw, bb, N, C, O);
    fc_backward(ctx, bdx, bdw, bdb, bg, bx, bw, N, C, O);
    float *y = tu_download_new(by, ny), *dw = tu_download_new(bdw, nw),
          *db = tu_download_new(bdb, O);
    tu_compare(tu_name("fc forward y == ref (N%d C%d O%d)", N, C, O), y, yr, ny,
               2e-5 * sqrt(C) + 1e-6, 1e-4);
    tu_compare(tu_name("fc backward dw == ref (N%d C%d O%d)", N, C, O), dw, dwr, nw,
               2e-5 * sqrt(N) + 1e-6, 1e-4);
    tu_compare(tu_name("fc backward db == ref (N%d C%d O%d)", N, C, O), db, dbr, O,
               2e-5 * sqrt(N) + 1e-6, 1e-4);
    if (bdx) {
        float *dx = tu_download_new(bdx, nx);
        tu_compare(tu_name("fc backward dx == ref (N%d C%d O%d)", N, C, O), dx, dxr, nx,
                   2e-5 * sqrt(O) + 1e-6, 1e-4);
        free(dx);
    }
    rn_release(&bx), rn_release(&bw), rn_release(&bb), rn_release(&bg), rn_release(&by);
    rn_release(&bdw), rn_release(&bdb), rn_release(&bdx);
    free(x), free(w), free(b), free(g), free(xf), free(wf), free(bf), free(gf), free(yr);
    free(dxr), free(dwr), free(dbr), free(y), free(dw), free(db);
}

int main(void)
{
    tu_seed(7001);
    check_ref_fd(3, 5, 4);
    check_ref_fd(1, 7, 3);
    check_device(3, 37, 7, 0);
    check_device(1, 5, 3, 0);
    check_device(67, 13, 11, 0); /* more rows than one 64-wide work-group */
    check_device(5, 9, 70, 1);   /* more bias outputs than one work-group; dx = NULL */
    check_device(20, 24, 10, 0); /* whole groups of 8 features, 2 of 8 images and 4 more */
    if (!tu_small()) {
        rn_opcase *fc; /* the model's head at batch 8 */
        TU_CHECK(tu_model_cases(RN_OP_FC, 8, &fc) == 1, "the model has one classifier");
        check_device(fc->N, fc->C, fc->classes, 0);
        check_device(fc->N, fc->C, fc->classes, 1);
        free(fc);
    }
    return tu_finish("test_fc");
}
