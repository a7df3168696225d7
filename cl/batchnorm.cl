// Batch normalisation over CNHW activations: channel c is the contiguous row x[c*M .. c*M+M).
// Per-channel sums are split into parts of plen values whose partial sums are added in part order,
// so results are deterministic (no atomics). Two forms: split (one work-group per (part, channel),
// then a combine kernel and a per-element pass: long rows spread over many work-groups, for GPUs)
// and per channel (one work-item does all of a channel, for CPUs, see rn_batchnorm_chan_fwd);
// both give the same bits. Every pass moves 8 consecutive values per work-item as a float8 (on 2
// PoCL cores the per-element passes ran 2-3x faster so than with one value per work-item).

// No multiply-add contraction here: both forms, and a recomputed ReLU mask, must round every
// operation alike, and a compiler may contract the same expression differently in two kernels
// (NVIDIA's did: the forms' dx differed at M = 49 on an H200).
#pragma OPENCL FP_CONTRACT OFF

// x[0..n) as a float8, zero-filled past n (the last, short piece of a row).
static float8 rn_bn_load8(__global const float *x, int n)
{
    if (n >= 8) return vload8(0, x);
    float t[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < n; k++) t[k] = x[k];
    return vload8(0, t);
}

// Stores the first min(n, 8) lanes of v at y.
static void rn_bn_store8(float8 v, __global float *y, int n)
{
    if (n >= 8) {
        vstore8(v, 0, y);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    for (int k = 0; k < n; k++) y[k] = t[k];
}

// v with the lanes at and past n zeroed (n < 8 only for the last, short piece of a row).
static float8 rn_bn_first8(float8 v, int n)
{
    return n >= 8 ? v : select((float8)0.0f, v, (int8)(0, 1, 2, 3, 4, 5, 6, 7) < n);
}

// Lane sum in a fixed order.
static float rn_bn_hsum8(float8 v)
{
    const float4 a = v.lo + v.hi;
    const float2 b = a.lo + a.hi;
    return b.x + b.y;
}

// Sum of v over the work-group, returned to every work-item. Fixed tree order, so the result
// depends only on the local size. The local size must be a power of two. All work-items must
// call this (it contains barriers); the trailing barrier lets the caller reuse buf at once.
static float2 rn_bn_group_sum(__local float2 *buf, float2 v)
{
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L >> 1; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float2 r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// Where part p of channel c starts and how many values it has (launch: dim 0 = parts·L with
// local L, dim 1 = channels).
static int rn_bn_part_len(int M, int plen)
{
    return min(plen, M - (int)get_group_id(0) * plen);
}

static size_t rn_bn_part_start(int M, int plen)
{
    return (size_t)get_group_id(1) * M + (size_t)get_group_id(0) * plen;
}

// Statistics of one part (n values at xs) of a channel, two passes over values that are still in
// the cache for the second: s = Σ (x − shift) and q = Σ (x − shift − s/n)², the part's sum of
// squared deviations from its own mean, returned to every work-item. Shifting by the channel's
// first value keeps a large offset (1000 ± 1) out of the sums.
static float2 rn_bn_part_stats(__local float2 *buf, __global const float *xs, int n, float shift)
{
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    float8 s8 = 0.0f;
    for (int i = lid * 8; i < n; i += L * 8)
        s8 += rn_bn_first8(rn_bn_load8(xs + i, n - i) - shift, n - i);
    const float s = rn_bn_group_sum(buf, (float2)(rn_bn_hsum8(s8), 0.0f)).x;

    const float d = s / (float)n;
    float8 q8 = 0.0f;
    for (int i = lid * 8; i < n; i += L * 8) {
        const float8 t = rn_bn_first8(rn_bn_load8(xs + i, n - i) - shift - d, n - i);
        q8 += t * t;
    }
    return (float2)(s, rn_bn_group_sum(buf, (float2)(rn_bn_hsum8(q8), 0.0f)).x);
}

// Partial statistics of one part of one channel (launch: see rn_bn_part_len). Writes (s, q) of
// rn_bn_part_stats to part[c·P + p].
__kernel void rn_batchnorm_stats(__global const float *x, __global float2 *part, const int M,
                                 const int plen, __local float2 *buf)
{
    const float2 r = rn_bn_part_stats(buf, x + rn_bn_part_start(M, plen), rn_bn_part_len(M, plen),
                                      x[(size_t)get_group_id(1) * M]);
    if (get_local_id(0) == 0) part[get_group_id(1) * get_num_groups(0) + get_group_id(0)] = r;
}

// Channel c's statistics from its P parts' (s, q) at pc, in part order (Chan et al.'s combine):
// mean = x_c[0] + Σs/M, M2 = Σ (q_p + n_p·(s_p/n_p − Σs/M)²); saves mean and 1/sqrt(var + eps)
// and updates the running statistics, whose variance is the unbiased M2/(M−1). With M == 1 that
// is undefined (PyTorch raises) and the biased variance (0) is used instead. Returns
// (mean, invstd).
static float2 rn_bn_combine_stats(__global const float2 *pc, float x0, int c, int M, int plen,
                                  int P, float momentum, float eps, __global float *running_mean,
                                  __global float *running_var, __global float *save_mean,
                                  __global float *save_invstd)
{
    float s = 0.0f;
    for (int p = 0; p < P; p++) s += pc[p].x;
    const float dm = s / (float)M;
    float m2 = 0.0f;
    for (int p = 0; p < P; p++) {
        const float n = (float)min(plen, M - p * plen);
        const float e = pc[p].x / n - dm;
        m2 += pc[p].y + n * e * e;
    }
    const float mean = x0 + dm;
    const float var = m2 / (float)M;
    const float unbiased = M > 1 ? m2 / (float)(M - 1) : var;
    const float invstd = 1.0f / sqrt(var + eps);
    save_mean[c] = mean;
    save_invstd[c] = invstd;
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
    return (float2)(mean, invstd);
}

// Per channel (1-D launch over C), from the parts rn_batchnorm_stats wrote.
__kernel void rn_batchnorm_stats_combine(__global const float *x, __global const float2 *part,
                                         __global float *running_mean, __global float *running_var,
                                         __global float *save_mean, __global float *save_invstd,
                                         const int C, const int M, const int plen, const int P,
                                         const float momentum, const float eps)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    rn_bn_combine_stats(part + (size_t)c * P, x[(size_t)c * M], c, M, plen, P, momentum, eps,
                        running_mean, running_var, save_mean, save_invstd);
}

// max(0, v) per lane; a NaN passes through, as in PyTorch.
static float8 rn_bn_relu8(float8 v)
{
    return select(v, (float8)0.0f, v < 0.0f);
}

// y = v, plus res (residual != 0) and then max(0, ·) (relu != 0): the residual join of a
// bottleneck done while its last batch-norm's output is still in registers. The sum is the one
// rn_add_relu_fwd forms from the stored output, so the result is the same bit for bit.
static void rn_bn_out8(float8 v, __global float *y, __global const float *res, int n, int relu,
                       int residual)
{
    if (residual) v += rn_bn_load8(res, n);
    if (relu) v = rn_bn_relu8(v);
    rn_bn_store8(v, y, n);
}

// (x − mean)·invstd·γ + β for n ≤ 8 values at x, rounded step by step (no contraction), so the
// backward's recomputed ReLU mask (RN_BN_MASK_X) sees the forward's values bit for bit.
static float8 rn_bn_affine8(__global const float *x, int n, float mean, float invstd, float g,
                            float b)
{
    return (rn_bn_load8(x, n) - mean) * invstd * g + b;
}

// y = rn_bn_affine8 for n ≤ 8 values at x, then rn_bn_out8. Every form of the forward goes
// through here, so all give the same bits from the same statistics.
static void rn_bn_apply8(__global float *y, __global const float *x, __global const float *res,
                         int n, float mean, float invstd, float g, float b, int relu, int residual)
{
    rn_bn_out8(rn_bn_affine8(x, n, mean, invstd, g, b), y, res, n, relu, residual);
}

// rn_bn_apply8 over channel c's row of M values at row, 8 at a time: a constant n of 8 for all
// but a short last piece, so the compiler drops the bounds checks there.
static void rn_bn_apply_row(__global float *y, __global const float *x, __global const float *res,
                            size_t row, int M, float mean, float invstd, float g, float b, int relu,
                            int residual)
{
    const int whole = M / 8 * 8;
    for (int i = 0; i < whole; i += 8)
        rn_bn_apply8(y + row + i, x + row + i, res + row + i, 8, mean, invstd, g, b, relu,
                     residual);
    if (whole < M)
        rn_bn_apply8(y + row + whole, x + row + whole, res + row + whole, M - whole, mean, invstd,
                     g, b, relu, residual);
}

// Training forward: rn_bn_apply8 with the saved batch statistics. 2-D launch: dim 0 over the
// row's pieces of 8, dim 1 over C.
__kernel void rn_batchnorm_fwd(__global float *y, __global const float *x,
                               __global const float *gamma, __global const float *beta,
                               __global const float *save_mean, __global const float *save_invstd,
                               __global const float *res, const int C, const int M, const int relu,
                               const int residual)
{
    const int i = get_global_id(0) * 8;
    const int c = get_global_id(1);
    if (i >= M || c >= C) return;
    const size_t j = (size_t)c * M + i;
    rn_bn_apply8(y + j, x + j, res + j, M - i, save_mean[c], save_invstd[c], gamma[c], beta[c],
                 relu, residual);
}

// Inference forward with the running statistics; same launch shape as rn_batchnorm_fwd.
__kernel void rn_batchnorm_eval_fwd(__global float *y, __global const float *x,
                                    __global const float *gamma, __global const float *beta,
                                    __global const float *running_mean,
                                    __global const float *running_var, __global const float *res,
                                    const int C, const int M, const float eps, const int relu,
                                    const int residual)
{
    const int i = get_global_id(0) * 8;
    const int c = get_global_id(1);
    if (i >= M || c >= C) return;
    const size_t j = (size_t)c * M + i;
    const float invstd = 1.0f / sqrt(running_var[c] + eps);
    rn_bn_apply8(y + j, x + j, res + j, M - i, running_mean[c], invstd, gamma[c], beta[c], relu,
                 residual);
}

// Both forwards' output pass per channel (1-D launch over C, any local size): one work-item walks
// channel c's row front to back with rn_bn_apply8, with the batch statistics (eval == 0: stat_a
// is save_mean, stat_b save_invstd) or the running ones (stat_a running_mean, stat_b
// running_var). On a CPU the 2-D per-element form's many small work-items cost more than the copy.
__kernel void rn_batchnorm_chan_apply(__global float *y, __global const float *x,
                                      __global const float *gamma, __global const float *beta,
                                      __global const float *stat_a, __global const float *stat_b,
                                      __global const float *res, const int C, const int M,
                                      const int eval, const float eps, const int relu,
                                      const int residual)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    const float invstd = eval ? 1.0f / sqrt(stat_b[c] + eps) : stat_b[c];
    const size_t row = (size_t)c * M;
    rn_bn_apply_row(y, x, res, row, M, stat_a[c], invstd, gamma[c], beta[c], relu, residual);
}

// Where the backward takes the fused ReLU's mask from (batchnorm.c passes these): no ReLU; the
// forward's output y as stored; or that output recomputed from x (a forward without the
// residual join), which spares reading y: max(0, v) > 0 exactly when v > 0, NaN included.
#define RN_BN_MASK_NONE 0
#define RN_BN_MASK_Y 1
#define RN_BN_MASK_X 2

// What the backward knows of one channel: its forward map and its mask's source. Passed by
// pointer: a struct passed or returned by value leaves LLVM noalias intrinsics that Oclgrind
// 21.10 cannot run.
typedef struct rn_bn_chan {
    float mean, invstd, g, b;
    int mask;
} rn_bn_chan;

// Channel c's rn_bn_chan, spelled out by each backward kernel.
#define RN_BN_CHAN(c, mask)                                                                        \
    {save_mean[c], save_invstd[c], gamma[c], beta[c], mask}

// dy after the fused ReLU's mask. A select, not a product, so a masked-out NaN/inf becomes 0.
static float8 rn_bn_masked8(__global const float *dy, __global const float *y,
                            __global const float *x, int n, const rn_bn_chan *k)
{
    const float8 g = rn_bn_load8(dy, n);
    if (k->mask == RN_BN_MASK_NONE) return g;
    const float8 out = k->mask == RN_BN_MASK_Y
                           ? rn_bn_load8(y, n)
                           : rn_bn_affine8(x, n, k->mean, k->invstd, k->g, k->b);
    return select((float8)0.0f, g, out > 0.0f);
}

// Backward sums of one part (n values from `at` of the rows dy, x, y) of a channel, returned to
// every work-item: (Σ dy', Σ dy'·(x − mean)), dy' being dy after the ReLU mask. The zero-filled
// lanes of a short last piece have dy' = 0 and add nothing.
static float2 rn_bn_part_grads(__local float2 *buf, __global const float *dy,
                               __global const float *x, __global const float *y, size_t at, int n,
                               const rn_bn_chan *k)
{
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    float8 sg = 0.0f, sgx = 0.0f;
    for (int i = lid * 8; i < n; i += L * 8) {
        const float8 g = rn_bn_masked8(dy + at + i, y + at + i, x + at + i, n - i, k);
        sg += g;
        sgx += g * (rn_bn_load8(x + at + i, n - i) - k->mean);
    }
    return rn_bn_group_sum(buf, (float2)(rn_bn_hsum8(sg), rn_bn_hsum8(sgx)));
}

// Partial backward sums of one part of one channel into part[c·P + p] (launch as
// rn_batchnorm_stats).
__kernel void rn_batchnorm_bwd_reduce(__global float2 *part, __global const float *dy,
                                      __global const float *x, __global const float *y,
                                      __global const float *gamma, __global const float *beta,
                                      __global const float *save_mean,
                                      __global const float *save_invstd, const int M,
                                      const int plen, const int mask, __local float2 *buf)
{
    const rn_bn_chan k = RN_BN_CHAN(get_group_id(1), mask);
    const float2 r = rn_bn_part_grads(buf, dy, x, y, rn_bn_part_start(M, plen),
                                      rn_bn_part_len(M, plen), &k);
    if (get_local_id(0) == 0) part[get_group_id(1) * get_num_groups(0) + get_group_id(0)] = r;
}

// Channel c's (dβ, dγ) = (Σ dy', Σ dy'·x̂) from its P parts at pc, added in order, stored.
static float2 rn_bn_combine_grads(__global const float2 *pc, int P, float invstd, int c,
                                  __global float *dgamma, __global float *dbeta)
{
    float2 s = 0.0f;
    for (int p = 0; p < P; p++) s += pc[p];
    const float2 r = (float2)(s.x, s.y * invstd);
    dbeta[c] = r.x;
    dgamma[c] = r.y;
    return r;
}

// Per channel (1-D launch over C), from the parts rn_batchnorm_bwd_reduce wrote.
__kernel void rn_batchnorm_bwd_combine(__global float *dgamma, __global float *dbeta,
                                       __global const float2 *part,
                                       __global const float *save_invstd, const int C, const int P)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    rn_bn_combine_grads(part + (size_t)c * P, P, save_invstd[c], c, dgamma, dbeta);
}

// dx for n ≤ 8 values from the sums (db, dg) = (dβ, dγ):
// dx = invstd/M·(M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)) with dx̂ = dy'·γ, i.e. γ·invstd·(dy' − dβ/M − x̂·dγ/M).
// With mask_out, dy' also goes to dm: a residual join's gradient, which its shortcut receives
// too, formed here instead of by a pass of its own (rn_add_relu_bwd, the same select).
static void rn_bn_grad8(__global float *dx, __global float *dm, __global const float *dy,
                        __global const float *x, __global const float *y, int n, int M,
                        const rn_bn_chan *k, float db, float dg, int mask_out)
{
    const float inv_m = 1.0f / (float)M;
    const float8 xhat = (rn_bn_load8(x, n) - k->mean) * k->invstd;
    const float8 g = rn_bn_masked8(dy, y, x, n, k);
    rn_bn_store8(k->g * k->invstd * (g - db * inv_m - xhat * (dg * inv_m)), dx, n);
    if (mask_out) rn_bn_store8(g, dm, n);
}

// Backward per element from the combined sums. Same launch shape as rn_batchnorm_fwd. dx may be
// the same buffer as dy or y (each value is read before it is written), and so may dm
// (mask_out) be dy if dx is not.
__kernel void rn_batchnorm_bwd(__global float *dx, __global float *dm, __global const float *dy,
                               __global const float *x, __global const float *y,
                               __global const float *gamma, __global const float *beta,
                               __global const float *save_mean, __global const float *save_invstd,
                               __global const float *dgamma, __global const float *dbeta,
                               const int C, const int M, const int mask, const int mask_out)
{
    const int i = get_global_id(0) * 8;
    const int c = get_global_id(1);
    if (i >= M || c >= C) return;
    const size_t j = (size_t)c * M + i;
    const rn_bn_chan k = RN_BN_CHAN(c, mask);
    rn_bn_grad8(dx + j, dm + j, dy + j, x + j, y + j, M - i, M, &k, dbeta[c], dgamma[c], mask_out);
}

// ---- the per-channel form: one work-item does all of a channel ---------------------------------
// On a CPU a work-group's work-items run one after another, so the split form's per-part sums walk
// the part eight times, 32 of every 256 bytes each time. Here one work-item walks its channel's
// row front to back, keeping the 8 partial sums that the split form's 8 work-items would keep
// (value block b of a part goes to sum b mod 8) and adding them in rn_bn_group_sum's tree order:
// the same bits as the split form with a local size of 8, which is what a CPU gets for parts of
// more than 32 values (batchnorm.c takes this form only then). The passes after the first find
// the row (at most a few hundred KiB) in the core's cache, so x is read from memory once, not
// twice, and one launch replaces three.
#define RN_BN_LANES 8

// rn_bn_group_sum's tree over 8 work-items' values: s = 4, 2, 1.
static float2 rn_bn_tree8(float2 *v)
{
    for (int s = RN_BN_LANES / 2; s > 0; s >>= 1)
        for (int i = 0; i < s; i++) v[i] += v[i + s];
    return v[0];
}

// Adds the squares of (x − shift − d) for one block of RN_BN_LANES pieces of 8 at xs (n values
// left from there, zero-filled past n) to the lane sums a; the sum itself with sq == 0. The walks
// below call this with n a constant RN_BN_LANES·8 for every whole block, so the compiler drops
// the bounds checks there, and with the true n once for the last, short block.
static void rn_bn_stats_block(float8 *a, __global const float *xs, int n, float shift, float d,
                              int sq)
{
    for (int w = 0; w < RN_BN_LANES; w++) {
        const int j = w * 8;
        if (j < n) {
            const float8 t = rn_bn_first8(rn_bn_load8(xs + j, n - j) - shift - d, n - j);
            if (sq)
                a[w] += t * t;
            else
                a[w] += t;
        }
    }
}

// Sum (sq == 0) or sum of squares (sq == 1) of a pass over n values at xs, in rn_bn_tree8's order.
static float rn_bn_row_pass(__global const float *xs, int n, float shift, float d, int sq)
{
    const int block = RN_BN_LANES * 8, whole = n / block * block;
    float8 a[RN_BN_LANES];
    float2 h[RN_BN_LANES];
    for (int w = 0; w < RN_BN_LANES; w++) a[w] = 0.0f;
    for (int i = 0; i < whole; i += block) rn_bn_stats_block(a, xs + i, block, shift, d, sq);
    if (whole < n) rn_bn_stats_block(a, xs + whole, n - whole, shift, d, sq);
    for (int w = 0; w < RN_BN_LANES; w++) h[w] = (float2)(rn_bn_hsum8(a[w]), 0.0f);
    return rn_bn_tree8(h).x;
}

// rn_bn_part_stats of n values at xs, from one work-item.
static float2 rn_bn_row_stats(__global const float *xs, int n, float shift)
{
    const float s = rn_bn_row_pass(xs, n, shift, 0.0f, 0);
    return (float2)(s, rn_bn_row_pass(xs, n, shift, s / (float)n, 1));
}

// The whole training forward of channel c = get_global_id(0) (1-D launch over C, any local size):
// each part's statistics into part[c·P + p], their combine, then the output pass.
__kernel void rn_batchnorm_chan_fwd(__global float *y, __global const float *x,
                                    __global const float *gamma, __global const float *beta,
                                    __global float *running_mean, __global float *running_var,
                                    __global float *save_mean, __global float *save_invstd,
                                    __global float2 *part, __global const float *res, const int C,
                                    const int M, const int plen, const float momentum,
                                    const float eps, const int relu, const int residual)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    const int P = (M + plen - 1) / plen;
    const size_t row = (size_t)c * M;
    for (int p = 0; p < P; p++)
        part[(size_t)c * P + p] =
            rn_bn_row_stats(x + row + (size_t)p * plen, min(plen, M - p * plen), x[row]);
    const float2 st = rn_bn_combine_stats(part + (size_t)c * P, x[row], c, M, plen, P, momentum,
                                          eps, running_mean, running_var, save_mean, save_invstd);
    rn_bn_apply_row(y, x, res, row, M, st.x, st.y, gamma[c], beta[c], relu, residual);
}

// Adds one block's (Σ dy', Σ dy'·(x − mean)) to the lane sums (sg, sgx), as rn_bn_stats_block.
static void rn_bn_grads_block(float8 *sg, float8 *sgx, __global const float *dy,
                              __global const float *x, __global const float *y, int n,
                              const rn_bn_chan *k)
{
    for (int w = 0; w < RN_BN_LANES; w++) {
        const int j = w * 8;
        if (j < n) {
            const float8 g = rn_bn_masked8(dy + j, y + j, x + j, n - j, k);
            sg[w] += g;
            sgx[w] += g * (rn_bn_load8(x + j, n - j) - k->mean);
        }
    }
}

// rn_bn_part_grads of n values from `at`, from one work-item.
static float2 rn_bn_row_grads(__global const float *dy, __global const float *x,
                              __global const float *y, size_t at, int n, const rn_bn_chan *k)
{
    const int block = RN_BN_LANES * 8, whole = n / block * block;
    float8 sg[RN_BN_LANES], sgx[RN_BN_LANES];
    float2 h[RN_BN_LANES];
    for (int w = 0; w < RN_BN_LANES; w++) sg[w] = sgx[w] = 0.0f;
    for (int i = 0; i < whole; i += block)
        rn_bn_grads_block(sg, sgx, dy + at + i, x + at + i, y + at + i, block, k);
    if (whole < n)
        rn_bn_grads_block(sg, sgx, dy + at + whole, x + at + whole, y + at + whole, n - whole, k);
    for (int w = 0; w < RN_BN_LANES; w++) h[w] = (float2)(rn_bn_hsum8(sg[w]), rn_bn_hsum8(sgx[w]));
    return rn_bn_tree8(h);
}

// The whole backward of channel c (launch as rn_batchnorm_chan_fwd): each part's sums, their
// combine, then dx (and dm, as in rn_batchnorm_bwd).
__kernel void rn_batchnorm_chan_bwd(__global float *dx, __global float *dm, __global float *dgamma,
                                    __global float *dbeta, __global float2 *part,
                                    __global const float *dy, __global const float *x,
                                    __global const float *y, __global const float *gamma,
                                    __global const float *beta, __global const float *save_mean,
                                    __global const float *save_invstd, const int C, const int M,
                                    const int plen, const int mask, const int mask_out)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    const int P = (M + plen - 1) / plen;
    const size_t row = (size_t)c * M;
    const rn_bn_chan k = RN_BN_CHAN(c, mask);
    for (int p = 0; p < P; p++)
        part[(size_t)c * P + p] =
            rn_bn_row_grads(dy, x, y, row + (size_t)p * plen, min(plen, M - p * plen), &k);
    const float2 d = rn_bn_combine_grads(part + (size_t)c * P, P, k.invstd, c, dgamma, dbeta);
    const int whole = M / 8 * 8; /* a constant 8 for all but a short last piece */
    for (int i = 0; i < whole; i += 8)
        rn_bn_grad8(dx + row + i, dm + row + i, dy + row + i, x + row + i, y + row + i, 8, M, &k,
                    d.x, d.y, mask_out);
    if (whole < M)
        rn_bn_grad8(dx + row + whole, dm + row + whole, dy + row + whole, x + row + whole,
                    y + row + whole, M - whole, M, &k, d.x, d.y, mask_out);
}
