/* Fully connected layer (the classifier head), by small kernels of its own rather than GEMM calls.
 * Features arrive as [C][N] (the CNHW global-average-pool output); logits leave as [N][classes]
 * so loss and .npy output are row-wise. */
#ifndef RN_OPS_FC_H
#define RN_OPS_FC_H

#include "runtime/rt.h"

/* y[N][O] = xᵀ·wᵀ + b, with x[C][N], w[O][C] (PyTorch Linear order), b[O]. */
void fc_forward(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem w, cl_mem b, int N, int C, int O);

/* dx[C][N] (overwritten; may be NULL), dw[O][C] and db[O] (overwritten), from dy[N][O]. */
void fc_backward(rn_ctx *ctx, cl_mem dx, cl_mem dw, cl_mem db, cl_mem dy, cl_mem x, cl_mem w, int N,
                 int C, int O);

#endif
