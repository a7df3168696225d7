/* Batch normalisation over CNHW activations (each channel's M = N·H·W values are one contiguous
 * row), PyTorch semantics: training uses batch statistics and updates the running statistics with
 * momentum and the unbiased variance; inference uses the running statistics. Optional fused ReLU,
 * and the residual join (+ res, then ReLU).
 */
#ifndef RN_OPS_BATCHNORM_H
#define RN_OPS_BATCHNORM_H

#include "runtime/rt.h"

/* Floats of the scratch `part` that the training forward and the backward need for C channels of
 * M values (their per-channel sums are split into parts whose partial results it holds).
 * Allocate it once at setup for the largest shape: it is only used during a call. */
size_t batchnorm_part_floats(int C, int M);

/* Training forward. x,y: [C][M]; gamma, beta, running_mean, running_var, save_mean,
 * save_invstd: [C]; part: scratch of batchnorm_part_floats(C, M) floats or more.
 * running_* ← (1−momentum)·running_* + momentum·batch stat (var unbiased: ·M/(M−1));
 * save_mean/save_invstd keep the batch mean and 1/sqrt(biased var + eps) for backward.
 * res: NULL, or [C][M] added to the output before the ReLU (a bottleneck's residual join,
 * y = max(0, BN(x) + res), with relu != 0), the same values add_relu_forward gives from BN(x).
 * relu != 0 applies max(0, ·) to the output. The variance adds each part's sum of squared
 * deviations from its own mean (two passes over the part) with Chan et al.'s correction for the
 * parts' mean differences, never E[x²]−E[x]². */
void batchnorm_forward_train(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                             cl_mem running_mean, cl_mem running_var, cl_mem save_mean,
                             cl_mem save_invstd, cl_mem part, int C, int M, float momentum,
                             float eps, int relu, cl_mem res);

/* The training forward's last pass alone: y from x with the batch statistics save_mean and
 * save_invstd that it stored (relu and res as above). The same values, bit for bit, so a
 * backward pass can recompute a forward output instead of keeping it. */
void batchnorm_apply(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta, cl_mem save_mean,
                     cl_mem save_invstd, int C, int M, int relu, cl_mem res);

/* Inference forward with the running statistics. Shapes, relu and res as above; y may be x. */
void batchnorm_forward_eval(rn_ctx *ctx, cl_mem y, cl_mem x, cl_mem gamma, cl_mem beta,
                            cl_mem running_mean, cl_mem running_var, int C, int M, float eps,
                            int relu, cl_mem res);

/* Backward of the training forward. dx[C][M] (overwritten), dgamma[C], dbeta[C] (overwritten),
 * from dy[C][M], x[C][M] (the forward input), gamma, save_mean, save_invstd [C]; part as for the
 * forward. dx may be dy, or y. With relu != 0 the ReLU's mask comes from y[C][M], the forward
 * output, or, with y NULL, from the output recomputed out of x, gamma, beta[C] and the saved
 * statistics (bit for bit the forward's, without reading y; only for a forward without the residual
 * join). Without relu, y and beta may be NULL. dmask: NULL, or [C][M] that also receives dy after
 * the ReLU mask (relu != 0, y given): with the residual join fused into the forward, that is the
 * join's gradient, which the shortcut receives too, bit for bit what add_relu_backward gives.
 * dmask may be dy, then dx must not be. */
void batchnorm_backward(rn_ctx *ctx, cl_mem dx, cl_mem dgamma, cl_mem dbeta, cl_mem dy, cl_mem x,
                        cl_mem y, cl_mem gamma, cl_mem beta, cl_mem save_mean, cl_mem save_invstd,
                        cl_mem part, int C, int M, int relu, cl_mem dmask);

#endif
