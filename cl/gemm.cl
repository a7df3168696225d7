// rn50cl's own GEMM for CPU-style OpenCL devices: C = alpha·op(A)·B + beta·C, row-major, B as
// stored (K×N). Each work-item keeps an 8×16 tile of C in eight float16 registers and streams
// one 8-float column of op(A) and one 16-float row of B per k: no local memory, no barriers.

// Tiles at the right and bottom edges are shifted inward to stay whole (needs M ≥ 8, N ≥ 16);
// a shifted tile stores only the rows and columns no other tile owns. Every element is summed
// over k in the same order whichever tile computes it, so results do not depend on the grid.
#define RN_GEMM_BODY(LOAD_A)                                                                      \
    const int tm = m_fast ? get_global_id(0) : get_global_id(1);                                  \
    const int tn = m_fast ? get_global_id(1) : get_global_id(0);                                  \
    if (tm * 8 >= M || tn * 16 >= N) return;                                                      \
    const int m0 = min(tm * 8, M - 8), n0 = min(tn * 16, N - 16);                                 \
    __global const float *b = B + b_off + n0;                                                     \
    float16 c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f, c4 = 0.0f, c5 = 0.0f, c6 = 0.0f,         \
            c7 = 0.0f;                                                                            \
    for (int k = 0; k < K; k++) {                                                                 \
        const float16 bv = vload16(0, b + (size_t)k * ldb);                                       \
        LOAD_A                                                                                    \
        c0 = fma((float16)(av.s0), bv, c0);                                                       \
        c1 = fma((float16)(av.s1), bv, c1);                                                       \
        c2 = fma((float16)(av.s2), bv, c2);                                                       \
        c3 = fma((float16)(av.s3), bv, c3);                                                       \
        c4 = fma((float16)(av.s4), bv, c4);                                                       \
        c5 = fma((float16)(av.s5), bv, c5);                                                       \
        c6 = fma((float16)(av.s6), bv, c6);                                                       \
        c7 = fma((float16)(av.s7), bv, c7);                                                       \
    }                                                                                             \
    const int r0 = tm * 8 - m0, j0 = tn * 16 - n0;                                                \
    __global float *c = C + c_off + (size_t)m0 * ldc + n0;                                        \
    rn_gemm_store(c, c0, 0, r0, j0, ldc, alpha, beta);                                            \
    rn_gemm_store(c, c1, 1, r0, j0, ldc, alpha, beta);                                            \
    rn_gemm_store(c, c2, 2, r0, j0, ldc, alpha, beta);                                            \
    rn_gemm_store(c, c3, 3, r0, j0, ldc, alpha, beta);                                            \
    rn_gemm_store(c, c4, 4, r0, j0, ldc, alpha, beta);                                            \
    rn_gemm_store(c, c5, 5, r0, j0, ldc, alpha, beta);                                            \
    rn_gemm_store(c, c6, 6, r0, j0, ldc, alpha, beta);                                            \
    rn_gemm_store(c, c7, 7, r0, j0, ldc, alpha, beta);

// Row r of a tile: C = alpha·acc + beta·C (C not read when beta is 0, as BLAS does), skipping
// rows below r0 and columns below j0, which a neighbouring tile owns.
static void rn_gemm_store(__global float *c, float16 acc, int r, int r0, int j0, int ldc,
                          float alpha, float beta)
{
    if (r < r0) return;
    c += (size_t)r * ldc;
    float16 v = alpha * acc;
    if (j0 == 0) {
        if (beta != 0.0f) v = fma((float16)beta, vload16(0, c), v);
        vstore16(v, 0, c);
        return;
    }
    float t[16];
    vstore16(v, 0, t);
    for (int j = j0; j < 16; j++) c[j] = beta != 0.0f ? fma(beta, c[j], t[j]) : t[j];
}

// op(A) = Aᵀ with A stored K×M (lda): the 8 values for a k are contiguous.
__kernel void rn_gemm_tn_fwd(__global float *C, const int c_off, const int ldc,
                             __global const float *A, const int a_off, const int lda,
                             __global const float *B, const int b_off, const int ldb, const int M,
                             const int N, const int K, const float alpha, const float beta,
                             const int m_fast)
{
    __global const float *a = A + a_off;
    RN_GEMM_BODY(const float8 av = vload8(0, a + (size_t)k * lda + m0);)
}

// op(A) = A stored M×K (lda): eight rows streamed side by side.
__kernel void rn_gemm_nn_fwd(__global float *C, const int c_off, const int ldc,
                             __global const float *A, const int a_off, const int lda,
                             __global const float *B, const int b_off, const int ldb, const int M,
                             const int N, const int K, const float alpha, const float beta,
                             const int m_fast)
{
    __global const float *a = A + a_off;
    RN_GEMM_BODY(__global const float *ak = a + (size_t)m0 * lda + k;                             \
                 const float8 av = (float8)(ak[0], ak[lda], ak[2 * lda], ak[3 * lda],             \
                                            ak[4 * lda], ak[5 * lda], ak[6 * lda], ak[7 * lda]);)
}

// out[c][r] = in[r·ld + c] for r < R, c < Cn: a row-major R×Cn block transposed to Cn×R, so an
// NT product can use the kernels above. One work-item per output element, dim 0 along r.
__kernel void rn_transpose_fwd(__global float *out, __global const float *in, const int in_off,
                               const int ld, const int R, const int Cn)
{
    const int r = get_global_id(0), c = get_global_id(1);
    if (r >= R || c >= Cn) return;
    out[(size_t)c * R + r] = in[in_off + (size_t)r * ld + c];
}
