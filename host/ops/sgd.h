/* SGD with momentum and weight decay over a whole parameter slab in one kernel launch, PyTorch's
 * rule: g' = g + wd·w; v = μ·v + g'; w −= lr·v (Nesterov: w −= lr·(g' + μ·v)). */
#ifndef RN_OPS_SGD_H
#define RN_OPS_SGD_H

#include "runtime/rt.h"

/* w[n], v[n] updated in place from g[n]. */
void sgd_step(rn_ctx *ctx, cl_mem w, cl_mem v, cl_mem g, size_t n, float lr, float momentum,
              float weight_decay, int nesterov);

#endif
