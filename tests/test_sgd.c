/* SGD step (host/ops/sgd.c, cl/sgd.cl) against the double reference in ref_a.c, which is first
 * checked against hand-computed PyTorch numbers; then several device steps with fresh gradients
 * for momentum 0 / 0.9, weight decay and Nesterov, on a length that is not a multiple of 64. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/sgd.h"
#include "ref_a.h"
#include "testutil.h"

/* Claim: the reference follows torch.optim.SGD (dampening 0), numbers worked by hand. */
static void check_ref_by_hand(void)
{
    double w = 1, v = 0, g = 0.5;
    ref_sgd_step(&w, &v, &g, 1, 0.1, 0.9, 0.1, 0); /* g'=0.6 v=0.6 w=0.94 */
    TU_CHECK(fabs(w - 0.94) < 1e-15 && fabs(v - 0.6) < 1e-15, "ref sgd step 1: w %.17g v %.17g", w,
             v);
    ref_sgd_step(&w, &v, &g, 1, 0.1, 0.9, 0.1, 0); /* g'=0.594 v=1.134 w=0.8266 */
    TU_CHECK(fabs(w - 0.8266) < 1e-15 && fabs(v - 1.134) < 1e-15, "ref sgd step 2: w %.17g v %.17g",
             w, v);
    w = 1, v = 0;
    ref_sgd_step(&w, &v, &g, 1, 0.1, 0.9, 0.1, 1); /* nesterov: w = 1 − 0.1·(0.6 + 0.54) */
    TU_CHECK(fabs(w - 0.886) < 1e-15 && fabs(v - 0.6) < 1e-15, "ref nesterov step: w %.17g", w);
    w = 1, v = 123;
    ref_sgd_step(&w, &v, &g, 1, 0.1, 0.0, 0.0, 0); /* plain SGD ignores the old buffer */
    TU_CHECK(fabs(w - 0.95) < 1e-15, "ref plain sgd step: w %.17g", w);
}

/* Claim: `steps` device steps equal the reference. With momentum 0 the velocity starts as NaN:
 * plain SGD must not read it. Tolerance: float32 rounding of O(1) values over a few steps. */
static void check_device(const char *tag, size_t n, int steps, float lr, float mom, float wd,
                         int nesterov)
{
    rn_ctx *ctx = tu_ctx();
    float *w = malloc(n * sizeof *w), *v = malloc(n * sizeof *v), *g = malloc(n * sizeof *g);
    double *wr = malloc(n * sizeof *wr), *vr = malloc(n * sizeof *vr), *gr = malloc(n * sizeof *gr);
    tu_fill_uniform(w, n, -1, 1);
    for (size_t i = 0; i < n; i++) wr[i] = w[i], vr[i] = 0, v[i] = mom != 0 ? 0.0f : NAN;
    cl_mem bw = tu_upload(w, n), bv = tu_upload(v, n), bg = rn_buffer(ctx, n * sizeof(float));
    for (int s = 0; s < steps; s++) {
        tu_fill_uniform(g, n, -1, 1);
        for (size_t i = 0; i < n; i++) gr[i] = g[i];
        rn_write(ctx, bg, 0, n * sizeof(float), g);
        sgd_step(ctx, bw, bv, bg, n, lr, mom, wd, nesterov);
        ref_sgd_step(wr, vr, gr, n, lr, mom, wd, nesterov);
    }
    tu_download(bw, w, n);
    tu_download(bv, v, n);
    tu_compare(tu_name("%s: w after %d steps == ref (lr %g mom %g wd %g nesterov %d)", tag, steps,
                       lr, mom, wd, nesterov),
               w, wr, n, 2e-6, 1e-5);
    tu_compare(tu_name("%s: momentum buffer after %d steps == ref", tag, steps), v, vr, n, 2e-6,
               1e-5);
    rn_release(&bw), rn_release(&bv), rn_release(&bg);
    free(w), free(v), free(g), free(wr), free(vr), free(gr);
}

int main(void)
{
    tu_seed(99);
    check_ref_by_hand();
    const size_t n = 1000 + 3;
    check_device("plain", n, 5, 0.1f, 0.0f, 0.0f, 0);
    check_device("plain + weight decay", n, 5, 0.1f, 0.0f, 1e-2f, 0);
    check_device("momentum", n, 5, 0.1f, 0.9f, 0.0f, 0);
    check_device("momentum + weight decay", n, 6, 0.05f, 0.9f, 5e-4f, 0);
    check_device("nesterov + weight decay", n, 6, 0.05f, 0.9f, 5e-4f, 1);
    check_device("one element", 1, 3, 0.1f, 0.9f, 5e-4f, 1);
    return tu_finish("test_sgd");
}
