// ReLU and the residual join (add + ReLU), forward and backward, over flat buffers of n floats,
// 8 consecutive values per work-item as a float8 (scalar compilers do not vectorise across
// work-items on their own). Forward keeps "x < 0 ? 0 : x" so a NaN passes through (as in PyTorch)
// and a diverging run is seen; backward masks with a select, so a masked-out NaN gradient becomes 0.

// x[0..n) as a float8, zero-filled past n (the last, short piece of the buffer).
static float8 rn_ew_load8(__global const float *x, int n)
{
    if (n >= 8) return vload8(0, x);
    float t[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    for (int k = 0; k < n; k++) t[k] = x[k];
    return vload8(0, t);
}

// Stores the first min(n, 8) lanes of v at y.
static void rn_ew_store8(float8 v, __global float *y, int n)
{
    if (n >= 8) {
        vstore8(v, 0, y);
        return;
    }
    float t[8];
    vstore8(v, 0, t);
    for (int k = 0; k < n; k++) y[k] = t[k];
}

static float8 rn_ew_relu8(float8 v)
{
    return select(v, (float8)0.0f, v < 0.0f);
}

// dy where y > 0, else 0.
static float8 rn_ew_mask8(float8 dy, float8 y)
{
    return select((float8)0.0f, dy, y > 0.0f);
}

__kernel void rn_relu_fwd(__global float *y, __global const float *x, const int n)
{
    const int i = get_global_id(0) * 8;
    if (i >= n) return;
    rn_ew_store8(rn_ew_relu8(rn_ew_load8(x + i, n - i)), y + i, n - i);
}

// dx = dy·[y > 0], y being the forward output.
__kernel void rn_relu_bwd(__global float *dx, __global const float *dy, __global const float *y,
                          const int n)
{
    const int i = get_global_id(0) * 8;
    if (i >= n) return;
    rn_ew_store8(rn_ew_mask8(rn_ew_load8(dy + i, n - i), rn_ew_load8(y + i, n - i)), dx + i, n - i);
}

__kernel void rn_add_relu_fwd(__global float *y, __global const float *a, __global const float *b,
                              const int n)
{
    const int i = get_global_id(0) * 8;
    if (i >= n) return;
    const float8 v = rn_ew_load8(a + i, n - i) + rn_ew_load8(b + i, n - i);
    rn_ew_store8(rn_ew_relu8(v), y + i, n - i);
}

// The gradient of both summands: the same mask as ReLU's. Kept as its own kernel so the join
// reads as one op in the model and in profiles.
__kernel void rn_add_relu_bwd(__global float *d, __global const float *dy, __global const float *y,
                              const int n)
{
    const int i = get_global_id(0) * 8;
    if (i >= n) return;
    rn_ew_store8(rn_ew_mask8(rn_ew_load8(dy + i, n - i), rn_ew_load8(y + i, n - i)), d + i, n - i);
}
