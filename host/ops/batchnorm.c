/* Batch normalisation (see batchnorm.h): per-channel reductions are one work-group per channel
 * (cl/batchnorm.cl, fixed tree order, so results are deterministic), per-element passes are 2-D
 * launches over (M, C) so small channel counts still fill the device. */
#include "ops/batchnorm.h"

/* Work-group size of a per-channel reduction: a power of two (the tree needs one), at most 256,
 * at most what the device allows for this kernel, and no larger than needed to cover M. */
static size_t reduce_local(rn_ctx *ctx, cl_kernel k, int M)
{
    size_t kmax = 0;
    CL_CHECK(clGetKernelWorkGroupInfo(k, ctx->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                      &kmax, NULL));
    size_t L = 1;
    while (L < 256 && L * 2 <= kmax && L < (size_t)M) L *= 2;
    return L;
}

/* 2-D launch over (M, C) with about 256 work-items per group, whatever the row length. */
static void launch_rows(rn_ctx *ctx, cl_kernel k, int C, int M)
{
    size_t l0 = 1;
    while (l0 < 256 && l0 < (size_t)M) l0 *= 2;
    size_t l1 = 256 / l0;
    size_t kmax = 0;
    CL_CHECK(clGetKernelWorkGroupInfo(k, ctx->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                      &kmax, NULL));
    while (l0 * l1 > kmax && l1 > 1) l1 /= 2;
    while (l0 * l1 > kmax && l0 > 1) l0 /= 2;
    rn_launch2d(ctx, k, (size_t)M, (size_t)C, l0, l1);
}

static void check_shape(int C, int M)
{
    if (C < 1 || M < 1) {
        rn_fatal("batchnorm with C=%d M=%d", C, M);
    }
}

void batchnorm_forward_train(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                             cl_mem running_mean, cl_mem running_var, cl_mem save_mean,
                             cl_mem save_invstd, int C, int M, float momentum, float eps, int relu)
{
    check_shape(C, M);
    cl_kernel ks = rn_kernel(ctx, "rn_batchnorm_stats");
    size_t L = reduce_local(ctx, ks, M);
    rn_args a = rn_args_begin(ks);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, running_mean);
    rn_arg_mem(&a, running_var);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_int(&a, M);
    rn_arg_float(&a, momentum);
    rn_arg_float(&a, eps);
    rn_arg_local(&a, L * sizeof(float));
    rn_launch1d(ctx, ks, (size_t)C * L, L);

    cl_kernel kf = rn_kernel(ctx, "rn_batchnorm_fwd");
    a = rn_args_begin(kf);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, beta);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_int(&a, relu != 0);
    launch_rows(ctx, kf, C, M);
}

void batchnorm_forward_eval(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                            cl_mem running_mean, cl_mem running_var, int C, int M, float eps,
                            int relu)
{
    check_shape(C, M);
    cl_kernel k = rn_kernel(ctx, "rn_batchnorm_eval_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, beta);
    rn_arg_mem(&a, running_mean);
    rn_arg_mem(&a, running_var);
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_float(&a, eps);
    rn_arg_int(&a, relu != 0);
    launch_rows(ctx, k, C, M);
}

void batchnorm_backward(rn_ctx *ctx, cl_mem dx, cl_mem dgamma, cl_mem dbeta, cl_mem dy, cl_mem x,
                        cl_mem y, cl_mem gamma, cl_mem save_mean, cl_mem save_invstd, int C, int M,
                        int relu)
{
    check_shape(C, M);
    if (relu && !y) {
        rn_fatal("batchnorm_backward with relu needs y");
    }
    /* Without the ReLU the kernels never read y; any valid buffer fills the argument. */
    cl_mem ymask = relu ? y : x;

    cl_kernel kr = rn_kernel(ctx, "rn_batchnorm_bwd_reduce");
    size_t L = reduce_local(ctx, kr, M);
    rn_args a = rn_args_begin(kr);
    rn_arg_mem(&a, dgamma);
    rn_arg_mem(&a, dbeta);
    rn_arg_mem(&a, dy);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, ymask);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_int(&a, M);
    rn_arg_int(&a, relu != 0);
    rn_arg_local(&a, 2 * L * sizeof(float));
    rn_launch1d(ctx, kr, (size_t)C * L, L);

    cl_kernel kb = rn_kernel(ctx, "rn_batchnorm_bwd");
    a = rn_args_begin(kb);
    rn_arg_mem(&a, dx);
    rn_arg_mem(&a, dy);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, ymask);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_mem(&a, dgamma);
    rn_arg_mem(&a, dbeta);
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_int(&a, relu != 0);
    launch_rows(ctx, kb, C, M);
}
