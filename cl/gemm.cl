// rn50cl's own GEMM for CPU-style OpenCL devices: C = alpha·op(A)·B + beta·C, row-major, B as
// stored (K×N). Each work-item keeps an 8×16 (or 8×32) tile of C in float16 registers and
// streams one 8-float column of op(A) and one row of B per k: no local memory, no barriers.

// Tiles at the right and bottom edges are shifted inward to stay whole (needs M ≥ 8, N ≥ the
// tile width); a shifted tile stores only the rows and columns no other tile owns. Every element
// is summed over k in the same order whichever tile computes it, so results do not depend on
// the grid or the tile width.

// Row r of a 16-wide block: C = alpha·acc + beta·C (C not read when beta is 0, as BLAS does),
// only for rows r_lo ≤ r < r_hi and columns j_lo ≤ j < j_hi: the rest belongs to a neighbouring
// tile or lies outside C.
static void rn_gemm_store(__global float *c, float16 acc, int r, int r_lo, int r_hi, int j_lo,
                          int j_hi, int ldc, float alpha, float beta)
{
    if (r < r_lo || r >= r_hi || j_lo >= 16 || j_hi <= 0) return;
    c += (size_t)r * ldc;
    float16 v = alpha * acc;
    if (j_lo <= 0 && j_hi >= 16) {
        if (beta != 0.0f) v = fma((float16)beta, vload16(0, c), v);
        vstore16(v, 0, c);
        return;
    }
    float t[16];
    vstore16(v, 0, t);
    for (int j = max(j_lo, 0); j < min(j_hi, 16); j++)
        c[j] = beta != 0.0f ? fma(beta, c[j], t[j]) : t[j];
}

#define RN_GEMM_ARGS                                                                               \
    __global float *C, const int c_off, const int ldc, __global const float *A, const int a_off,   \
        const int lda, __global const float *B, const int b_off, const int ldb, const int M,       \
        const int N, const int K, const float alpha, const float beta, const int m_fast

// The tile this work-item owns and where its whole (possibly shifted) tile starts.
#define RN_GEMM_TILE(NR)                                                                           \
    const int tm = m_fast ? get_global_id(0) : get_global_id(1);                                   \
    const int tn = m_fast ? get_global_id(1) : get_global_id(0);                                   \
    if (tm * 8 >= M || tn * NR >= N) return;                                                       \
    const int m0 = min(tm * 8, M - 8), n0 = min(tn * NR, N - NR);                                  \
    const int r0 = tm * 8 - m0, j0 = tn * NR - n0;                                                 \
    __global const float *a = A + a_off;                                                           \
    __global const float *b = B + b_off + n0;                                                      \
    __global float *c = C + c_off + (size_t)m0 * ldc + n0;

// The 8 values of op(A)'s column k at rows m0..m0+7: contiguous when A is stored K×M (Aᵀ),
// eight row streams side by side when A is stored M×K.
#define RN_GEMM_A_T const float8 av = vload8(0, a + (size_t)k * lda + m0);
#define RN_GEMM_A_N                                                                                \
    __global const float *ak = a + (size_t)m0 * lda + k;                                           \
    const float8 av = (float8)(ak[0], ak[lda], ak[2 * lda], ak[3 * lda], ak[4 * lda],              \
                               ak[5 * lda], ak[6 * lda], ak[7 * lda]);

#define RN_FMA16(r, acc, bv) acc##r = fma((float16)(av.s##r), bv, acc##r);
// The same with op(A)'s value read from memory at ak[r]: PoCL's compiler then broadcasts it
// from memory (a load) instead of loading 8 values and shuffling them into place, which takes
// the port of the second FMA unit.
#define RN_FMA16_MEM(r, acc, bv) acc##r = fma((float16)(ak[r]), bv, acc##r);
#define RN_ROWS(X, acc, bv)                                                                        \
    X(0, acc, bv) X(1, acc, bv) X(2, acc, bv) X(3, acc, bv) X(4, acc, bv) X(5, acc, bv)           \
        X(6, acc, bv) X(7, acc, bv)
#define RN_STORE16(r, acc, j)                                                                      \
    rn_gemm_store(c + (j), acc##r, r, r0, 8, j0 - (j), 16, ldc, alpha, beta);
#define RN_STORE_IN(r, acc, j)                                                                     \
    rn_gemm_store(c + (j), acc##r, r, 0, M - m0, 0, N - n0 - (j), ldc, alpha, beta);
#define RN_DECL(r, acc, bv) float16 acc##r = 0.0f;

#define RN_GEMM_16(LOAD_A)                                                                         \
    RN_GEMM_TILE(16)                                                                               \
    RN_ROWS(RN_DECL, x, 0)                                                                         \
    for (int k = 0; k < K; k++) {                                                                  \
        const float16 b0 = vload16(0, b + (size_t)k * ldb);                                        \
        LOAD_A                                                                                     \
        RN_ROWS(RN_FMA16, x, b0)                                                                   \
    }                                                                                              \
    RN_ROWS(RN_STORE16, x, 0)

#define RN_GEMM_32(LOAD_A)                                                                         \
    RN_GEMM_TILE(32)                                                                               \
    RN_ROWS(RN_DECL, x, 0)                                                                         \
    RN_ROWS(RN_DECL, y, 0)                                                                         \
    for (int k = 0; k < K; k++) {                                                                  \
        const float16 b0 = vload16(0, b + (size_t)k * ldb);                                        \
        const float16 b1 = vload16(1, b + (size_t)k * ldb);                                        \
        LOAD_A                                                                                     \
        RN_ROWS(RN_FMA16, x, b0)                                                                   \
        RN_ROWS(RN_FMA16, y, b1)                                                                   \
    }                                                                                              \
    RN_ROWS(RN_STORE16, x, 0)                                                                      \
    RN_ROWS(RN_STORE16, y, 16)

// op(A) = Aᵀ (A stored K×M), 8×16 tiles.
__kernel void rn_gemm_tn_fwd(RN_GEMM_ARGS) { RN_GEMM_16(RN_GEMM_A_T) }
// op(A) = A (stored M×K), 8×16 tiles.
__kernel void rn_gemm_nn_fwd(RN_GEMM_ARGS) { RN_GEMM_16(RN_GEMM_A_N) }
// The same with 8×32 tiles: half the loads of A per multiply-add, twice the registers.
__kernel void rn_gemm_tn_wide_fwd(RN_GEMM_ARGS) { RN_GEMM_32(RN_GEMM_A_T) }
__kernel void rn_gemm_nn_wide_fwd(RN_GEMM_ARGS) { RN_GEMM_32(RN_GEMM_A_N) }

// The packed form: each operand first copied into panels (rn_gemm_pack_*_fwd) that a tile reads
// front to back. Read in place, a tile walks its column panel of B (and, for Aᵀ, its row panel
// of A) one row apart; with the power-of-two leading dimensions of ResNet50's products those
// rows fall into the same few cache sets, so a panel does not stay in L1 for the next tile.

// Rows p·W .. p·W+W-1 of X stored k-major, W values per k, rows from `rows` on as zeros:
// out[out_off + (p·K + k)·W + w] = X(p·W + w, k). Two forms by which way X is contiguous.

// X(r, k) = X[off + r + k·ld]: each work-item copies row k's W values (8 at a time where W is a
// multiple of 8).
// dim 0 along k, dim 1 along p.
__kernel void rn_gemm_pack_rows_fwd(__global float *out, const int out_off,
                                    __global const float *X, const int off, const int ld,
                                    const int rows, const int K, const int W)
{
    const int k = get_global_id(0), p = get_global_id(1);
    if (k >= K) return;
    __global float *o = out + out_off + ((size_t)p * K + k) * W;
    __global const float *x = X + off + (size_t)k * ld + p * W;
    const int n = min(W, rows - p * W);
    if (n == W && W % 8 == 0) {
        for (int w = 0; w < W; w += 8) vstore8(vload8(0, x + w), 0, o + w);
        return;
    }
    for (int w = 0; w < W; w++) o[w] = w < n ? x[w] : 0.0f;
}

// X(r, k) = X[off + r·ld + k]: each work-item copies 16 consecutive k of the panel's W rows,
// reading along the rows so that no two of its loads in flight share a cache set.
// dim 0 along k / 16, dim 1 along p.
__kernel void rn_gemm_pack_cols_fwd(__global float *out, const int out_off,
                                    __global const float *X, const int off, const int ld,
                                    const int rows, const int K, const int W)
{
    const int k0 = get_global_id(0) * 16, p = get_global_id(1);
    if (k0 >= K) return;
    __global float *o = out + out_off + ((size_t)p * K + k0) * W;
    const int nk = min(16, K - k0);
    for (int w = 0; w < W; w++) {
        const int r = p * W + w;
        __global const float *x = X + off + (size_t)r * ld + k0;
        float v[16];
        if (r < rows && nk == 16) {
            vstore16(vload16(0, x), 0, v);
        } else {
            for (int i = 0; i < 16; i++) v[i] = r < rows && i < nk ? x[i] : 0.0f;
        }
        for (int i = 0; i < nk; i++) o[i * W + w] = v[i];
    }
}

// 8×32 tiles over packed op(A) (8-row panels at A + a_off) and op(B) (32-column panels at
// B + b_off); lda and ldb are not used. Padding rows and columns are computed, not stored. Each
// element is summed over k in the order of the kernels above, so the bits are theirs.
__kernel void rn_gemm_packed_fwd(RN_GEMM_ARGS)
{
    const int tm = m_fast ? get_global_id(0) : get_global_id(1);
    const int tn = m_fast ? get_global_id(1) : get_global_id(0);
    if (tm * 8 >= M || tn * 32 >= N) return;
    const int m0 = tm * 8, n0 = tn * 32;
    __global const float *a = A + a_off + (size_t)tm * K * 8;
    __global const float *b = B + b_off + (size_t)tn * K * 32;
    __global float *c = C + c_off + (size_t)m0 * ldc + n0;
    RN_ROWS(RN_DECL, x, 0)
    RN_ROWS(RN_DECL, y, 0)
    for (int k = 0; k < K; k++) {
        const float16 b0 = vload16(0, b + (size_t)k * 32), b1 = vload16(1, b + (size_t)k * 32);
        __global const float *ak = a + (size_t)k * 8;
        RN_ROWS(RN_FMA16_MEM, x, b0)
        RN_ROWS(RN_FMA16_MEM, y, b1)
    }
    RN_ROWS(RN_STORE_IN, x, 0)
    RN_ROWS(RN_STORE_IN, y, 16)
}

// R×16 tiles (R = 4 or 6) over packed op(A) (R-row panels) and op(B) (16-column panels), each
// row's 16 sums as two float8: 2R vectors of 8 lanes, which fit the 16 registers of 8 floats of
// an AVX2 core, where rn_gemm_packed_fwd's 16 float16 (and even the 8×16 tiles' 8) need 32 and
// spill (on a Zen 3 core these ran at 85-135 GFLOP/s against 45-55). Same sums, same bits.
#define RN_P16_DECL(r) float8 x##r = 0.0f, y##r = 0.0f;
#define RN_P16_FMA(r)                                                                              \
    x##r = fma((float8)(ak[r]), b0, x##r);                                                         \
    y##r = fma((float8)(ak[r]), b1, y##r);
#define RN_P16_STORE(r)                                                                            \
    rn_gemm_store(c, (float16)(x##r, y##r), r, 0, M - m0, 0, N - n0, ldc, alpha, beta);
#define RN_P16_ROWS4(X) X(0) X(1) X(2) X(3)
#define RN_P16_ROWS6(X) RN_P16_ROWS4(X) X(4) X(5)
#define RN_GEMM_P16(R)                                                                             \
    const int tm = m_fast ? get_global_id(0) : get_global_id(1);                                   \
    const int tn = m_fast ? get_global_id(1) : get_global_id(0);                                   \
    if (tm * R >= M || tn * 16 >= N) return;                                                       \
    const int m0 = tm * R, n0 = tn * 16;                                                           \
    __global const float *a = A + a_off + (size_t)tm * K * R;                                      \
    __global const float *b = B + b_off + (size_t)tn * K * 16;                                     \
    __global float *c = C + c_off + (size_t)m0 * ldc + n0;                                         \
    RN_P16_ROWS##R(RN_P16_DECL)                                                                    \
    for (int k = 0; k < K; k++) {                                                                  \
        const float8 b0 = vload8(0, b + (size_t)k * 16), b1 = vload8(1, b + (size_t)k * 16);       \
        __global const float *ak = a + (size_t)k * R;                                              \
        RN_P16_ROWS##R(RN_P16_FMA)                                                                 \
    }                                                                                              \
    RN_P16_ROWS##R(RN_P16_STORE)

__kernel void rn_gemm_packed4_fwd(RN_GEMM_ARGS) { RN_GEMM_P16(4) }
__kernel void rn_gemm_packed6_fwd(RN_GEMM_ARGS) { RN_GEMM_P16(6) }

// out[c][r] = in[in_off + r·ld + c] for r < R, c < Cn: a row-major R×Cn block transposed to
// Cn×R, so an NT product can use the kernels above. dim 0 along r.
__kernel void rn_transpose_fwd(__global float *out, __global const float *in, const int in_off,
                               const int ld, const int R, const int Cn)
{
    const int r = get_global_id(0), c = get_global_id(1);
    if (r >= R || c >= Cn) return;
    out[(size_t)c * R + r] = in[in_off + (size_t)r * ld + c];
}

// The GEMM of a 3×3 conv at stride 1 with padding 1 on images with rows of 8 or 4 (ResNet50's
// layer1 and layer2 at 32×32 input), and of the stem's 7×7/2 on rows of 32 (below, with the row
// kernels for it), C = W·col, with im2col folded into B's loads: a tile's
// columns are consecutive output positions of one or two images, so B's row k = (ci, ky, kx) is
// channel ci's input rows read as vectors and shifted into place (rows of 8: two rows at a time
// moved by kx−1 lanes; rows of 4: a whole 4×4 image moved by a lane pattern per tap), zeros
// where the window leaves the image. Those values and the k order are im2col's and the explicit
// kernels', and a launch covers the K-chunk k0 .. k0+kk−1 as theirs do (host: rn_sgemm_rows),
// so the bits are those of im2col + rn_gemm_nn(_wide)_fwd or rn_gemm_packed_fwd. The columns (a
// few KiB of an image) stay in cache, where the explicit form streamed the whole column matrix
// through every tile column. X is CNHW [Cin][Nimg][H][W]; column j of C is image n0 + j / (the
// output positions of an image); rows of 8: H a multiple of 4; rows of 4: H = 4; rows of 32:
// H = 32; N a multiple of the tile width.

// Rows of 8: input rows r and r + 1 of an image plane as 16 lanes, rows outside the image as
// zeros; −1 ≤ r < H.
static float16 rn_gemm_rows8x2(__global const float *p, int r, int H)
{
    const float16 v = vload16(0, p + clamp(r, 0, H - 2) * 8);
    if (r >= 0 && r <= H - 2) return v;
    return r < 0 ? (float16)((float8)0.0f, v.lo) : (float16)(v.hi, (float8)0.0f);
}

// v's lanes in the order given, 16 standing for a zero.
#define RN_TAP(lanes) shuffle2(v, z, (uint16)lanes)

// Rows of 8, tap t (its kx = t % 3): each row moved one lane right (the tap left of the centre)
// or left, a zero shifted in.
static float16 rn_gemm_row8_tap(float16 v, int t)
{
    const float16 z = 0.0f;
    const int kx = t % 3;
    if (kx == 1) return v;
    if (kx == 0) return RN_TAP((16, 0, 1, 2, 3, 4, 5, 6, 16, 8, 9, 10, 11, 12, 13, 14));
    return RN_TAP((1, 2, 3, 4, 5, 6, 7, 16, 9, 10, 11, 12, 13, 14, 15, 16));
}

// Rows of 4, tap t = 3·ky + kx of a 4×4 image v: lane oy·4 + ox takes lane (oy+ky−1)·4 + ox+kx−1,
// 16 (a zero) where that is outside.
static float16 rn_gemm_row4_tap(float16 v, int t)
{
    const float16 z = 0.0f;
    switch (t) {
    case 0: return RN_TAP((16, 16, 16, 16, 16, 0, 1, 2, 16, 4, 5, 6, 16, 8, 9, 10));
    case 1: return RN_TAP((16, 16, 16, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    case 2: return RN_TAP((16, 16, 16, 16, 1, 2, 3, 16, 5, 6, 7, 16, 9, 10, 11, 16));
    case 3: return RN_TAP((16, 0, 1, 2, 16, 4, 5, 6, 16, 8, 9, 10, 16, 12, 13, 14));
    case 4: return v;
    case 5: return RN_TAP((1, 2, 3, 16, 5, 6, 7, 16, 9, 10, 11, 16, 13, 14, 15, 16));
    case 6: return RN_TAP((16, 4, 5, 6, 16, 8, 9, 10, 16, 12, 13, 14, 16, 16, 16, 16));
    case 7: return RN_TAP((4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 16, 16, 16));
    default: return RN_TAP((5, 6, 7, 16, 9, 10, 11, 16, 13, 14, 15, 16, 16, 16, 16, 16));
    }
}

// Rows of 32 at stride 2 (the stem's 7×7/2 with padding 3, 32×32 → 16×16): a tile's 16 columns
// are one output row oy, and B's row for tap (ky, kx) is input row 2·oy − 3 + ky's even or odd
// columns moved by floor((kx − 3) / 2) lanes, as rn_im2col_s2row32_fwd writes it. A row is kept
// as its even and its odd lanes.
typedef struct {
    float16 e, o;
} rn_gemm_eo;

// Input row r of an image plane as (even, odd) lanes, zeros outside the image; H rows of 32.
static rn_gemm_eo rn_gemm_rows32(__global const float *p, int r, int H)
{
    rn_gemm_eo v;
    v.e = v.o = 0.0f;
    if (r < 0 || r >= H) return v;
    const float16 lo = vload16(0, p + r * 32), hi = vload16(1, p + r * 32);
    v.e = (float16)(lo.even, hi.even);
    v.o = (float16)(lo.odd, hi.odd);
    return v;
}

// Rows of 32, tap t (its kx = t % 7): kx − 3 = −3, −1, 1, 3 read the odd lanes, −2, 0, 2 the even
// ones, moved by −2, −1, −1, 0, 0, 1, 1 lanes.
static float16 rn_gemm_row32_tap(rn_gemm_eo s, int t)
{
    const uint16 right2 = (uint16)(16, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13),
                 right1 = (uint16)(16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14),
                 left1 = (uint16)(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    const float16 z = 0.0f;
    switch (t % 7) {
    case 0: return shuffle2(s.o, z, right2);
    case 1: return shuffle2(s.e, z, right1);
    case 2: return shuffle2(s.o, z, right1);
    case 3: return s.e;
    case 4: return s.o;
    case 5: return shuffle2(s.e, z, left1);
    default: return shuffle2(s.o, z, left1);
    }
}

#define RN_ROWS_ARGS                                                                               \
    __global float *C, const int c_off, const int ldc, __global const float *A, const int a_off,   \
        const int lda, __global const float *X, const int Cin, const int Nimg, const int H,        \
        const int n0, const int M, const int N, const int k0, const int kk, const float beta,      \
        const int m_fast

// Code for the second 16 columns, of 32-wide tiles only.
// (One argument, not variadic: OpenCL C 1.2 has no variadic macros, and NVIDIA's compiler
// refuses them.)
#define RN_HI_16(code)
#define RN_HI_32(code) code
#define RN_HI_P4(code)
#define RN_HI_P6(code)

// The vectors tap t is made from: rows of 8, the two (four) input rows of ky = t / 3; rows of 4,
// the tile's image(s) of channel ci.
#define RN_SRC_8(NR, T)                                                                            \
    const float16 s0 = rn_gemm_rows8x2(plane, oy0 + (T) / 3 - 1, H);                               \
    RN_HI_##NR(const float16 s1 = rn_gemm_rows8x2(plane, oy0 + (T) / 3 + 1, H);)
#define RN_SRC_4(NR, T)                                                                            \
    const float16 s0 = vload16(0, plane);                                                          \
    RN_HI_##NR(const float16 s1 = vload16(1, plane);)
#define RN_SRC_32(NR, T)                                                                           \
    const rn_gemm_eo s0 = rn_gemm_rows32(plane, 2 * oy0 - 3 + (T) / 7, H);                         \
    RN_HI_##NR(const rn_gemm_eo s1 = rn_gemm_rows32(plane, 2 * oy0 - 1 + (T) / 7, H);)
// Taps per channel, stride, by row width.
#define RN_TAPS_8 9
#define RN_TAPS_4 9
#define RN_TAPS_32 49
#define RN_STRIDE_8 1
#define RN_STRIDE_4 1
#define RN_STRIDE_32 2

// Step k with tap T (a constant when known): B's row from s0 (and s1).
#define RN_ROWS_STEP(NR, W, T) RN_ROWS_STEP_##NR(NR, W, T)
#define RN_ROWS_STEP_16(NR, W, T) RN_ROWS_STEP_8ROWS(NR, W, T)
#define RN_ROWS_STEP_32(NR, W, T) RN_ROWS_STEP_8ROWS(NR, W, T)
#define RN_ROWS_STEP_8ROWS(NR, W, T)                                                               \
    {                                                                                              \
        __global const float *ak = a + k;                                                          \
        const float8 av = (float8)(ak[0], ak[lda], ak[2 * lda], ak[3 * lda], ak[4 * lda],          \
                                   ak[5 * lda], ak[6 * lda], ak[7 * lda]);                         \
        const float16 b0 = rn_gemm_row##W##_tap(s0, T);                                            \
        RN_ROWS(RN_FMA16, x, b0)                                                                   \
        RN_HI_##NR(const float16 b1 = rn_gemm_row##W##_tap(s1, T); RN_ROWS(RN_FMA16, y, b1))       \
        k++;                                                                                       \
    }
// Three taps of one ky: rows of 8 load their rows per ky, rows of 4 once per channel.
#define RN_ROWS_KY_8(NR, KY)                                                                       \
    {                                                                                              \
        RN_SRC_8(NR, 3 * (KY))                                                                     \
        RN_ROWS_STEP(NR, 8, 3 * (KY)) RN_ROWS_STEP(NR, 8, 3 * (KY) + 1)                            \
        RN_ROWS_STEP(NR, 8, 3 * (KY) + 2)                                                          \
    }
#define RN_ROWS_CH_8(NR) RN_ROWS_KY_8(NR, 0) RN_ROWS_KY_8(NR, 1) RN_ROWS_KY_8(NR, 2)
#define RN_ROWS_CH_4(NR)                                                                           \
    {                                                                                              \
        RN_SRC_4(NR, 0)                                                                            \
        RN_ROWS_STEP(NR, 4, 0) RN_ROWS_STEP(NR, 4, 1) RN_ROWS_STEP(NR, 4, 2)                       \
        RN_ROWS_STEP(NR, 4, 3) RN_ROWS_STEP(NR, 4, 4) RN_ROWS_STEP(NR, 4, 5)                       \
        RN_ROWS_STEP(NR, 4, 6) RN_ROWS_STEP(NR, 4, 7) RN_ROWS_STEP(NR, 4, 8)                       \
    }
// A row of taps (ky) of the stem's rows of 32: the row loaded once, then its seven taps.
#define RN_ROWS_KY_32(NR, KY)                                                                      \
    {                                                                                              \
        RN_SRC_32(NR, 7 * (KY))                                                                    \
        RN_ROWS_STEP(NR, 32, 0) RN_ROWS_STEP(NR, 32, 1) RN_ROWS_STEP(NR, 32, 2)                    \
        RN_ROWS_STEP(NR, 32, 3) RN_ROWS_STEP(NR, 32, 4) RN_ROWS_STEP(NR, 32, 5)                    \
        RN_ROWS_STEP(NR, 32, 6)                                                                    \
    }
// One step of a channel the chunk starts or ends inside.
#define RN_ROWS_ONE(NR, W)                                                                         \
    {                                                                                              \
        __global const float *plane = img + (size_t)(k / RN_TAPS_##W) * Nimg * hw;                 \
        const int t = k % RN_TAPS_##W;                                                             \
        RN_SRC_##W(NR, t)                                                                          \
        RN_ROWS_STEP(NR, W, t)                                                                     \
    }

// The tile (R rows of the weights, NR columns of B) a work-item owns, shifted inward at the
// bottom edge (needs M ≥ R) as RN_GEMM_TILE does, its first output row oy0 and where its image
// starts (hw input and ohw output positions an image).
#define RN_ROWS_TILE(R, NR, W)                                                                     \
    const int tm = m_fast ? get_global_id(0) : get_global_id(1);                                   \
    const int tn = m_fast ? get_global_id(1) : get_global_id(0);                                   \
    if (tm * R >= M || tn * NR >= N) return;                                                       \
    const int m0 = min(tm * R, M - R), r0 = tm * R - m0, j = tn * NR, hw = W * H;                  \
    const int ohw = hw / (RN_STRIDE_##W * RN_STRIDE_##W);                                          \
    const int oy0 = j % ohw / (W / RN_STRIDE_##W), kend = k0 + kk;                                 \
    __global const float *a = A + a_off + (size_t)m0 * lda;                                        \
    __global const float *img = X + ((size_t)n0 + j / ohw) * hw;                                   \
    __global float *c = C + c_off + (size_t)m0 * ldc + j;
// Steps k0 .. kend−1 of tile form MODE (16, 32, P4, P6). Whole channels' steps are written out:
// as loops, PoCL's code ran 2x as long. The stem's rows of 32 go a row of taps at a time, so that
// a K-chunk starting or ending inside a channel loads a row once per seven steps, not per step.
#define RN_ROWS_WALK(MODE, W) RN_ROWS_WALK_##W(MODE)
#define RN_ROWS_WALK_8(MODE) RN_ROWS_WALK_CH(MODE, 8)
#define RN_ROWS_WALK_4(MODE) RN_ROWS_WALK_CH(MODE, 4)
#define RN_ROWS_WALK_CH(MODE, W)                                                                   \
    int k = k0;                                                                                    \
    while (k < kend && k % RN_TAPS_##W) RN_ROWS_ONE(MODE, W)                                       \
    while (k + RN_TAPS_##W <= kend) {                                                              \
        __global const float *plane = img + (size_t)(k / RN_TAPS_##W) * Nimg * hw;                 \
        RN_ROWS_CH_##W(MODE)                                                                       \
    }                                                                                              \
    while (k < kend) RN_ROWS_ONE(MODE, W)
#define RN_ROWS_WALK_32(MODE)                                                                      \
    int k = k0;                                                                                    \
    while (k < kend && k % 7) RN_ROWS_ONE(MODE, 32)                                                \
    while (k + 7 <= kend) {                                                                        \
        __global const float *plane = img + (size_t)(k / RN_TAPS_32) * Nimg * hw;                  \
        RN_ROWS_KY_32(MODE, k % RN_TAPS_32 / 7)                                                    \
    }                                                                                              \
    while (k < kend) RN_ROWS_ONE(MODE, 32)
#define RN_GEMM_ROWS(NR, W)                                                                        \
    RN_ROWS_TILE(8, NR, W)                                                                         \
    RN_ROWS(RN_DECL, x, 0)                                                                         \
    RN_HI_##NR(RN_ROWS(RN_DECL, y, 0))                                                             \
    RN_ROWS_WALK(NR, W)                                                                            \
    RN_ROWS(RN_ROWS_STORE, x, 0)                                                                   \
    RN_HI_##NR(RN_ROWS(RN_ROWS_STORE, y, 16))
#define RN_ROWS_STORE(r, acc, j) rn_gemm_store(c + (j), acc##r, r, r0, 8, 0, 16, ldc, 1.0f, beta);

// The 4×16 and 6×16 tiles (P4, P6) of the packed kinds, each row's sums as two float8, on the
// same gathered rows of B: the same values and sums as above, so the same bits.
#define RN_ROWS_PFMA(r)                                                                            \
    x##r = fma((float8)(ak[(r) * lda]), b0.lo, x##r);                                              \
    y##r = fma((float8)(ak[(r) * lda]), b0.hi, y##r);
#define RN_ROWS_STEP_P4(NR, W, T) RN_ROWS_STEP_PAIRS(4, W, T)
#define RN_ROWS_STEP_P6(NR, W, T) RN_ROWS_STEP_PAIRS(6, W, T)
#define RN_ROWS_STEP_PAIRS(R, W, T)                                                                \
    {                                                                                              \
        __global const float *ak = a + k;                                                          \
        const float16 b0 = rn_gemm_row##W##_tap(s0, T);                                            \
        RN_P16_ROWS##R(RN_ROWS_PFMA) k++;                                                          \
    }
#define RN_ROWS_PSTORE(r) /* rows from r0 on: those above belong to the tile before */          \
    rn_gemm_store(c, (float16)(x##r, y##r), r, r0, 8, 0, 16, ldc, 1.0f, beta);
#define RN_GEMM_ROWS_P(R, W)                                                                       \
    RN_ROWS_TILE(R, 16, W)                                                                         \
    RN_P16_ROWS##R(RN_P16_DECL)                                                                    \
    RN_ROWS_WALK(P##R, W)                                                                          \
    RN_P16_ROWS##R(RN_ROWS_PSTORE)

// Rows of 8: 8×16 tiles (two output rows) as rn_gemm_nn_fwd, 8×32 (four) as the wide and
// packed kernels. Rows of 4: one image, two images.
__kernel void rn_gemm_row8_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS(16, 8) }
__kernel void rn_gemm_row8_wide_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS(32, 8) }
__kernel void rn_gemm_row4_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS(16, 4) }
__kernel void rn_gemm_row4_wide_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS(32, 4) }
// The same gathers on the 4×16 and 6×16 tiles.
__kernel void rn_gemm_row8_p4_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS_P(4, 8) }
__kernel void rn_gemm_row4_p4_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS_P(4, 4) }
__kernel void rn_gemm_row8_p6_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS_P(6, 8) }
__kernel void rn_gemm_row4_p6_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS_P(6, 4) }
// The stem's rows of 32 at stride 2: 8×16 tiles (one output row), 8×32 (two; also the packed
// tile's). The 4×16 and 6×16 tiles do not gather here (gemm.c's rows_choice).
__kernel void rn_gemm_s2row32_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS(16, 32) }
__kernel void rn_gemm_s2row32_wide_fwd(RN_ROWS_ARGS) { RN_GEMM_ROWS(32, 32) }

// Fixed-order sum of a float16's lanes.
static float rn_hsum16(float16 v)
{
    float8 h = v.lo + v.hi;
    float4 q = h.lo + h.hi;
    float2 d = q.lo + q.hi;
    return d.lo + d.hi;
}

#define RN_NT_DECL(i, j) float16 s##i##j = 0.0f;
#define RN_NT_FMA(i, j) s##i##j = fma(a##i, b##j, s##i##j);
#define RN_NT_SUM(i, j)                                                                            \
    {                                                                                              \
        float v = rn_hsum16(s##i##j);                                                              \
        for (int kk = k; kk < K; kk++) v = fma(ar[i][kk], br[j][kk], v);                           \
        t[i][j] = v;                                                                               \
    }
#define RN_NT_ALL(X)                                                                               \
    X(0, 0) X(0, 1) X(0, 2) X(0, 3) X(1, 0) X(1, 1) X(1, 2) X(1, 3) X(2, 0) X(2, 1) X(2, 2)        \
        X(2, 3) X(3, 0) X(3, 1) X(3, 2) X(3, 3)

// op(A) = A stored M×K, op(B) = Bᵀ with B stored N×K: both run along k, so a 4×4 tile keeps 16
// float16 partial dot products over k (16 at a time, the tail one by one) and sums each once.
// Needs M ≥ 4, N ≥ 4; edge tiles are shifted inward as above.
__kernel void rn_gemm_nt_fwd(RN_GEMM_ARGS)
{
    const int tm = m_fast ? get_global_id(0) : get_global_id(1);
    const int tn = m_fast ? get_global_id(1) : get_global_id(0);
    if (tm * 4 >= M || tn * 4 >= N) return;
    const int m0 = min(tm * 4, M - 4), n0 = min(tn * 4, N - 4);
    const int r0 = tm * 4 - m0, j0 = tn * 4 - n0;
    __global const float *ar[4], *br[4];
    for (int i = 0; i < 4; i++) {
        ar[i] = A + a_off + (size_t)(m0 + i) * lda;
        br[i] = B + b_off + (size_t)(n0 + i) * ldb;
    }
    RN_NT_ALL(RN_NT_DECL)
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        const float16 a0 = vload16(0, ar[0] + k), a1 = vload16(0, ar[1] + k),
                      a2 = vload16(0, ar[2] + k), a3 = vload16(0, ar[3] + k);
        const float16 b0 = vload16(0, br[0] + k), b1 = vload16(0, br[1] + k),
                      b2 = vload16(0, br[2] + k), b3 = vload16(0, br[3] + k);
        RN_NT_ALL(RN_NT_FMA)
    }
    float t[4][4];
    RN_NT_ALL(RN_NT_SUM)
    for (int i = r0; i < 4; i++) {
        __global float *c = C + c_off + (size_t)(m0 + i) * ldc + n0;
        for (int j = j0; j < 4; j++)
            c[j] = beta != 0.0f ? fma(beta, c[j], alpha * t[i][j]) : alpha * t[i][j];
    }
}

// The weight gradient of the convs above, C = dY · colᵀ (NT: the dot tile's sums), with the
// columns gathered from X as the forward gathers them: a work-item keeps 8 rows of dY (output
// channels) against the 3 taps kx of one (ci, ky), 24 float16 partial dot products over 16 pixels
// at a time (two rows of 8, or one 4×4 image), summed as rn_gemm_nt_fwd sums them. So the bits
// are those of im2col + rn_gemm_nt_fwd with K-chunks of whole 16s, whatever that kernel's tiles,
// and the columns are not written out and read back. A = dY from a_off (the chunk's first
// pixel), lda its row; X is CNHW [Cin][Nimg][H][W], the chunk from image n0; N = Cin·9; this
// launch adds pixels k0 .. k0+kk−1 of the chunk (kk a multiple of 16). The forward's arguments
// (Cin not used). Needs M ≥ 8; bottom tiles are shifted inward as RN_GEMM_TILE does.
#define RN_NTR_DECL(i) float16 s##i##0 = 0.0f, s##i##1 = 0.0f, s##i##2 = 0.0f;
#define RN_NTR_FMA(i)                                                                              \
    {                                                                                              \
        const float16 a = vload16(0, ar + (size_t)(i)*lda + k);                                    \
        s##i##0 = fma(a, b0, s##i##0);                                                             \
        s##i##1 = fma(a, b1, s##i##1);                                                             \
        s##i##2 = fma(a, b2, s##i##2);                                                             \
    }
#define RN_NTR_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define RN_NTR_STORE1(c, t) *(c) = beta != 0.0f ? fma(beta, *(c), (t)) : (t);
#define RN_NTR_STORE(i)                                                                            \
    if ((i) >= r0) {                                                                               \
        __global float *c = C + c_off + (size_t)(m0 + (i)) * ldc + tn * 3;                         \
        RN_NTR_STORE1(c, rn_hsum16(s##i##0))                                                       \
        RN_NTR_STORE1(c + 1, rn_hsum16(s##i##1))                                                   \
        RN_NTR_STORE1(c + 2, rn_hsum16(s##i##2))                                                   \
    }
// The tile a work-item owns: R rows of dY from m0 (shifted inward at the bottom edge), the T
// taps of tap row ky of input channel ci (columns tn·T ..), whose image planes of HW values start
// at xc.
#define RN_NTR_TILE(R, T, HW)                                                                      \
    const int tm = m_fast ? get_global_id(0) : get_global_id(1);                                   \
    const int tn = m_fast ? get_global_id(1) : get_global_id(0);                                   \
    if (tm * (R) >= M || tn * (T) >= N) return;                                                    \
    const int m0 = min(tm * (R), M - (R)), r0 = tm * (R) - m0, ci = tn / (T), ky = tn % (T);       \
    __global const float *ar = A + a_off + (size_t)m0 * lda;                                       \
    __global const float *xc = X + ((size_t)ci * Nimg + n0) * (HW);

// Rows of 8: the 16 pixels are rows y, y + 1 of an image, tap kx its rows moved by kx − 1.
__kernel void rn_gemm_nt_row8_fwd(RN_ROWS_ARGS)
{
    RN_NTR_TILE(8, 3, 8 * H)
    RN_NTR_ROWS(RN_NTR_DECL)
    const int hw = 8 * H;
    for (int k = k0; k < k0 + kk; k += 16) {
        const float16 v = rn_gemm_rows8x2(xc + (size_t)(k / hw) * hw, k % hw / 8 + ky - 1, H);
        const float16 b0 = rn_gemm_row8_tap(v, 0), b1 = v, b2 = rn_gemm_row8_tap(v, 2);
        RN_NTR_ROWS(RN_NTR_FMA)
    }
    RN_NTR_ROWS(RN_NTR_STORE)
}

// 4×4 images: the 16 pixels are one image, each tap a fixed lane pattern; one loop per ky so that
// the patterns are constants.
#define RN_NTR_LOOP4(KY)                                                                           \
    for (int k = k0; k < k0 + kk; k += 16) {                                                       \
        const float16 v = vload16(k / 16, xc);                                                     \
        const float16 b0 = rn_gemm_row4_tap(v, 3 * (KY)), b1 = rn_gemm_row4_tap(v, 3 * (KY) + 1), \
                      b2 = rn_gemm_row4_tap(v, 3 * (KY) + 2);                                      \
        RN_NTR_ROWS(RN_NTR_FMA)                                                                    \
    }

__kernel void rn_gemm_nt_row4_fwd(RN_ROWS_ARGS)
{
    RN_NTR_TILE(8, 3, 16)
    RN_NTR_ROWS(RN_NTR_DECL)
    if (ky == 0) RN_NTR_LOOP4(0)
    else if (ky == 1) RN_NTR_LOOP4(1)
    else RN_NTR_LOOP4(2)
    RN_NTR_ROWS(RN_NTR_STORE)
}

// The stem's rows of 32 at stride 2: the 16 pixels are one output row of an image, and a
// work-item keeps 4 rows of dY against the 7 taps kx of one (ci, ky), 28 float16 partial dot
// products, tap kx the input row's even or odd lanes moved as rn_gemm_row32_tap moves them. Needs
// M ≥ 4; N = Cin·49.
#define RN_NTS_TAPS(X, i) X(i, 0) X(i, 1) X(i, 2) X(i, 3) X(i, 4) X(i, 5) X(i, 6)
#define RN_NTS_DECL1(i, t) float16 s##i##t = 0.0f;
#define RN_NTS_DECL(i) RN_NTS_TAPS(RN_NTS_DECL1, i)
#define RN_NTS_B(t) const float16 b##t = rn_gemm_row32_tap(e, t);
#define RN_NTS_FMA1(i, t) s##i##t = fma(a, b##t, s##i##t);
#define RN_NTS_FMA(i)                                                                              \
    {                                                                                              \
        const float16 a = vload16(0, ar + (size_t)(i)*lda + k);                                    \
        RN_NTS_TAPS(RN_NTS_FMA1, i)                                                                \
    }
#define RN_NTS_STORE1(i, t) RN_NTR_STORE1(c + (t), rn_hsum16(s##i##t))
#define RN_NTS_STORE(i)                                                                            \
    if ((i) >= r0) {                                                                               \
        __global float *c = C + c_off + (size_t)(m0 + (i)) * ldc + tn * 7;                         \
        RN_NTS_TAPS(RN_NTS_STORE1, i)                                                              \
    }
#define RN_NTS_ROWS(X) X(0) X(1) X(2) X(3)

__kernel void rn_gemm_nt_s2row32_fwd(RN_ROWS_ARGS)
{
    RN_NTR_TILE(4, 7, 1024)
    RN_NTS_ROWS(RN_NTS_DECL)
    for (int k = k0; k < k0 + kk; k += 16) {
        const rn_gemm_eo e = rn_gemm_rows32(xc + (size_t)(k / 256) * 1024, k % 256 / 8 - 3 + ky, H);
        RN_NTS_B(0) RN_NTS_B(1) RN_NTS_B(2) RN_NTS_B(3) RN_NTS_B(4) RN_NTS_B(5) RN_NTS_B(6)
        RN_NTS_ROWS(RN_NTS_FMA)
    }
    RN_NTS_ROWS(RN_NTS_STORE)
}
