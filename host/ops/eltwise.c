/* ReLU and add+ReLU (see eltwise.h): one work-item per element, kernels in cl/eltwise.cl. */
#include "ops/eltwise.h"

#include <limits.h>

/* The kernels index with int (cheaper on most GPUs); no ResNet50 tensor comes near 2^31. */
static void check_n(size_t n)
{
    if (n > INT_MAX) {
        rn_fatal("eltwise op over %zu elements", n);
    }
}

static void launch3(rn_ctx *ctx, const char *name, cl_mem out, cl_mem in1, cl_mem in2, size_t n)
{
    check_n(n);
    cl_kernel k = rn_kernel(ctx, name);
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, out);
    rn_arg_mem(&a, in1);
    rn_arg_mem(&a, in2);
    rn_arg_int(&a, (int)n);
    rn_launch1d(ctx, k, n, 256);
}

void relu_forward(rn_ctx *ctx, cl_mem y, cl_mem x, size_t n)
{
    check_n(n);
    cl_kernel k = rn_kernel(ctx, "rn_relu_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, y);
    rn_arg_mem(&a, x);
    rn_arg_int(&a, (int)n);
    rn_launch1d(ctx, k, n, 256);
}

void relu_backward(rn_ctx *ctx, cl_mem dx, cl_mem dy, cl_mem y, size_t n)
{
    launch3(ctx, "rn_relu_bwd", dx, dy, y, n);
}

void add_relu_forward(rn_ctx *ctx, cl_mem y, cl_mem a, cl_mem b, size_t n)
{
    launch3(ctx, "rn_add_relu_fwd", y, a, b, n);
}

void add_relu_backward(rn_ctx *ctx, cl_mem d, cl_mem dy, cl_mem y, size_t n)
{
    launch3(ctx, "rn_add_relu_bwd", d, dy, y, n);
}
