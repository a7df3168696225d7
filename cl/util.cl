// Elementwise helpers used across the trainer: fill (initialising buffers and gradient slabs) and
// axpy (gradient accumulation). Kept trivial so they double as the runtime's end-to-end check.

__kernel void rn_fill_fwd(__global float *out, const int n, const float value)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    out[i] = value;
}

// y[i] += alpha * x[i]
__kernel void rn_axpy_fwd(__global float *y, __global const float *x, const int n, const float alpha)
{
    const int i = get_global_id(0);
    if (i >= n) return;
    y[i] += alpha * x[i];
}
