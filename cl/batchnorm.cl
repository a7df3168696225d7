// Batch normalisation over CNHW activations: channel c is the contiguous row x[c*M .. c*M+M).
// Per-channel sums are split into parts of plen values: one work-group per (part, channel) writes
// its partial sums to a small scratch buffer and a combine kernel adds them in part order, so
// long rows spread over many work-groups and results stay deterministic (no atomics). Every pass
// moves 8 consecutive values per work-item as a float8 (on 2 PoCL cores the per-element passes
// ran 2-3x faster so than with one value per work-item).

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

// Partial statistics of one part of one channel, two passes over values that are still in the
// cache for the second: s = Σ (x − x_c[0]) and q = Σ (x − x_c[0] − s/n)², the part's sum of
// squared deviations from its own mean. Shifting by the channel's first value keeps a large
// offset (1000 ± 1) out of the sums. Writes (s, q) to part[c·P + p].
__kernel void rn_batchnorm_stats(__global const float *x, __global float2 *part, const int M,
                                 const int plen, __local float2 *buf)
{
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    const int n = rn_bn_part_len(M, plen);
    __global const float *xs = x + rn_bn_part_start(M, plen);
    const float shift = x[(size_t)get_group_id(1) * M];

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
    const float q = rn_bn_group_sum(buf, (float2)(rn_bn_hsum8(q8), 0.0f)).x;
    if (lid == 0) part[get_group_id(1) * get_num_groups(0) + get_group_id(0)] = (float2)(s, q);
}

// Per channel (1-D launch over C), from the P parts' (s, q) in part order (Chan et al.'s
// combine): mean = x_c[0] + Σs/M, M2 = Σ (q_p + n_p·(s_p/n_p − Σs/M)²). Running statistics use
// the unbiased variance M2/(M−1); with M == 1 that is undefined (PyTorch raises) and the biased
// variance (0) is used instead.
__kernel void rn_batchnorm_stats_combine(__global const float *x, __global const float2 *part,
                                         __global float *running_mean, __global float *running_var,
                                         __global float *save_mean, __global float *save_invstd,
                                         const int C, const int M, const int plen, const int P,
                                         const float momentum, const float eps)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    __global const float2 *pc = part + (size_t)c * P;
    float s = 0.0f;
    for (int p = 0; p < P; p++) s += pc[p].x;
    const float dm = s / (float)M;
    float m2 = 0.0f;
    for (int p = 0; p < P; p++) {
        const float n = (float)min(plen, M - p * plen);
        const float e = pc[p].x / n - dm;
        m2 += pc[p].y + n * e * e;
    }
    const float mean = x[(size_t)c * M] + dm;
    const float var = m2 / (float)M;
    const float unbiased = M > 1 ? m2 / (float)(M - 1) : var;
    save_mean[c] = mean;
    save_invstd[c] = 1.0f / sqrt(var + eps);
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
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

// Training forward: y = (x − mean)·invstd·γ + β, then the join's residual and the ReLU if asked
// (rn_bn_out8). 2-D launch: dim 0 over the row's pieces of 8, dim 1 over C.
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
    rn_bn_out8((rn_bn_load8(x + j, M - i) - save_mean[c]) * save_invstd[c] * gamma[c] + beta[c],
               y + j, res + j, M - i, relu, residual);
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
    rn_bn_out8((rn_bn_load8(x + j, M - i) - running_mean[c]) * invstd * gamma[c] + beta[c], y + j,
               res + j, M - i, relu, residual);
}

// dy after the fused ReLU's mask. A select, not a product, so a masked-out NaN/inf becomes 0.
static float8 rn_bn_masked8(__global const float *dy, __global const float *y, int n, int relu)
{
    const float8 g = rn_bn_load8(dy, n);
    return relu ? select((float8)0.0f, g, rn_bn_load8(y, n) > 0.0f) : g;
}

// Partial backward sums of one part of one channel (launch as rn_batchnorm_stats):
// part[c·P + p] = (Σ dy', Σ dy'·(x − mean)), dy' being dy after the ReLU mask. The zero-filled
// lanes of a short last piece have dy' = 0 and add nothing.
__kernel void rn_batchnorm_bwd_reduce(__global float2 *part, __global const float *dy,
                                      __global const float *x, __global const float *y,
                                      __global const float *save_mean, const int M, const int plen,
                                      const int relu, __local float2 *buf)
{
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    const int n = rn_bn_part_len(M, plen);
    const size_t base = rn_bn_part_start(M, plen);
    const float mean = save_mean[get_group_id(1)];

    float8 sg = 0.0f, sgx = 0.0f;
    for (int i = lid * 8; i < n; i += L * 8) {
        const float8 g = rn_bn_masked8(dy + base + i, y + base + i, n - i, relu);
        sg += g;
        sgx += g * (rn_bn_load8(x + base + i, n - i) - mean);
    }
    const float2 r = rn_bn_group_sum(buf, (float2)(rn_bn_hsum8(sg), rn_bn_hsum8(sgx)));
    if (lid == 0) part[get_group_id(1) * get_num_groups(0) + get_group_id(0)] = r;
}

// Per channel (1-D launch over C): dβ = Σ dy', dγ = Σ dy'·x̂, adding the P parts in order.
__kernel void rn_batchnorm_bwd_combine(__global float *dgamma, __global float *dbeta,
                                       __global const float2 *part,
                                       __global const float *save_invstd, const int C, const int P)
{
    const int c = get_global_id(0);
    if (c >= C) return;
    float2 s = 0.0f;
    for (int p = 0; p < P; p++) s += part[(size_t)c * P + p];
    dbeta[c] = s.x;
    dgamma[c] = s.y * save_invstd[c];
}

// Backward per element, from the sums above:
// dx = invstd/M·(M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)) with dx̂ = dy'·γ, i.e. γ·invstd·(dy' − dβ/M − x̂·dγ/M).
// Same launch shape as rn_batchnorm_fwd. dx may be the same buffer as dy.
__kernel void rn_batchnorm_bwd(__global float *dx, __global const float *dy,
                               __global const float *x, __global const float *y,
                               __global const float *gamma, __global const float *save_mean,
                               __global const float *save_invstd, __global const float *dgamma,
                               __global const float *dbeta, const int C, const int M,
                               const int relu)
{
    const int i = get_global_id(0) * 8;
    const int c = get_global_id(1);
    if (i >= M || c >= C) return;
    const size_t j = (size_t)c * M + i;
    const float invstd = save_invstd[c];
    const float inv_m = 1.0f / (float)M;
    const float8 xhat = (rn_bn_load8(x + j, M - i) - save_mean[c]) * invstd;
    const float8 g = rn_bn_masked8(dy + j, y + j, M - i, relu);
    const float8 v = gamma[c] * invstd * (g - dbeta[c] * inv_m - xhat * (dgamma[c] * inv_m));
    rn_bn_store8(v, dx + j, M - i);
}
