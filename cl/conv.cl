// Convolution kernels besides im2col's (host/ops/conv.c), most of them for a conv run as one
// dense GEMM: when every output position reads every input position through some tap (3×3 pad 1
// on a 1×1 or 2×2 image), the conv of an image is a dense (Cout·Q) × (Cin·P) matrix on its
// P = H·W inputs, Q = Ho·Wo outputs, and no tap multiplies padding. Every element is written by
// one work-item; no atomics.

// (co, ci) pairs taken together (conv.c's DENSE_PAIRS): per work-item of rn_conv_dense_fwd,
// the GPU form (at 1×1 and 2×2 a pair is a few values), and per run of rn_conv_dense_co_bwd.
#define RN_DENSE_PAIRS 8
// At most this many taps (7×7): rn_conv_dense_co_bwd keeps a run's sums in private memory.
#define RN_DENSE_TAPS 49

// The geometry arguments of every dense kernel (conv.c's dense_args).
#define RN_DENSE_GEOMETRY                                                                          \
    const int Cout, const int Cin, const int H, const int W, const int Ho, const int Wo,           \
        const int kh, const int kw, const int stride, const int pad_h, const int pad_w

// Where row q of pair (co, ci) starts in the dense matrix [Cout·Q][Cin·P] (one row of P inputs).
static size_t rn_dense_row(int co, int ci, int q, int Q, int Cin, int P)
{
    return (((size_t)co * Q + q) * Cin + ci) * P;
}

// The tap (ky·kw + kx) through which output (oy, ox) reads input (0, 0); input (iy, ix) is
// read through tap t0 + iy·kw + ix.
static int rn_dense_t0(int oy, int ox, int stride, int kw, int pad_h, int pad_w)
{
    return (pad_h - oy * stride) * kw + pad_w - ox * stride;
}

// wd[off + ((co·Q + q)·Cin + ci)·P + p] = w[co][ci][ky][kx], the tap through which output
// q = (oy, ox) reads input p = (iy, ix): ky = iy − oy·s + ph, kx = ix − ox·s + pw (inside the
// kernel for every pair, the condition for using this form). Each (co, ci) pair spreads its
// taps over the Q rows of the matrix: no per-element divisions, which CPUs pay dearly for.
// A work-item's RN_DENSE_PAIRS pairs: when they share co (Cin a multiple of RN_DENSE_PAIRS, as
// in ResNet50), row q of all of them is one run of RN_DENSE_PAIRS·P values, written in order
// (1.2-1.7× as fast on PoCL as pair by pair, whose writes jumped between rows); else pair by pair.
__kernel void rn_conv_dense_fwd(__global float *wd, const int off, __global const float *w,
                                RN_DENSE_GEOMETRY)
{
    const int i0 = get_global_id(0) * RN_DENSE_PAIRS; // i = co·Cin + ci
    if (i0 >= Cout * Cin) return;
    const int T = kh * kw, P = H * W, Q = Ho * Wo;
    const int run = Cin % RN_DENSE_PAIRS == 0 ? RN_DENSE_PAIRS : 1;
    for (int i = i0; i < min(i0 + RN_DENSE_PAIRS, Cout * Cin); i += run) {
        const int ci = i % Cin;
        const int co = i / Cin;
        __global const float *taps = w + (size_t)i * T;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                __global float *row = wd + off + rn_dense_row(co, ci, oy * Wo + ox, Q, Cin, P);
                const int t0 = rn_dense_t0(oy, ox, stride, kw, pad_h, pad_w);
                for (int j = 0; j < run; j++)
                    for (int iy = 0; iy < H; iy++)
                        for (int ix = 0; ix < W; ix++)
                            row[j * P + iy * W + ix] = taps[j * T + t0 + iy * kw + ix];
            }
    }
}

// dw[co][ci][ky][kx] = Σ over outputs q = (oy, ox) in order, whose tap (ky, kx) reads an input
// p = (oy·s − ph + ky, ox·s − pw + kx) inside the image, of dwd[off + ((co·Q + q)·Cin + ci)·P + p]
// (layout as rn_conv_dense_fwd); 0 for a tap that only ever reads padding. One (co, ci) pair per
// work-item, tap by tap, for a GPU's lanes (rn_conv_dense_co_bwd is the CPU form).
__kernel void rn_conv_dense_bwd(__global float *dw, __global const float *dwd, const int off,
                                RN_DENSE_GEOMETRY)
{
    const int i = get_global_id(0); // co·Cin + ci
    if (i >= Cout * Cin) return;
    const int ci = i % Cin;
    const int co = i / Cin;
    for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++) {
            float sum = 0.0f;
            for (int oy = 0; oy < Ho; oy++) {
                const int iy = oy * stride - pad_h + ky;
                if (iy < 0 || iy >= H) continue;
                for (int ox = 0; ox < Wo; ox++) {
                    const int ix = ox * stride - pad_w + kx;
                    if (ix < 0 || ix >= W) continue;
                    sum += dwd[off + rn_dense_row(co, ci, oy * Wo + ox, Ho * Wo, Cin, H * W) +
                               iy * W + ix];
                }
            }
            dw[((size_t)i * kh + ky) * kw + kx] = sum;
        }
}

// The CPU forms: one work-item per output channel co. The pair forms gave each work-item a few
// values (RN_DENSE_PAIRS·P·Q: 8 at 1×1), so on PoCL and Intel's runtime the cost per work-item,
// not the memory, set their time. rn_conv_dense_co_fwd writes co's Q rows of the dense matrix
// front to back, a pair's 2×2 taps as one float4 (half the time of value by value on PoCL); the
// same values as rn_conv_dense_fwd.
__kernel void rn_conv_dense_co_fwd(__global float *wd, const int off, __global const float *w,
                                   RN_DENSE_GEOMETRY)
{
    const int co = get_global_id(0);
    if (co >= Cout) return;
    const int T = kh * kw, P = H * W, Q = Ho * Wo;
    __global const float *taps = w + (size_t)co * Cin * T;
    __global float *row = wd + off + rn_dense_row(co, 0, 0, Q, Cin, P);
    for (int oy = 0; oy < Ho; oy++)
        for (int ox = 0; ox < Wo; ox++) {
            const int t0 = rn_dense_t0(oy, ox, stride, kw, pad_h, pad_w);
            if (H == 2 && W == 2)
                for (int ci = 0; ci < Cin; ci++, row += 4) {
                    __global const float *t = taps + ci * T + t0;
                    vstore4((float4)(t[0], t[1], t[kw], t[kw + 1]), 0, row);
                }
            else
                for (int ci = 0; ci < Cin; ci++, row += P)
                    for (int iy = 0; iy < H; iy++)
                        for (int ix = 0; ix < W; ix++)
                            row[iy * W + ix] = taps[ci * T + t0 + iy * kw + ix];
        }
}

// dw of pair (co, ci) for a 3×3 conv with padding 1 on 2×2 images (ResNet50's layer3 3×3s at
// 32×32 input) from the pair's rows a..d of outputs q = 0..3: rn_conv_dense_co_bwd's loop
// unrolled, each tap's sum over q in order from 0 as there (0 + v keeps the bits of −0).
// The private sums that loop indexes at run time live in memory on PoCL: with this and the
// Q = 1 form below the kernel's share of a step there fell from 4.8-5.6 ms to 3.2-3.6, most of
// it now layer4's dw, 8 of whose 9 taps only read padding and are written as zeros.
static void rn_dense_bwd_2x2(__global float *out, float4 a, float4 b, float4 c, float4 d)
{
    vstore8((float8)(0.0f + d.s0, 0.0f + c.s0 + d.s1, 0.0f + c.s1, 0.0f + b.s0 + d.s2,
                     0.0f + a.s0 + b.s1 + c.s2 + d.s3, 0.0f + a.s1 + c.s3, 0.0f + b.s2,
                     0.0f + a.s2 + b.s3),
            0, out);
    out[8] = 0.0f + a.s3;
}

// co's pairs RN_DENSE_PAIRS at a time (when Cin is a multiple of that, else one by one): their
// Q·P entries of a row are one run, walked once in q order into private per-tap sums, which
// then go out as one run of dw. The same sums in the same order as rn_conv_dense_bwd.
__kernel void rn_conv_dense_co_bwd(__global float *dw, __global const float *dwd, const int off,
                                   RN_DENSE_GEOMETRY)
{
    const int co = get_global_id(0);
    if (co >= Cout) return;
    const int T = kh * kw, P = H * W, Q = Ho * Wo;
    if (H == 2 && W == 2 && Ho == 2 && Wo == 2 && kh == 3 && kw == 3 && pad_h == 1 && pad_w == 1) {
        __global const float *r = dwd + off + rn_dense_row(co, 0, 0, Q, Cin, P);
        const size_t q = (size_t)Cin * P; // from one output's rows to the next's
        for (int ci = 0; ci < Cin; ci++, r += 4)
            rn_dense_bwd_2x2(dw + ((size_t)co * Cin + ci) * T, vload4(0, r), vload4(0, r + q),
                             vload4(0, r + 2 * q), vload4(0, r + 3 * q));
        return;
    }
    if (Q == 1) { // one output (layer4's 3×3s): a tap reads one input or only padding
        const int t0 = rn_dense_t0(0, 0, stride, kw, pad_h, pad_w);
        __global const float *r = dwd + off + rn_dense_row(co, 0, 0, Q, Cin, P);
        for (int ci = 0; ci < Cin; ci++, r += P) {
            __global float *out = dw + ((size_t)co * Cin + ci) * T;
            for (int t = 0; t < T; t++) out[t] = 0.0f;
            for (int iy = 0; iy < H; iy++)
                for (int ix = 0; ix < W; ix++) out[t0 + iy * kw + ix] = 0.0f + r[iy * W + ix];
        }
        return;
    }
    const int run = Cin % RN_DENSE_PAIRS == 0 ? RN_DENSE_PAIRS : 1;
    float sum[RN_DENSE_PAIRS * RN_DENSE_TAPS];
    for (int ci = 0; ci < Cin; ci += run) {
        for (int t = 0; t < run * T; t++) sum[t] = 0.0f;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                __global const float *row =
                    dwd + off + rn_dense_row(co, ci, oy * Wo + ox, Q, Cin, P);
                const int t0 = rn_dense_t0(oy, ox, stride, kw, pad_h, pad_w);
                for (int j = 0; j < run; j++)
                    for (int iy = 0; iy < H; iy++)
                        for (int ix = 0; ix < W; ix++)
                            sum[j * T + t0 + iy * kw + ix] += row[j * P + iy * W + ix];
            }
        __global float *out = dw + ((size_t)co * Cin + ci) * T;
        for (int t = 0; t < run * T; t++) out[t] = sum[t];
    }
}

// The flip and the rows kernels give each work-item a run of `run` items (output channels,
// images) of one channel (conv.c's channel_runs). The run of work-item i: items [*a, *b) of n,
// of channel *c; false past the last run.
static bool rn_conv_run(int C, int n, int run, int *c, int *a, int *b)
{
    const int runs = (n + run - 1) / run, i = get_global_id(0);
    if (i >= C * runs) return false;
    *c = i / runs;
    *a = i % runs * run;
    *b = min(n, *a + run);
    return true;
}

// wt[ci][co][t] = w[co][ci][T − 1 − t] (T taps): w turned half a turn in both spatial axes, its
// channel axes swapped. For a stride-1 conv that keeps the image size (3×3, padding 1) the input
// gradient is the same conv of dy with these weights (conv.c's dx_implicit). One work-item per
// (ci, run of `run` output channels), writing wt's values in order: on a CPU all of them (one
// work-item per ci, 9 taps as a float8 and one: 1.7-4x faster on 2 cores than one work-item per
// (ci, co), whose 9 values Intel's runtime spread over vector lanes), elsewhere one. (One per
// value, 2-D over (co·9 + t, ci), took 1.2-1.8× as long on both CPU runtimes.)
__kernel void rn_conv_flip_bwd(__global float *wt, __global const float *w, const int Cout,
                               const int Cin, const int T, const int run)
{
    int ci, a, b;
    if (!rn_conv_run(Cin, Cout, run, &ci, &a, &b)) return;
    __global float *dst = wt + ((size_t)ci * Cout + a) * T;
    for (int co = a; co < b; co++, dst += T) {
        __global const float *src = w + ((size_t)co * Cin + ci) * T;
        if (T == 9) {
            dst[0] = src[8];
            vstore8(vload8(0, src).s76543210, 0, dst + 1);
        } else {
            for (int t = 0; t < T; t++) dst[t] = src[T - 1 - t];
        }
    }
}

// rows[off + (c·P + p)·nc + nl] = t[c][n0 + nl][p]: a chunk of images [n0, n0+nc) of a CNHW
// tensor t[C][N][P] as a matrix with one row per (channel, position) and one column per image.
// Images go 8 at a time: their 8·P values read in a row, 8 consecutive columns of each of the P
// rows written (one per image, PoCL's work-items running one after another, wrote one value per
// row 4 KiB apart and spent its time on that); P = 4 (2×2 images, ResNet50's layer3) as two
// float16 in and four float8 out; the chunk's last piece may have fewer images. One work-item
// per (channel, run of `run` images, a multiple of 8 unless it is the whole chunk): on a CPU the
// whole chunk, so that one work-item per channel walks it (1.2-2.1x faster on 2 cores), elsewhere
// 8 images.
#define RN_ROWS_IMAGES 8

__kernel void rn_conv_rows_fwd(__global float *rows, const int off, __global const float *t,
                               const int C, const int N, const int P, const int n0, const int nc,
                               const int run)
{
    int c, a, b;
    if (!rn_conv_run(C, nc, run, &c, &a, &b)) return;
    for (int nl = a; nl < b; nl += RN_ROWS_IMAGES) {
        const int m = min(RN_ROWS_IMAGES, b - nl);
        __global const float *src = t + ((size_t)c * N + n0 + nl) * P;
        __global float *dst = rows + off + (size_t)c * P * nc + nl;
        if (m == RN_ROWS_IMAGES && P == 4) {
            const float16 lo = vload16(0, src), hi = vload16(1, src);
            vstore8((float8)(lo.s048c, hi.s048c), 0, dst);
            vstore8((float8)(lo.s159d, hi.s159d), 0, dst + nc);
            vstore8((float8)(lo.s26ae, hi.s26ae), 0, dst + 2 * (size_t)nc);
            vstore8((float8)(lo.s37bf, hi.s37bf), 0, dst + 3 * (size_t)nc);
        } else if (m == RN_ROWS_IMAGES) {
            for (int p = 0; p < P; p++) {
                float8 v;
                v.s0 = src[p], v.s1 = src[P + p], v.s2 = src[2 * P + p], v.s3 = src[3 * P + p];
                v.s4 = src[4 * P + p], v.s5 = src[5 * P + p], v.s6 = src[6 * P + p];
                v.s7 = src[7 * P + p];
                vstore8(v, 0, dst + (size_t)p * nc);
            }
        } else {
            for (int p = 0; p < P; p++)
                for (int j = 0; j < m; j++) dst[(size_t)p * nc + j] = src[j * P + p];
        }
    }
}

// The inverse: t[c][n0 + nl][p] (=|+=) rows[off + (c·P + p)·nc + nl]. accumulate: 0 overwrite,
// 1 add to t. Work-items as above; P = 4 as four float8 in and two float16 out.
__kernel void rn_conv_rows_bwd(__global float *t, __global const float *rows, const int off,
                               const int C, const int N, const int P, const int n0, const int nc,
                               const int accumulate, const int run)
{
    int c, a, b;
    if (!rn_conv_run(C, nc, run, &c, &a, &b)) return;
    for (int nl = a; nl < b; nl += RN_ROWS_IMAGES) {
        const int m = min(RN_ROWS_IMAGES, b - nl);
        __global float *dst = t + ((size_t)c * N + n0 + nl) * P;
        __global const float *src = rows + off + (size_t)c * P * nc + nl;
        if (m == RN_ROWS_IMAGES && P == 4) {
            const float8 r0 = vload8(0, src), r1 = vload8(0, src + nc),
                         r2 = vload8(0, src + 2 * (size_t)nc), r3 = vload8(0, src + 3 * (size_t)nc);
            const float16 lo = (float16)(r0.s0, r1.s0, r2.s0, r3.s0, r0.s1, r1.s1, r2.s1, r3.s1,
                                         r0.s2, r1.s2, r2.s2, r3.s2, r0.s3, r1.s3, r2.s3, r3.s3);
            const float16 hi = (float16)(r0.s4, r1.s4, r2.s4, r3.s4, r0.s5, r1.s5, r2.s5, r3.s5,
                                         r0.s6, r1.s6, r2.s6, r3.s6, r0.s7, r1.s7, r2.s7, r3.s7);
            vstore16(accumulate ? vload16(0, dst) + lo : lo, 0, dst);
            vstore16(accumulate ? vload16(1, dst) + hi : hi, 1, dst);
            continue;
        }
        for (int p = 0; p < P; p++) {
            float v[RN_ROWS_IMAGES];
            if (m == RN_ROWS_IMAGES) vstore8(vload8(0, src + (size_t)p * nc), 0, v);
            else
                for (int j = 0; j < m; j++) v[j] = src[(size_t)p * nc + j];
            for (int j = 0; j < m; j++) dst[j * P + p] = accumulate ? dst[j * P + p] + v[j] : v[j];
        }
    }
}
