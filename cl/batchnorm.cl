// Batch normalisation over CNHW activations: channel c is the contiguous row x[c*M .. c*M+M).
// Statistics and gradient sums use one work-group per channel with a fixed-order tree reduction
// in local memory (deterministic, no atomics); the per-element passes are plain 2-D launches
// (dim 0 over M, dim 1 over C) so they use the whole device even when C is small.

// Sum of v over the work-group, returned to every work-item. Fixed tree order, so the result
// depends only on the local size. The local size must be a power of two. All work-items must
// call this (it contains barriers); the trailing barrier lets the caller reuse buf at once.
static float rn_bn_group_sum(__local float *buf, float v)
{
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    buf[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L >> 1; s > 0; s >>= 1) {
        if (lid < s) buf[lid] += buf[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// Batch statistics of one channel per work-group (launch C·L work-items, local L). Two passes:
// the mean, then the sum of squared deviations, never E[x²]−E[x]². The first pass sums x − x[0]
// rather than x, so a channel with a large offset (values 1000 ± 1) keeps its mean's low bits.
// Running statistics use the unbiased variance M2/(M−1); with M == 1 that is undefined (PyTorch
// raises) and the biased variance (0) is used instead.
__kernel void rn_batchnorm_stats(__global const float *x, __global float *running_mean,
                                 __global float *running_var, __global float *save_mean,
                                 __global float *save_invstd, const int M, const float momentum,
                                 const float eps, __local float *buf)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    __global const float *xc = x + (size_t)c * M;
    const float shift = xc[0];

    float s = 0.0f;
    for (int i = lid; i < M; i += L) s += xc[i] - shift;
    const float mean = shift + rn_bn_group_sum(buf, s) / (float)M;

    float q = 0.0f;
    for (int i = lid; i < M; i += L) {
        const float d = xc[i] - mean;
        q += d * d;
    }
    const float m2 = rn_bn_group_sum(buf, q);

    if (lid == 0) {
        const float var = m2 / (float)M;
        const float unbiased = M > 1 ? m2 / (float)(M - 1) : var;
        save_mean[c] = mean;
        save_invstd[c] = 1.0f / sqrt(var + eps);
        running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean;
        running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
    }
}

// Training forward, per element: y = (x − mean)·invstd·γ + β, optionally max(0, ·).
// 2-D launch: dim 0 over M, dim 1 over C.
__kernel void rn_batchnorm_fwd(__global float *y, __global const float *x,
                               __global const float *gamma, __global const float *beta,
                               __global const float *save_mean, __global const float *save_invstd,
                               const int C, const int M, const int relu)
{
    const int i = get_global_id(0);
    const int c = get_global_id(1);
    if (i >= M || c >= C) return;
    const size_t j = (size_t)c * M + i;
    float v = (x[j] - save_mean[c]) * save_invstd[c] * gamma[c] + beta[c];
    if (relu && v < 0.0f) v = 0.0f; // NaN passes through, as in PyTorch
    y[j] = v;
}

// Inference forward with the running statistics; same launch shape as rn_batchnorm_fwd.
__kernel void rn_batchnorm_eval_fwd(__global float *y, __global const float *x,
                                    __global const float *gamma, __global const float *beta,
                                    __global const float *running_mean,
                                    __global const float *running_var, const int C, const int M,
                                    const float eps, const int relu)
{
    const int i = get_global_id(0);
    const int c = get_global_id(1);
    if (i >= M || c >= C) return;
    const size_t j = (size_t)c * M + i;
    const float invstd = 1.0f / sqrt(running_var[c] + eps);
    float v = (x[j] - running_mean[c]) * invstd * gamma[c] + beta[c];
    if (relu && v < 0.0f) v = 0.0f; // NaN passes through, as in PyTorch
    y[j] = v;
}

// dy after the fused ReLU's mask. A select, not a product, so a masked-out NaN/inf becomes 0.
static float rn_bn_masked(__global const float *dy, __global const float *y, size_t j, int relu)
{
    return (!relu || y[j] > 0.0f) ? dy[j] : 0.0f;
}

// Backward sums of one channel per work-group (launch C·L, local L, 2·L floats of local memory):
// dβ = Σ dy', dγ = Σ dy'·x̂ where dy' is dy after the ReLU mask.
__kernel void rn_batchnorm_bwd_reduce(__global float *dgamma, __global float *dbeta,
                                      __global const float *dy, __global const float *x,
                                      __global const float *y, __global const float *save_mean,
                                      __global const float *save_invstd, const int M,
                                      const int relu, __local float *buf)
{
    const int c = get_group_id(0);
    const int lid = get_local_id(0);
    const int L = get_local_size(0);
    const size_t base = (size_t)c * M;
    const float mean = save_mean[c];

    float sg = 0.0f, sgx = 0.0f;
    for (int i = lid; i < M; i += L) {
        const float g = rn_bn_masked(dy, y, base + i, relu);
        sg += g;
        sgx += g * (x[base + i] - mean);
    }
    // Both sums in one tree: buf[0..L) and buf[L..2L).
    __local float *b2 = buf + L;
    buf[lid] = sg;
    b2[lid] = sgx;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = L >> 1; s > 0; s >>= 1) {
        if (lid < s) {
            buf[lid] += buf[lid + s];
            b2[lid] += b2[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        dbeta[c] = buf[0];
        dgamma[c] = b2[0] * save_invstd[c];
    }
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
    const int i = get_global_id(0);
    const int c = get_global_id(1);
    if (i >= M || c >= C) return;
    const size_t j = (size_t)c * M + i;
    const float invstd = save_invstd[c];
    const float inv_m = 1.0f / (float)M;
    const float xhat = (x[j] - save_mean[c]) * invstd;
    const float g = rn_bn_masked(dy, y, j, relu);
    dx[j] = gamma[c] * invstd * (g - dbeta[c] * inv_m - xhat * (dgamma[c] * inv_m));
}
