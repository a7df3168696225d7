/* Pooling on CNHW activations: max-pool (the stem's 3×3 stride 2, padded symmetrically or as
 * MindSpore's pad_mode='same'; padding never wins) and global average pool (before the
 * classifier). Backward passes gather, without float atomics. */
#ifndef RN_OPS_POOL_H
#define RN_OPS_POOL_H

#include "ops/padding.h"
#include "runtime/rt.h"

typedef struct rn_pool {
    int C, N, H, W; /* x: [C][N][H][W] */
    int k, stride;
    int pad_h, pad_w; /* padding rows above and columns left; Ho and Wo imply the rest */
    int Ho, Wo;       /* y: [C][N][Ho][Wo] */
} rn_pool;

/* PyTorch's MaxPool2d (ceil_mode=False) with symmetric padding pad. */
rn_pool rn_pool_init(int C, int N, int H, int W, int k, int stride, int pad);
/* MindSpore's MaxPool2d(pad_mode="same"): Ho = ceil(H/stride) (rn_same_padding), likewise Wo. */
rn_pool rn_pool_init_same(int C, int N, int H, int W, int k, int stride);

/* y = max over each window; argmax[C][N][Ho][Wo] (int32) records the winning input index within
 * its (c, n) plane (first maximum in row-major window order wins ties). */
void maxpool_forward(rn_ctx *ctx, cl_mem y, cl_mem argmax, cl_mem x, const rn_pool *p);
/* dx[C][N][H][W] (overwritten) from dy[C][N][Ho][Wo] and the forward's argmax. */
void maxpool_backward(rn_ctx *ctx, cl_mem dx, cl_mem dy, cl_mem argmax, const rn_pool *p);

/* y[C][N] = mean over H·W of x[C][N][H][W] (HW = H·W). */
void avgpool_forward(rn_ctx *ctx, cl_mem y, cl_mem x, int C, int N, int HW);
/* dx[C][N][H·W] = dy[C][N] / HW (overwritten). */
void avgpool_backward(rn_ctx *ctx, cl_mem dx, cl_mem dy, int C, int N, int HW);

#endif
