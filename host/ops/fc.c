/* Fully connected head: y[N][O] = xᵀ·wᵀ + b with CNHW-pooled features x[C][N], by rn50cl's own
 * kernels (cl/fc.cl), not GEMM calls: the head's products are tiny, and a GEMM library's first
 * call can cost seconds of kernel building. */
#include "ops/fc.h"

void fc_forward(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int O)
{
    cl_kernel k = rn_kernel(ctx, "rn_fc_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, w);
    rn_arg_mem(&a, b);
    rn_arg_int(&a, N);
    rn_arg_int(&a, C);
    rn_arg_int(&a, O);
    rn_launch1d(ctx, k, (size_t)O * ((N + 7) / 8), 0); /* per (output, 8 images) */
}

void fc_backward(rn_ctx *ctx, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N,
                 int C, int O)
{
    cl_kernel k;
    rn_args a;
    if (dx) {
        k = rn_kernel(ctx, "rn_fc_dx_bwd");
        a = rn_args_begin(k);
        rn_arg_mem(&a, dx);
        rn_arg_mem(&a, dy);
        rn_arg_mem(&a, w);
        rn_arg_int(&a, N);
        rn_arg_int(&a, C);
        rn_arg_int(&a, O);
        rn_launch1d(ctx, k, (size_t)N * ((C + 7) / 8), 0); /* per (8 features, image) */
    }
    k = rn_kernel(ctx, "rn_fc_dw_bwd");
    a = rn_args_begin(k);
    rn_arg_mem(&a, dw);
    rn_arg_mem(&a, dy);
    rn_arg_mem(&a, x);
    rn_arg_int(&a, N);
    rn_arg_int(&a, C);
    rn_arg_int(&a, O);
    rn_launch1d(ctx, k, (size_t)O * ((C + 7) / 8), 0); /* per (output, 8 features) */
    k = rn_kernel(ctx, "rn_fc_db_bwd");
    a = rn_args_begin(k);
    rn_arg_mem(&a, db);
    rn_arg_mem(&a, dy);
    rn_arg_int(&a, N);
    rn_arg_int(&a, O);
    rn_launch1d(ctx, k, (size_t)O, 0);
}
