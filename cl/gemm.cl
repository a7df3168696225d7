// rn50cl's own GEMM for CPU-style OpenCL devices: C = alpha·op(A)·B + beta·C, row-major, B as
// stored (K×N). Each work-item keeps an 8×16 (or 8×32) tile of C in float16 registers and
// streams one 8-float column of op(A) and one row of B per k: no local memory, no barriers.

// Tiles at the right and bottom edges are shifted inward to stay whole (needs M ≥ 8, N ≥ the
// tile width); a shifted tile stores only the rows and columns no other tile owns. Every element
// is summed over k in the same order whichever tile computes it, so results do not depend on
// the grid or the tile width.

// Row r of a 16-wide block: C = alpha·acc + beta·C (C not read when beta is 0, as BLAS does),
// skipping rows below r0 and columns below j0, which a neighbouring tile owns.
static void rn_gemm_store(__global float *c, float16 acc, int r, int r0, int j0, int ldc,
                          float alpha, float beta)
{
    if (r < r0 || j0 >= 16) return;
    c += (size_t)r * ldc;
    float16 v = alpha * acc;
    if (j0 <= 0) {
        if (beta != 0.0f) v = fma((float16)beta, vload16(0, c), v);
        vstore16(v, 0, c);
        return;
    }
    float t[16];
    vstore16(v, 0, t);
    for (int j = j0; j < 16; j++) c[j] = beta != 0.0f ? fma(beta, c[j], t[j]) : t[j];
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
#define RN_ROWS(X, acc, bv)                                                                        \
    X(0, acc, bv) X(1, acc, bv) X(2, acc, bv) X(3, acc, bv) X(4, acc, bv) X(5, acc, bv)           \
        X(6, acc, bv) X(7, acc, bv)
#define RN_STORE16(r, acc, j)                                                                      \
    rn_gemm_store(c + (j), acc##r, r, r0, j0 - (j), ldc, alpha, beta);
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

// out[c][r] = in[in_off + r·ld + c] for r < R, c < Cn: a row-major R×Cn block transposed to
// Cn×R, so an NT product can use the kernels above. dim 0 along r.
__kernel void rn_transpose_fwd(__global float *out, __global const float *in, const int in_off,
                               const int ld, const int R, const int Cn)
{
    const int r = get_global_id(0), c = get_global_id(1);
    if (r >= R || c >= Cn) return;
    out[(size_t)c * R + r] = in[in_off + (size_t)r * ld + c];
}

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
