// One SGD step over a whole parameter slab (PyTorch's torch.optim.SGD with dampening 0):
// g' = g + wd·w; v = μ·v + g'; w −= lr·v, or with Nesterov w −= lr·(g' + μ·v).
// Eight parameters per work-item as float8 (PoCL ran the one-per-work-item form at 88 % of its
// copy bandwidth); each lane computes what the scalar rule does, so the bits do not change.

__kernel void rn_sgd_fwd(__global float *w, __global float *v, __global const float *g, const int n,
                         const float lr, const float momentum, const float weight_decay,
                         const int nesterov)
{
    const int i = get_global_id(0) * 8;
    if (i >= n) return;
    if (n - i < 8) { // the slab's last, short piece
        for (int j = i; j < n; j++) {
            const float wi = w[j];
            const float gi = g[j] + weight_decay * wi;
            const float vi = momentum != 0.0f ? momentum * v[j] + gi : gi;
            v[j] = vi;
            w[j] = wi - lr * (nesterov ? gi + momentum * vi : vi);
        }
        return;
    }
    const float8 wi = vload8(0, w + i);
    const float8 gi = vload8(0, g + i) + weight_decay * wi;
    // Momentum 0 never reads v (PyTorch keeps no buffer then), so an unset v cannot leak in.
    const float8 vi = momentum != 0.0f ? momentum * vload8(0, v + i) + gi : gi;
    vstore8(vi, 0, v + i);
    vstore8(wi - lr * (nesterov ? gi + momentum * vi : vi), 0, w + i);
}
