// Max-pool and global average pool over CNHW activations ([C][N][H][W]: one (c, n) plane is
// H·W contiguous floats). Both backward passes gather (one work-item per input element) so no
// float atomics are needed and the sums have a fixed order.

// One work-item per output element. Padding is −inf in effect: only in-image elements are
// candidates, the first one always taken, later ones only if strictly greater (first maximum in
// row-major window order wins ties) or NaN (NaN propagates, as in PyTorch). argmax is the index
// within the (c, n) plane; a window with no in-image element (impossible when pad < k) gets −1
// and −inf. pad_h, pad_w: the padding above and to the left (Ho, Wo imply the rest).
__kernel void rn_maxpool_fwd(__global float *y, __global int *argmax, __global const float *x,
                             const int planes, const int H, const int W, const int Ho, const int Wo,
                             const int k, const int stride, const int pad_h, const int pad_w)
{
    const int o = get_global_id(0);
    if (o >= planes * Ho * Wo) return;
    const int plane = o / (Ho * Wo);
    const int r = o - plane * (Ho * Wo);
    const int oh = r / Wo, ow = r - (r / Wo) * Wo;
    __global const float *xp = x + (size_t)plane * H * W;
    const int h0 = oh * stride - pad_h, w0 = ow * stride - pad_w;
    float best = -INFINITY;
    int arg = -1;
    for (int kh = 0; kh < k; kh++) {
        const int ih = h0 + kh;
        if (ih < 0 || ih >= H) continue;
        for (int kw = 0; kw < k; kw++) {
            const int iw = w0 + kw;
            if (iw < 0 || iw >= W) continue;
            const float v = xp[ih * W + iw];
            if (arg < 0 || v > best || isnan(v)) {
                best = v;
                arg = ih * W + iw;
            }
        }
    }
    y[o] = best;
    argmax[o] = arg;
}

// One work-item per input element: the sum of dy over every output window whose argmax is this
// element, visiting windows in row-major order.
__kernel void rn_maxpool_bwd(__global float *dx, __global const float *dy,
                             __global const int *argmax, const int planes, const int H, const int W,
                             const int Ho, const int Wo, const int k, const int stride,
                             const int pad_h, const int pad_w)
{
    const int i = get_global_id(0);
    if (i >= planes * H * W) return;
    const int plane = i / (H * W);
    const int r = i - plane * (H * W);
    const int ih = r / W, iw = r - (r / W) * W;
    // Windows oh with oh·stride − pad_h ≤ ih ≤ oh·stride − pad_h + k − 1, likewise ow. The
    // +stride·k keeps the dividend non-negative so integer division is a floor.
    const int big = stride * k;
    const int oh_lo = max(0, (ih + pad_h - k + 1 + stride - 1 + big) / stride - k);
    const int oh_hi = min(Ho - 1, (ih + pad_h) / stride);
    const int ow_lo = max(0, (iw + pad_w - k + 1 + stride - 1 + big) / stride - k);
    const int ow_hi = min(Wo - 1, (iw + pad_w) / stride);
    const size_t ob = (size_t)plane * Ho * Wo;
    float s = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; oh++)
        for (int ow = ow_lo; ow <= ow_hi; ow++) {
            const size_t o = ob + oh * Wo + ow;
            if (argmax[o] == r) s += dy[o];
        }
    dx[i] = s;
}

// y[p] = mean of plane p (HW floats); one work-item per plane (HW is small before the classifier).
__kernel void rn_avgpool_fwd(__global float *y, __global const float *x, const int planes,
                             const int HW)
{
    const int p = get_global_id(0);
    if (p >= planes) return;
    __global const float *xp = x + (size_t)p * HW;
    float s = 0.0f;
    for (int i = 0; i < HW; i++) s += xp[i];
    y[p] = s / (float)HW;
}

// dx[p][i] = dy[p] / HW, one work-item per input element.
__kernel void rn_avgpool_bwd(__global float *dx, __global const float *dy, const int planes,
                             const int HW)
{
    const int i = get_global_id(0);
    if (i >= planes * HW) return;
    dx[i] = dy[i / HW] / (float)HW;
}
