/* Convolution on CNHW activations: im2col into the shared workspace + one CLBlast SGEMM per chunk
 * of images, weight gradient by GEMM, input gradient by GEMM + col2im gather. A pointwise conv
 * (1×1, stride 1, pad 0) uses the activations themselves as the column matrix. */
#include "ops/conv.h"

#include <limits.h>

#include "rn50cl/rn50cl.h"

rn_conv rn_conv_init(int N, int Cin, int H, int W, int Cout, int k, int stride, int pad)
{
    rn_conv c = {0};
    c.N = N;
    c.Cin = Cin;
    c.H = H;
    c.W = W;
    c.Cout = Cout;
    c.kh = k;
    c.kw = k;
    c.stride = stride;
    c.pad = pad;
    c.Ho = (H + 2 * pad - k) / stride + 1;
    c.Wo = (W + 2 * pad - k) / stride + 1;
    return c;
}

int rn_conv_is_pointwise(const rn_conv *c)
{
    return c->kh == 1 && c->kw == 1 && c->stride == 1 && c->pad == 0;
}

size_t rn_conv_col_floats_per_image(const rn_conv *c)
{
    return (size_t)c->Cin * c->kh * c->kw * c->Ho * c->Wo;
}

int rn_workspace_create(rn_ctx *ctx, rn_workspace *ws, size_t floats)
{
    ws->floats = 0;
    ws->buf = floats ? rn_buffer(ctx, floats * sizeof(float)) : NULL;
    if (floats && !ws->buf) return RN_ERR_INPUT;
    ws->floats = floats;
    return RN_OK;
}

void rn_workspace_release(rn_workspace *ws)
{
    rn_release(&ws->buf);
    ws->floats = 0;
}

/* Images per chunk: as many as the workspace holds. A workspace that cannot hold even one image's
 * columns is grown to exactly that (the contract in conv.h), so every layer can run. */
static int chunk_images(rn_ctx *ctx, const rn_conv *c, rn_workspace *ws)
{
    size_t per = rn_conv_col_floats_per_image(c);
    if (ws->floats < per) {
        rn_release(&ws->buf);
        if (rn_workspace_create(ctx, ws, per))
            rn_fatal("the im2col workspace could not grow to %zu floats mid-step", per);
    }
    size_t n = ws->floats / per;
    /* kernels index a chunk's columns with int */
    if (n > (size_t)INT_MAX / per) n = (size_t)INT_MAX / per;
    return n < (size_t)c->N ? (int)n : c->N;
}

/* The geometry arguments im2col and col2im share, in their kernels' order. */
static void geometry_args(rn_args *a, const rn_conv *c, int n0, int nc)
{
    rn_arg_int(a, c->Cin);
    rn_arg_int(a, c->N);
    rn_arg_int(a, n0);
    rn_arg_int(a, nc);
    rn_arg_int(a, c->H);
    rn_arg_int(a, c->W);
    rn_arg_int(a, c->kh);
    rn_arg_int(a, c->kw);
    rn_arg_int(a, c->stride);
    rn_arg_int(a, c->pad);
    rn_arg_int(a, c->Ho);
    rn_arg_int(a, c->Wo);
}

static void im2col(rn_ctx *ctx, cl_mem col, cl_mem x, const rn_conv *c, int n0, int nc)
{
    cl_kernel k = rn_kernel(ctx, "rn_im2col_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, col);
    rn_arg_mem(&a, x);
    geometry_args(&a, c, n0, nc);
    rn_launch1d(ctx, k, (size_t)c->Cin * c->kh * c->kw * nc * c->Ho, 0);
}

static void col2im(rn_ctx *ctx, cl_mem dx, cl_mem dcol, const rn_conv *c, int n0, int nc,
                   int accumulate)
{
    cl_kernel k = rn_kernel(ctx, "rn_col2im_bwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, dx);
    rn_arg_mem(&a, dcol);
    geometry_args(&a, c, n0, nc);
    rn_arg_int(&a, accumulate);
    rn_launch1d(ctx, k, (size_t)c->Cin * nc * c->H * c->W, 0);
}

void conv2d_forward(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem w, const rn_conv *c, rn_workspace *ws)
{
    const size_t K = (size_t)c->Cin * c->kh * c->kw;
    const size_t hw = (size_t)c->Ho * c->Wo, cols = (size_t)c->N * hw;
    if (rn_conv_is_pointwise(c)) {
        rn_sgemm(ctx, 0, 0, c->Cout, cols, K, 1.0f, w, 0, K, x, 0, cols, 0.0f, y, 0, cols);
        return;
    }
    const int nc = chunk_images(ctx, c, ws);
    for (int n0 = 0; n0 < c->N; n0 += nc) {
        const int cnt = c->N - n0 < nc ? c->N - n0 : nc;
        im2col(ctx, ws->buf, x, c, n0, cnt);
        /* this chunk's images are the column range [n0·hw, (n0+cnt)·hw) of every row of y */
        rn_sgemm(ctx, 0, 0, c->Cout, cnt * hw, K, 1.0f, w, 0, K, ws->buf, 0, cnt * hw, 0.0f, y,
                 n0 * hw, cols);
    }
}

void conv2d_backward(rn_ctx *ctx, cl_mem dx, cl_mem dw, cl_mem dy, cl_mem x, cl_mem w,
                     const rn_conv *c, rn_workspace *ws, int accumulate_dx)
{
    const size_t K = (size_t)c->Cin * c->kh * c->kw;
    const size_t hw = (size_t)c->Ho * c->Wo, cols = (size_t)c->N * hw;
    if (rn_conv_is_pointwise(c)) {
        /* dW = dY·xᵀ, dX = Wᵀ·dY (x is its own column matrix) */
        rn_sgemm(ctx, 0, 1, c->Cout, K, cols, 1.0f, dy, 0, cols, x, 0, cols, 0.0f, dw, 0, K);
        if (dx)
            rn_sgemm(ctx, 1, 0, K, cols, c->Cout, 1.0f, w, 0, K, dy, 0, cols,
                     accumulate_dx ? 1.0f : 0.0f, dx, 0, cols);
        return;
    }
    const int nc = chunk_images(ctx, c, ws);
    for (int n0 = 0; n0 < c->N; n0 += nc) {
        const int cnt = c->N - n0 < nc ? c->N - n0 : nc;
        const size_t ccols = cnt * hw;
        im2col(ctx, ws->buf, x, c, n0, cnt);
        /* dW (+)= dY_chunk · col_chunkᵀ; the first chunk overwrites */
        rn_sgemm(ctx, 0, 1, c->Cout, K, ccols, 1.0f, dy, n0 * hw, cols, ws->buf, 0, ccols,
                 n0 == 0 ? 0.0f : 1.0f, dw, 0, K);
        if (!dx) continue;
        /* dcol = Wᵀ · dY_chunk reuses the workspace: the in-order queue has finished reading the
         * columns by then. Each image belongs to one chunk, so overwriting dx per chunk is right.
         */
        rn_sgemm(ctx, 1, 0, K, ccols, c->Cout, 1.0f, w, 0, K, dy, n0 * hw, cols, 0.0f, ws->buf, 0,
                 ccols);
        col2im(ctx, dx, ws->buf, c, n0, cnt, accumulate_dx);
    }
}

static int put_shape(rn_gemm_shape *out, int cap, int n, int ta, int tb, size_t M, size_t N,
                     size_t K, size_t lda, size_t ldb, size_t ldc, float beta)
{
    if (n < cap) {
        rn_gemm_shape s = {ta, tb, M, N, K, lda, ldb, ldc, beta};
        out[n] = s;
    }
    return n + 1;
}

/* Mirrors conv2d_forward / conv2d_backward call for call, so the tuner times what training runs. */
int rn_conv_gemm_shapes(const rn_conv *c, size_t ws_floats, int backward, int with_dx,
                        rn_gemm_shape *out, int cap)
{
    const size_t K = (size_t)c->Cin * c->kh * c->kw;
    const size_t hw = (size_t)c->Ho * c->Wo, cols = (size_t)c->N * hw;
    int n = 0;
    if (rn_conv_is_pointwise(c)) {
        n = put_shape(out, cap, n, 0, 0, c->Cout, cols, K, K, cols, cols, 0.0f);
        if (!backward) return n;
        n = put_shape(out, cap, n, 0, 1, c->Cout, K, cols, cols, cols, K, 0.0f);
        if (with_dx) n = put_shape(out, cap, n, 1, 0, K, cols, c->Cout, K, cols, cols, 0.0f);
        return n;
    }
    size_t per = rn_conv_col_floats_per_image(c), nc = ws_floats < per ? 1 : ws_floats / per;
    if (nc > (size_t)INT_MAX / per) nc = (size_t)INT_MAX / per;
    if (nc > (size_t)c->N) nc = (size_t)c->N;
    for (size_t n0 = 0; n0 < (size_t)c->N; n0 += nc) {
        const size_t ccols = ((size_t)c->N - n0 < nc ? (size_t)c->N - n0 : nc) * hw;
        n = put_shape(out, cap, n, 0, 0, c->Cout, ccols, K, K, ccols, cols, 0.0f);
        if (!backward) continue;
        n = put_shape(out, cap, n, 0, 1, c->Cout, K, ccols, cols, ccols, K, n0 ? 1.0f : 0.0f);
        if (with_dx) n = put_shape(out, cap, n, 1, 0, K, ccols, c->Cout, K, cols, ccols, 0.0f);
    }
    return n;
}
