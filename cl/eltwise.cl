// ReLU and the residual join (add + ReLU), forward and backward, over flat buffers of n floats.
// Forward uses "x < 0 ? 0 : x" so a NaN passes through (as in PyTorch) and a diverging run is
// seen; backward masks with a select, so a masked-out NaN gradient becomes 0.

__kernel void rn_relu_fwd(__global float *y, __global const float *x, const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = x[i];
    y[i] = v < 0.0f ? 0.0f : v;
}

// dx = dy·[y > 0], y being the forward output.
__kernel void rn_relu_bwd(__global float *dx, __global const float *dy, __global const float *y,
                          const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

__kernel void rn_add_relu_fwd(__global float *y, __global const float *a, __global const float *b,
                              const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    const float v = a[i] + b[i];
    y[i] = v < 0.0f ? 0.0f : v;
}

// The gradient of both summands: the same mask as ReLU's. Kept as its own kernel so the join
// reads as one op in the model and in profiles.
__kernel void rn_add_relu_bwd(__global float *d, __global const float *dy, __global const float *y,
                              const int n)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    d[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
