/* Convolution (host/ops/conv.c, cl/im2col.cl, cl/conv.cl) against the double reference in
 * ref_a.c: the reference backward against central finite differences of the reference forward;
 * the device forward and backward against the reference on awkward shapes (odd sizes, batch 1 and
 * 3, stride 2 on odd inputs, padding 2 and 3, 7×7/2), the accumulate / no-dx / chunked-workspace /
 * pointwise paths, small images whose conv is one dense GEMM without padding taps (GEMM FLOPs of
 * exactly the taps that read the image), that rn_conv_gemm_shapes lists the GEMMs a run issues,
 * and every conv shape of the model's case list at batch 8; all of it again with MindSpore's
 * 'same' padding (more below and right than above and left at stride 2). A 3×3 conv on rows of 8
 * with own kernels chosen gives, with im2col in the product's loads, the bits of im2col + that
 * product (every tile, K-chunks inside and at channel edges, image chunks). Every output starts
 * NaN-poisoned. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/conv.h"
#include "rn50cl/rn50cl.h"
#include "ref_a.h"
#include "testutil.h"

static double *to_double(const float *f, size_t n)
{
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    return d;
}

typedef struct {
    const double *x, *w, *g;
    const ref_conv_shape *s;
} conv_loss_in;

/* L = Σ y·g for y = conv(x, w): linear in x and in w, so the central difference is exact up to
 * rounding and ∂L/∂x, ∂L/∂w are the backward pass of dy = g. */
static double fd_loss(void *arg)
{
    const conv_loss_in *a = arg;
    size_t ny = (size_t)a->s->Cout * a->s->N * a->s->Ho * a->s->Wo;
    double *y = malloc(ny * sizeof *y), L = 0;
    ref_conv2d_forward(y, a->x, a->w, a->s);
    for (size_t i = 0; i < ny; i++) L += y[i] * a->g[i];
    free(y);
    return L;
}

/* Claim: ref_conv2d_backward equals central finite differences of ref_conv2d_forward, at sampled
 * input and weight elements (corners and padded borders included). */
static void check_ref_backward_fd_shape(ref_conv_shape s)
{
    const int N = s.N, Cin = s.Cin, H = s.H, W = s.W, Cout = s.Cout, k = s.k;
    size_t nx = (size_t)Cin * N * H * W, nw = (size_t)Cout * Cin * k * k,
           ny = (size_t)Cout * N * s.Ho * s.Wo;
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *g = malloc(ny * sizeof *g);
    double *dx = malloc(nx * sizeof *dx), *dw = malloc(nw * sizeof *dw);
    for (size_t i = 0; i < nx; i++) x[i] = tu_uniform(-1, 1);
    for (size_t i = 0; i < nw; i++) w[i] = tu_uniform(-1, 1);
    for (size_t i = 0; i < ny; i++) g[i] = tu_uniform(-1, 1);
    ref_conv2d_backward(dx, dw, g, x, w, &s);
    const double h = 1e-3;
    enum { SAMPLES = 40 };
    double fdx[SAMPLES + 2], gx[SAMPLES + 2], fdw[SAMPLES + 2], gw[SAMPLES + 2];
    conv_loss_in in = {x, w, g, &s};
    for (int t = 0; t < SAMPLES + 2; t++) {
        /* first and last elements always, the rest at random */
        size_t i = t == 0 ? 0 : t == 1 ? nx - 1 : (size_t)tu_uniform(0, nx - 1e-9);
        fdx[t] = tu_central_diff(&x[i], h, fd_loss, &in);
        gx[t] = dx[i];
        size_t j = t == 0 ? 0 : t == 1 ? nw - 1 : (size_t)tu_uniform(0, nw - 1e-9);
        fdw[t] = tu_central_diff(&w[j], h, fd_loss, &in);
        gw[t] = dw[j];
    }
    tu_compare_dd(tu_name("ref conv backward dx == finite differences, N%d C%d %dx%d -> %d k%d "
                          "s%d pads %d/%d %d/%d",
                          N, Cin, H, W, Cout, k, s.stride, s.pad_top, s.pad_bottom, s.pad_left,
                          s.pad_right),
                  gx, fdx, SAMPLES + 2, 1e-8, 1e-8);
    tu_compare_dd(tu_name("ref conv backward dw == finite differences, N%d C%d %dx%d -> %d k%d "
                          "s%d pads %d/%d %d/%d",
                          N, Cin, H, W, Cout, k, s.stride, s.pad_top, s.pad_bottom, s.pad_left,
                          s.pad_right),
                  gw, fdw, SAMPLES + 2, 1e-8, 1e-8);
    free(x), free(w), free(g), free(dx), free(dw);
}

static void check_ref_backward_fd(int N, int Cin, int H, int W, int Cout, int k, int st, int p)
{
    check_ref_backward_fd_shape(ref_conv_shape_make(N, Cin, H, W, Cout, k, st, p));
}

typedef struct {
    size_t ws_floats;  /* 0: a workspace for the whole batch; else this many floats */
    int accumulate;    /* dx starts as random values and must come back as those + ∂L/∂x */
    int no_dx;         /* dx = NULL */
    int expect_chunks; /* the workspace must be smaller than the whole batch's columns */
} conv_opts;

/* Float32 GEMM accumulation over `red` terms of products of values in [-1,1]: a rounding error
 * grows like sqrt(red)·ε·|partial sums| ~ red·1e-7·0.3; wrong-index bugs move results by
 * ~sqrt(red)/3, many orders more. */
static double tol_for(size_t red)
{
    return 2e-5 * sqrt((double)red) + 1e-6;
}

/* rn_sgemm calls since the last rn_profile_reset (profiling on). */
static long gemm_calls(const rn_ctx *ctx)
{
    long n = 0; /* whole rn_sgemm calls, on either back-end */
    for (int i = 0; i < ctx->nprof; i++)
        if (!strncmp(ctx->prof[i].name, RN_PROF_GEMM, strlen(RN_PROF_GEMM)))
            n += ctx->prof[i].calls;
    return n;
}

/* Claim: conv2d_forward / conv2d_backward of c on the device equal the double reference of s
 * (the same conv, described independently). */
static void check_device_shape(const char *tag, rn_conv c, ref_conv_shape s, conv_opts o)
{
    rn_ctx *ctx = tu_ctx();
    const int N = s.N, Cin = s.Cin, H = s.H, W = s.W, Cout = s.Cout, k = s.k, st = s.stride;
    TU_CHECK(c.Ho == s.Ho && c.Wo == s.Wo && c.pad_h == s.pad_top && c.pad_w == s.pad_left,
             "%s: rn_conv output size %dx%d, padding above/left %d/%d; expected %dx%d, %d/%d", tag,
             c.Ho, c.Wo, c.pad_h, c.pad_w, s.Ho, s.Wo, s.pad_top, s.pad_left);
    size_t nx = (size_t)Cin * N * H * W, nw = (size_t)Cout * Cin * k * k,
           ny = (size_t)Cout * N * s.Ho * s.Wo;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *g = malloc(ny * sizeof *g);
    float *dx0 = malloc(nx * sizeof *dx0);
    tu_fill_uniform(x, nx, -1, 1);
    tu_fill_uniform(w, nw, -1, 1);
    tu_fill_uniform(g, ny, -1, 1);
    tu_fill_uniform(dx0, nx, -1, 1);
    double *xd = to_double(x, nx), *wd = to_double(w, nw), *gd = to_double(g, ny);
    double *yr = malloc(ny * sizeof *yr), *dxr = malloc(nx * sizeof *dxr),
           *dwr = malloc(nw * sizeof *dwr);
    ref_conv2d_forward(yr, xd, wd, &s);
    ref_conv2d_backward(dxr, dwr, gd, xd, wd, &s);
    if (o.accumulate)
        for (size_t i = 0; i < nx; i++) dxr[i] += dx0[i];

    rn_workspace ws;
    size_t whole = rn_conv_workspace_floats(&c, N);
    TU_CHECK(rn_workspace_create(ctx, &ws, o.ws_floats ? o.ws_floats : whole) == RN_OK,
             "%s: workspace allocated", tag);
    if (o.expect_chunks)
        TU_CHECK(ws.floats < whole, "%s: workspace %zu floats forces chunking (batch needs %zu)",
                 tag, ws.floats, whole);
    /* a workspace too small for one image is replaced inside the conv: nothing may write to the
     * one given after that (kept alive here, so that a stale write lands in it, not in freed
     * memory of the runtime, where it once corrupted PoCL's state) */
    cl_mem given = NULL;
    const size_t given_floats = ws.floats;
    if (ws.buf && ws.floats < rn_conv_workspace_floats(&c, 1)) {
        given = ws.buf;
        CL_CHECK(clRetainMemObject(given));
        rn_fill(ctx, given, given_floats, 7.0f);
    }
    cl_mem bx = tu_upload(x, nx), bw = tu_upload(w, nw), bg = tu_upload(g, ny);
    cl_mem by = tu_poisoned(ny), bdw = tu_poisoned(nw);
    cl_mem bdx = o.no_dx ? NULL : o.accumulate ? tu_upload(dx0, nx) : tu_poisoned(nx);
    /* the GEMMs the conv would issue for the workspace it is given, to count against the run */
    rn_gemm_shape shapes[64];
    int nshapes = rn_conv_gemm_shapes(&c, ws.floats, 1, !o.no_dx, shapes, 64);
    ctx->profile = 1;
    rn_profile_reset(ctx);
    conv2d_forward(ctx, by, bx, bw, &c, &ws);
    conv2d_backward(ctx, bdx, bdw, bg, bx, bw, &c, &ws, o.accumulate);
    TU_CHECK(nshapes == gemm_calls(ctx),
             "%s: rn_conv_gemm_shapes lists the %ld GEMMs forward + backward issue (%d)", tag,
             gemm_calls(ctx), nshapes);
    ctx->profile = 0;
    if (given) {
        float *left = tu_download_new(given, given_floats);
        size_t changed = 0;
        for (size_t i = 0; i < given_floats; i++) changed += left[i] != 7.0f;
        TU_CHECK(changed == 0,
                 "%s: the replaced workspace is not written after (%zu of %zu changed)", tag,
                 changed, given_floats);
        free(left);
        rn_release(&given);
    }
    if (rn_conv_is_pointwise(&c))
        TU_CHECK(ws.floats == (o.ws_floats ? o.ws_floats : whole),
                 "%s: pointwise conv leaves the workspace alone (%zu floats)", tag, ws.floats);
    else if (o.expect_chunks)
        TU_CHECK(ws.floats >= rn_conv_workspace_floats(&c, 1) && ws.floats < whole,
                 "%s: workspace %zu floats after the run: >= one image, < the batch (chunked)", tag,
                 ws.floats);
    float *y = tu_download_new(by, ny), *dw = tu_download_new(bdw, nw);
    size_t kred = (size_t)Cin * k * k, nred = (size_t)N * s.Ho * s.Wo;
    tu_compare(tu_name("%s: forward y == ref (N%d C%d %dx%d -> %d k%d s%d pads %d/%d %d/%d)", tag,
                       N, Cin, H, W, Cout, k, st, s.pad_top, s.pad_bottom, s.pad_left, s.pad_right),
               y, yr, ny, tol_for(kred), 1e-4);
    tu_compare(tu_name("%s: backward dw == ref", tag), dw, dwr, nw, tol_for(nred), 1e-4);
    if (bdx) {
        float *dx = tu_download_new(bdx, nx);
        tu_compare(tu_name("%s: backward dx == ref%s", tag,
                           o.accumulate ? " + previous dx (accumulate)" : ""),
                   dx, dxr, nx, tol_for((size_t)Cout * k * k), 1e-4);
        free(dx);
    }
    rn_release(&bx), rn_release(&bw), rn_release(&bg), rn_release(&by), rn_release(&bdw);
    rn_release(&bdx);
    rn_workspace_release(&ws);
    free(x), free(w), free(g), free(dx0), free(xd), free(wd), free(gd), free(yr), free(dxr);
    free(dwr), free(y), free(dw);
}

/* check_device_shape with PyTorch's symmetric padding p */
static void check_device(const char *tag, int N, int Cin, int H, int W, int Cout, int k, int st,
                         int p, conv_opts o)
{
    check_device_shape(tag, rn_conv_init(N, Cin, H, W, Cout, k, st, p),
                       ref_conv_shape_make(N, Cin, H, W, Cout, k, st, p), o);
}

/* check_device_shape with MindSpore's pad_mode='same' */
static void check_same(const char *tag, int N, int Cin, int H, int W, int Cout, int k, int st,
                       conv_opts o)
{
    check_device_shape(tag, rn_conv_init_same(N, Cin, H, W, Cout, k, st),
                       ref_conv_shape_same(N, Cin, H, W, Cout, k, st), o);
}

/* Multiply-adds of the taps that read the image rather than its padding, from the definition. */
static double live_macs(const rn_conv *c)
{
    double live = 0;
    for (int oy = 0; oy < c->Ho; oy++)
        for (int ox = 0; ox < c->Wo; ox++)
            for (int ky = 0; ky < c->kh; ky++)
                for (int kx = 0; kx < c->kw; kx++) {
                    int iy = oy * c->stride - c->pad_h + ky, ix = ox * c->stride - c->pad_w + kx;
                    live += iy >= 0 && iy < c->H && ix >= 0 && ix < c->W;
                }
    return live * c->Cin * c->Cout * c->N;
}

static double listed_flops(const rn_conv *c, int backward)
{
    rn_gemm_shape s[256];
    int n = rn_conv_gemm_shapes(c, SIZE_MAX / 8, backward, 1, s, 256);
    TU_CHECK(n <= 256, "at most 256 GEMMs (%d)", n);
    double f = 0;
    for (int i = 0; i < n && i < 256; i++) f += rn_gemm_flops(&s[i]);
    return f;
}

/* Every output reads every input through some tap, and padding fills the rest of some window. */
static int reads_all(const rn_conv *c)
{
    for (int o = 0; o < c->Ho; o++)
        for (int i = 0; i < c->H; i++)
            if (i - o * c->stride + c->pad_h < 0 || i - o * c->stride + c->pad_h >= c->kh) return 0;
    for (int o = 0; o < c->Wo; o++)
        for (int i = 0; i < c->W; i++)
            if (i - o * c->stride + c->pad_w < 0 || i - o * c->stride + c->pad_w >= c->kw) return 0;
    return live_macs(c) < (double)c->Cin * c->kh * c->kw * c->Cout * c->N * c->Ho * c->Wo;
}

/* Claim: a conv whose every output reads every input multiplies only the taps that read the image:
 * its GEMMs (rn_conv_gemm_shapes, a workspace for the whole batch) are 2·live multiply-adds
 * forward and twice that more backward (dW and dX); any other conv multiplies every tap. */
static void check_flops(const char *tag, const rn_conv *c)
{
    const int skips = reads_all(c);
    TU_CHECK(rn_conv_is_dense(c) == skips,
             "%s: rn_conv_is_dense %d, every output reads every input %d", tag, rn_conv_is_dense(c),
             skips);
    double full = (double)c->Cin * c->kh * c->kw * c->Cout * c->N * c->Ho * c->Wo;
    double want = 2 * (skips ? live_macs(c) : full);
    double fwd = listed_flops(c, 0), both = listed_flops(c, 1);
    TU_CHECK(fwd == want && both == 3 * want,
             "%s: GEMM FLOPs forward %.0f, forward + backward %.0f; expected %.0f and %.0f (%s)",
             tag, fwd, both, want, 3 * want, skips ? "live taps only" : "every tap");
}

/* Claim: rn_same_padding is the rule ref_same_pads spells out, and gives ResNet50's layers at
 * 32×32 input the padding MindSpore computes: stem 7×7/2 2 above and 3 below, max-pool 3×3/2 on
 * 16×16 and the 3×3/2 convs on 8, 4 and 2 rows 0 and 1, 3×3/1 1 and 1, 1×1/2 none. */
static void check_same_rule(void)
{
    static const struct {
        int size, k, s, out, before, after;
    } net[] = {{32, 7, 2, 16, 2, 3}, {16, 3, 2, 8, 0, 1}, {8, 3, 2, 4, 0, 1}, {4, 3, 2, 2, 0, 1},
               {2, 3, 2, 1, 0, 1},   {8, 3, 1, 8, 1, 1},  {1, 3, 1, 1, 1, 1}, {8, 1, 2, 4, 0, 0}};
    for (size_t i = 0; i < sizeof net / sizeof net[0]; i++) {
        int b, a, out = ref_same_pads(net[i].size, net[i].k, net[i].s, &b, &a);
        TU_CHECK(out == net[i].out && b == net[i].before && a == net[i].after,
                 "'same' %dx%d/%d on %d: %d outputs, pads %d/%d (reference: %d, %d/%d)", net[i].k,
                 net[i].k, net[i].s, net[i].size, net[i].out, net[i].before, net[i].after, out, b,
                 a);
    }
    for (int size = 1; size <= 40; size++)
        for (int k = 1; k <= 7; k++)
            for (int st = 1; st <= 3; st++) {
                int b, a, rb, out = rn_same_padding(size, k, st, &b);
                int rout = ref_same_pads(size, k, st, &rb, &a);
                TU_CHECK(out == rout && b == rb,
                         "rn_same_padding(%d, k%d, s%d) = %d, before %d; reference %d, %d", size, k,
                         st, out, b, rout, rb);
            }
}

/* Claim: with MindSpore's 'same' padding every conv path equals the reference: im2col on each
 * pad pattern (more below than above, non-square, odd sizes where 'same' is symmetric, 1×1/2),
 * accumulate, no dx, chunks, and the dense form on small images, which still multiplies only the
 * taps inside the image. */
static void check_same_paths(void)
{
    conv_opts plain = {0, 0, 0, 0}, acc = {0, 1, 0, 0}, nodx = {0, 0, 1, 0};
    check_same("same 7x7/2 10x10 (2/3)", 3, 3, 10, 10, 5, 7, 2, plain);
    check_same("same 3x3/2 8x8 (0/1)", 3, 5, 8, 8, 6, 3, 2, plain);
    check_same("same 3x3/2 6x9 (0/1, 1/1)", 3, 5, 6, 9, 7, 3, 2, plain);
    check_same("same 3x3/2 7x7 (1/1)", 3, 5, 7, 7, 6, 3, 2, plain);
    check_same("same 5x5/2 6x6 (1/2)", 3, 4, 6, 6, 5, 5, 2, plain);
    check_same("same 2x2/2 7x7 (0/1)", 3, 4, 7, 7, 5, 2, 2, plain);
    check_same("same 3x3/1 7x5", 3, 5, 7, 5, 6, 3, 1, plain);
    check_same("same 1x1/2 8x8", 3, 7, 8, 8, 5, 1, 2, plain);
    check_same("same 3x3/2 4x4 rows (0/1)", 3, 5, 4, 4, 6, 3, 2, plain);
    /* 4x4/1 pads 1 left, 2 right: the row kernels' two-lane shifts, both directions */
    check_same("same 4x4/1 4x4 rows", 2, 3, 4, 4, 5, 4, 1, plain);
    check_same("same 4x4/1 6x8 rows", 2, 3, 6, 8, 5, 4, 1, plain);
    check_same("same 3x3/2 8x8 accumulate", 3, 5, 8, 8, 6, 3, 2, acc);
    check_same("same 3x3/2 8x8 dx=NULL", 3, 5, 8, 8, 6, 3, 2, nodx);
    size_t per = (size_t)5 * 9 * 4 * 4; /* Cin·k·k·Ho·Wo of 3x3/2 on 8x8 -> 4x4 */
    check_same("same 3x3/2 8x8 chunks of 1", 3, 5, 8, 8, 6, 3, 2, (conv_opts){per, 0, 0, 1});
    check_same("same 3x3/2 8x8 chunks of 2+1 accumulate", 3, 5, 8, 8, 6, 3, 2,
               (conv_opts){2 * per + 7, 1, 0, 1});
    struct {
        const char *tag;
        int H, W, k, st, dense;
    } small[] = {{"same 3x3/2 on 2x2 (0/1)", 2, 2, 3, 2, 1},
                 {"same 3x3/1 on 1x1", 1, 1, 3, 1, 1},
                 {"same 3x3/1 on 2x2", 2, 2, 3, 1, 1},
                 {"same 3x3/2 on 2x1", 2, 1, 3, 2, 1},
                 {"same 3x3/2 on 4x4 (0/1)", 4, 4, 3, 2, 0}};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        rn_conv t = rn_conv_init_same(3, 5, small[i].H, small[i].W, 7, small[i].k, small[i].st);
        TU_CHECK(reads_all(&t) == small[i].dense, "%s: every output reads every input: %d",
                 small[i].tag, small[i].dense);
        check_flops(small[i].tag, &t);
        check_same(small[i].tag, 3, 5, small[i].H, small[i].W, 7, small[i].k, small[i].st, plain);
    }
    rn_conv d = rn_conv_init_same(3, 6, 2, 2, 5, 3, 2);
    check_same("same dense 2x2/2 accumulate", 3, 6, 2, 2, 5, 3, 2, acc);
    check_same("same dense 2x2/2 dx=NULL", 3, 6, 2, 2, 5, 3, 2, nodx);
    check_same("same dense 2x2/2 chunks of 1", 3, 6, 2, 2, 5, 3, 2,
               (conv_opts){rn_conv_workspace_floats(&d, 1), 0, 0, 1});
}

/* Claim: every conv shape of the model at batch Nb, with 'same' padding instead, keeps its output
 * size (so the network's activations are those of the symmetric model), runs the same path with
 * the same GEMM work, and equals the reference. */
static void check_same_model(int Nb)
{
    rn_opcase *cases;
    int nc = tu_model_cases(RN_OP_CONV, Nb, &cases), ndense = 0;
    for (int i = 0; i < nc; i++) {
        const rn_conv *v = &cases[i].conv;
        rn_conv t = rn_conv_init_same(Nb, v->Cin, v->H, v->W, v->Cout, v->kh, v->stride);
        char tag[96];
        snprintf(tag, sizeof tag, "same %s", cases[i].name);
        TU_CHECK(t.Ho == v->Ho && t.Wo == v->Wo,
                 "%s: 'same' output %dx%d equals the symmetric %dx%d", tag, t.Ho, t.Wo, v->Ho,
                 v->Wo);
        TU_CHECK(rn_conv_is_dense(&t) == rn_conv_is_dense(v) &&
                     rn_conv_is_pointwise(&t) == rn_conv_is_pointwise(v),
                 "%s: the same conv path as symmetric padding", tag);
        ndense += reads_all(&t);
        check_flops(tag, &t);
        check_same(tag, Nb, v->Cin, v->H, v->W, v->Cout, v->kh, v->stride, (conv_opts){0, 0, 0, 0});
    }
    free(cases);
    TU_CHECK(ndense == 3,
             "with 'same' padding the model's 3x3 convs on 2x2 and 1x1 images skip "
             "the padding too (%d shapes)",
             ndense);
}

/* Launches of kernel `name` since the last rn_profile_reset (profiling on). */
static long launches(const rn_ctx *ctx, const char *name)
{
    for (int i = 0; i < ctx->nprof; i++)
        if (!strcmp(ctx->prof[i].name, name)) return ctx->prof[i].calls;
    return 0;
}

/* im2col on the host: col[(ci·kh + ky)·kw + kx][q] for every output position q of the batch, zero
 * where the window leaves the image (square kernels, padding kh/2 on every side). */
static void host_columns(float *col, const float *x, const rn_conv *c)
{
    const int kk = c->kh, H = c->H, W = c->W, st = c->stride;
    const size_t hw = (size_t)c->Ho * c->Wo, cols = (size_t)c->N * hw;
    for (size_t ci = 0; ci < (size_t)c->Cin; ci++)
        for (int t = 0; t < kk * kk; t++)
            for (size_t q = 0; q < cols; q++) {
                const int iy = (int)(q % hw) / c->Wo * st + t / kk - kk / 2,
                          ix = (int)(q % c->Wo) * st + t % kk - kk / 2;
                const int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                col[(ci * kk * kk + t) * cols + q] =
                    in ? x[(ci * c->N + q / hw) * H * W + iy * W + ix] : 0.0f;
            }
}

/* Claim: with own kernels chosen (tile, tile order m_fast, K-chunk kc) for its products, a 3×3/1
 * pad-1 conv on N images of H rows of W (8, or 4 with H = 4), or the stem's 7×7/2 pad-3 conv on
 * 32×32 images (W = 32), gives exactly the bits of the explicit form: the host's im2col of each
 * chunk of images (a workspace of ws floats; 0: the whole batch) multiplied by rn_sgemm with the
 * same choice; it runs no im2col kernel, except for a chunk whose columns are not whole tiles
 * (explicit then). */
static void check_rows(const char *tag, int N, int Cin, int H, int W, int Cout, size_t ws_floats,
                       int tile, size_t kc, int m_fast)
{
    rn_ctx *ctx = tu_ctx();
    const int kk = W == 32 ? 7 : 3, st = W == 32 ? 2 : 1;
    rn_conv c = rn_conv_init(N, Cin, H, W, Cout, kk, st, kk / 2);
    const size_t hw = (size_t)c.Ho * c.Wo, K = (size_t)Cin * kk * kk, cols = (size_t)N * hw;
    const size_t nx = (size_t)Cin * N * H * W, nw = (size_t)Cout * K, ny = (size_t)Cout * cols;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *col = malloc(K * cols * 4);
    tu_fill_uniform(x, nx, -1, 1);
    tu_fill_uniform(w, nw, -1, 1);
    cl_mem bx = tu_upload(x, nx), bw = tu_upload(w, nw), by = tu_poisoned(ny);
    cl_mem be = tu_poisoned(ny), bcol = tu_poisoned(K * cols);
    rn_workspace ws;
    const size_t whole = rn_conv_workspace_floats(&c, N);
    TU_CHECK(rn_workspace_create(ctx, &ws, ws_floats ? ws_floats : whole) == RN_OK, "%s: workspace",
             tag);
    rn_gemm_shape sh[16];
    const int nsh = rn_conv_gemm_shapes(&c, ws.floats, 0, 0, sh, 16);
    long explicit = 0;
    ctx->nown = 0;
    for (int i = 0; i < nsh && i < 16; i++) {
        /* a product the tile does not fit has no own choice: im2col + CLBlast */
        rn_gemm_own o = {sh[i], tile, m_fast, kc};
        const int valid = rn_gemm_own_valid(&o);
        const size_t width = tile == RN_TILE_8X32 || tile == RN_TILE_PACK ? 32 : 16;
        const int pairs = tile == RN_TILE_P4X16 || tile == RN_TILE_P6X16;
        explicit += !valid || sh[i].N % width != 0 || (W == 4 && !ctx->implicit_rows4 && !pairs) ||
                    (W == 32 && pairs);
        if (valid && !rn_gemm_own_find(ctx, &o.s)) ctx->own[ctx->nown++] = o;
    }
    ctx->profile = 1;
    rn_profile_reset(ctx);
    conv2d_forward(ctx, by, bx, bw, &c, &ws);
    const long im2cols = launches(ctx, "rn_im2col_row8_fwd") + launches(ctx, "rn_im2col_row4_fwd") +
                         launches(ctx, "rn_im2col_s2row32_fwd");
    const long calls = gemm_calls(ctx);
    ctx->profile = 0;
    /* the explicit form, chunk by chunk as conv2d_forward cuts the batch */
    host_columns(col, x, &c);
    size_t n0 = 0;
    for (int i = 0; i < nsh && i < 16; i++) {
        const size_t cc = sh[i].N; /* this chunk's columns */
        float *chunk = malloc(K * cc * sizeof *chunk);
        for (size_t k = 0; k < K; k++) memcpy(chunk + k * cc, col + k * cols + n0, cc * 4);
        rn_write(ctx, bcol, 0, K * cc * 4, chunk);
        rn_sgemm(ctx, 0, 0, Cout, cc, K, 1.0f, bw, 0, K, bcol, 0, cc, 0.0f, be, n0, cols);
        n0 += cc;
        free(chunk);
    }
    ctx->nown = 0;
    float *y = tu_download_new(by, ny), *ye = tu_download_new(be, ny);
    const char *what = tu_name("%s (N%d C%d %dx%d -> %d, tile %d, kc %zu, m_fast %d, %d products)",
                               tag, N, Cin, H, W, Cout, tile, kc, m_fast, nsh);
    TU_CHECK(im2cols == explicit && calls == nsh,
             "%s: %ld im2col launches (%ld expected), %ld products", what, im2cols, explicit,
             calls);
    TU_CHECK(!memcmp(y, ye, ny * sizeof *y), "%s: the bits of im2col + the chosen product", what);
    rn_workspace_release(&ws);
    cl_mem all[] = {bx, bw, by, be, bcol};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rn_release(&all[i]);
    free(x);
    free(w);
    free(col);
    free(y);
    free(ye);
}

static void check_rows_forms(void)
{
    rn_ctx *ctx = tu_ctx();
    const int rows4 = ctx->implicit_rows4;
    ctx->implicit_rows4 = 1; /* the 4×4 form too, whatever this device's rule */
    check_rows("rows of 8 wide whole K", 3, 5, 8, 8, 11, 0, RN_TILE_8X32, 64, 1);
    check_rows("rows of 8 8x16 K-chunks inside channels", 3, 5, 8, 8, 11, 0, RN_TILE_8X16, 7, 0);
    check_rows("rows of 8 packed K-chunks at channel edges", 3, 5, 8, 8, 9, 0, RN_TILE_PACK, 9, 1);
    check_rows("rows of 8 wide chunks of 4 taps", 2, 3, 8, 8, 8, 0, RN_TILE_8X32, 4, 0);
    check_rows("rows of 8 on 4 rows", 4, 3, 4, 8, 8, 0, RN_TILE_8X32, 5, 1);
    check_rows("rows of 8 on 12 rows", 2, 4, 12, 8, 9, 0, RN_TILE_8X16, 100, 0);
    check_rows("rows of 8 image chunks 2+1", 3, 5, 8, 8, 11, 2 * (size_t)45 * 64, RN_TILE_8X32, 20,
               1);
    check_rows("4x4 8x16 whole K", 3, 5, 4, 4, 11, 0, RN_TILE_8X16, 64, 0);
    check_rows("4x4 wide K-chunks inside channels", 4, 5, 4, 4, 9, 0, RN_TILE_8X32, 7, 1);
    check_rows("4x4 packed K-chunks at channel edges", 2, 4, 4, 4, 8, 0, RN_TILE_PACK, 18, 0);
    check_rows("rows of 8 6x16 K-chunks at channel edges", 3, 5, 8, 8, 11, 0, RN_TILE_P6X16, 9, 1);
    check_rows("rows of 8 4x16 whole K", 3, 5, 8, 8, 11, 0, RN_TILE_P4X16, 64, 0);
    check_rows("4x4 4x16 K-chunks inside channels", 2, 4, 4, 4, 9, 0, RN_TILE_P4X16, 7, 1);
    check_rows("4x4 6x16 image chunks 3+2", 5, 3, 4, 4, 13, 3 * (size_t)27 * 16, RN_TILE_P6X16, 18,
               0);
    check_rows("4x4 wide image chunks 2+2+1 (explicit last)", 5, 3, 4, 4, 8, 2 * (size_t)27 * 16,
               RN_TILE_8X32, 10, 1);
    check_rows("4x4 8x16 image chunks 3+2", 5, 3, 4, 4, 8, 3 * (size_t)27 * 16, RN_TILE_8X16, 10,
               0);
    check_rows("stem 8x16 whole K", 2, 3, 32, 32, 11, 0, RN_TILE_8X16, 147, 0);
    check_rows("stem wide K-chunks inside channels", 2, 3, 32, 32, 9, 0, RN_TILE_8X32, 64, 1);
    check_rows("stem packed K-chunks at channel edges", 2, 4, 32, 32, 8, 0, RN_TILE_PACK, 49, 0);
    check_rows("stem 8x16 chunks of a row of taps", 2, 3, 32, 32, 11, 0, RN_TILE_8X16, 7, 1);
    check_rows("stem wide image chunks 2+1", 3, 3, 32, 32, 13, 2 * (size_t)147 * 256, RN_TILE_8X32,
               20, 0);
    check_rows("stem 4x16 explicit by rule", 2, 3, 32, 32, 11, 0, RN_TILE_P4X16, 64, 0);
    ctx->implicit_rows4 = 0; /* then im2col + the product, on the float16 tiles */
    check_rows("4x4 explicit by rule", 3, 5, 4, 4, 11, 0, RN_TILE_8X16, 64, 0);
    check_rows("4x4 6x16 gathers whatever the rule", 3, 5, 4, 4, 11, 0, RN_TILE_P6X16, 64, 0);
    ctx->implicit_rows4 = rows4;
}

/* Claim: with an own choice stored for its product, dx of a 3×3/1 pad-1 conv on rows of 8 (or 4×4
 * images) is formed without col2im, as the forward of dy with the weights flipped on the host
 * (which check_rows proves equal to the explicit form): the same bits, and dx and dw within
 * tolerance of the double reference. choose: 1 stores the choice for dx's product, 0 only for the
 * forward's (Cin ≠ Cout); implicit: whether dx is expected without col2im (not without a choice,
 * with fewer than 8 rows of flipped weights, or on 4×4 images where the rule says no). ws:
 * workspace floats (0: the batch). */
static void check_dx_rows(const char *tag, int N, int Cin, int H, int W, int Cout, size_t ws_floats,
                          int tile, size_t kc, int choose, int implicit)
{
    rn_ctx *ctx = tu_ctx();
    rn_conv c = rn_conv_init(N, Cin, H, W, Cout, 3, 1, 1),
            cf = rn_conv_init(N, Cout, H, W, Cin, 3, 1, 1);
    ref_conv_shape rs = ref_conv_shape_make(N, Cin, H, W, Cout, 3, 1, 1);
    const size_t hw = (size_t)H * W, nx = (size_t)Cin * N * hw, ny = (size_t)Cout * N * hw;
    const size_t nw = (size_t)Cout * Cin * 9;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4), *wt = malloc(nw * 4);
    tu_fill_uniform(x, nx, -1, 1);
    tu_fill_uniform(w, nw, -1, 1);
    tu_fill_uniform(dy, ny, -1, 1);
    for (int ci = 0; ci < Cin; ci++)
        for (int co = 0; co < Cout; co++)
            for (int t = 0; t < 9; t++)
                wt[((size_t)ci * Cout + co) * 9 + t] = w[((size_t)co * Cin + ci) * 9 + 8 - t];
    cl_mem bx = tu_upload(x, nx), bw = tu_upload(w, nw), bdy = tu_upload(dy, ny);
    cl_mem bwt = tu_upload(wt, nw), bdx = tu_poisoned(nx), bdw = tu_poisoned(nw),
           be = tu_poisoned(nx);
    /* chunks of nc images as conv2d_backward cuts them, and the flipped conv's forward likewise;
     * choices for dx's products (the flipped conv's forward's), or (choose 0) for c's forward */
    rn_workspace ws, wsf;
    const size_t per = (size_t)Cin * 9 * hw;
    TU_CHECK(rn_workspace_create(ctx, &ws, ws_floats ? ws_floats : N * per) == RN_OK,
             "%s: workspace", tag);
    const int nc = ws.floats / per < (size_t)N ? (int)(ws.floats / per) : N;
    TU_CHECK(rn_workspace_create(ctx, &wsf, (size_t)nc * Cout * 9 * hw) == RN_OK,
             "%s: workspace of the flipped conv", tag);
    ctx->nown = 0;
    for (int n0 = 0; n0 < N; n0 += nc) {
        const size_t cc = (N - n0 < nc ? N - n0 : nc) * hw;
        rn_gemm_shape s = {0, 0, Cin, cc, (size_t)Cout * 9, (size_t)Cout * 9, cc, N * hw, 0.0f};
        if (!choose) s = (rn_gemm_shape){0, 0, Cout, cc, per / hw, per / hw, cc, N * hw, 0.0f};
        rn_gemm_own o = {s, tile, 1, kc};
        if (rn_gemm_own_valid(&o) && !rn_gemm_own_find(ctx, &o.s)) ctx->own[ctx->nown++] = o;
    }
    ctx->profile = 1;
    rn_profile_reset(ctx);
    conv2d_backward(ctx, bdx, bdw, bdy, bx, bw, &c, &ws, 0);
    const long col2ims = launches(ctx, "rn_col2im_row8_bwd") + launches(ctx, "rn_col2im_row4_bwd");
    const long flips = launches(ctx, "rn_conv_flip_bwd");
    ctx->profile = 0;
    if (implicit) conv2d_forward(ctx, be, bdy, bwt, &cf, &wsf);
    ctx->nown = 0;
    const char *what =
        tu_name("%s (N%d C%d %dx%d -> %d, tile %d, kc %zu)", tag, N, Cin, H, W, Cout, tile, kc);
    TU_CHECK(implicit ? col2ims == 0 && flips == 1 : col2ims > 0 && flips == 0,
             "%s: %ld col2im and %ld flip launches", what, col2ims, flips);
    float *dx = tu_download_new(bdx, nx), *dwg = tu_download_new(bdw, nw);
    if (implicit) {
        float *e = tu_download_new(be, nx);
        TU_CHECK(!memcmp(dx, e, nx * 4), "%s: dx has the bits of the flipped conv's forward", what);
        free(e);
    }
    double *xd = to_double(x, nx), *wd = to_double(w, nw), *gd = to_double(dy, ny);
    double *dxr = malloc(nx * sizeof *dxr), *dwr = malloc(nw * sizeof *dwr);
    ref_conv2d_backward(dxr, dwr, gd, xd, wd, &rs);
    tu_compare(tu_name("%s: dx == ref", what), dx, dxr, nx, tol_for((size_t)Cout * 9), 1e-4);
    tu_compare(tu_name("%s: dw == ref", what), dwg, dwr, nw, tol_for((size_t)N * hw), 1e-4);
    rn_workspace_release(&ws);
    rn_workspace_release(&wsf);
    cl_mem all[] = {bx, bw, bdy, bwt, bdx, bdw, be};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rn_release(&all[i]);
    free(x), free(w), free(dy), free(wt), free(dx), free(dwg);
    free(xd), free(wd), free(gd), free(dxr), free(dwr);
}

/* check_dx_rows's cases, the layout kernels (the flipped weights among them) in the form
 * ctx->layout_per_channel says. */
static void check_dx_rows_forms(void)
{
    rn_ctx *ctx = tu_ctx();
    const int rows4 = ctx->implicit_rows4;
    ctx->implicit_rows4 = 1;
    check_dx_rows("dx rows of 8 wide", 3, 9, 8, 8, 11, 0, RN_TILE_8X32, 1000, 1, 1);
    check_dx_rows("dx rows of 8 8x16 K-chunks", 3, 8, 8, 8, 6, 0, RN_TILE_8X16, 7, 1, 1);
    check_dx_rows("dx rows of 8 packed image chunks 2+1", 3, 8, 8, 8, 6, 2 * (size_t)72 * 64,
                  RN_TILE_PACK, 20, 1, 1);
    check_dx_rows("dx 4x4 wide K-chunks", 4, 10, 4, 4, 9, 0, RN_TILE_8X32, 18, 1, 1);
    check_dx_rows("dx rows of 8 no choice for dx", 3, 9, 8, 8, 11, 0, RN_TILE_8X32, 1000, 0, 0);
    check_dx_rows("dx rows of 8 packed on 6 rows of W", 3, 6, 8, 8, 6, 0, RN_TILE_PACK, 20, 1, 0);
    check_dx_rows("dx rows of 8 6x16 K-chunks", 3, 9, 8, 8, 11, 0, RN_TILE_P6X16, 20, 1, 1);
    check_dx_rows("dx 4x4 4x16 whole K", 4, 10, 4, 4, 9, 0, RN_TILE_P4X16, 1000, 1, 1);
    ctx->implicit_rows4 = 0;
    check_dx_rows("dx 4x4 explicit by rule", 4, 10, 4, 4, 9, 0, RN_TILE_8X32, 18, 1, 0);
    check_dx_rows("dx 4x4 4x16 whatever the rule", 4, 10, 4, 4, 9, 0, RN_TILE_P4X16, 18, 1, 1);
    ctx->implicit_rows4 = rows4;
}

/* Claim: with the dot tile chosen (K-chunk kc, tile order m_fast) for the weight gradient's
 * products of a 3×3/1 pad-1 conv on N images of H rows of W (8, or 4 with H = 4), or of the
 * stem's 7×7/2 pad-3 conv on 32×32 images (W = 32), dw is formed without im2col, gathering x's
 * columns inside the product (rn_gemm_nt_row8_fwd, _row4, _s2row32): the
 * same bits as im2col + the same product on the columns as written, chunk by chunk (a workspace
 * of ws floats, 0: the batch), and within tolerance of the double reference. gather: whether it
 * is expected to gather (not with K-chunks that are not whole 16s, nor with fewer than 8 output
 * channels, 4 for the stem). */
static void check_dw_rows(const char *tag, int N, int Cin, int H, int W, int Cout, size_t ws_floats,
                          size_t kc, int m_fast, int gather)
{
    rn_ctx *ctx = tu_ctx();
    const int kk = W == 32 ? 7 : 3, st = W == 32 ? 2 : 1;
    rn_conv c = rn_conv_init(N, Cin, H, W, Cout, kk, st, kk / 2);
    ref_conv_shape rs = ref_conv_shape_make(N, Cin, H, W, Cout, kk, st, kk / 2);
    const size_t hw = (size_t)c.Ho * c.Wo, K = (size_t)Cin * kk * kk, cols = (size_t)N * hw;
    const size_t nx = (size_t)Cin * N * H * W, nw = (size_t)Cout * K, ny = (size_t)Cout * cols;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4),
          *col = malloc(K * cols * 4);
    tu_fill_uniform(x, nx, -1, 1);
    tu_fill_uniform(w, nw, -1, 1);
    tu_fill_uniform(dy, ny, -1, 1);
    cl_mem bx = tu_upload(x, nx), bw = tu_upload(w, nw), bdy = tu_upload(dy, ny);
    cl_mem bdw = tu_poisoned(nw), be = tu_poisoned(nw), bcol = tu_poisoned(K * cols);
    rn_workspace ws;
    TU_CHECK(rn_workspace_create(ctx, &ws,
                                 ws_floats ? ws_floats : rn_conv_workspace_floats(&c, N)) == RN_OK,
             "%s: workspace", tag);
    rn_gemm_shape sh[32];
    const int nsh = rn_conv_gemm_shapes(&c, ws.floats, 1, 0, sh, 32);
    ctx->nown = 0;
    int chunks = 0;
    for (int i = 0; i < nsh && i < 32; i++) {
        if (!sh[i].tb) continue;
        chunks++;
        rn_gemm_own o = {sh[i], RN_TILE_DOT, m_fast, kc};
        if (rn_gemm_own_valid(&o) && !rn_gemm_own_find(ctx, &o.s)) ctx->own[ctx->nown++] = o;
    }
    ctx->profile = 1;
    rn_profile_reset(ctx);
    conv2d_backward(ctx, NULL, bdw, bdy, bx, bw, &c, &ws, 0);
    const long im2cols = launches(ctx, "rn_im2col_row8_fwd") + launches(ctx, "rn_im2col_row4_fwd") +
                         launches(ctx, "rn_im2col_s2row32_fwd");
    const long calls = gemm_calls(ctx);
    ctx->profile = 0;
    /* the explicit form: the host's columns, chunk by chunk, through the same stored choice */
    host_columns(col, x, &c);
    size_t n0 = 0;
    for (int i = 0; i < nsh && i < 32; i++) {
        if (!sh[i].tb) continue;
        const size_t cc = sh[i].K; /* this chunk's columns */
        float *chunk = malloc(K * cc * sizeof *chunk);
        for (size_t k = 0; k < K; k++) memcpy(chunk + k * cc, col + k * cols + n0, cc * 4);
        rn_write(ctx, bcol, 0, K * cc * 4, chunk);
        rn_sgemm(ctx, 0, 1, Cout, K, cc, 1.0f, bdy, n0, cols, bcol, 0, cc, n0 ? 1.0f : 0.0f, be, 0,
                 K);
        n0 += cc;
        free(chunk);
    }
    ctx->nown = 0;
    const char *what = tu_name("%s (N%d C%d %dx%d -> %d, kc %zu, m_fast %d, %d chunks)", tag, N,
                               Cin, H, W, Cout, kc, m_fast, chunks);
    TU_CHECK(im2cols == (gather ? 0 : chunks) && calls == chunks,
             "%s: %ld im2col launches, %ld products", what, im2cols, calls);
    float *dw = tu_download_new(bdw, nw), *e = tu_download_new(be, nw);
    TU_CHECK(!memcmp(dw, e, nw * 4), "%s: dw has the bits of im2col + the chosen product", what);
    double *xd = to_double(x, nx), *wd = to_double(w, nw), *gd = to_double(dy, ny);
    double *dxr = malloc(nx * sizeof *dxr), *dwr = malloc(nw * sizeof *dwr);
    ref_conv2d_backward(dxr, dwr, gd, xd, wd, &rs);
    tu_compare(tu_name("%s: dw == ref", what), dw, dwr, nw, tol_for(cols), 1e-4);
    rn_workspace_release(&ws);
    cl_mem all[] = {bx, bw, bdy, bdw, be, bcol};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) rn_release(&all[i]);
    free(x), free(w), free(dy), free(col), free(dw), free(e);
    free(xd), free(wd), free(gd), free(dxr), free(dwr);
}

static void check_dw_rows_forms(void)
{
    rn_ctx *ctx = tu_ctx();
    const int rows4 = ctx->implicit_rows4;
    ctx->implicit_rows4 = 1; /* the 4×4 form too, whatever this device's rule */
    check_dw_rows("dw rows of 8 whole K", 3, 5, 8, 8, 11, 0, 100000, 1, 1);
    check_dw_rows("dw rows of 8 K-chunks of 64", 3, 5, 8, 8, 16, 0, 64, 0, 1);
    check_dw_rows("dw rows of 8 on 4 and 12 rows", 4, 3, 4, 8, 9, 0, 48, 1, 1);
    check_dw_rows("dw rows of 8 on 12 rows", 2, 4, 12, 8, 8, 0, 32, 0, 1);
    check_dw_rows("dw rows of 8 image chunks 2+1", 3, 5, 8, 8, 11, 2 * (size_t)45 * 64, 16, 1, 1);
    check_dw_rows("dw 4x4 whole K", 5, 6, 4, 4, 13, 0, 100000, 0, 1);
    check_dw_rows("dw 4x4 K-chunks of 32, image chunks 3+2", 5, 3, 4, 4, 9, 3 * (size_t)27 * 16, 32,
                  1, 1);
    check_dw_rows("dw rows of 8 K-chunks of 24 (explicit)", 3, 5, 8, 8, 11, 0, 24, 1, 0);
    check_dw_rows("dw rows of 8 on 7 channels (explicit)", 3, 5, 8, 8, 7, 0, 64, 1, 0);
    check_dw_rows("dw stem whole K", 2, 3, 32, 32, 9, 0, 100000, 1, 1);
    check_dw_rows("dw stem K-chunks of 80, image chunks 2+1", 3, 2, 32, 32, 6, 2 * (size_t)98 * 256,
                  80, 0, 1);
    check_dw_rows("dw stem on 3 channels (explicit)", 2, 3, 32, 32, 3, 0, 64, 1, 0);
    ctx->implicit_rows4 = 0; /* then im2col + the product */
    check_dw_rows("dw 4x4 explicit by rule", 5, 6, 4, 4, 13, 0, 100000, 0, 0);
    check_dw_rows("dw rows of 8 gathers whatever the rule", 3, 5, 8, 8, 11, 0, 64, 1, 1);
    ctx->implicit_rows4 = rows4;
}

/* The inputs of one conv for form_outputs. */
typedef struct {
    float *x, *w, *dy, *dx0;
} conv_inputs;

/* y, dx and dw of conv c from in with *flag set to f, into out[0..2]; a workspace of ws_floats
 * (0: the whole batch), dx accumulated onto in->dx0 where accumulate. */
static void form_outputs(const rn_conv *c, const conv_inputs *in, int *flag, int f,
                         size_t ws_floats, int accumulate, float *out[3])
{
    rn_ctx *ctx = tu_ctx();
    const size_t nx = (size_t)c->Cin * c->N * c->H * c->W,
                 nw = (size_t)c->Cout * c->Cin * c->kh * c->kw,
                 ny = (size_t)c->Cout * c->N * c->Ho * c->Wo;
    cl_mem bx = tu_upload(in->x, nx), bw = tu_upload(in->w, nw), bdy = tu_upload(in->dy, ny);
    cl_mem by = tu_poisoned(ny), bdx = accumulate ? tu_upload(in->dx0, nx) : tu_poisoned(nx),
           bdw = tu_poisoned(nw);
    const int saved = *flag;
    *flag = f;
    rn_workspace ws;
    TU_CHECK(rn_workspace_create(
                 ctx, &ws, ws_floats ? ws_floats : rn_conv_workspace_floats(c, c->N)) == RN_OK,
             "forms: workspace");
    conv2d_forward(ctx, by, bx, bw, c, &ws);
    conv2d_backward(ctx, bdx, bdw, bdy, bx, bw, c, &ws, accumulate);
    *flag = saved;
    out[0] = tu_download_new(by, ny);
    out[1] = tu_download_new(bdx, nx);
    out[2] = tu_download_new(bdw, nw);
    rn_workspace_release(&ws);
    rn_release(&bx), rn_release(&bw), rn_release(&bdy), rn_release(&by), rn_release(&bdx),
        rn_release(&bdw);
}

/* Whether conv c gives the same y, dx and dw bits with *flag 0 and 1 (form_outputs), on
 * random inputs. */
static int forms_agree(const rn_conv *c, int *flag, size_t ws_floats, int accumulate)
{
    const size_t n[3] = {(size_t)c->Cout * c->N * c->Ho * c->Wo,
                         (size_t)c->Cin * c->N * c->H * c->W,
                         (size_t)c->Cout * c->Cin * c->kh * c->kw};
    conv_inputs in = {malloc(n[1] * 4), malloc(n[2] * 4), malloc(n[0] * 4), malloc(n[1] * 4)};
    tu_fill_uniform(in.x, n[1], -1, 1);
    tu_fill_uniform(in.w, n[2], -1, 1);
    tu_fill_uniform(in.dy, n[0], -1, 1);
    tu_fill_uniform(in.dx0, n[1], -1, 1);
    float *out[2][3];
    for (int f = 0; f < 2; f++) form_outputs(c, &in, flag, f, ws_floats, accumulate, out[f]);
    int same = 1;
    for (int t = 0; t < 3; t++) {
        same &= !memcmp(out[0][t], out[1][t], n[t] * 4);
        free(out[0][t]), free(out[1][t]);
    }
    free(in.x), free(in.w), free(in.dy), free(in.dx0);
    return same;
}

/* Claim: the dense form's two pairs of weight kernels, one work-item per output channel (CPUs)
 * and one per pair or RN_DENSE_PAIRS pairs (GPUs), give the same y, dx and dw bit for bit: Cin a
 * multiple of 8 (runs of 8 pairs) and not, stride 1 and 2, 1×1 and 2×2 images, 5×5 on 3×3. */
static void check_dense_forms(void)
{
    static const struct {
        int N, Cin, H, W, Cout, k, st, p;
    } g[] = {{3, 16, 2, 2, 5, 3, 1, 1}, {2, 5, 2, 2, 7, 3, 1, 1},  {3, 8, 2, 2, 9, 3, 2, 1},
             {2, 16, 1, 1, 6, 3, 1, 1}, {2, 16, 3, 3, 4, 5, 1, 2}, {2, 3, 2, 1, 5, 3, 2, 1}};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        rn_conv c =
            rn_conv_init(g[i].N, g[i].Cin, g[i].H, g[i].W, g[i].Cout, g[i].k, g[i].st, g[i].p);
        TU_CHECK(rn_conv_is_dense(&c), "dense forms %zu: the conv is dense", i);
        TU_CHECK(forms_agree(&c, &tu_ctx()->dense_per_co, 0, 0),
                 "dense forms (N%d C%d %dx%d -> %d k%d s%d): y, dx and dw the same bits per "
                 "output channel as per pair",
                 c.N, c.Cin, c.H, c.W, c.Cout, c.kh, c.stride);
    }
}

/* Claim: the im2col/col2im kernels on whole rows (3×3/1 on rows of 8 and 4, 3×3/2 from rows of 8
 * and 4), the projections' pair (1×1/2; 8×8, 4×4 and 2×2 images, 2×2 four at a time with a short
 * tail, odd and non-square ones) and the dense form's rows (2×2 images 8 at a time with a short
 * tail, 3×3 ones) give the same y, dx and dw bits with one work-item per channel (CPUs) as with
 * one per image or per 8 images (GPUs), in chunks of images and with dx accumulated. */
static void check_image_run_forms(void)
{
    static const struct {
        int N, H, W, k, st, p, chunk, acc;
    } g[] = {{3, 8, 8, 1, 2, 0, 0, 0},  {5, 4, 4, 1, 2, 0, 0, 1}, {7, 2, 2, 1, 2, 0, 0, 0},
             {9, 2, 2, 1, 2, 0, 0, 1},  {8, 2, 2, 1, 2, 0, 3, 0}, {5, 4, 4, 1, 2, 0, 2, 1},
             {3, 7, 8, 1, 2, 0, 0, 1},  {3, 8, 6, 1, 2, 0, 0, 0}, {4, 3, 3, 1, 2, 0, 0, 1},
             {3, 8, 8, 3, 1, 1, 0, 1},  {5, 4, 4, 3, 1, 1, 2, 0}, {3, 8, 8, 3, 2, 1, 2, 1},
             {5, 4, 4, 3, 2, 1, 0, 1},  {3, 6, 8, 5, 2, 2, 0, 0}, {19, 2, 2, 3, 1, 1, 0, 1},
             {17, 2, 2, 3, 1, 1, 3, 0}, {9, 2, 2, 3, 2, 1, 0, 1}, {9, 3, 3, 5, 1, 2, 0, 0}};
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        rn_conv c = rn_conv_init(g[i].N, 6, g[i].H, g[i].W, 5, g[i].k, g[i].st, g[i].p);
        TU_CHECK(forms_agree(&c, &tu_ctx()->layout_per_channel,
                             g[i].chunk * rn_conv_workspace_floats(&c, 1), g[i].acc),
                 "%dx%d/%d p%d on %dx%d, N%d, chunks of %d, accumulate %d: y, dx and dw the same "
                 "bits per channel as per image",
                 c.kh, c.kw, c.stride, g[i].p, c.H, c.W, c.N, g[i].chunk ? g[i].chunk : c.N,
                 g[i].acc);
    }
}

int main(void)
{
    tu_seed(20240611);

    /* basic shape rules */
    rn_conv a = rn_conv_init(8, 3, 32, 32, 64, 7, 2, 3);
    TU_CHECK(a.Ho == 16 && a.Wo == 16 && a.kh == 7 && a.kw == 7, "stem 7x7/2 p3 on 32x32 -> 16x16");
    rn_conv b = rn_conv_init(3, 5, 7, 7, 4, 3, 2, 2);
    TU_CHECK(b.Ho == 5 && b.Wo == 5, "3x3/2 p2 on 7x7 -> 5x5 (floor rule), got %dx%d", b.Ho, b.Wo);
    TU_CHECK(rn_conv_is_pointwise(&(rn_conv){1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1}),
             "1x1/1 p0 is pointwise");
    TU_CHECK(!rn_conv_is_pointwise(&(rn_conv){1, 1, 2, 2, 1, 1, 1, 2, 0, 0, 1, 1}),
             "1x1/2 is not pointwise");
    TU_CHECK(!rn_conv_is_pointwise(&(rn_conv){1, 1, 2, 2, 1, 1, 1, 1, 1, 1, 4, 4}),
             "1x1 p1 is not pointwise");
    TU_CHECK(rn_conv_is_pointwise(&(rn_conv){1, 1, 3, 3, 1, 1, 1, 1, 0, 0, 3, 3}) &&
                 !rn_conv_is_pointwise(&(rn_conv){1, 1, 3, 3, 1, 1, 1, 1, 0, 0, 4, 4}),
             "1x1/1 with padding only below/right (a 4x4 output of a 3x3 image) is not pointwise");
    TU_CHECK(rn_conv_workspace_floats(&b, 3) == (size_t)3 * 5 * 9 * 25,
             "a plain conv's workspace: Cin*k*k*Ho*Wo per image");

    /* (a) the reference backward is the derivative of the reference forward */
    check_ref_backward_fd(2, 3, 7, 5, 4, 3, 2, 2);
    check_ref_backward_fd(1, 2, 5, 5, 3, 5, 1, 2);
    check_ref_backward_fd(2, 3, 9, 9, 2, 7, 2, 3);
    check_ref_backward_fd(3, 4, 5, 5, 3, 1, 2, 0);
    check_ref_backward_fd(2, 5, 3, 4, 3, 1, 1, 0);
    check_ref_backward_fd(3, 4, 1, 1, 3, 3, 1, 1);
    check_ref_backward_fd(3, 4, 2, 2, 3, 3, 1, 1);
    check_ref_backward_fd(3, 3, 4, 4, 2, 3, 2, 1);
    /* ... with padding of different widths on each side, and MindSpore's 'same' of each conv
     * class of the model (pads above/below, left/right): 7×7/2 on an even image (2/3), 3×3/2 on
     * an even one (0/1), non-square (0/1 rows, 1/1 columns), on 2×2 and 1×1 images, 1×1/2 */
    check_ref_backward_fd_shape(ref_conv_shape_pads(2, 3, 7, 5, 4, 3, 2, 0, 2, 1, 0));
    check_ref_backward_fd_shape(ref_conv_shape_same(2, 3, 10, 10, 4, 7, 2));
    check_ref_backward_fd_shape(ref_conv_shape_same(2, 3, 8, 8, 3, 3, 2));
    check_ref_backward_fd_shape(ref_conv_shape_same(2, 3, 6, 9, 3, 3, 2));
    check_ref_backward_fd_shape(ref_conv_shape_same(3, 4, 2, 2, 3, 3, 2));
    check_ref_backward_fd_shape(ref_conv_shape_same(3, 4, 1, 1, 3, 3, 1));
    check_ref_backward_fd_shape(ref_conv_shape_same(3, 4, 5, 5, 3, 1, 2));
    check_same_rule();

    /* (b) device == reference on awkward shapes */
    conv_opts plain = {0, 0, 0, 0};
    check_device("3x3/1 p1 odd", 3, 5, 7, 7, 6, 3, 1, 1, plain);
    check_device("5x5/1 p2 batch1", 1, 3, 5, 5, 7, 5, 1, 2, plain);
    check_device("3x3/2 p2 7x5", 3, 5, 7, 5, 9, 3, 2, 2, plain);
    check_device("3x3/1 p0", 3, 5, 7, 5, 3, 3, 1, 0, plain);
    check_device("7x7/2 p3 9x9", 3, 3, 9, 9, 5, 7, 2, 3, plain);
    check_device("2x2/3 p1", 3, 4, 7, 8, 5, 2, 3, 1, plain);
    check_device("1x1/2 p0 on 7x7", 3, 7, 7, 7, 5, 1, 2, 0, plain);
    check_device("pointwise", 3, 7, 5, 5, 11, 1, 1, 0, plain);
    check_device("pointwise batch1", 1, 13, 7, 3, 5, 1, 1, 0, plain);
    /* accumulate into an existing dx, and no dx at all */
    conv_opts acc = {0, 1, 0, 0}, nodx = {0, 0, 1, 0};
    /* stride 1 on rows of 8 and 4 take the vector im2col/col2im */
    check_device("3x3/1 p1 8x8 rows", 3, 5, 8, 8, 6, 3, 1, 1, plain);
    check_device("3x3/1 p1 5x4 rows", 3, 5, 5, 4, 6, 3, 1, 1, plain);
    check_device("5x5/1 p2 6x8 rows", 2, 3, 6, 8, 5, 5, 1, 2, plain);
    check_device("3x3/1 p1 8x8 rows accumulate", 3, 5, 8, 8, 6, 3, 1, 1, acc);
    check_device("3x3/1 p1 4x4 rows accumulate", 3, 5, 4, 4, 6, 3, 1, 1, acc);
    /* stride 2 from rows of 32 to 16 takes the stem's vector im2col: shifts of the even and odd
     * columns by -2..2 lanes as shuffles, -3 (11x11 p5) through its buffer */
    check_device("7x7/2 p3 32x32 rows", 2, 3, 32, 32, 4, 7, 2, 3, plain);
    check_device("3x3/2 p1 32x32 rows", 2, 2, 32, 32, 3, 3, 2, 1, plain);
    check_device("11x11/2 p5 32x32 rows", 1, 2, 32, 32, 3, 11, 2, 5, plain);
    /* ... and from rows of 8 and 4 (layer2's and layer3's 3×3/2) */
    check_device("3x3/2 p1 8x8 rows", 2, 3, 8, 8, 4, 3, 2, 1, plain);
    check_device("5x5/2 p2 8x6 rows", 2, 3, 8, 6, 4, 5, 2, 2, plain);
    check_device("5x5/2 p2 6x8 rows", 2, 3, 6, 8, 4, 5, 2, 2, plain);
    check_device("3x3/2 p1 4x4 rows", 2, 3, 4, 4, 4, 3, 2, 1, plain);
    check_device("3x3/2 p1 5x4 rows", 2, 3, 5, 4, 4, 3, 2, 1, plain);
    check_device("3x3/2 p2 accumulate", 3, 5, 7, 5, 9, 3, 2, 2, acc);
    check_device("7x7/2 p3 accumulate", 3, 3, 9, 9, 5, 7, 2, 3, acc);
    check_device("pointwise accumulate", 3, 7, 5, 5, 11, 1, 1, 0, acc);
    /* the projections' 1×1/2: rows of 8 and 4 as vectors, others one by one */
    check_device("1x1/2 p0 8x8 rows accumulate", 3, 5, 8, 8, 6, 1, 2, 0, acc);
    check_device("1x1/2 p0 4x4 rows accumulate", 3, 5, 4, 4, 6, 1, 2, 0, acc);
    check_device("1x1/2 p0 8x6 accumulate", 3, 5, 8, 6, 6, 1, 2, 0, acc);
    check_device("1x1/2 p0 7x8 rows", 3, 5, 7, 8, 6, 1, 2, 0, plain);
    check_device("5x5/1 p2 dx=NULL", 3, 3, 5, 5, 7, 5, 1, 2, nodx);
    check_device("pointwise dx=NULL", 3, 7, 5, 5, 11, 1, 1, 0, nodx);
    /* chunked: a workspace of 1 image, of 2 images (chunks 2+1), and one too small (grown to 1) */
    size_t per = (size_t)5 * 9 * 4 * 3; /* Cin·k·k·Ho·Wo of 3x3/2 p2 on 7x5 -> 4x3 */
    check_device("3x3/2 p2 chunks of 1", 3, 5, 7, 5, 9, 3, 2, 2, (conv_opts){per, 0, 0, 1});
    check_device("3x3/2 p2 chunks of 2+1", 3, 5, 7, 5, 9, 3, 2, 2,
                 (conv_opts){2 * per + 7, 0, 0, 1});
    check_device("3x3/2 p2 chunks accumulate", 3, 5, 7, 5, 9, 3, 2, 2, (conv_opts){per, 1, 0, 1});
    check_device("3x3/2 p2 chunks dx=NULL", 3, 5, 7, 5, 9, 3, 2, 2, (conv_opts){per, 0, 1, 1});
    check_device("3x3/2 p2 workspace grown", 3, 5, 7, 5, 9, 3, 2, 2, (conv_opts){per / 3, 0, 0, 1});
    check_device("pointwise tiny workspace", 3, 7, 5, 5, 11, 1, 1, 0, (conv_opts){1, 0, 0, 0});

    /* convs whose every output reads every input, run as one dense GEMM: 1×1 and 2×2 images,
     * stride 1 and 2, non-square, 5×5 pad 2 on 3×3, a 1×1 image to a 3×3 output; and convs with
     * padding that keep im2col (4×4/2 -> 2×2, 3×3/1, outputs that read only padding) */
    struct {
        const char *tag;
        int H, W, k, st, p;
    } small[] = {{"3x3/1 p1 on 1x1", 1, 1, 3, 1, 1}, {"3x3/2 p1 on 2x2", 2, 2, 3, 2, 1},
                 {"3x3/1 p1 on 2x2", 2, 2, 3, 1, 1}, {"3x3/1 p1 on 1x2", 1, 2, 3, 1, 1},
                 {"3x3/2 p1 on 2x1", 2, 1, 3, 2, 1}, {"5x5/1 p2 on 3x3", 3, 3, 5, 1, 2},
                 {"5x5/2 p2 on 3x2", 3, 2, 5, 2, 2}, {"3x3/1 p2 on 1x1", 1, 1, 3, 1, 2},
                 {"3x3/2 p1 on 4x4", 4, 4, 3, 2, 1}, {"3x3/1 p1 on 3x3", 3, 3, 3, 1, 1},
                 {"1x1/1 p1 on 1x1", 1, 1, 1, 1, 1}};
    int ndense = 0;
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        rn_conv t =
            rn_conv_init(3, 5, small[i].H, small[i].W, 7, small[i].k, small[i].st, small[i].p);
        ndense += reads_all(&t);
        check_flops(small[i].tag, &t);
        check_device(small[i].tag, 3, 5, small[i].H, small[i].W, 7, small[i].k, small[i].st,
                     small[i].p, plain);
    }
    TU_CHECK(ndense == 8, "8 of the small convs read every input from every output (%d)", ndense);
    check_same_paths();
    check_device("dense 1x1 accumulate", 3, 6, 1, 1, 5, 3, 1, 1, acc);
    check_device("dense 2x2/1 accumulate", 3, 6, 2, 2, 5, 3, 1, 1, acc);
    check_device("dense 2x2/1 accumulate, 8 images at a time", 11, 6, 2, 2, 5, 3, 1, 1, acc);
    check_device("dense 1x1 dx=NULL", 3, 6, 1, 1, 5, 3, 1, 1, nodx);
    check_device("dense 2x2/2 dx=NULL", 3, 6, 2, 2, 5, 3, 2, 1, nodx);
    rn_conv d1 = rn_conv_init(3, 6, 1, 1, 5, 3, 1, 1), d2 = rn_conv_init(3, 6, 2, 2, 5, 3, 1, 1);
    check_device("dense 1x1 chunks of 1", 3, 6, 1, 1, 5, 3, 1, 1,
                 (conv_opts){rn_conv_workspace_floats(&d1, 1), 0, 0, 1});
    check_device("dense 2x2/1 chunks of 2+1 accumulate", 3, 6, 2, 2, 5, 3, 1, 1,
                 (conv_opts){rn_conv_workspace_floats(&d2, 2) + 7, 1, 0, 1});
    check_device("dense 2x2/1 chunks of 1 dx=NULL", 3, 6, 2, 2, 5, 3, 1, 1,
                 (conv_opts){rn_conv_workspace_floats(&d2, 1), 0, 1, 1});
    check_device("dense 2x2/1 workspace grown", 3, 6, 2, 2, 5, 3, 1, 1,
                 (conv_opts){rn_conv_workspace_floats(&d2, 1) / 3, 0, 0, 1});
    check_rows_forms();
    check_dense_forms();
    check_image_run_forms();
    const int layout = tu_ctx()->layout_per_channel;
    for (int f = 0; f < 2; f++) {
        tu_ctx()->layout_per_channel = f;
        check_dx_rows_forms();
    }
    tu_ctx()->layout_per_channel = layout;
    check_dw_rows_forms();

    if (!tu_small()) {
        /* every conv shape of the model (its case list) at batch 8, input 32x32; dx is checked
         * for the stem too, although the model never asks for it */
        const int Nb = 8;
        rn_opcase *cases;
        int nc = tu_model_cases(RN_OP_CONV, Nb, &cases);
        TU_CHECK(nc == 23, "the model has 23 distinct conv shapes (%d)", nc);
        int ndense_model = 0;
        for (int i = 0; i < nc; i++) {
            const rn_conv *v = &cases[i].conv;
            TU_CHECK(v->kh == v->kw, "%s: square kernel", cases[i].name);
            ndense_model += reads_all(v);
            check_flops(cases[i].name, v);
            check_device(cases[i].name, Nb, v->Cin, v->H, v->W, v->Cout, v->kh, v->stride, v->pad_h,
                         plain);
        }
        free(cases);
        TU_CHECK(ndense_model == 3,
                 "at 32x32 input the model's 3x3 convs on 2x2 (stride 1 and 2) and 1x1 images skip "
                 "the padding (%d shapes)",
                 ndense_model);
        /* the stem as the model runs it: no dx, chunked through a workspace of 3 images */
        check_device("stem chunked dx=NULL", Nb, 3, 32, 32, 64, 7, 2, 3,
                     (conv_opts){3 * (size_t)3 * 49 * 256, 0, 1, 1});
        check_same_model(Nb);
        /* layer1's 3×3 conv with the choices stored for batch 128 on a Zen 5 VM (Intel: chunks of
         * 256; PoCL: the whole K) */
        check_rows("layer1 3x3 as tuned", Nb, 64, 8, 8, 64, 0, RN_TILE_8X32, 256, 1);
        check_rows("layer1 3x3 whole K", Nb, 64, 8, 8, 64, 0, RN_TILE_8X32, 576, 1);
        const int rows4 = tu_ctx()->implicit_rows4;
        tu_ctx()->implicit_rows4 = 1;
        check_rows("layer2 3x3 as tuned", Nb, 128, 4, 4, 128, 0, RN_TILE_8X32, 512, 1);
        tu_ctx()->implicit_rows4 = rows4;
        /* the stem with the choice stored for batch 128 on a Zen 4 VM (Intel's runtime) */
        check_rows("stem as tuned", Nb, 3, 32, 32, 64, 0, RN_TILE_8X32, 147, 1);
        check_same("same stem chunked dx=NULL", Nb, 3, 32, 32, 64, 7, 2,
                   (conv_opts){3 * (size_t)3 * 49 * 256, 0, 1, 1});
    }
    return tu_finish("test_conv");
}
