/* Softmax cross-entropy over a batch of logits (stable log-sum-exp, optional label smoothing as
 * PyTorch's CrossEntropyLoss(label_smoothing=ε)), its gradient, and top-1 correctness. */
#ifndef RN_OPS_LOSS_H
#define RN_OPS_LOSS_H

#include "runtime/rt.h"

/* From logits[N][K] and labels[N] (int32, 0..K−1):
 *   loss[N]      per-sample loss (the batch loss is their mean; the host sums in double),
 *   correct[N]   int32 1 where argmax(logits) == label (first maximum wins ties), else 0,
 *   dlogits[N][K] ∂(mean loss)/∂logits = (softmax − target)/N; may be NULL (evaluation).
 * target = (1−ε)·onehot + ε/K. */
void softmax_ce_forward(rn_ctx *ctx, cl_mem loss, cl_mem correct, cl_mem dlogits, cl_mem logits,
                        cl_mem labels, int N, int K, float label_smoothing);

#endif
