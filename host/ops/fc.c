/* Fully connected head: y[N][O] = xᵀ·wᵀ + b with CNHW-pooled features x[C][N]. The products are
 * CLBlast GEMMs; the bias add and bias gradient (column sum, no atomics) are small kernels. */
#include "ops/fc.h"

void fc_forward(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int O)
{
    /* y[N×O] = op(x)[N×C] · op(w)[C×O], both stored transposed */
    rn_sgemm(ctx, 1, 1, N, O, C, 1.0f, x, 0, N, w, 0, C, 0.0f, y, 0, O);
    cl_kernel k = rn_kernel(ctx, "rn_fc_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, b);
    rn_arg_int(&a, N);
    rn_arg_int(&a, O);
    rn_launch1d(ctx, k, (size_t)N * O, 0);
}

void fc_backward(rn_ctx *ctx, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N,
                 int C, int O)
{
    /* dx[C×N] = wᵀ[C×O] · dyᵀ[O×N] */
    if (dx) rn_sgemm(ctx, 1, 1, C, N, O, 1.0f, w, 0, C, dy, 0, O, 0.0f, dx, 0, N);
    /* dw[O×C] = dyᵀ[O×N] · xᵀ[N×C] */
    rn_sgemm(ctx, 1, 1, O, C, N, 1.0f, dy, 0, O, x, 0, N, 0.0f, dw, 0, C);
    cl_kernel k = rn_kernel(ctx, "rn_fc_bwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, db);
    rn_arg_mem(&a, dy);
    rn_arg_int(&a, N);
    rn_arg_int(&a, O);
    rn_launch1d(ctx, k, (size_t)O, 0);
}

/* Mirrors fc_forward / fc_backward call for call (row-major, both operands transposed). */
int rn_fc_gemm_shapes(int N, int C, int O, int backward, int with_dx, rn_gemm_shape *out, int cap)
{
    const rn_gemm_shape all[3] = {
        {1, 1, (size_t)N, (size_t)O, (size_t)C, (size_t)N, (size_t)C, (size_t)O, 0.0f},
        {1, 1, (size_t)C, (size_t)N, (size_t)O, (size_t)C, (size_t)O, (size_t)N, 0.0f},
        {1, 1, (size_t)O, (size_t)C, (size_t)N, (size_t)O, (size_t)N, (size_t)C, 0.0f},
    };
    int n = 0;
    for (int i = 0; i < 3; i++) {
        if (i > 0 && !backward) break;
        if (i == 1 && !with_dx) continue;
        if (n < cap) out[n] = all[i];
        n++;
    }
    return n;
}
