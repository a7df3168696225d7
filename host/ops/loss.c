/* Softmax cross-entropy forward (+ gradient, + top-1 correctness) in one kernel, one work-item per
 * sample: with ten classes a sample's row is a handful of floats. */
#include "ops/loss.h"

void softmax_ce_forward(rn_ctx *ctx, cl_mem loss, cl_mem correct, cl_mem dlogits, cl_mem logits,
                        cl_mem labels, int N, int K, float label_smoothing)
{
    cl_kernel k = rn_kernel(ctx, "rn_softmax_ce_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, loss);
    rn_arg_mem(&a, correct);
    /* OpenCL 1.2 has no NULL buffer argument that every driver accepts; pass logits as a never-
     * written stand-in and tell the kernel there is no gradient. */
    rn_arg_mem(&a, dlogits ? dlogits : logits);
    rn_arg_mem(&a, logits);
    rn_arg_mem(&a, labels);
    rn_arg_int(&a, N);
    rn_arg_int(&a, K);
    rn_arg_float(&a, label_smoothing);
    rn_arg_int(&a, dlogits != NULL);
    rn_launch1d(ctx, k, (size_t)N, 0);
}
