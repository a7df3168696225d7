// im2col / col2im for convolutions on CNHW activations, over a chunk of images [n0, n0+nc) of a
// batch of N. The column matrix is [Cin·kh·kw][nc·Ho·Wo] (row = (ci, ky, kx), column = (n, oy,
// ox)), so conv forward is one GEMM W·col. col2im is a gather (each input element sums the taps
// that read it), so no atomics are needed and results are deterministic.

// col[(ci·kh + ky)·kw + kx][(nl·Ho + oy)·Wo + ox] = x[ci][n0 + nl][oy·s − ph + ky][ox·s − pw + kx]
// or 0 outside the image (ph, pw: the padding above and to the left; Ho, Wo imply the rest)
// One work-item per (row, image, output row) writes Wo contiguous columns: the index arithmetic
// (divisions are slow on CPUs) is paid once per output row instead of once per element.
__kernel void rn_im2col_fwd(__global float *col, __global const float *x, const int Cin,
                            const int N, const int n0, const int nc, const int H, const int W,
                            const int kh, const int kw, const int stride, const int pad_h,
                            const int pad_w, const int Ho, const int Wo)
{
    const int total = Cin * kh * kw * nc * Ho;
    const int i = get_global_id(0);
    if (i >= total) return;
    const int oy = i % Ho;
    const int t = i / Ho;
    const int nl = t % nc;
    const int row = t / nc;
    const int kx = row % kw;
    const int ky = (row / kw) % kh;
    const int ci = row / (kw * kh);
    const int iy = oy * stride - pad_h + ky;
    __global float *out = col + (size_t)row * nc * Ho * Wo + ((size_t)nl * Ho + oy) * Wo;
    if (iy < 0 || iy >= H) {
        for (int ox = 0; ox < Wo; ox++) out[ox] = 0.0f;
        return;
    }
    __global const float *in = x + (((size_t)ci * N + n0 + nl) * H + iy) * W;
    for (int ox = 0; ox < Wo; ox++) {
        const int ix = ox * stride - pad_w + kx;
        out[ox] = (ix >= 0 && ix < W) ? in[ix] : 0.0f;
    }
}

// dx[ci][n0 + nl][iy][ix] (=|+=) Σ over taps (ky, kx) with iy = oy·s − ph + ky, ix = ox·s − pw + kx
// of dcol[(ci·kh + ky)·kw + kx][(nl·Ho + oy)·Wo + ox]. accumulate: 0 overwrite, 1 add to dx.
// The taps are found from the ranges of oy and ox that reach this element (no division per tap)
// and added in order of ascending ky, then kx.
__kernel void rn_col2im_bwd(__global float *dx, __global const float *dcol, const int Cin,
                            const int N, const int n0, const int nc, const int H, const int W,
                            const int kh, const int kw, const int stride, const int pad_h,
                            const int pad_w, const int Ho, const int Wo, const int accumulate)
{
    const int total = Cin * nc * H * W;
    const int i = get_global_id(0);
    if (i >= total) return;
    const int t = i / W;
    const int ix = i - t * W;
    const int t2 = t / H;
    const int iy = t - t2 * H;
    const int ci = t2 / nc;
    const int nl = t2 - ci * nc;
    const int ncols = nc * Ho * Wo;
    // ky = ty − oy·s must lie in [0, kh) and oy in [0, Ho); likewise kx, ox.
    const int ty = iy + pad_h, tx = ix + pad_w;
    const int oy_lo = ty >= kh ? (ty - kh + stride) / stride : 0;
    const int oy_hi = min(Ho - 1, ty / stride);
    const int ox_lo = tx >= kw ? (tx - kw + stride) / stride : 0;
    const int ox_hi = min(Wo - 1, tx / stride);
    float sum = 0.0f;
    for (int oy = oy_hi; oy >= oy_lo; oy--) {
        const int ky = ty - oy * stride;
        __global const float *d =
            dcol + (size_t)(ci * kh + ky) * kw * ncols + ((size_t)nl * Ho + oy) * Wo;
        for (int ox = ox_hi; ox >= ox_lo; ox--) sum += d[(size_t)(tx - ox * stride) * ncols + ox];
    }
    const size_t o = (((size_t)ci * N + n0 + nl) * H + iy) * W + ix;
    dx[o] = accumulate ? dx[o] + sum : sum;
}

// Stride 1 on rows of W = Wo = 8 or 4 (the 3×3 convs at 8×8 and 4×4; kw ≤ W): the same columns and
// sums with each image row in one float8/float4, im2col one work-item per (channel, run of images)
// for all their taps (per (tap, image), rows of 4 left a work-item 16 values, and the per-item cost
// showed: 1.4x as long in a PoCL step). PoCL does not vectorise the per-element loops above across
// work-items. A tap's row is the image row shifted by kx − pw with zeros where it leaves the image
// (rn_shift8/4). col2im adds the taps in the same order (ky, then kx, ascending) and adds 0.0f for
// the taps that miss the element, which leaves each sum bit for bit (a sum is never −0).

// Lane j of the result is lane j + s of v, 0 where that lies outside v (|s| ≤ the width). Shifts
// by one or two lanes, all a 3×3 conv's rows and the stem's (rn_im2col_s2row32_fwd) need, are
// shuffles with constant lanes. Others go through a private buffer (zeros, v, zeros), whose
// misaligned reload of a fresh store defeats the CPU's store forwarding: on PoCL the 3×3 row
// kernels ran about twice as long that way.
#define RN_SHIFT(V, floatV, vloadV, vstoreV, LEFT1, RIGHT1, LEFT2, RIGHT2)                         \
    static floatV rn_shift##V(floatV v, int s)                                                     \
    {                                                                                              \
        switch (s) {                                                                               \
        case 0: return v;                                                                          \
        case 1: return LEFT1;                                                                      \
        case -1: return RIGHT1;                                                                    \
        case 2: return LEFT2;                                                                      \
        case -2: return RIGHT2;                                                                    \
        }                                                                                          \
        float buf[3 * V];                                                                          \
        vstoreV((floatV)(0.0f), 0, buf);                                                           \
        vstoreV(v, 1, buf);                                                                        \
        vstoreV((floatV)(0.0f), 2, buf);                                                           \
        return vloadV(0, buf + V + s);                                                             \
    }

RN_SHIFT(2, float2, vload2, vstore2, ((float2)(v.y, 0.0f)), ((float2)(0.0f, v.x)), ((float2)(0.0f)),
         ((float2)(0.0f)))
RN_SHIFT(4, float4, vload4, vstore4, ((float4)(v.s123, 0.0f)), ((float4)(0.0f, v.s012)),
         ((float4)(v.s23, 0.0f, 0.0f)), ((float4)(0.0f, 0.0f, v.s01)))
RN_SHIFT(8, float8, vload8, vstore8, ((float8)(v.s1234, v.s567, 0.0f)),
         ((float8)(0.0f, v.s012, v.s3456)), ((float8)(v.s2345, v.s67, 0.0f, 0.0f)),
         ((float8)(0.0f, 0.0f, v.s01, v.s2345)))
RN_SHIFT(16, float16, vload16, vstore16, ((float16)(v.s1234, v.s5678, v.s9abc, v.sdef, 0.0f)),
         ((float16)(0.0f, v.s012, v.s3456, v.s789a, v.sbcde)),
         ((float16)(v.s2345, v.s6789, v.sabcd, v.sef, 0.0f, 0.0f)),
         ((float16)(0.0f, 0.0f, v.s01, v.s2345, v.s6789, v.sabcd)))

// The kernels on whole rows and the projections' pair take a run of `run` images of one channel
// per work-item (conv.c's channel_runs): on a CPU the whole chunk, so that one work-item per
// channel walks its images front to back, elsewhere one image. On 2 cores the projections' pair
// ran 1.0-8.7x as fast as with one work-item per image (whose 1-16 values did not pay for a
// work-item), the row kernels 0.9-2x. The run of work-item i: images [*a, *b) of channel *ci;
// false past the last run.
static bool rn_image_run(int Cin, int nc, int run, int *ci, int *a, int *b)
{
    const int runs = (nc + run - 1) / run, i = get_global_id(0);
    if (i >= Cin * runs) return false;
    *ci = i / runs;
    *a = i % runs * run;
    *b = min(nc, *a + run);
    return true;
}

// im2col from whole rows of V values at stride S, one work-item per (channel, run of images) for
// all their taps: output row oy of tap (ky, kx) is PICK of image row S·oy − ph + ky (r, zeros
// outside the image) with s = kx − pw, one vector of O values. For ResNet's 3×3 with padding 1 the
// three kx are written out, so that s is a constant and the shifts in PICK are fixed shuffles: with
// s known only at run time each row went through a switch, and the kernels took about twice as long
// on PoCL and Intel's runtime (layer2's 3×3/2).
#define RN_IM2COL_TAP(S, V, floatV, vloadV, O, vstoreO, PICK, KX, SHIFT)                           \
    {                                                                                              \
        const size_t row = (size_t)(ci * kh + ky) * kw + (KX);                                     \
        __global float *out = col + (row * nc + nl) * Ho * O;                                      \
        const int s = (SHIFT);                                                                     \
        for (int oy = 0; oy < Ho; oy++) {                                                          \
            const int iy = S * oy - pad_h + ky;                                                    \
            const floatV r = iy >= 0 && iy < H ? vloadV(iy, in) : (floatV)(0.0f);                  \
            vstoreO(PICK, oy, out);                                                                \
        }                                                                                          \
    }
#define RN_IM2COL_ROWS(NAME, S, V, floatV, vloadV, O, vstoreO, PICK)                               \
    __kernel void NAME(__global float *col, __global const float *x, const int Cin, const int N,   \
                       const int n0, const int nc, const int H, const int W, const int kh,         \
                       const int kw, const int stride, const int pad_h, const int pad_w,           \
                       const int Ho, const int Wo, const int run)                                  \
    {                                                                                              \
        int ci, a, b;                                                                              \
        if (!rn_image_run(Cin, nc, run, &ci, &a, &b)) return;                                      \
        for (int nl = a; nl < b; nl++) {                                                           \
            __global const float *in = x + ((size_t)ci * N + n0 + nl) * H * V;                     \
            for (int ky = 0; ky < kh; ky++) {                                                      \
                if (kw == 3 && pad_w == 1) {                                                       \
                    RN_IM2COL_TAP(S, V, floatV, vloadV, O, vstoreO, PICK, 0, -1)                   \
                    RN_IM2COL_TAP(S, V, floatV, vloadV, O, vstoreO, PICK, 1, 0)                    \
                    RN_IM2COL_TAP(S, V, floatV, vloadV, O, vstoreO, PICK, 2, 1)                    \
                } else {                                                                           \
                    for (int kx = 0; kx < kw; kx++)                                                \
                        RN_IM2COL_TAP(S, V, floatV, vloadV, O, vstoreO, PICK, kx, kx - pad_w)      \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

#define RN_IM2COL_ROW(V, floatV, vloadV, vstoreV)                                                  \
    RN_IM2COL_ROWS(rn_im2col_row##V##_fwd, 1, V, floatV, vloadV, V, vstoreV, rn_shift##V(r, s))    \
                                                                                                   \
    __kernel void rn_col2im_row##V##_bwd(                                                          \
        __global float *dx, __global const float *dcol, const int Cin, const int N, const int n0,  \
        const int nc, const int H, const int W, const int kh, const int kw, const int stride,      \
        const int pad_h, const int pad_w, const int Ho, const int Wo, const int accumulate,        \
        const int run)                                                                             \
    {                                                                                              \
        int ci, a, b;                                                                              \
        if (!rn_image_run(Cin, nc, run, &ci, &a, &b)) return;                                      \
        const size_t ncols = (size_t)nc * Ho * V;                                                  \
        for (int nl = a; nl < b; nl++) {                                                           \
            for (int iy = 0; iy < H; iy++) {                                                       \
                floatV sum = (floatV)(0.0f);                                                       \
                for (int ky = 0; ky < kh; ky++) {                                                  \
                    const int oy = iy + pad_h - ky;                                                \
                    if (oy < 0 || oy >= Ho) continue;                                              \
                    __global const float *d = dcol + (size_t)(ci * kh + ky) * kw * ncols +         \
                                              ((size_t)nl * Ho + oy) * V;                          \
                    if (kw == 3 && pad_w == 1) { /* constant shifts (im2col) */                    \
                        sum += rn_shift##V(vloadV(0, d), 1);                                       \
                        sum += vloadV(0, d + ncols);                                               \
                        sum += rn_shift##V(vloadV(0, d + 2 * ncols), -1);                          \
                    } else {                                                                       \
                        for (int kx = 0; kx < kw; kx++)                                            \
                            sum += rn_shift##V(vloadV(0, d + kx * ncols), pad_w - kx);             \
                    }                                                                              \
                }                                                                                  \
                __global float *o = dx + (((size_t)ci * N + n0 + nl) * H + iy) * V;                \
                vstoreV(accumulate ? vloadV(0, o) + sum : sum, 0, o);                              \
            }                                                                                      \
        }                                                                                          \
    }

RN_IM2COL_ROW(8, float8, vload8, vstore8)
RN_IM2COL_ROW(4, float4, vload4, vstore4)

// Small images, any stride (the stride-2 convs of layer2-4): one work-item per
// (channel, image) handles every tap. The window reads cover Ho'·Wo' = ((Ho−1)·s + kh)·((Wo−1)·s
// + kw) positions from (−ph, −pw); the host takes these kernels only when that is at most
// RN_IMG_MAX (conv.c's IMG_MAX). The per-element loops above pay their index arithmetic for 2-4
// columns here. im2col copies the image into a private buffer of those positions, zeros outside
// the image, and reads each tap's columns from it; col2im adds each tap's columns into such a
// buffer in ascending (ky, kx), the order of rn_col2im_bwd, so its sums are the same bit for bit.
#define RN_IMG_MAX 100

__kernel void rn_im2col_img_fwd(__global float *col, __global const float *x, const int Cin,
                                const int N, const int n0, const int nc, const int H, const int W,
                                const int kh, const int kw, const int stride, const int pad_h,
                                const int pad_w, const int Ho, const int Wo)
{
    const int i = get_global_id(0);
    if (i >= Cin * nc) return;
    const int nl = i % nc, ci = i / nc;
    const int PH = (Ho - 1) * stride + kh, PW = (Wo - 1) * stride + kw, HW = Ho * Wo;
    __global const float *in = x + ((size_t)ci * N + n0 + nl) * H * W;
    float buf[RN_IMG_MAX];
    for (int py = 0; py < PH; py++) {
        const int iy = py - pad_h;
        for (int px = 0; px < PW; px++) {
            const int ix = px - pad_w;
            buf[py * PW + px] = iy >= 0 && iy < H && ix >= 0 && ix < W ? in[iy * W + ix] : 0.0f;
        }
    }
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            __global float *out = col + ((size_t)((ci * kh + ky) * kw + kx) * nc + nl) * HW;
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++)
                    out[oy * Wo + ox] = buf[(oy * stride + ky) * PW + ox * stride + kx];
        }
}

__kernel void rn_col2im_img_bwd(__global float *dx, __global const float *dcol, const int Cin,
                                const int N, const int n0, const int nc, const int H, const int W,
                                const int kh, const int kw, const int stride, const int pad_h,
                                const int pad_w, const int Ho, const int Wo, const int accumulate)
{
    const int i = get_global_id(0);
    if (i >= Cin * nc) return;
    const int nl = i % nc, ci = i / nc;
    const int PH = (Ho - 1) * stride + kh, PW = (Wo - 1) * stride + kw, HW = Ho * Wo;
    float buf[RN_IMG_MAX];
    for (int p = 0; p < PH * PW; p++) buf[p] = 0.0f;
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            __global const float *d = dcol + ((size_t)((ci * kh + ky) * kw + kx) * nc + nl) * HW;
            for (int oy = 0; oy < Ho; oy++)
                for (int ox = 0; ox < Wo; ox++)
                    buf[(oy * stride + ky) * PW + ox * stride + kx] += d[oy * Wo + ox];
        }
    // input rows and columns past the last window's reach take no tap: their gradient is 0
    __global float *o = dx + ((size_t)ci * N + n0 + nl) * H * W;
    for (int iy = 0; iy < H; iy++)
        for (int ix = 0; ix < W; ix++) {
            const int py = iy + pad_h, px = ix + pad_w;
            const float v = py < PH && px < PW ? buf[py * PW + px] : 0.0f;
            o[iy * W + ix] = accumulate ? o[iy * W + ix] + v : v;
        }
}

// Stride 2 on rows of W = 32 to Wo = 16 (the stem's 7×7/2): one work-item per (tap, image) for all
// rows. Column ox of a tap reads image column 2·ox + s, s = kx − pw: for even s = 2t that is lane
// ox + t of the row's even columns, for odd s = 2t + 1 lane ox + t of its odd columns, so each
// output row is one float16 shifted by t (zeros where the tap leaves the image: rn_shift16).
__kernel void rn_im2col_s2row32_fwd(__global float *col, __global const float *x, const int Cin,
                                    const int N, const int n0, const int nc, const int H,
                                    const int W, const int kh, const int kw, const int stride,
                                    const int pad_h, const int pad_w, const int Ho, const int Wo)
{
    const int i = get_global_id(0);
    if (i >= Cin * kh * kw * nc) return;
    const int nl = i % nc, row = i / nc;
    const int kx = row % kw, ky = (row / kw) % kh, ci = row / (kw * kh);
    __global float *out = col + ((size_t)row * nc + nl) * Ho * 16;
    __global const float *in = x + ((size_t)ci * N + n0 + nl) * H * 32;
    const int s = kx - pad_w, t = (s - (s & 1)) / 2; // floor(s / 2), also for negative s
    for (int oy = 0; oy < Ho; oy++) {
        const int iy = 2 * oy - pad_h + ky;
        float16 r = (float16)(0.0f);
        if (iy >= 0 && iy < H) {
            const float16 lo = vload16(0, in + iy * 32), hi = vload16(1, in + iy * 32);
            r = s & 1 ? (float16)(lo.odd, hi.odd) : (float16)(lo.even, hi.even);
        }
        vstore16(rn_shift16(r, t), oy, out);
    }
}

// The same for rows of 8 to 4 and of 4 to 2 (the 3×3/2 convs of layer2 and layer3): one vector
// per image row, its even or odd lanes shifted by t; one work-item per (channel, run of images),
// as the stride-1 row kernels.
#define RN_IM2COL_S2ROW(V, floatV, vloadV, O, vstoreO)                                             \
    RN_IM2COL_ROWS(rn_im2col_s2row##V##_fwd, 2, V, floatV, vloadV, O, vstoreO,                     \
                   rn_shift##O(s & 1 ? r.odd : r.even, (s - (s & 1)) / 2))

RN_IM2COL_S2ROW(8, float8, vload8, 4, vstore4)
RN_IM2COL_S2ROW(4, float4, vload4, 2, vstore2)

// Their col2im, one work-item per (channel, run of images): lane ix of an input row takes column
// ox = ix/2 − t of tap (ky, kx) when ix has the parity of s = kx − pw (t = floor(s/2)), so a tap's
// output row, shifted by −t, fills the even or the odd lanes. Taps are added in ascending (ky, kx)
// and add 0.0f where they miss, as rn_col2im_row8_bwd does: the sums of rn_col2im_bwd, bit for bit.
// Tap KX (s = SHIFT = KX − pw) of one output row at d: its values at the even or odd lanes.
#define RN_S2TAP(floatV, O, floatO, vloadO, EVEN, ODD, KX, SHIFT)                                  \
    {                                                                                              \
        const int s = (SHIFT), t = (s - (s & 1)) / 2;                                              \
        const floatO e = rn_shift##O(vloadO(0, d + (KX) * ncols), -t);                             \
        sum += s & 1 ? (floatV)ODD : (floatV)EVEN;                                                 \
    }
#define RN_COL2IM_S2ROW(V, floatV, vloadV, vstoreV, O, floatO, vloadO, EVEN, ODD)                  \
    __kernel void rn_col2im_s2row##V##_bwd(                                                        \
        __global float *dx, __global const float *dcol, const int Cin, const int N, const int n0,  \
        const int nc, const int H, const int W, const int kh, const int kw, const int stride,      \
        const int pad_h, const int pad_w, const int Ho, const int Wo, const int accumulate,        \
        const int run)                                                                             \
    {                                                                                              \
        int ci, a, b;                                                                              \
        if (!rn_image_run(Cin, nc, run, &ci, &a, &b)) return;                                      \
        const size_t ncols = (size_t)nc * Ho * O;                                                  \
        for (int nl = a; nl < b; nl++) {                                                           \
            for (int iy = 0; iy < H; iy++) {                                                       \
                floatV sum = (floatV)(0.0f);                                                       \
                for (int ky = 0; ky < kh; ky++) {                                                  \
                    const int ty = iy + pad_h - ky;                                                \
                    if (ty < 0 || ty % 2 || ty / 2 >= Ho) continue;                                \
                    __global const float *d = dcol + (size_t)(ci * kh + ky) * kw * ncols +         \
                                              ((size_t)nl * Ho + ty / 2) * O;                      \
                    if (kw == 3 && pad_w == 1) { /* constant shifts (im2col) */                    \
                        RN_S2TAP(floatV, O, floatO, vloadO, EVEN, ODD, 0, -1)                      \
                        RN_S2TAP(floatV, O, floatO, vloadO, EVEN, ODD, 1, 0)                       \
                        RN_S2TAP(floatV, O, floatO, vloadO, EVEN, ODD, 2, 1)                       \
                    } else {                                                                       \
                        for (int kx = 0; kx < kw; kx++)                                            \
                            RN_S2TAP(floatV, O, floatO, vloadO, EVEN, ODD, kx, kx - pad_w)         \
                    }                                                                              \
                }                                                                                  \
                __global float *o = dx + (((size_t)ci * N + n0 + nl) * H + iy) * V;                \
                vstoreV(accumulate ? vloadV(0, o) + sum : sum, 0, o);                              \
            }                                                                                      \
        }                                                                                          \
    }

RN_COL2IM_S2ROW(8, float8, vload8, vstore8, 4, float4, vload4,
                (e.x, 0.0f, e.y, 0.0f, e.z, 0.0f, e.w, 0.0f),
                (0.0f, e.x, 0.0f, e.y, 0.0f, e.z, 0.0f, e.w))
RN_COL2IM_S2ROW(4, float4, vload4, vstore4, 2, float2, vload2, (e.x, 0.0f, e.y, 0.0f),
                (0.0f, e.x, 0.0f, e.y))

// A 1×1 conv at stride 2 without padding (ResNet50's projections into layer2-4): its columns are
// the image's even rows and columns. One work-item per (channel, run of images; rn_image_run):
// rows of 8 and 4 as one vector whose even lanes are the columns, 4×4 images as one vector each,
// 2×2 four at a time. col2im writes what rn_col2im_bwd sums: 0.0f plus the one tap (so a −0
// gradient becomes +0 as there), zeros at odd positions.

// One image's columns (out) from its values (in).
static void rn_pt2_image_fwd(__global float *out, __global const float *in, int W, int Ho, int Wo)
{
    for (int oy = 0; oy < Ho; oy++) {
        __global const float *row = in + 2 * oy * W;
        if (W == 8) vstore4(vload8(0, row).even, oy, out);
        else if (W == 4) vstore2(vload4(0, row).even, oy, out);
        else
            for (int ox = 0; ox < Wo; ox++) out[oy * Wo + ox] = row[2 * ox];
    }
}

__kernel void rn_im2col_pt2_fwd(__global float *col, __global const float *x, const int Cin,
                                const int N, const int n0, const int nc, const int H, const int W,
                                const int kh, const int kw, const int stride, const int pad_h,
                                const int pad_w, const int Ho, const int Wo, const int run)
{
    int ci, nl, b;
    if (!rn_image_run(Cin, nc, run, &ci, &nl, &b)) return;
    __global const float *in = x + ((size_t)ci * N + n0) * H * W;
    __global float *out = col + (size_t)ci * nc * Ho * Wo;
    if (H == 2 && W == 2) // four images' 16 values hold their 4 columns
        for (; nl + 4 <= b; nl += 4) vstore4(vload16(0, in + nl * 4).s048c, 0, out + nl);
    else if (H == 4 && W == 4)
        for (; nl < b; nl++) vstore4(vload16(nl, in).s028a, nl, out);
    for (; nl < b; nl++) rn_pt2_image_fwd(out + nl * Ho * Wo, in + nl * H * W, W, Ho, Wo);
}

// One image's dx (o) from its columns (d).
static void rn_pt2_image_bwd(__global float *o, __global const float *d, int H, int W, int Ho,
                             int Wo, int accumulate)
{
    for (int iy = 0; iy < H; iy++, o += W) {
        const int tap = iy % 2 == 0 && iy / 2 < Ho; // row iy / 2 of the columns reads this row
        if (W == 8) {
            const float4 t = tap ? 0.0f + vload4(iy / 2, d) : 0.0f;
            const float8 v = (float8)(t.x, 0.0f, t.y, 0.0f, t.z, 0.0f, t.w, 0.0f);
            vstore8(accumulate ? vload8(0, o) + v : v, 0, o);
        } else if (W == 4) {
            const float2 t = tap ? 0.0f + vload2(iy / 2, d) : 0.0f;
            const float4 v = (float4)(t.x, 0.0f, t.y, 0.0f);
            vstore4(accumulate ? vload4(0, o) + v : v, 0, o);
        } else {
            for (int ix = 0; ix < W; ix++) {
                const float v =
                    tap && ix % 2 == 0 && ix / 2 < Wo ? 0.0f + d[iy / 2 * Wo + ix / 2] : 0.0f;
                o[ix] = accumulate ? o[ix] + v : v;
            }
        }
    }
}

__kernel void rn_col2im_pt2_bwd(__global float *dx, __global const float *dcol, const int Cin,
                                const int N, const int n0, const int nc, const int H, const int W,
                                const int kh, const int kw, const int stride, const int pad_h,
                                const int pad_w, const int Ho, const int Wo, const int accumulate,
                                const int run)
{
    int ci, nl, b;
    if (!rn_image_run(Cin, nc, run, &ci, &nl, &b)) return;
    __global float *o = dx + ((size_t)ci * N + n0) * H * W;
    __global const float *d = dcol + (size_t)ci * nc * Ho * Wo;
    if (H == 2 && W == 2)
        for (; nl + 4 <= b; nl += 4) {
            const float4 t = 0.0f + vload4(0, d + nl);
            const float16 v = (float16)(t.x, 0.0f, 0.0f, 0.0f, t.y, 0.0f, 0.0f, 0.0f, t.z, 0.0f,
                                        0.0f, 0.0f, t.w, 0.0f, 0.0f, 0.0f);
            vstore16(accumulate ? vload16(0, o + nl * 4) + v : v, 0, o + nl * 4);
        }
    else if (H == 4 && W == 4)
        for (; nl < b; nl++) {
            const float4 t = 0.0f + vload4(nl, d);
            const float16 v = (float16)(t.x, 0.0f, t.y, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, t.z, 0.0f,
                                        t.w, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f);
            vstore16(accumulate ? vload16(nl, o) + v : v, nl, o);
        }
    for (; nl < b; nl++)
        rn_pt2_image_bwd(o + nl * H * W, d + nl * Ho * Wo, H, W, Ho, Wo, accumulate);
}
