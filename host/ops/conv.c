/* Convolution on CNHW activations: im2col into the shared workspace + one SGEMM per chunk of
 * images, weight gradient by GEMM, input gradient by GEMM + col2im gather. A conv on an image so
 * small that every output reads every input pixel is one dense GEMM on whole images instead, which
 * multiplies no padding; a pointwise conv uses the activations as the column matrix. */
#include "ops/conv.h"

#include <limits.h>

#include "rn50cl/rn50cl.h"

/* Everything but the padding and output size. */
static rn_conv conv_base(int N, int Cin, int H, int W, int Cout, int k, int stride)
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
    return c;
}

rn_conv rn_conv_init(int N, int Cin, int H, int W, int Cout, int k, int stride, int pad)
{
    rn_conv c = conv_base(N, Cin, H, W, Cout, k, stride);
    c.pad_h = c.pad_w = pad;
    c.Ho = (H + 2 * pad - k) / stride + 1;
    c.Wo = (W + 2 * pad - k) / stride + 1;
    return c;
}

rn_conv rn_conv_init_same(int N, int Cin, int H, int W, int Cout, int k, int stride)
{
    rn_conv c = conv_base(N, Cin, H, W, Cout, k, stride);
    c.Ho = rn_same_padding(H, k, stride, &c.pad_h);
    c.Wo = rn_same_padding(W, k, stride, &c.pad_w);
    return c;
}

/* Some tap of some window lies outside the image: padding before it, or the last window running
 * past its end (the padding after it, which Ho/Wo imply). */
static int reads_padding(const rn_conv *c)
{
    return c->pad_h > 0 || c->pad_w > 0 || (c->Ho - 1) * c->stride - c->pad_h + c->kh > c->H ||
           (c->Wo - 1) * c->stride - c->pad_w + c->kw > c->W;
}

int rn_conv_is_pointwise(const rn_conv *c)
{
    return c->kh == 1 && c->kw == 1 && c->stride == 1 && !reads_padding(c);
}

/* The first and last output rows' windows both cover every input row, likewise columns, and some
 * taps read padding. At 32×32 input these are ResNet50's 3×3 convs on 2×2 and 1×1 images, where
 * 56-89 % of im2col's taps are padding. Larger images keep im2col: at 4×4 and 8×8 only 16-31 % of
 * the taps are padding, and on PoCL a form that skipped them (one GEMM per group of output
 * positions with the same taps) ran 15-25 % slower, its GEMMs smaller and its passes more.
 * At most DENSE_TAPS taps (7×7): rn_conv_dense_co_bwd keeps a run's sums in private memory. */
#define DENSE_TAPS 49 /* RN_DENSE_TAPS in conv.cl */
#define DENSE_PAIRS 8 /* (co, ci) pairs per work-item of rn_conv_dense_fwd: RN_DENSE_PAIRS */
#define ROWS_IMAGES 8 /* images per work-item of rn_conv_rows_* off a CPU: RN_ROWS_IMAGES */

int rn_conv_is_dense(const rn_conv *c)
{
    return reads_padding(c) && c->kh * c->kw <= DENSE_TAPS && (c->Ho - 1) * c->stride <= c->pad_h &&
           c->H - 1 + c->pad_h < c->kh && (c->Wo - 1) * c->stride <= c->pad_w &&
           c->W - 1 + c->pad_w < c->kw;
}

/* Dense form: per image, y (Cout·Q) = Wd (Cout·Q × Cin·P) · x (Cin·P) with P = H·W inputs and
 * Q = Ho·Wo outputs. The workspace holds [Wd | dWd] once, then per image of a chunk [x as rows |
 * y as rows]; input gradients reuse the x rows. */
static size_t fixed_floats(const rn_conv *c)
{
    if (!rn_conv_is_dense(c)) return 0;
    return 2 * (size_t)c->Cout * c->Ho * c->Wo * c->Cin * c->H * c->W;
}

static size_t image_floats(const rn_conv *c)
{
    if (rn_conv_is_dense(c)) return (size_t)c->Cin * c->H * c->W + (size_t)c->Cout * c->Ho * c->Wo;
    return (size_t)c->Cin * c->kh * c->kw * c->Ho * c->Wo; /* im2col's columns */
}

size_t rn_conv_workspace_floats(const rn_conv *c, int images)
{
    if (rn_conv_is_pointwise(c)) return 0;
    return fixed_floats(c) + (size_t)images * image_floats(c);
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

/* ---- running, or listing the GEMMs ---------------------------------------------------------- */

/* Where a conv's work goes: to the device, or (ctx == NULL) only into a list of the GEMM shapes
 * it would issue, so that rn_conv_gemm_shapes follows the code that runs, call for call. */
typedef struct conv_run {
    rn_ctx *ctx;
    rn_workspace *ws;
    rn_gemm_shape *out;
    int cap, n;
} conv_run;

/* A matrix operand: buffer, offset and leading dimension in floats. */
typedef struct mat {
    cl_mem m;
    size_t off, ld;
} mat;

static void gemm(conv_run *r, int ta, int tb, size_t M, size_t N, size_t K, mat A, mat B,
                 float beta, mat C)
{
    if (r->ctx) {
        rn_sgemm(r->ctx, ta, tb, M, N, K, 1.0f, A.m, A.off, A.ld, B.m, B.off, B.ld, beta, C.m,
                 C.off, C.ld);
        return;
    }
    if (r->n < r->cap) {
        rn_gemm_shape s = {ta, tb, M, N, K, A.ld, B.ld, C.ld, beta};
        r->out[r->n] = s;
    }
    r->n++;
}

/* Images per chunk: as many as the workspace holds. A workspace that cannot hold even one image
 * is grown to exactly that (the contract in conv.h), so every layer can run. */
static int chunk_images(conv_run *r, const rn_conv *c)
{
    const size_t fixed = fixed_floats(c), per = image_floats(c);
    if (r->ws->floats < fixed + per) {
        if (!r->ctx) r->ws->floats = fixed + per; /* listing: as a run would grow it */
        else {
            rn_release(&r->ws->buf);
            if (rn_workspace_create(r->ctx, r->ws, fixed + per))
                rn_fatal("the im2col workspace could not grow to %zu floats mid-step", fixed + per);
        }
    }
    size_t n = (r->ws->floats - fixed) / per;
    /* kernels index the workspace with int */
    if (n > ((size_t)INT_MAX - fixed) / per) n = ((size_t)INT_MAX - fixed) / per;
    return n < (size_t)c->N ? (int)n : c->N;
}

/* ---- the kernels around the GEMMs (nothing runs when only listing) -------------------------- */

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
    rn_arg_int(a, c->pad_h);
    rn_arg_int(a, c->pad_w);
    rn_arg_int(a, c->Ho);
    rn_arg_int(a, c->Wo);
}

/* Stride 1 on rows of 8 or 4 (W = Wo, kw ≤ W) has vector kernels of their own (see im2col.cl): 8
 * for rn_im2col_row8_fwd/rn_col2im_row8_bwd, 4 for the row4 pair, 0 for the general ones. */
static int row_width(const rn_conv *c)
{
    return c->stride == 1 && c->W == c->Wo && (c->W == 8 || c->W == 4) && c->kw <= c->W ? c->W : 0;
}

/* rn_im2col_img_fwd / rn_col2im_img_bwd's private buffer, in floats (RN_IMG_MAX in im2col.cl) */
#define IMG_MAX 100

/* The kernel a conv's im2col (backward: col2im) takes: a row-vector one, the projections' own
 * pair (1×1 at stride 2, which reads only even rows), the small-image one when its window reads
 * fit that buffer, else the general one. Another 1×1 conv's im2col stays general: copying all of
 * the image into the small-image buffer first took 1.5-2× as long on PoCL. */
enum im2col_form {
    FORM_ROW8,
    FORM_ROW4,
    FORM_S2ROW32,
    FORM_S2ROW8,
    FORM_S2ROW4,
    FORM_PT2,
    FORM_IMG,
    FORM_GENERAL
};

static enum im2col_form im2col_form(const rn_conv *c, int backward)
{
    const int v = row_width(c);
    const long reach = (long)((c->Ho - 1) * c->stride + c->kh) * ((c->Wo - 1) * c->stride + c->kw);
    if (v) return v == 8 ? FORM_ROW8 : FORM_ROW4;
    /* the projections: 1×1 at stride 2 without padding */
    if (c->kh == 1 && c->kw == 1 && c->stride == 2 && c->pad_h == 0 && c->pad_w == 0)
        return FORM_PT2;
    /* stride 2 from rows of 32, 8 or 4 to half as many (the stem, layer2's and layer3's 3×3/2;
     * rows of 32 im2col only: the stem has no input gradient) */
    if (c->stride == 2 && c->W == 2 * c->Wo && c->pad_w <= c->Wo && c->kw - c->pad_w <= c->Wo + 1 &&
        ((c->W == 32 && !backward) || c->W == 8 || c->W == 4))
        return c->W == 32 ? FORM_S2ROW32 : c->W == 8 ? FORM_S2ROW8 : FORM_S2ROW4;
    return reach <= IMG_MAX && (backward || c->kh * c->kw > 1) ? FORM_IMG : FORM_GENERAL;
}

static const char *const im2col_names[8][2] = {
    {"rn_im2col_row8_fwd", "rn_col2im_row8_bwd"},
    {"rn_im2col_row4_fwd", "rn_col2im_row4_bwd"},
    {"rn_im2col_s2row32_fwd", "rn_col2im_bwd"}, /* never backward */
    {"rn_im2col_s2row8_fwd", "rn_col2im_s2row8_bwd"},
    {"rn_im2col_s2row4_fwd", "rn_col2im_s2row4_bwd"},
    {"rn_im2col_pt2_fwd", "rn_col2im_pt2_bwd"},
    {"rn_im2col_img_fwd", "rn_col2im_img_bwd"},
    {"rn_im2col_fwd", "rn_col2im_bwd"}};

/* The im2col forms whose kernels take runs of images (cl/im2col.cl's rn_image_run). */
static int takes_runs(enum im2col_form f)
{
    return f == FORM_ROW8 || f == FORM_ROW4 || f == FORM_S2ROW8 || f == FORM_S2ROW4 ||
           f == FORM_PT2;
}

/* The run argument and launch of a layout kernel over C channels of n items each (images, or
 * the flipped weights' output channels): on a CPU (ctx->layout_per_channel) one work-item per
 * channel walks all n, in work-groups of one so that the channels spread over every core;
 * elsewhere one work-item per (channel, run of `other` items). */
static void channel_runs(rn_ctx *ctx, cl_kernel k, rn_args *a, int C, int n, int other)
{
    const int run = ctx->layout_per_channel ? n : other;
    rn_arg_int(a, run);
    rn_launch1d(ctx, k, (size_t)C * (size_t)((n + run - 1) / run), ctx->layout_per_channel ? 1 : 0);
}

static void im2col(conv_run *r, cl_mem col, cl_mem x, const rn_conv *c, int n0, int nc)
{
    if (!r->ctx) return;
    const enum im2col_form f = im2col_form(c, 0);
    cl_kernel k = rn_kernel(r->ctx, im2col_names[f][0]);
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, col);
    rn_arg_mem(&a, x);
    geometry_args(&a, c, n0, nc);
    if (takes_runs(f)) {
        channel_runs(r->ctx, k, &a, c->Cin, nc, 1);
        return;
    }
    /* work-items: per (channel, image), (tap row, image) for the stem's rows of 32, or (tap row,
     * image, output row) for the general kernel */
    size_t n = (size_t)c->Cin * nc;
    if (f == FORM_S2ROW32 || f == FORM_GENERAL)
        n *= (size_t)c->kh * c->kw * (f == FORM_GENERAL ? c->Ho : 1);
    rn_launch1d(r->ctx, k, n, 0);
}

static void col2im(conv_run *r, cl_mem dx, cl_mem dcol, const rn_conv *c, int n0, int nc,
                   int accumulate)
{
    if (!r->ctx) return;
    const enum im2col_form f = im2col_form(c, 1);
    cl_kernel k = rn_kernel(r->ctx, im2col_names[f][1]);
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, dx);
    rn_arg_mem(&a, dcol);
    geometry_args(&a, c, n0, nc);
    rn_arg_int(&a, accumulate);
    if (takes_runs(f)) {
        channel_runs(r->ctx, k, &a, c->Cin, nc, 1);
        return;
    }
    /* work-items: per (channel, image), or (channel, image, element) for the general kernel */
    size_t n = (size_t)c->Cin * nc;
    if (f == FORM_GENERAL) n *= (size_t)c->H * c->W;
    rn_launch1d(r->ctx, k, n, 0);
}

/* The geometry arguments of the dense weight kernels, in their order. */
static void dense_args(rn_args *a, const rn_conv *c)
{
    rn_arg_int(a, c->Cout);
    rn_arg_int(a, c->Cin);
    rn_arg_int(a, c->H);
    rn_arg_int(a, c->W);
    rn_arg_int(a, c->Ho);
    rn_arg_int(a, c->Wo);
    rn_arg_int(a, c->kh);
    rn_arg_int(a, c->kw);
    rn_arg_int(a, c->stride);
    rn_arg_int(a, c->pad_h);
    rn_arg_int(a, c->pad_w);
}

/* The dense weight kernels' launch (cl/conv.cl): on a CPU (ctx->dense_per_co) one work-item per
 * output channel, in work-groups of one so that the channels spread over every core and Intel's
 * runtime does not spread a work-item's walk over vector lanes; elsewhere (a GPU's lanes) the
 * pair forms with the runtime's work-groups. */
static void dense_launch(conv_run *r, cl_kernel k, const rn_conv *c, size_t pairs_per_item)
{
    if (r->ctx->dense_per_co) rn_launch1d(r->ctx, k, (size_t)c->Cout, 1);
    else
        rn_launch1d(r->ctx, k, ((size_t)c->Cout * c->Cin + pairs_per_item - 1) / pairs_per_item, 0);
}

/* wd = the dense matrix of w */
static void dense_weights(conv_run *r, mat wd, cl_mem w, const rn_conv *c)
{
    if (!r->ctx) return;
    cl_kernel k =
        rn_kernel(r->ctx, r->ctx->dense_per_co ? "rn_conv_dense_co_fwd" : "rn_conv_dense_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, wd.m);
    rn_arg_int(&a, (int)wd.off);
    rn_arg_mem(&a, w);
    dense_args(&a, c);
    dense_launch(r, k, c, DENSE_PAIRS);
}

/* dw = the dense matrix's gradient dwd summed per tap; the same sums in the same order in either
 * form. */
static void dense_weight_grad(conv_run *r, cl_mem dw, mat dwd, const rn_conv *c)
{
    if (!r->ctx) return;
    cl_kernel k =
        rn_kernel(r->ctx, r->ctx->dense_per_co ? "rn_conv_dense_co_bwd" : "rn_conv_dense_bwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, dw);
    rn_arg_mem(&a, dwd.m);
    rn_arg_int(&a, (int)dwd.off);
    dense_args(&a, c);
    dense_launch(r, k, c, 1);
}

/* rows (C·P × nc) <-> images [n0, n0+nc) of t[C][N][P]: to_rows, or back (accumulate: add); one
 * work-item per (channel, run of images) as channel_runs says, ROWS_IMAGES off a CPU. */
static void rows(conv_run *r, mat m, cl_mem t, int C, int P, const rn_conv *c, int n0, int nc,
                 int to_rows, int accumulate)
{
    if (!r->ctx) return;
    cl_kernel k = rn_kernel(r->ctx, to_rows ? "rn_conv_rows_fwd" : "rn_conv_rows_bwd");
    rn_args a = rn_args_begin(k);
    if (to_rows) {
        rn_arg_mem(&a, m.m);
        rn_arg_int(&a, (int)m.off);
        rn_arg_mem(&a, t);
    } else {
        rn_arg_mem(&a, t);
        rn_arg_mem(&a, m.m);
        rn_arg_int(&a, (int)m.off);
    }
    rn_arg_int(&a, C);
    rn_arg_int(&a, c->N);
    rn_arg_int(&a, P);
    rn_arg_int(&a, n0);
    rn_arg_int(&a, nc);
    if (!to_rows) rn_arg_int(&a, accumulate);
    channel_runs(r->ctx, k, &a, C, nc, ROWS_IMAGES);
}

/* ---- forward and backward ------------------------------------------------------------------- */

/* Where the dense form's matrices live for a chunk of cnt images from n0. A 1×1 image (output)
 * is its own row matrix: x (y) is used in place. */
typedef struct dense_mats {
    mat w, dw; /* Cout·Q × Cin·P */
    mat x, y;  /* Cin·P × cnt, Cout·Q × cnt */
} dense_mats;

static dense_mats dense_layout(const conv_run *r, const rn_conv *c, cl_mem x, cl_mem y, int n0,
                               int cnt)
{
    const size_t P = (size_t)c->H * c->W, Q = (size_t)c->Ho * c->Wo, K = c->Cin * P;
    const size_t wfloats = c->Cout * Q * K, xrows = K * cnt;
    cl_mem ws = r->ws->buf;
    dense_mats m = {
        {ws, 0, K}, {ws, wfloats, K}, {ws, 2 * wfloats, cnt}, {ws, 2 * wfloats + xrows, cnt}};
    if (P == 1) m.x = (mat){x, n0, c->N};
    if (Q == 1) m.y = (mat){y, n0, c->N};
    return m;
}

static void dense_forward(conv_run *r, cl_mem y, cl_mem x, cl_mem w, const rn_conv *c)
{
    const int P = c->H * c->W, Q = c->Ho * c->Wo, nc = chunk_images(r, c);
    for (int n0 = 0; n0 < c->N; n0 += nc) {
        const int cnt = c->N - n0 < nc ? c->N - n0 : nc;
        dense_mats m = dense_layout(r, c, x, y, n0, cnt);
        if (n0 == 0) dense_weights(r, m.w, w, c);
        if (P > 1) rows(r, m.x, x, c->Cin, P, c, n0, cnt, 1, 0);
        gemm(r, 0, 0, (size_t)c->Cout * Q, cnt, (size_t)c->Cin * P, m.w, m.x, 0.0f, m.y);
        if (Q > 1) rows(r, m.y, y, c->Cout, Q, c, n0, cnt, 0, 0);
    }
}

static void dense_backward(conv_run *r, cl_mem dx, cl_mem dw, cl_mem dy, cl_mem x, cl_mem w,
                           const rn_conv *c, int with_dx, int accumulate_dx)
{
    const int P = c->H * c->W, Q = c->Ho * c->Wo, nc = chunk_images(r, c);
    const size_t M = (size_t)c->Cout * Q, K = (size_t)c->Cin * P;
    for (int n0 = 0; n0 < c->N; n0 += nc) {
        const int cnt = c->N - n0 < nc ? c->N - n0 : nc;
        const dense_mats m = dense_layout(r, c, x, dy, n0, cnt);
        if (n0 == 0 && with_dx) dense_weights(r, m.w, w, c);
        if (P > 1) rows(r, m.x, x, c->Cin, P, c, n0, cnt, 1, 0);
        if (Q > 1) rows(r, m.y, dy, c->Cout, Q, c, n0, cnt, 1, 0);
        gemm(r, 0, 1, M, K, cnt, m.y, m.x, n0 ? 1.0f : 0.0f, m.dw);
        if (!with_dx) continue;
        /* dX rows = Wdᵀ · dY rows, into dx itself for a 1×1 image, else over the x rows (the
         * in-order queue has finished reading them) */
        mat mdx = P == 1 ? (mat){dx, n0, c->N} : m.x;
        gemm(r, 1, 0, K, cnt, M, m.w, m.y, P == 1 && accumulate_dx ? 1.0f : 0.0f, mdx);
        if (P > 1) rows(r, mdx, dx, c->Cin, P, c, n0, cnt, 0, accumulate_dx);
    }
    dense_weight_grad(r, dw, dense_layout(r, c, x, dy, 0, nc).dw, c);
}

/* A 3×3 conv at stride 1 with padding 1 that keeps the size of images with rows of 8 (H a multiple
 * of 4) or of 4×4 images, or a 7×7 conv at stride 2 with padding 3 from 32×32 to 16×16 (the stem
 * at CIFAR-10's size). */
int rn_conv_rows_width(const rn_conv *c)
{
    if (c->kh == 7 && c->kw == 7 && c->stride == 2 && c->pad_h == 3 && c->pad_w == 3 &&
        c->H == 32 && c->W == 32 && c->Ho == 16 && c->Wo == 16)
        return 32;
    if (!(c->kh == 3 && c->kw == 3 && c->stride == 1 && c->pad_h == 1 && c->pad_w == 1 &&
          c->Wo == c->W && c->Ho == c->H))
        return 0;
    return (c->W == 8 && c->H % 4 == 0) || (c->W == 4 && c->H == 4) ? c->W : 0;
}

static void im2col_forward(conv_run *r, cl_mem y, cl_mem x, cl_mem w, const rn_conv *c)
{
    const size_t K = (size_t)c->Cin * c->kh * c->kw;
    const size_t hw = (size_t)c->Ho * c->Wo, cols = (size_t)c->N * hw;
    const int nc = chunk_images(r, c); /* may replace the workspace: read its buffer after */
    cl_mem ws = r->ws->buf;
    for (int n0 = 0; n0 < c->N; n0 += nc) {
        const int cnt = c->N - n0 < nc ? c->N - n0 : nc;
        /* chunks as for im2col, so the product's shape (and stored choice) is the same */
        const rn_gemm_shape s = {0, 0, c->Cout, cnt * hw, K, K, cnt * hw, cols, 0.0f};
        if (r->ctx && rn_conv_rows_width(c) &&
            rn_sgemm_rows(r->ctx, &s, w, 0, x, c->Cin, c->N, c->H, c->W, n0, y, n0 * hw))
            continue;
        im2col(r, ws, x, c, n0, cnt);
        /* this chunk's images are the column range [n0·hw, (n0+cnt)·hw) of every row of y */
        gemm(r, 0, 0, c->Cout, cnt * hw, K, (mat){w, 0, K}, (mat){ws, 0, cnt * hw}, 0.0f,
             (mat){y, n0 * hw, cols});
    }
}

/* The product that forms dx of images [n0, n0 + cnt) as the conv of dy with rn_conv_flip_bwd's
 * weights: C[Cin × cnt·hw] = wt[Cin × Cout·9] · dy's columns, into dx's column range. */
static rn_gemm_shape dx_shape(const rn_conv *c, int cnt)
{
    const size_t hw = (size_t)c->H * c->W, K = (size_t)c->Cout * 9;
    return (rn_gemm_shape){0, 0, c->Cin, cnt * hw, K, K, cnt * hw, c->N * hw, 0.0f};
}

/* A conv whose dx dx_implicit may form, with a workspace of ws_floats (grown as chunk_images
 * grows it): one that gathers its forward columns at stride 1, the flipped weights fitting the
 * workspace. */
static int dx_flip_fits(const rn_conv *c, size_t ws_floats)
{
    const size_t least = fixed_floats(c) + image_floats(c);
    return c->stride == 1 && rn_conv_rows_width(c) &&
           (ws_floats > least ? ws_floats : least) >= (size_t)c->Cin * c->Cout * 9;
}

int rn_conv_dx_as_forward(const rn_conv *c, size_t ws_floats)
{
    return c->Cin == c->Cout && dx_flip_fits(c, ws_floats);
}

/* Whether dx can be formed that way (rn_sgemm_rows, which gathers dy's columns as it loads them),
 * in chunks of nc images: a conv that gathers its forward columns so (rn_conv_rows_width), dx
 * overwritten, the flipped weights fitting the workspace, and a stored own choice for every
 * chunk's product (for Cin = Cout the forward's). Listing (no device) gives the explicit path,
 * whose products a device without such a choice runs. */
static int dx_implicit(conv_run *r, const rn_conv *c, int nc, int accumulate_dx)
{
    if (!r->ctx || accumulate_dx || !dx_flip_fits(c, r->ws->floats)) return 0;
    for (int n0 = 0; n0 < c->N; n0 += nc) {
        const rn_gemm_shape s = dx_shape(c, c->N - n0 < nc ? c->N - n0 : nc);
        if (!rn_sgemm_rows_fits(r->ctx, &s, c->Cout, c->W, 0, (size_t)n0 * c->H * c->W)) return 0;
    }
    return 1;
}

/* dx by dx_implicit's products, the flipped weights at the start of the workspace. Its sums run
 * over (co, ky, kx) in the product's order, so its bits differ from col2im's (which adds a dx
 * value's nine taps after the product over co). */
static void implicit_dx(conv_run *r, cl_mem dx, cl_mem dy, cl_mem w, const rn_conv *c, int nc)
{
    cl_mem ws = r->ws->buf;
    cl_kernel k = rn_kernel(r->ctx, "rn_conv_flip_bwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, ws);
    rn_arg_mem(&a, w);
    rn_arg_int(&a, c->Cout);
    rn_arg_int(&a, c->Cin);
    rn_arg_int(&a, 9);
    channel_runs(r->ctx, k, &a, c->Cin, c->Cout, 1);
    const size_t hw = (size_t)c->H * c->W;
    for (int n0 = 0; n0 < c->N; n0 += nc) {
        const rn_gemm_shape s = dx_shape(c, c->N - n0 < nc ? c->N - n0 : nc);
        rn_sgemm_rows(r->ctx, &s, ws, 0, dy, c->Cout, c->N, c->H, c->W, n0, dx, n0 * hw);
    }
}

static void im2col_backward(conv_run *r, cl_mem dx, cl_mem dw, cl_mem dy, cl_mem x, cl_mem w,
                            const rn_conv *c, int with_dx, int accumulate_dx)
{
    const size_t K = (size_t)c->Cin * c->kh * c->kw;
    const size_t hw = (size_t)c->Ho * c->Wo, cols = (size_t)c->N * hw;
    const int nc = chunk_images(r, c); /* may replace the workspace: read its buffer after */
    cl_mem ws = r->ws->buf;
    /* dx first, while the workspace is free for the flipped weights */
    if (with_dx && dx_implicit(r, c, nc, accumulate_dx)) {
        implicit_dx(r, dx, dy, w, c, nc);
        with_dx = 0;
    }
    for (int n0 = 0; n0 < c->N; n0 += nc) {
        const int cnt = c->N - n0 < nc ? c->N - n0 : nc;
        const size_t ccols = cnt * hw;
        const mat col = {ws, 0, ccols}, mdy = {dy, n0 * hw, cols};
        /* dW (+)= dY_chunk · col_chunkᵀ; the first chunk overwrites. With columns the product
         * can gather (and a stored choice for it that does) no im2col: the same bits. */
        const float beta = n0 == 0 ? 0.0f : 1.0f;
        const rn_gemm_shape sw = {0, 1, c->Cout, K, ccols, cols, ccols, K, beta};
        if (!(r->ctx && rn_conv_rows_width(c) &&
              rn_sgemm_rows(r->ctx, &sw, dy, n0 * hw, x, c->Cin, c->N, c->H, c->W, n0, dw, 0))) {
            im2col(r, ws, x, c, n0, cnt);
            gemm(r, 0, 1, c->Cout, K, ccols, mdy, col, beta, (mat){dw, 0, K});
        }
        if (!with_dx) continue;
        /* dcol = Wᵀ · dY_chunk reuses the workspace: the in-order queue has finished reading the
         * columns by then. Each image belongs to one chunk, so overwriting dx per chunk is right.
         */
        gemm(r, 1, 0, K, ccols, c->Cout, (mat){w, 0, K}, mdy, 0.0f, col);
        col2im(r, dx, ws, c, n0, cnt, accumulate_dx);
    }
}

static void conv_forward(conv_run *r, cl_mem y, cl_mem x, cl_mem w, const rn_conv *c)
{
    const size_t K = (size_t)c->Cin * c->kh * c->kw;
    const size_t cols = (size_t)c->N * c->Ho * c->Wo;
    if (rn_conv_is_pointwise(c))
        gemm(r, 0, 0, c->Cout, cols, K, (mat){w, 0, K}, (mat){x, 0, cols}, 0.0f, (mat){y, 0, cols});
    else if (rn_conv_is_dense(c)) dense_forward(r, y, x, w, c);
    else im2col_forward(r, y, x, w, c);
}

static void conv_backward(conv_run *r, cl_mem dx, cl_mem dw, cl_mem dy, cl_mem x, cl_mem w,
                          const rn_conv *c, int with_dx, int accumulate_dx)
{
    const size_t K = (size_t)c->Cin * c->kh * c->kw;
    const size_t cols = (size_t)c->N * c->Ho * c->Wo;
    if (rn_conv_is_pointwise(c)) {
        /* dW = dY·xᵀ, dX = Wᵀ·dY (x is its own column matrix) */
        const mat mdy = {dy, 0, cols};
        gemm(r, 0, 1, c->Cout, K, cols, mdy, (mat){x, 0, cols}, 0.0f, (mat){dw, 0, K});
        if (with_dx)
            gemm(r, 1, 0, K, cols, c->Cout, (mat){w, 0, K}, mdy, accumulate_dx ? 1.0f : 0.0f,
                 (mat){dx, 0, cols});
    } else if (rn_conv_is_dense(c)) dense_backward(r, dx, dw, dy, x, w, c, with_dx, accumulate_dx);
    else im2col_backward(r, dx, dw, dy, x, w, c, with_dx, accumulate_dx);
}

void conv2d_forward(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem w, const rn_conv *c, rn_workspace *ws)
{
    conv_run r = {ctx, ws, NULL, 0, 0};
    conv_forward(&r, y, x, w, c);
}

void conv2d_backward(rn_ctx *ctx, cl_mem dx, cl_mem dw, cl_mem dy, cl_mem x, cl_mem w,
                     const rn_conv *c, rn_workspace *ws, int accumulate_dx)
{
    conv_run r = {ctx, ws, NULL, 0, 0};
    conv_backward(&r, dx, dw, dy, x, w, c, dx != NULL, accumulate_dx);
}

int rn_conv_gemm_shapes(const rn_conv *c, size_t ws_floats, int backward, int with_dx,
                        rn_gemm_shape *out, int cap)
{
    rn_workspace ws = {NULL, ws_floats};
    conv_run r = {NULL, &ws, out, cap, 0};
    conv_forward(&r, NULL, NULL, NULL, c);
    if (backward) conv_backward(&r, NULL, NULL, NULL, NULL, NULL, c, with_dx, 0);
    return r.n;
}
