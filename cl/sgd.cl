// One SGD step over a whole parameter slab (PyTorch's torch.optim.SGD with dampening 0):
// g' = g + wd·w; v = μ·v + g'; w −= lr·v, or with Nesterov w −= lr·(g' + μ·v).

__kernel void rn_sgd_fwd(__global float *w, __global float *v, __global const float *g,
                         const int n, const float lr, const float momentum,
                         const float weight_decay, const int nesterov)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float wi = w[i];
    const float gi = g[i] + weight_decay * wi;
    // Momentum 0 never reads v (PyTorch keeps no buffer then), so an unset v cannot leak in.
    const float vi = momentum != 0.0f ? momentum * v[i] + gi : gi;
    v[i] = vi;
    w[i] = wi - lr * (nesterov ? gi + momentum * vi : vi);
}
