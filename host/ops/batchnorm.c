/* Batch normalisation (see batchnorm.h): each per-channel reduction is split into parts of
 * BN_PART values whose partial sums are added in part order (cl/batchnorm.cl), so results are
 * deterministic. On a GPU one work-group per (part, channel) forms them, a per-channel kernel
 * combines them and a 2-D per-element pass over (M/8, C) follows, so small channel counts still
 * fill the device. On a CPU (ctx->bn_per_channel) one work-item does all of a channel, walking
 * its row front to back: one launch, and the passes after the first find the row in the core's
 * cache. */
#include "ops/batchnorm.h"

#include <limits.h>

/* Values per part: a multiple of the kernels' 8-wide vectors, long enough that a part's work
 * outweighs a work-group's start-up on a CPU, short enough that the statistics' second pass finds
 * the part still in cache and that a GPU gets several work-groups per channel. */
#define BN_PART 4096

static int bn_parts(int M)
{
    return (M + BN_PART - 1) / BN_PART;
}

size_t batchnorm_part_floats(int C, int M)
{
    return 2 * (size_t)C * (size_t)bn_parts(M);
}

static size_t kernel_max_local(rn_ctx *ctx, cl_kernel k)
{
    size_t kmax = 0;
    CL_CHECK(clGetKernelWorkGroupInfo(k, ctx->info.device, CL_KERNEL_WORK_GROUP_SIZE, sizeof kmax,
                                      &kmax, NULL));
    return kmax;
}

/* Work-group size of a partial reduction: a power of two (the tree needs one), at most what the
 * device allows for this kernel, and no more work-items than a part has vectors. At most 256 on
 * a GPU, whose work-items run side by side; at most 8 on a CPU, which runs a group's work-items
 * one after another, so every level of the tree is a loop over all of them (8 instead of 256
 * made the reductions ~8x faster on 2 PoCL cores). Same device, same size: same bits. */
static size_t reduce_local(rn_ctx *ctx, cl_kernel k, int M)
{
    size_t kmax = kernel_max_local(ctx, k), L = 1;
    size_t cap = ctx->info.type & CL_DEVICE_TYPE_CPU ? 8 : 256;
    int len = M < BN_PART ? M : BN_PART;
    while (L < cap && L * 2 <= kmax && L * 8 < (size_t)len) L *= 2;
    return L;
}

/* Launches a partial reduction whose arguments are set up to the local buffer, which it adds:
 * dim 0 = parts × L work-items, dim 1 = channels. */
static void launch_parts(rn_ctx *ctx, cl_kernel k, rn_args *a, int C, int M)
{
    size_t L = reduce_local(ctx, k, M);
    rn_arg_local(a, L * 2 * sizeof(float));
    rn_launch2d(ctx, k, (size_t)bn_parts(M) * L, (size_t)C, L, 1);
}

/* 2-D launch over (M/8 rounded up, C) with about 256 work-items per group, whatever the row. */
static void launch_rows(rn_ctx *ctx, cl_kernel k, int C, int M)
{
    size_t n0 = ((size_t)M + 7) / 8, l0 = 1;
    while (l0 < 256 && l0 < n0) l0 *= 2;
    size_t l1 = 256 / l0, kmax = kernel_max_local(ctx, k);
    while (l0 * l1 > kmax && l1 > 1) l1 /= 2;
    while (l0 * l1 > kmax && l0 > 1) l0 /= 2;
    rn_launch2d(ctx, k, n0, (size_t)C, l0, l1);
}

/* Small per-channel launches (the combines): 64 channels per group. */
static void launch_channels(rn_ctx *ctx, cl_kernel k, int C)
{
    size_t kmax = kernel_max_local(ctx, k), l = 64;
    while (l > kmax) l /= 2;
    rn_launch1d(ctx, k, (size_t)C, l);
}

static void check_shape(int C, int M)
{
    if (C < 1 || M < 1 || M > INT_MAX - 7) { /* the kernels index a row with int, up to M + 7 */
        rn_fatal("batchnorm with C=%d M=%d", C, M);
    }
}

/* A scratch buffer too small for this shape would be overrun on the device: fail on the host. */
static void check_part(cl_mem part, int C, int M)
{
    size_t bytes = 0;
    CL_CHECK(clGetMemObjectInfo(part, CL_MEM_SIZE, sizeof bytes, &bytes, NULL));
    if (bytes < batchnorm_part_floats(C, M) * sizeof(float)) {
        rn_fatal("batchnorm scratch of %zu bytes for C=%d M=%d, which needs %zu", bytes, C, M,
                 batchnorm_part_floats(C, M) * sizeof(float));
    }
}

/* The per-channel form (cl/batchnorm.cl) reproduces the split form's sums for a local size of 8
 * (RN_BN_LANES), so it is taken only where the split form would run with 8. */
static int per_channel(rn_ctx *ctx, int M)
{
    return ctx->bn_per_channel && reduce_local(ctx, rn_kernel(ctx, "rn_batchnorm_stats"), M) == 8 &&
           reduce_local(ctx, rn_kernel(ctx, "rn_batchnorm_bwd_reduce"), M) == 8;
}

static void forward_per_channel(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                                cl_mem running_mean, cl_mem running_var, cl_mem save_mean,
                                cl_mem save_invstd, cl_mem part, int C, int M, float momentum,
                                float eps, int relu, cl_mem res)
{
    cl_kernel k = rn_kernel(ctx, "rn_batchnorm_chan_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, beta);
    rn_arg_mem(&a, running_mean);
    rn_arg_mem(&a, running_var);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_mem(&a, part);
    rn_arg_mem(&a, res ? res : x); /* not read without res */
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_int(&a, BN_PART);
    rn_arg_float(&a, momentum);
    rn_arg_float(&a, eps);
    rn_arg_int(&a, relu != 0);
    rn_arg_int(&a, res != NULL);
    rn_launch1d(ctx, k, (size_t)C, 1); /* groups of 1: channels spread over every core */
}

void batchnorm_forward_train(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                             cl_mem running_mean, cl_mem running_var, cl_mem save_mean,
                             cl_mem save_invstd, cl_mem part, int C, int M, float momentum,
                             float eps, int relu, cl_mem res)
{
    check_shape(C, M);
    check_part(part, C, M);
    if (per_channel(ctx, M)) {
        forward_per_channel(ctx, y, x, gamma, beta, running_mean, running_var, save_mean,
                            save_invstd, part, C, M, momentum, eps, relu, res);
        return;
    }
    cl_kernel ks = rn_kernel(ctx, "rn_batchnorm_stats");
    rn_args a = rn_args_begin(ks);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, part);
    rn_arg_int(&a, M);
    rn_arg_int(&a, BN_PART);
    launch_parts(ctx, ks, &a, C, M);

    cl_kernel kc = rn_kernel(ctx, "rn_batchnorm_stats_combine");
    a = rn_args_begin(kc);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, part);
    rn_arg_mem(&a, running_mean);
    rn_arg_mem(&a, running_var);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_int(&a, BN_PART);
    rn_arg_int(&a, bn_parts(M));
    rn_arg_float(&a, momentum);
    rn_arg_float(&a, eps);
    launch_channels(ctx, kc, C);

    batchnorm_apply(ctx, y, x, gamma, beta, save_mean, save_invstd, C, M, relu, res);
}

/* The output pass per channel (rn_batchnorm_chan_apply): with the batch statistics, or (eval)
 * the running ones. */
static void apply_per_channel(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                              cl_mem stat_a, cl_mem stat_b, int C, int M, int eval, float eps,
                              int relu, cl_mem res)
{
    cl_kernel k = rn_kernel(ctx, "rn_batchnorm_chan_apply");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, beta);
    rn_arg_mem(&a, stat_a);
    rn_arg_mem(&a, stat_b);
    rn_arg_mem(&a, res ? res : x); /* not read without res */
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_int(&a, eval);
    rn_arg_float(&a, eps);
    rn_arg_int(&a, relu != 0);
    rn_arg_int(&a, res != NULL);
    rn_launch1d(ctx, k, (size_t)C, 1);
}

void batchnorm_apply(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta, cl_mem save_mean,
                     cl_mem save_invstd, int C, int M, int relu, cl_mem res)
{
    check_shape(C, M);
    if (ctx->bn_per_channel) {
        apply_per_channel(ctx, y, x, gamma, beta, save_mean, save_invstd, C, M, 0, 0.0f, relu, res);
        return;
    }
    cl_kernel kf = rn_kernel(ctx, "rn_batchnorm_fwd");
    rn_args a = rn_args_begin(kf);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, beta);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_mem(&a, res ? res : x); /* not read without res */
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_int(&a, relu != 0);
    rn_arg_int(&a, res != NULL);
    launch_rows(ctx, kf, C, M);
}

void batchnorm_forward_eval(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                            cl_mem running_mean, cl_mem running_var, int C, int M, float eps,
                            int relu, cl_mem res)
{
    check_shape(C, M);
    if (ctx->bn_per_channel) {
        apply_per_channel(ctx, y, x, gamma, beta, running_mean, running_var, C, M, 1, eps, relu,
                          res);
        return;
    }
    cl_kernel k = rn_kernel(ctx, "rn_batchnorm_eval_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, beta);
    rn_arg_mem(&a, running_mean);
    rn_arg_mem(&a, running_var);
    rn_arg_mem(&a, res ? res : x); /* not read without res */
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_float(&a, eps);
    rn_arg_int(&a, relu != 0);
    rn_arg_int(&a, res != NULL);
    launch_rows(ctx, k, C, M);
}

/* The backward's ReLU mask source (cl/batchnorm.cl's RN_BN_MASK_*). */
enum { MASK_NONE, MASK_Y, MASK_X };

static void backward_per_channel(rn_ctx *ctx, cl_mem dx, cl_mem dgamma, cl_mem dbeta, cl_mem dy,
                                 cl_mem x, cl_mem ymask, cl_mem gamma, cl_mem beta,
                                 cl_mem save_mean, cl_mem save_invstd, cl_mem part, int C, int M,
                                 int mask, cl_mem dmask)
{
    cl_kernel k = rn_kernel(ctx, "rn_batchnorm_chan_bwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, dx);
    rn_arg_mem(&a, dmask ? dmask : dx); /* not written without dmask */
    rn_arg_mem(&a, dgamma);
    rn_arg_mem(&a, dbeta);
    rn_arg_mem(&a, part);
    rn_arg_mem(&a, dy);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, ymask);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, beta);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_int(&a, BN_PART);
    rn_arg_int(&a, mask);
    rn_arg_int(&a, dmask != NULL);
    rn_launch1d(ctx, k, (size_t)C, 1); /* groups of 1: channels spread over every core */
}

void batchnorm_backward(rn_ctx *ctx, cl_mem dx, cl_mem dgamma, cl_mem dbeta, cl_mem dy, cl_mem x,
                        cl_mem y, cl_mem gamma, cl_mem beta, cl_mem save_mean, cl_mem save_invstd,
                        cl_mem part, int C, int M, int relu, cl_mem dmask)
{
    check_shape(C, M);
    check_part(part, C, M);
    if (relu && !y && !beta) rn_fatal("batchnorm_backward with relu needs y or beta");
    if (dmask && (!relu || !y || dmask == dx))
        rn_fatal("batchnorm_backward's dmask needs relu, y and a buffer other than dx");
    const int mask = !relu ? MASK_NONE : y ? MASK_Y : MASK_X;
    /* The kernels read y only for MASK_Y and β only for MASK_X; any valid buffer fills the
     * argument otherwise. */
    cl_mem ymask = mask == MASK_Y ? y : x, b = mask == MASK_X ? beta : gamma;
    if (per_channel(ctx, M)) {
        backward_per_channel(ctx, dx, dgamma, dbeta, dy, x, ymask, gamma, b, save_mean, save_invstd,
                             part, C, M, mask, dmask);
        return;
    }
    cl_kernel kr = rn_kernel(ctx, "rn_batchnorm_bwd_reduce");
    rn_args a = rn_args_begin(kr);
    rn_arg_mem(&a, part);
    rn_arg_mem(&a, dy);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, ymask);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, b);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_int(&a, M);
    rn_arg_int(&a, BN_PART);
    rn_arg_int(&a, mask);
    launch_parts(ctx, kr, &a, C, M);

    cl_kernel kc = rn_kernel(ctx, "rn_batchnorm_bwd_combine");
    a = rn_args_begin(kc);
    rn_arg_mem(&a, dgamma);
    rn_arg_mem(&a, dbeta);
    rn_arg_mem(&a, part);
    rn_arg_mem(&a, save_invstd);
    rn_arg_int(&a, C);
    rn_arg_int(&a, bn_parts(M));
    launch_channels(ctx, kc, C);

    cl_kernel kb = rn_kernel(ctx, "rn_batchnorm_bwd");
    a = rn_args_begin(kb);
    rn_arg_mem(&a, dx);
    rn_arg_mem(&a, dmask ? dmask : dx); /* not written without dmask */
    rn_arg_mem(&a, dy);
    rn_arg_mem(&a, x);
    rn_arg_mem(&a, ymask);
    rn_arg_mem(&a, gamma);
    rn_arg_mem(&a, b);
    rn_arg_mem(&a, save_mean);
    rn_arg_mem(&a, save_invstd);
    rn_arg_mem(&a, dgamma);
    rn_arg_mem(&a, dbeta);
    rn_arg_int(&a, C);
    rn_arg_int(&a, M);
    rn_arg_int(&a, mask);
    rn_arg_int(&a, dmask != NULL);
    launch_rows(ctx, kb, C, M);
}
