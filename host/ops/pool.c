/* Max-pool and global average pool (see pool.h); kernels in cl/pool.cl. Backward passes gather
 * over the output windows that cover each input element, so no atomics are needed. */
#include "ops/pool.h"

static void check_shape(int C, int N, int H, int W, int k, int stride)
{
    if (C < 1 || N < 1 || H < 1 || W < 1 || k < 1 || stride < 1)
        rn_fatal("bad pool shape C=%d N=%d H=%d W=%d k=%d stride=%d", C, N, H, W, k, stride);
}

rn_pool rn_pool_init(int C, int N, int H, int W, int k, int stride, int pad)
{
    /* PyTorch's rules (ceil_mode=False): pad at most half the window, so every window holds at
     * least one in-image element. */
    check_shape(C, N, H, W, k, stride);
    if (pad < 0 || 2 * pad > k || H + 2 * pad < k || W + 2 * pad < k)
        rn_fatal("bad pool padding %d for k=%d on %dx%d", pad, k, H, W);
    rn_pool p = {C, N, H, W, k, stride, pad, pad, 0, 0};
    p.Ho = (H + 2 * pad - k) / stride + 1;
    p.Wo = (W + 2 * pad - k) / stride + 1;
    return p;
}

rn_pool rn_pool_init_same(int C, int N, int H, int W, int k, int stride)
{
    /* Every window holds an in-image element: the padding before is at most (k − 1)/2, and the
     * last window starts at (out − 1)·stride − before < H. */
    check_shape(C, N, H, W, k, stride);
    rn_pool p = {C, N, H, W, k, stride, 0, 0, 0, 0};
    p.Ho = rn_same_padding(H, k, stride, &p.pad_h);
    p.Wo = rn_same_padding(W, k, stride, &p.pad_w);
    return p;
}

static void set_geometry(rn_args *a, const rn_pool *p)
{
    rn_arg_int(a, p->C * p->N);
    rn_arg_int(a, p->H);
    rn_arg_int(a, p->W);
    rn_arg_int(a, p->Ho);
    rn_arg_int(a, p->Wo);
    rn_arg_int(a, p->k);
    rn_arg_int(a, p->stride);
    rn_arg_int(a, p->pad_h);
    rn_arg_int(a, p->pad_w);
}

/* The stem's pool at PyTorch's padding on rows of a multiple of 16 has kernels of its own that
 * use vectors explicitly (see pool.cl); rows 16 wide are the 32×32 model's. */
static int stem_rows(const rn_pool *p)
{
    return p->k == 3 && p->stride == 2 && p->pad_h == 1 && p->pad_w == 1 && p->W == 2 * p->Wo &&
           p->W % 16 == 0;
}

/* rn_maxpool3s2_*: one work-item per 16 input columns of a row (rows: planes·rows_per_plane). */
static void launch_stem(rn_ctx *ctx, cl_kernel k, cl_mem out, cl_mem a1, cl_mem a2,
                        const rn_pool *p, int rows_per_plane)
{
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, out);
    rn_arg_mem(&a, a1);
    rn_arg_mem(&a, a2);
    rn_arg_int(&a, p->C * p->N * rows_per_plane);
    rn_arg_int(&a, p->H);
    rn_arg_int(&a, p->W);
    rn_arg_int(&a, p->Ho);
    rn_launch1d(ctx, k, (size_t)p->C * p->N * rows_per_plane * (p->W / 16), 64);
}

void maxpool_forward(rn_ctx *ctx, cl_mem y, cl_mem argmax, cl_mem x, const rn_pool *p)
{
    if (stem_rows(p)) {
        launch_stem(ctx, rn_kernel(ctx, "rn_maxpool3s2_fwd"), y, argmax, x, p, p->Ho);
        return;
    }
    cl_kernel k = rn_kernel(ctx, "rn_maxpool_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, argmax);
    rn_arg_mem(&a, x);
    set_geometry(&a, p);
    rn_launch1d(ctx, k, (size_t)p->C * p->N * p->Ho * p->Wo, 256);
}

void maxpool_backward(rn_ctx *ctx, cl_mem dx, cl_mem dy, cl_mem argmax, const rn_pool *p)
{
    if (stem_rows(p)) {
        launch_stem(ctx, rn_kernel(ctx, "rn_maxpool3s2_bwd"), dx, dy, argmax, p, p->H);
        return;
    }
    cl_kernel k = rn_kernel(ctx, "rn_maxpool_bwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, dx);
    rn_arg_mem(&a, dy);
    rn_arg_mem(&a, argmax);
    set_geometry(&a, p);
    rn_launch1d(ctx, k, (size_t)p->C * p->N * p->H * p->W, 256);
}

void avgpool_forward(rn_ctx *ctx, cl_mem y, cl_mem x, int C, int N, int HW)
{
    cl_kernel k = rn_kernel(ctx, "rn_avgpool_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_int(&a, C * N);
    rn_arg_int(&a, HW);
    rn_launch1d(ctx, k, (size_t)C * N, 64);
}

void avgpool_backward(rn_ctx *ctx, cl_mem dx, cl_mem dy, int C, int N, int HW)
{
    cl_kernel k = rn_kernel(ctx, "rn_avgpool_bwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, dx);
    rn_arg_mem(&a, dy);
    rn_arg_int(&a, C * N);
    rn_arg_int(&a, HW);
    rn_launch1d(ctx, k, (size_t)C * N * HW, 256);
}
