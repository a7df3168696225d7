// One SGD step over a whole parameter slab (PyTorch's torch.optim.SGD with dampening 0):
// g' = g + wd·w; v = μ·v + g'; w −= lr·v, or with Nesterov w −= lr·(g' + μ·v).
// 8 consecutive parameters per work-item as a float8 (scalar compilers do not vectorise across
// work-items on their own).

// x[0..n) as a float8, zero-filled past n (the last, short piece of the slab).
static float8 rn_sgd_load8(__global const float *x, int n)
{
    if (n >= 8) return vload8(0, x);
    float t[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < n; k++) t[k] = x[k];
    return vload8(0, t);
}

// Stores the first min(n, 8) lanes of v at y.
static void rn_sgd_store8(float8 v, __global float *y, int n)
{
    if (n >= 8) {
        vstore8(v, 0, y);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    for (int k = 0; k < n; k++) y[k] = t[k];
}

__kernel void rn_sgd_fwd(__global float *w, __global float *v, __global const float *g,
                         const int n, const float lr, const float momentum,
                         const float weight_decay, const int nesterov)
{
    const int i = get_global_id(0) * 8;
    if (i >= n) return;
    const int r = n - i;
    const float8 wi = rn_sgd_load8(w + i, r);
    const float8 gi = rn_sgd_load8(g + i, r) + weight_decay * wi;
    // Momentum 0 never reads v (PyTorch keeps no buffer then), so an unset v cannot leak in.
    const float8 vi = momentum != 0.0f ? momentum * rn_sgd_load8(v + i, r) + gi : gi;
    rn_sgd_store8(vi, v + i, r);
    rn_sgd_store8(wi - lr * (nesterov ? gi + momentum * vi : vi), w + i, r);
}
