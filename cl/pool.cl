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

// The stem's pool (3×3, stride 2, one pixel of padding above and to the left: PyTorch's
// padding=1) on rows of W = 2·Wo with Wo a multiple of 8, eight outputs per work-item in float8
// lanes: PoCL does not vectorise rn_maxpool_fwd/_bwd's window loops across work-items, and
// explicit vectors make the same choices and sums in the same window order.
inline void maxpool_take(float8 *best, int8 *arg, const float8 v, const int8 at, const int8 in)
{
    const int8 take = in & ((*arg < 0) | (v > *best) | isnan(v));
    *best = select(*best, v, take);
    *arg = select(*arg, at, take);
}

// One work-item per 8 outputs of one row (rows = planes·Ho); columns 16c−1 … 16c+15 of the
// three input rows are the windows' taps: the odd column before, the even, the odd.
__kernel void rn_maxpool3s2_fwd(__global float *y, __global int *argmax, __global const float *x,
                                const int rows, const int H, const int W, const int Ho)
{
    const int chunks = W / 16, g = get_global_id(0);
    if (g >= rows * chunks) return;
    const int row = g / chunks, c = g - row * chunks;
    const int plane = row / Ho, oh = row - plane * Ho;
    __global const float *xp = x + (size_t)plane * H * W;
    const int8 mid = 16 * c + 2 * (int8)(0, 1, 2, 3, 4, 5, 6, 7);
    const int8 left_in = c > 0 ? (int8)(-1) : (int8)(0, -1, -1, -1, -1, -1, -1, -1);
    float8 best = (float8)(-INFINITY);
    int8 arg = (int8)(-1);
    for (int kh = 0; kh < 3; kh++) {
        const int ih = 2 * oh - 1 + kh;
        if (ih < 0 || ih >= H) continue;
        __global const float *xr = xp + ih * W + 16 * c;
        const float16 v = vload16(0, xr);
        const float8 odd = v.odd;
        const float8 left = (float8)(c > 0 ? xr[-1] : -INFINITY, odd.s012, odd.s3456);
        maxpool_take(&best, &arg, left, ih * W + mid - 1, left_in);
        maxpool_take(&best, &arg, v.even, ih * W + mid, (int8)(-1));
        maxpool_take(&best, &arg, odd, ih * W + mid + 1, (int8)(-1));
    }
    vstore8(best, 0, y + (size_t)row * (W / 2) + 8 * c);
    vstore8(arg, 0, argmax + (size_t)row * (W / 2) + 8 * c);
}

// One work-item per 16 inputs of one row (rows = planes·H): an even column 2m is in window m
// only, an odd one 2m+1 in windows m and m+1; an even row likewise in one window row, an odd
// one in two. Windows are visited row by row, left to right, as in rn_maxpool_bwd; adding 0.0f
// for the windows whose argmax is elsewhere leaves each sum bit for bit (a sum is never −0).
__kernel void rn_maxpool3s2_bwd(__global float *dx, __global const float *dy,
                                __global const int *argmax, const int rows, const int H,
                                const int W, const int Ho)
{
    const int chunks = W / 16, Wo = W / 2, g = get_global_id(0);
    if (g >= rows * chunks) return;
    const int row = g / chunks, c = g - row * chunks;
    const int plane = row / H, ih = row - plane * H;
    const int8 r_even = ih * W + 16 * c + 2 * (int8)(0, 1, 2, 3, 4, 5, 6, 7), r_odd = r_even + 1;
    float8 s_even = 0.0f, s_odd = 0.0f;
    for (int oh = ih / 2; oh <= min(Ho - 1, (ih + 1) / 2); oh++) {
        const size_t o = ((size_t)plane * Ho + oh) * Wo + 8 * c;
        const int8 a = vload8(0, argmax + o);
        const float8 d = vload8(0, dy + o);
        const int more = c + 1 < chunks;
        const int8 a_next = (int8)(a.s123, a.s4567, more ? argmax[o + 8] : -1);
        const float8 d_next = (float8)(d.s123, d.s4567, more ? dy[o + 8] : 0.0f);
        s_even += select((float8)(0.0f), d, a == r_even);
        s_odd += select((float8)(0.0f), d, a == r_odd);
        s_odd += select((float8)(0.0f), d_next, a_next == r_odd);
    }
    const uint16 interleave = (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    vstore16(shuffle2(s_even, s_odd, interleave), 0, dx + (size_t)row * W + 16 * c);
}
