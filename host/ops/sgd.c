/* One launch of the SGD update over a whole parameter slab (see sgd.h for the rule). */
#include "ops/sgd.h"

#include <limits.h>

void sgd_step(rn_ctx *ctx, cl_mem w, cl_mem v, cl_mem g, size_t n, float lr, float momentum,
              float weight_decay, int nesterov)
{
    if (n > (size_t)INT_MAX - 7) { /* the kernel indexes with int, up to n + 7 */
        rn_fatal("sgd_step over %zu parameters", n);
    }
    cl_kernel k = rn_kernel(ctx, "rn_sgd_fwd");
    rn_args a = rn_args_begin(k);
    rn_arg_mem(&a, w);
    rn_arg_mem(&a, v);
    rn_arg_mem(&a, g);
    rn_arg_int(&a, (int)n);
    rn_arg_float(&a, lr);
    rn_arg_float(&a, momentum);
    rn_arg_float(&a, weight_decay);
    rn_arg_int(&a, nesterov != 0);
    rn_launch1d(ctx, k, (n + 7) / 8, 0); /* 8 parameters per work-item */
}
