/* Elementwise ReLU and the residual join (add + ReLU fused), forward and backward, on flat
 * buffers of n floats (layout does not matter to them). */
#ifndef RN_OPS_ELTWISE_H
#define RN_OPS_ELTWISE_H

#include "runtime/rt.h"

/* y = max(x, 0) */
void relu_forward(rn_ctx *ctx, cl_mem y, cl_mem x, size_t n);
/* dx = dy · [y > 0]  (y is the forward output) */
void relu_backward(rn_ctx *ctx, cl_mem dx, cl_mem dy, cl_mem y, size_t n);

/* y = max(a + b, 0) */
void add_relu_forward(rn_ctx *ctx, cl_mem y, cl_mem a, cl_mem b, size_t n);
/* d = dy · [y > 0]: the gradient for both a and b (they are the same). d may be dy (in place). */
void add_relu_backward(rn_ctx *ctx, cl_mem d, cl_mem dy, cl_mem y, size_t n);

#endif
